"""``defender-relay serve-local``: Azurite + the emulator with a scenario, and a ``local.settings.json``
that points the real Functions host (``func start``) at them.

``relay_environment`` is also what the demo and the CLI tests use: the app settings of a relay whose
Microsoft services are the emulator. Secrets are not copied into settings: the partner app's
certificate stays in the emulated Key Vault and is read through the emulated managed identity, the
same path as in Azure.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from localdev.azurite import AzuriteEndpoints, running_azurite
from localdev.emulator_process import EmulatorInfo, running_emulator
from shared.cli.context import CliContext
from shared.cli.output import EXIT_OK
from shared.domain.tenant import Tenant, parse_tenant

KEY_VAULT_URL = "https://relay-kv.vault.azure.net"  # rewritten to the emulator by RELAY_HOST_OVERRIDES
GRAPH_FEEDS = ["graph-alerts", "graph-incidents"]
OLD_FEEDS = ["mde-alerts", "xdr-incidents"]  # retiring on 2027-02-01: tenants registered before the Graph feeds


def relay_environment(azurite: AzuriteEndpoints, emulator: EmulatorInfo, **overrides: str) -> dict[str, str]:
    """App settings (and the client environment: CA bundle, identity endpoint) for a local relay."""
    apps = emulator.apps
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RELAY_KEY_VAULT_URL": KEY_VAULT_URL,
        "RELAY_COMMERCIAL_CLIENT_ID": apps["commercial"]["client_id"],
        "RELAY_COMMERCIAL_CREDENTIAL": "certificate:commercial-app-certificate",
        "RELAY_USGOV_CLIENT_ID": apps["usgov"]["client_id"],
        "RELAY_USGOV_CREDENTIAL": "certificate:usgov-app-certificate",
        "RELAY_MANAGED_IDENTITY_CLIENT_ID": emulator.managed_identity["client_id"],
        # The scenario's history spans two days; local runs read all of it on the first sweep.
        "RELAY_INITIAL_LOOKBACK_HOURS": "72",
        **emulator.env(),  # REQUESTS_CA_BUNDLE, IDENTITY_ENDPOINT/HEADER, RELAY_HOST_OVERRIDES, ...
    }
    env.update(overrides)
    return env


def scenario_tenants(emulator: EmulatorInfo, *, legacy: Iterable[str] = ()) -> list[Tenant]:
    """The emulator's customer tenants as registry entries: the Graph feeds, except the tenants named in
    ``legacy`` (registered before the Graph feeds existed), which read the retiring MDE and XDR feeds."""
    fields = ("tenant_id", "display_name", "cloud", "region")
    old = set(legacy)
    return [
        parse_tenant(
            {**{k: t[k] for k in fields}, "feeds": OLD_FEEDS if t["display_name"] in old else GRAPH_FEEDS},
            where=f"emulator tenant {t['display_name']}",
        )
        for t in emulator.tenants
    ]


def write_tenants_file(emulator: EmulatorInfo, path: Path, *, legacy: Iterable[str] = ()) -> Path:
    """A ``tenants import`` file for the scenario (what a partner would keep in their own repo)."""
    from shared.domain.tenant import tenant_to_json

    tenants = scenario_tenants(emulator, legacy=legacy)
    path.write_text(json.dumps({"tenants": [tenant_to_json(t) for t in tenants]}, indent=2))
    return path


# The timers bind their schedules as %SETTING%: the host must find them in the Values, defaults or not.
TIMER_SETTINGS = ("RELAY_SWEEP_SCHEDULE", "RELAY_HUNT_TIMER_SCHEDULE", "RELAY_PURGE_SCHEDULE")


def local_settings(env: dict[str, str]) -> dict[str, Any]:
    from shared.platform.settings import SETTINGS

    timers = {spec.name: spec.default or "" for spec in SETTINGS if spec.name in TIMER_SETTINGS}
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", **timers, **env}
    return {"IsEncrypted": False, "Values": values, "Host": {"LocalHttpPort": 7071}}


def register(add_command: Callable[[str, Callable[..., int], str], argparse.ArgumentParser]) -> None:
    """The ``serve-local`` command of ``defender-relay`` (entry point ``defender_relay.cli`` in pyproject.toml)."""
    p = add_command("serve-local", run, "start Azurite and the emulator for `func start`")
    p.add_argument("--scenario", default="demo", choices=("demo", "test", "empty"), help="emulator scenario")
    p.add_argument("--output", default="local.settings.json", help="where to write the settings file")
    p.add_argument("--no-wait", action="store_true", help="write the file and stop (for scripts and tests)")


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    """Start both, import the scenario's tenants, write the settings file, wait for Ctrl-C (or not)."""
    with ExitStack() as stack:
        ctx.out.info("starting Azurite and the emulator ...")
        azurite = stack.enter_context(running_azurite())
        emulator = stack.enter_context(running_emulator(scenario=args.scenario))
        env = relay_environment(azurite, emulator)
        output = Path(args.output)
        output.write_text(json.dumps(local_settings(env), indent=2) + "\n", encoding="utf-8")
        tenants_file = write_tenants_file(emulator, output.with_name("local.tenants.json"))
        _import(env, tenants_file)
        _print_instructions(ctx, output, tenants_file, len(emulator.tenants))
        if not args.no_wait:
            _wait_for_interrupt()
    ctx.out.info("stopped Azurite and the emulator")
    return EXIT_OK


def _import(env: dict[str, str], tenants_file: Path) -> None:
    from io import StringIO

    from shared.cli import main

    main(["tenants", "import", str(tenants_file)], environ=env, stdout=StringIO())


def _print_instructions(ctx: CliContext, output: Path, tenants_file: Path, count: int) -> None:
    if ctx.out.json_mode:
        ctx.out.json({"settings": str(output), "tenants_file": str(tenants_file), "tenants": count})
        return
    ctx.out.line(f"wrote {output} ({count} scenario tenants imported into the registry; list: {tenants_file})")
    ctx.out.line("in another terminal:")
    ctx.out.line("  func start                                   # the real Functions host, against these services")
    ctx.out.line(f"  defender-relay --settings {output} check --all")
    ctx.out.line(f"  defender-relay --settings {output} sweep --once")
    ctx.out.line("Ctrl-C here stops Azurite and the emulator (the settings file then points at nothing).")


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
