"""Helpers for the hunting integration tests and the benchmark: the real stack against Azurite + the emulator."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.domain.tenant import Tenant, parse_tenant
from shared.hunting.hunt_queue import drain_hunts
from shared.hunting.job import HuntJob
from shared.hunting.runner import HuntDeps, HuntJobResult
from shared.platform.queue_host import HostOptions, HostStats
from shared.platform.storage import HUNT_JOBS_QUEUE
from tests.integration.ingest_support import relay_services

HUNT_ROLES = {
    "mde": ["Alert.Read.All", "Machine.Read.All"],
    "xdr": ["Incident.Read.All"],
    "graph": ["SecurityAlert.Read.All", "SecurityIncident.Read.All", "ThreatHunting.Read.All"],
}


def hunting_services(
    azurite: AzuriteEndpoints,
    emulator: EmulatorInfo,
    *,
    clock: Callable[[], datetime] | None = None,
    **overrides: str,
) -> Services:
    """``relay_services`` with hunting on (clean registry and queues), ``hunt-jobs`` emptied, the clock given."""
    services = relay_services(azurite, emulator, RELAY_HUNTING_ENABLED="1", **overrides)
    if clock is not None:
        services.clock = clock  # before any part is built: the hunt parts take it when they are
    services.storage.queue(HUNT_JOBS_QUEUE).clear_messages()
    return services


def hunting_tenants(
    emulator: EmulatorInfo, services: Services, count: int, *, roles: dict[str, list[str]] | None = None, **spec: Any
) -> list[Tenant]:
    """``count`` fresh commercial tenants in the emulator (with the hunting role) and in the registry."""
    tenants = []
    for n in range(count):
        tenant_id = str(uuid.uuid4())
        name = f"Hunt {n:04d} {tenant_id[:6]}"
        body = {"tenant_id": tenant_id, "display_name": name, "consent": "full", "machines": 2,
                "roles": roles or HUNT_ROLES, **spec}  # fmt: skip
        response = emulator.control("POST", "/tenants", json=body)
        assert response.status_code == 201, response.text
        tenant = parse_tenant({"tenant_id": tenant_id, "display_name": name, "feeds": ["graph-alerts"]}, where="t")
        services.tenants.upsert(tenant)
        tenants.append(tenant)
    return tenants


def drain(
    services: Services, deps: HuntDeps | None = None, *, threads: int = 8, seconds: float = 300
) -> HostStats[HuntJobResult]:
    return drain_hunts(
        services.storage,
        deps or services.hunt_deps,
        options=HostOptions(threads=threads, idle_seconds=2.0, max_seconds=seconds, retry_delay=1),
    )


def hunting_calls(emulator: EmulatorInfo, tenant_ids: Iterable[str]) -> int:
    wanted = set(tenant_ids)
    calls = emulator.control("GET", "/counters").json()["api_calls"]
    return sum(int(n) for key, n in calls.items() if key.endswith("|graph-hunting") and key.split("|")[0] in wanted)


class CrashingQueue:
    """``hunt-jobs`` whose sender dies once after ``after`` sends: a worker that crashes mid-fan-out."""

    def __init__(self, real: Any, *, after: int) -> None:
        self._real = real
        self._after = after
        self._sent = 0
        self._lock = threading.Lock()
        self.crashed = False

    def send(self, job: HuntJob, *, delay_seconds: int = 0) -> None:
        with self._lock:
            self._sent += 1
            crash = not self.crashed and self._sent > self._after
            self.crashed = self.crashed or crash
        if crash:
            raise RuntimeError("worker died in the middle of the fan-out")
        self._real.send(job, delay_seconds=delay_seconds)


class CrashingResults:
    """The result store of a worker that dies once, after storing its first chunk of one tenant."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.crashed = False

    def write(self, hunt_id: str, tenant_id: str, attempt: str, lines: Iterable[bytes]) -> tuple[int, int]:
        if self.crashed:
            return self._real.write(hunt_id, tenant_id, attempt, lines)  # type: ignore[no-any-return]
        self.crashed = True
        kept = list(lines)
        self._real.write(hunt_id, tenant_id, attempt, kept[: max(1, len(kept) // 2)])
        raise RuntimeError("worker died while storing rows")

    def read_chunk(self, hunt_id: str, tenant_id: str, attempt: str, chunk: int) -> list[bytes]:
        return self._real.read_chunk(hunt_id, tenant_id, attempt, chunk)  # type: ignore[no-any-return]

    def delete_attempt(self, hunt_id: str, tenant_id: str, attempt: str) -> None:
        self._real.delete_attempt(hunt_id, tenant_id, attempt)


def hunt_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hunt-row items of event envelopes."""
    return [item for envelope in events for item in envelope["items"] if item["kind"] == "hunt-row"]


def drain_events(services: Services) -> list[dict[str, Any]]:
    queue = services.storage.queue(services.settings.events_queue)
    envelopes: list[dict[str, Any]] = []
    for _ in range(10_000):
        batch = list(queue.receive_messages(messages_per_page=32, visibility_timeout=60))
        if not batch:
            return envelopes
        for message in batch:
            envelopes.append(json.loads(message.content))
            queue.delete_message(message)
    raise AssertionError("the events queue did not drain")
