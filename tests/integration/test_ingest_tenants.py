"""Broken tenants get the right health status and remedy; the healthy ones are not held back.

Also: two worker processes draining the same queue never process one tenant feed at once, and lose nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.domain.job import new_job
from shared.domain.tenant import Tenant
from shared.ingest.drain import drain
from tests.integration.ingest_support import (
    add_tenants,
    delivered_keys,
    ground_truth,
    relay_env,
    relay_services,
    sweep_now,
    trusting,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trust(emulator: EmulatorInfo) -> Iterator[EmulatorInfo]:
    emulator.control("DELETE", "/faults")
    with trusting(emulator):
        yield emulator
    emulator.control("DELETE", "/faults")


def _register(services: Services, tenant_id: str, cloud: str) -> None:
    services.tenants.upsert(
        Tenant(
            tenant_id=tenant_id, display_name=f"Broken {tenant_id[:8]}", cloud=cloud, feeds=frozenset({"mde-alerts"})
        )  # type: ignore[arg-type]
    )


def _emulated(emulator: EmulatorInfo, **spec: object) -> str:
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": "x", "machines": 2, **spec}
    assert emulator.control("POST", "/tenants", json=body).status_code == 201
    emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "new_alerts": 2})
    return tenant_id


def test_each_broken_tenant_gets_its_own_health_status_and_the_others_are_unaffected(
    azurite: AzuriteEndpoints, trust: EmulatorInfo
) -> None:
    emulator = trust
    # The US Gov app's secret is wrong: only GCC High / DoD tenants can notice.
    relay = relay_services(azurite, emulator, RELAY_SECRET_USGOV_APP_SECRET="not-the-secret")
    healthy = add_tenants(emulator, relay, 3, feeds=frozenset({"mde-alerts"}))
    for tenant in healthy:
        emulator.control("POST", "/generate", json={"tenant_id": tenant.tenant_id, "new_alerts": 3, "incidents": False})
    broken = {
        "not-consented": _emulated(emulator, consent="none"),
        "missing-roles": _emulated(emulator, consent="partial", roles={"mde": ["Machine.Read.All"]}),
        "bad-credential": _emulated(emulator, cloud="gcc-high", roles={"mde": ["Alert.Read.All"]}),
        "wrong-cloud": _emulated(emulator, cloud="gcc-high", roles={"mde": ["Alert.Read.All"]}),
    }
    # The relay's registry says where it believes each tenant lives; the wrong-cloud one is mis-registered.
    registered_cloud = {"bad-credential": "gcc-high"}
    for kind, tenant_id in broken.items():
        _register(relay, tenant_id, registered_cloud.get(kind, "commercial"))
    # WHEN a sweep runs
    sweep_now(relay)
    stats = drain(relay, threads=4, idle_seconds=0.5, max_seconds=60)
    # THEN every job completed (none left to retry five times)
    assert stats.failures == 0
    # AND each broken tenant's health names what is wrong and what to do
    for kind, tenant_id in broken.items():
        health = relay.tenants.get_health(tenant_id)
        assert health.last_error_kind == kind, (kind, health)
        assert health.last_error_remedy, kind
        assert health.last_success is None
    # AND the healthy tenants delivered everything
    ids = [t.tenant_id for t in healthy]
    assert set(delivered_keys(relay)) == ground_truth(emulator, ids)
    assert all(relay.tenants.get_health(t).last_success is not None for t in ids)
    # AND no secret reached the health records
    secret = emulator.apps["commercial"]["client_secret"]
    assert all(secret not in str(relay.tenants.get_health(t)) for t in broken.values())


def test_two_worker_processes_never_process_one_tenant_at_once_and_lose_nothing(
    azurite: AzuriteEndpoints, trust: EmulatorInfo, tmp_path: Path
) -> None:
    emulator = trust
    relay = relay_services(azurite, emulator)
    tenants = add_tenants(emulator, relay, 6)
    ids = [t.tenant_id for t in tenants]
    for tenant_id in ids:
        emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "new_alerts": 5, "incidents": True})
    # GIVEN every tenant feed queued three times over, and 30 ms per Defender call so jobs overlap in time
    emulator.control("PUT", "/faults", json={"rules": [], "latency_ms": 30})
    for _ in range(3):
        for tenant in tenants:
            for feed in sorted(tenant.feeds):
                relay.job_queue.send(new_job(tenant.tenant_id, feed))
    # WHEN two worker processes drain the queue
    report = tmp_path / "jobs.ndjson"
    # The shortest lease: a job that meets the other process's lease is handed back until it ends (ingestion.md §2)
    env = {
        **os.environ,
        **relay_env(azurite, emulator, RELAY_LEASE_SECONDS="15"),
        **emulator.env(),
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "shared.cli.drain",
        "--threads",
        "4",
        "--idle-seconds",
        "1",
        "--max-seconds",
        "60",
        "--report",
        str(report),
    ]
    workers = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err.decode()[-2000:]
    # THEN both processes worked, and the lease windows of one tenant feed never overlap
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert len({row["pid"] for row in rows}) == 2
    windows: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if row["leased"]:
            windows[(row["tenant_id"], row["feed"])].append(tuple(row["leased"]))
    for spans in windows.values():
        spans.sort()
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans
    # AND every version was delivered, none twice (the repeats were dropped by the checkpoint)
    got = delivered_keys(relay)
    assert set(got) == ground_truth(emulator, ids)
    assert len(got) == len(set(got))
