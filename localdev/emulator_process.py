"""Run ``python -m emulator`` as a child process: start it, wait for READY, read emulator.json, always stop it.

Used by the tests (the ``emulator`` fixture), the demo and the benchmarks. The child gets its own
process group and ``--watch-stdin``: closing its stdin, SIGTERM to the group, and as a last resort
SIGKILL stop it, and if this process dies first the closed pipe stops it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from localdev.processes import stop_process_group

ROOT = Path(__file__).resolve().parent.parent
_READY = "EMULATOR READY "


class EmulatorStartError(RuntimeError):
    """The emulator did not start (its stderr tail is in the message)."""


@dataclass(frozen=True)
class EmulatorInfo:
    """emulator.json (contracts §1.2) as a small typed object, plus helpers for clients and tests."""

    path: Path
    data: dict[str, Any]

    @property
    def pid(self) -> int:
        return int(self.data["pid"])

    @property
    def control_url(self) -> str:
        return str(self.data["control_url"])

    @property
    def ca_cert(self) -> str:
        return str(self.data["ca_cert"])

    @property
    def ca_bundle(self) -> str:
        return str(self.data["ca_bundle"])

    @property
    def hosts(self) -> dict[str, str]:
        return dict(self.data["hosts"])

    @property
    def apps(self) -> dict[str, dict[str, str]]:
        return dict(self.data["apps"])

    @property
    def partner_tenant_id(self) -> str:
        return str(self.data["partner_tenant_id"])

    @property
    def key_vault_url(self) -> str:
        return str(self.data["key_vault"]["url"])

    @property
    def managed_identity(self) -> dict[str, str]:
        return dict(self.data["managed_identity"])

    @property
    def tenants(self) -> list[dict[str, Any]]:
        return list(self.data["tenants"])

    def login_url(self, cloud: str = "commercial") -> str:
        """Emulated authority base: commercial/gcc -> login.microsoftonline.com, gcc-high/dod -> .us."""
        host = "login.microsoftonline.us" if cloud in ("usgov", "gcc-high", "dod") else "login.microsoftonline.com"
        return self.hosts[host]

    def control(self, method: str, path: str, json: Any = None, *, timeout: float = 10.0) -> requests.Response:
        """Call the control API; ``path`` is relative to control_url (``/counters``)."""
        if path.startswith("/_emulator"):
            path = path[len("/_emulator") :]
        return requests.request(method, self.control_url + path, json=json, verify=self.ca_bundle, timeout=timeout)

    def env(self) -> dict[str, str]:
        """Environment a client process needs: trust, the managed identity endpoint, host overrides."""
        identity = self.managed_identity
        return {
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "SSL_CERT_FILE": self.ca_bundle,
            "IDENTITY_ENDPOINT": identity["endpoint"],
            "IDENTITY_HEADER": identity["header"],
            "AZURE_CLIENT_ID": identity["client_id"],
            "RELAY_HOST_OVERRIDES": json.dumps(self.hosts),
        }


def _drain(stream: Any, sink: list[str], ready: threading.Event, found: list[str]) -> None:
    for line in stream:  # keep reading so the child never blocks on a full pipe
        if line.startswith(_READY) and not found:
            found.append(line[len(_READY) :].strip())
            ready.set()
        elif len(sink) < 200:
            sink.append(line.rstrip())
    ready.set()  # EOF: the child is gone (or closed stdout)


def _command(state_dir: Path, scenario: str, seed: int, tenants: int | None) -> list[str]:
    args = [sys.executable, "-m", "emulator", "--state-dir", str(state_dir), "--seed", str(seed)]
    args += ["--scenario", scenario, "--watch-stdin"]
    if tenants is not None:
        args += ["--tenants", str(tenants)]
    return args


@contextmanager
def running_emulator(
    *,
    scenario: str = "test",
    seed: int = 1,
    tenants: int | None = None,
    state_dir: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[EmulatorInfo]:
    """Start the emulator on free loopback ports; yield its EmulatorInfo; always stop it."""
    with tempfile.TemporaryDirectory(prefix="emulator-") as tmp:
        directory = state_dir or Path(tmp)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            _command(directory, scenario, seed, tenants),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
            start_new_session=True,  # its own process group: stopping it stops anything it started
        )
        out: list[str] = []
        err: list[str] = []
        found: list[str] = []
        ready = threading.Event()
        threading.Thread(target=_drain, args=(proc.stdout, out, ready, found), daemon=True).start()
        threading.Thread(target=_drain, args=(proc.stderr, err, threading.Event(), []), daemon=True).start()
        try:
            if not ready.wait(timeout) or not found:
                raise EmulatorStartError("the emulator did not start:\n" + "\n".join((out + err)[-30:]))
            path = Path(found[0])
            yield EmulatorInfo(path=path, data=json.loads(path.read_text()))
        finally:
            stop_process_group(proc)
