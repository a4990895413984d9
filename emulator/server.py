"""Start every emulated host on its own loopback port in one event loop, and describe them in emulator.json.

A port per host (not a path prefix) keeps real paths intact: MSAL takes the tenant from the first path
segment of the authority, and Key Vault ids are ``{vault}/secrets/{name}/{version}`` (docs/contracts.md §1.1, §1.5a).
Each host is one aiohttp ``Application`` with its own ``AppRunner`` and a ``SockSite`` on a socket
bound to 127.0.0.1:0, so parallel emulators never collide. Access logs are off: the hot path must stay
cheap enough for 2,000 authenticated requests/s on two cores.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.control_api import PREFIX, ControlService
from emulator.defender_plugin import DefenderPlugin, load_defender
from emulator.entra.login import LoginService
from emulator.entra.tokens import TokenService
from emulator.keyvault import VAULT_HOST, KeyVaultService
from emulator.managed_identity import MI_PATH, ManagedIdentityService
from emulator.partner import apps_json, create_partner
from emulator.tls import ServerTls, create_server_tls
from emulator.world import World

IDENTITY_HOST = "identity.local"
# An accepted alias: the Defender XDR app guide posts to login.windows.net,
# https://learn.microsoft.com/defender-xdr/api-create-app-web
LOGIN_ALIASES = {"login.windows.net": "login.microsoftonline.com"}


@dataclass
class RunningEmulator:
    world: World
    tokens: TokenService
    tls: ServerTls
    state_dir: Path
    info_path: Path
    runners: list[web.AppRunner] = field(default_factory=list)
    control_url: str = ""
    ssl_context: ssl.SSLContext | None = None  # one context (one certificate) for every host

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()
        self.runners.clear()
        self.info_path.unlink(missing_ok=True)  # a stale file must not point at closed ports


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def _serve(emulator: RunningEmulator, app: web.Application, count: int = 1) -> list[str]:
    """Serve ``app`` on ``count`` fresh loopback ports; return their base URLs."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    emulator.runners.append(runner)
    urls = []
    for _ in range(count):
        sock = _loopback_socket()
        port = sock.getsockname()[1]
        site = web.SockSite(runner, sock, ssl_context=emulator.ssl_context, backlog=1024)
        await site.start()
        urls.append(f"https://127.0.0.1:{port}")
    return urls


async def _serve_platform(emulator: RunningEmulator, defender: DefenderPlugin | None) -> None:
    world, tokens = emulator.world, emulator.tokens
    faults = defender.faults if defender is not None else None
    commercial = LoginService(world, tokens, "commercial", faults=faults)
    urls = await _serve(emulator, commercial.app(), count=1 + len(LOGIN_ALIASES))
    world.hosts["login.microsoftonline.com"] = urls[0]
    for alias, url in zip(LOGIN_ALIASES, urls[1:], strict=True):
        world.hosts[alias] = url
    usgov = LoginService(world, tokens, "usgov", faults=faults)
    world.hosts["login.microsoftonline.us"] = (await _serve(emulator, usgov.app()))[0]
    vault = KeyVaultService(world, tokens, faults=faults)
    world.hosts[VAULT_HOST] = (await _serve(emulator, vault.app()))[0]
    identity = ManagedIdentityService(world, tokens)
    world.hosts[IDENTITY_HOST] = (await _serve(emulator, identity.app()))[0]


def describe(emulator: RunningEmulator) -> dict[str, Any]:
    """The content of emulator.json (docs/contracts.md §1.2)."""
    world = emulator.world
    identity = world.managed_identity
    assert identity is not None
    return {
        "version": 1,
        "pid": os.getpid(),
        "control_url": emulator.control_url,
        "ca_cert": str(emulator.tls.ca_cert_path),
        "ca_bundle": str(emulator.tls.ca_bundle_path),
        "hosts": dict(world.hosts),
        "partner_tenant_id": world.partner_tenant_id,
        "apps": apps_json(world),
        "key_vault": {
            "url": world.hosts[VAULT_HOST],
            "secrets": {name: values[-1] for name, values in world.secrets.items()},
        },
        "managed_identity": {
            "endpoint": world.hosts[IDENTITY_HOST] + MI_PATH,
            "header": identity.header,
            "client_id": identity.client_id,
            "principal_id": identity.principal_id,
            "tenant_id": identity.tenant_id,
        },
        "tenants": [spec.to_json() for spec in world.tenants.values()],
    }


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


async def start(state_dir: Path, *, seed: int, scenario: str, tenants: int | None) -> RunningEmulator:
    """Build the world, bind every host, write emulator.json. The caller prints READY and waits."""
    state_dir.mkdir(parents=True, exist_ok=True)
    world = World(seed=seed)
    tokens = TokenService(world.clock)
    emulator = RunningEmulator(
        world=world,
        tokens=tokens,
        tls=create_server_tls(state_dir),
        state_dir=state_dir,
        info_path=state_dir / "emulator.json",
    )
    emulator.ssl_context = emulator.tls.server_context()
    create_partner(world, state_dir)
    defender = load_defender(world, tokens, scenario=scenario, seed=seed, tenants=tenants, warn=sys.stderr)
    try:
        await _serve_platform(emulator, defender)
        if defender is not None:
            for host in defender.all_hosts:
                world.hosts[host] = (await _serve(emulator, defender.app_for_host(host)))[0]
        control = ControlService(
            world,
            describe=lambda: describe(emulator),
            on_tenant=defender.on_tenant if defender is not None else None,
            extra_routes=defender.control_routes() if defender is not None else None,
            # Tenants added or changed through the control API are in emulator.json too (docs/contracts.md §1.2).
            on_change=lambda: _write_atomically(emulator.info_path, describe(emulator)),
        )
        emulator.control_url = (await _serve(emulator, control.app()))[0] + PREFIX
        _write_atomically(emulator.info_path, describe(emulator))
    except BaseException:
        await emulator.stop()
        raise
    return emulator
