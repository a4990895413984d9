"""Azurite, owned by the project: start it on free loopback ports, wait until it answers, always stop it.

Used by the tests (a pytest fixture on top), the demo and the benchmarks. Azurite comes from the pinned
npm package in ``node_modules`` (``make setup`` installs it). Flags: ``--inMemoryPersistence`` (nothing
on disk), ``--skipApiVersionCheck`` (the Python SDKs send newer ``x-ms-version`` values than Azurite
3.35 knows), ``--disableTelemetry`` (no network). Ports are 0: Azurite prints the ports it bound, and
we read them from its output, so parallel runs never collide.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from localdev.processes import stop_process_group

ROOT = Path(__file__).resolve().parent.parent

# The well-known Azurite development account (public, documented; not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://[\d.]+:(\d+)")


class AzuriteError(RuntimeError):
    """Azurite could not be found or did not start."""


@dataclass(frozen=True)
class AzuriteEndpoints:
    blob_port: int
    queue_port: int
    table_port: int
    host: str = "127.0.0.1"

    @property
    def connection_string(self) -> str:
        h = self.host
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{h}:{self.blob_port}/{ACCOUNT_NAME};"
            f"QueueEndpoint=http://{h}:{self.queue_port}/{ACCOUNT_NAME};"
            f"TableEndpoint=http://{h}:{self.table_port}/{ACCOUNT_NAME};"
        )


def azurite_executable() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise AzuriteError("Azurite is not installed: run `make setup` (it installs the pinned npm package)")


def _wait_for_port(host: str, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AzuriteError(f"Azurite did not answer on {host}:{port}")


@contextmanager
def running_azurite(*, timeout: float = 30.0, access_log: bool = True) -> Iterator[AzuriteEndpoints]:
    """Start Azurite (blob, queue, table) on free ports; yield its endpoints; always stop it.

    ``access_log=False`` adds ``--silent``: no line per request on Azurite's stdout (which this process
    drains), for benchmarks on shared cores; the "listening" lines are printed either way.
    """
    args = [
        azurite_executable(),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
        "--blobPort",
        "0",
        "--queuePort",
        "0",
        "--tablePort",
        "0",
        *(() if access_log else ("--silent",)),
    ]
    env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}  # only the dev account
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=str(ROOT),
        text=True,
        start_new_session=True,  # its own process group, so stopping it stops its children too
    )
    ports: dict[str, int] = {}
    output: list[str] = []
    ready = threading.Event()

    def _reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # keep draining so Azurite never blocks on a full pipe
            if len(output) < 200:
                output.append(line.rstrip())
            m = _LISTENING.search(line)
            if m:
                ports[m.group(1).lower()] = int(m.group(2))
                if len(ports) == 3:
                    ready.set()

    reader = threading.Thread(target=_reader, name="azurite-output", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AzuriteError("Azurite did not start:\n" + "\n".join(output[-20:]))
        endpoints = AzuriteEndpoints(blob_port=ports["blob"], queue_port=ports["queue"], table_port=ports["table"])
        for port in (endpoints.blob_port, endpoints.queue_port, endpoints.table_port):
            _wait_for_port(endpoints.host, port, deadline)
        yield endpoints
    finally:
        stop_process_group(proc)
