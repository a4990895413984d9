"""Indicators across tenants on the real stack: Azurite (jobs, sets, results, audit) and the emulated MDE
indicators API, drained the way the Functions host runs the queue trigger (docs/indicators.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.actions.audit import TABLE as AUDIT_TABLE
from shared.actions.audit import TableAuditStore
from shared.bootstrap import Services
from shared.indicators.jobs import JobMessage
from tests.integration.indicator_support import (
    NOW,
    api_calls,
    by_tenant,
    hashes,
    indicator_services,
    indicator_tenant,
    run_jobs,
    start,
    status,
    truth,
    values,
)
from tests.integration.ingest_support import trusting

pytestmark = pytest.mark.integration
ONLY_OWN, ALL = ["Ti.ReadWrite"], ["Ti.ReadWrite.All"]


@pytest.fixture
def services(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    with trusting(emulator):
        yield indicator_services(azurite, emulator)


def test_push_to_every_allowing_tenant_then_a_second_push_writes_nothing(
    services: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN two tenants that allow indicators (one consented Ti.ReadWrite, one Ti.ReadWrite.All) and one that does not
    own, every = indicator_tenant(emulator, services, roles=ONLY_OWN), indicator_tenant(emulator, services, roles=ALL)
    other = indicator_tenant(emulator, services, roles=ALL, allowed=["isolate"])
    wanted = hashes(600)  # more than one import call (500)
    # WHEN they are pushed to "all" and the queue is drained
    job = start(services, "push", None, indicators=wanted)
    run_jobs(services)
    # THEN each allowing tenant holds exactly the set, from one list and two imports; the other is untouched
    document = status(services, job)
    assert document["complete"] is True
    assert (document["progress"]["planned"], document["totals"]["created"]) == (2, 1200)
    for tenant in (own, every):
        assert set(values(emulator, tenant)) == {i.value for i in wanted}
        assert api_calls(emulator, tenant) == {"indicators": 1, "indicators-import": 2}
    assert api_calls(emulator, other) == {}
    # AND each tenant's change is audited per indicator
    audit = TableAuditStore(services.storage.table(AUDIT_TABLE)).list(own.tenant_id, since=NOW, limit=10)
    assert {(r.action, r.outcome, r.comment.split(" (")[0]) for r in audit} == {
        ("indicators-push", "accepted", f"indicator job {job.job_id}")
    }
    lines = [line for record in audit for line in record.indicators.splitlines()]
    assert sorted(lines) == sorted(f"create FileSha256:{i.value}" for i in wanted)
    # WHEN the same set is pushed again THEN each tenant gets one list call and no write at all
    again = start(services, "push", None, indicators=wanted)
    run_jobs(services)
    results = by_tenant(status(services, again))
    assert {(r["status"], r["created"], r["updated"], r["unchanged"]) for r in results.values()} == {
        ("done", 0, 0, 600)
    }
    for tenant in (own, every):
        assert api_calls(emulator, tenant) == {"indicators": 2, "indicators-import": 2}
        assert truth(emulator, tenant)["writes"] == {"created": 600}


def test_sync_dry_run_then_applied_removes_only_the_relays_own(services: Services, emulator: EmulatorInfo) -> None:
    # GIVEN a tenant with the relay's indicators 2..5 and two of a portal user, one with value 1 of the baseline
    tenant = indicator_tenant(emulator, services, roles=ALL)
    start(services, "push", [tenant], indicators=hashes(4, start=2))
    run_jobs(services)
    user = [{"indicatorValue": i.value, "indicatorType": "FileSha256", "action": "Allowed", "title": "analyst",
             "description": "portal"} for i in (hashes(1)[0], hashes(1, start=99)[0])]  # fmt: skip
    assert emulator.control("POST", f"/tenants/{tenant.tenant_id}/indicators", json={"indicators": user}).ok
    baseline = hashes(3)
    writes = truth(emulator, tenant)["writes"]
    # WHEN the baseline 1..3 is synced as a dry run THEN the plan is 2 unchanged, 2 removed, 1 not ours; no write
    dry = start(services, "sync", [tenant], indicators=baseline, dry_run=True)
    run_jobs(services)
    plan = by_tenant(status(services, dry))[tenant.tenant_id]
    assert (plan["status"], plan["created"], plan["removed"], plan["unchanged"], plan["conflicts"]) == (
        "planned", 0, 2, 2, 1
    )  # fmt: skip
    assert sorted(plan["details"]["remove"]) == sorted(f"FileSha256:{i.value}" for i in hashes(2, start=4))
    assert truth(emulator, tenant)["writes"] == writes
    # WHEN it is applied THEN the relay's 4 and 5 are gone, the user's two untouched (value 1 kept as theirs)
    applied = start(services, "sync", [tenant], indicators=baseline)
    run_jobs(services)
    assert by_tenant(status(services, applied))[tenant.tenant_id]["removed"] == 2
    assert values(emulator, tenant) == {
        baseline[0].value: "User", baseline[1].value: "AadApp", baseline[2].value: "AadApp",
        hashes(1, start=99)[0].value: "User",
    }  # fmt: skip
    # AND a drift report now finds nothing to change
    drift = start(services, "sync", [tenant], indicators=baseline, dry_run=True)
    run_jobs(services)
    after = by_tenant(status(services, drift))[tenant.tenant_id]
    assert (after["created"], after["updated"], after["removed"], after["unchanged"]) == (0, 0, 0, 2)


def test_drift_names_what_differs_per_tenant(services: Services, emulator: EmulatorInfo) -> None:
    first, second = (indicator_tenant(emulator, services, roles=ONLY_OWN) for _ in range(2))
    baseline = hashes(3)
    start(services, "push", [first, second], indicators=baseline)
    run_jobs(services)
    # GIVEN the second tenant drifted: one of the relay's indicators renamed, one removed in the portal
    start(services, "push", [second], indicators=[*hashes(1, title="renamed")])
    start(services, "remove", [second], targets=[[("FileSha256", baseline[2].value)]])
    run_jobs(services)
    # WHEN the drift report runs THEN the first is in line and the second shows the update and the missing one
    job = start(services, "sync", None, indicators=baseline, dry_run=True)
    run_jobs(services)
    results = by_tenant(status(services, job))
    assert (results[first.tenant_id]["created"], results[first.tenant_id]["updated"]) == (0, 0)
    assert results[second.tenant_id]["details"]["update"] == [f"FileSha256:{baseline[0].value} (title)"]
    assert results[second.tenant_id]["details"]["create"] == [f"FileSha256:{baseline[2].value}"]


def test_remove_by_value_across_tenants_by_batch_delete(services: Services, emulator: EmulatorInfo) -> None:
    tenants = [indicator_tenant(emulator, services, roles=ALL) for _ in range(3)]
    target = hashes(1)[0]
    start(services, "push", tenants[:2], indicators=hashes(2))
    run_jobs(services)
    user = {"indicatorValue": target.value, "indicatorType": "FileSha256", "action": "Block", "title": "u",
            "description": "portal"}  # fmt: skip
    emulator.control("POST", f"/tenants/{tenants[2].tenant_id}/indicators", json={"indicators": [user]})
    job = start(services, "remove", None, targets=[[("FileSha256", target.value)]])
    run_jobs(services)
    results = by_tenant(status(services, job))
    assert [(results[t.tenant_id]["removed"], results[t.tenant_id]["conflicts"]) for t in tenants] == [
        (1, 0), (1, 0), (0, 1)
    ]  # fmt: skip
    assert [target.value in values(emulator, t) for t in tenants] == [False, False, True]
    assert api_calls(emulator, tenants[0])["indicators-batchdelete"] == 1


class CrashingQueue:
    """The indicator queue, failing like a recycled instance after ``after`` sends (once; sends run in parallel)."""

    def __init__(self, queue: Any, after: int) -> None:
        self.queue, self.after, self.crashed = queue, after, False
        self.lock = threading.Lock()

    def send(self, message: JobMessage, *, delay_seconds: int = 0) -> None:
        with self.lock:
            crash = message.kind == "tenant" and not self.crashed and self.after == 0
            self.crashed = self.crashed or crash
            self.after -= 1
        if crash:
            raise ConnectionResetError("the instance went away mid fan-out")
        self.queue.send(message, delay_seconds=delay_seconds)


def test_a_fan_out_that_crashes_halfway_is_retried_and_converges(services: Services, emulator: EmulatorInfo) -> None:
    # GIVEN six tenants and a fan-out whose fourth queue send fails
    tenants = [indicator_tenant(emulator, services, roles=ONLY_OWN) for _ in range(6)]
    wanted = hashes(20)
    job = start(services, "push", tenants, indicators=wanted)
    crashing = CrashingQueue(services.indicator_queue, after=3)
    services.indicator_worker._queue = crashing  # the worker's port: the fault is injected there, not patched in
    # WHEN the drain runs it THEN the failed fan-out is retried and queues the rest
    stats = run_jobs(services)
    assert crashing.crashed
    assert stats.failures == 1
    document = status(services, job)
    assert document["complete"] is True
    assert {r["status"] for r in document["results"]} == {"done"}
    # AND every tenant holds the set exactly once, created once, whether its job ran once or twice
    for tenant in tenants:
        assert sorted(values(emulator, tenant)) == sorted(i.value for i in wanted)
        assert truth(emulator, tenant)["writes"]["created"] == 20


def test_a_tenant_at_its_cap_is_refused_with_the_count_and_nothing_is_sent(
    services: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN a tenant holding 14,998 of the relay's indicators (the relay sees them all)
    full = indicator_tenant(emulator, services, roles=ONLY_OWN)
    seeded = emulator.control("POST", f"/tenants/{full.tenant_id}/indicators",
                              json={"count": 14_998, "creator": "partner-app"})  # fmt: skip
    assert seeded.status_code == 201
    # WHEN 5 more are pushed THEN the tenant fails with the count and the limit, and no import is made
    job = start(services, "push", [full], indicators=hashes(5))
    run_jobs(services)
    result = by_tenant(status(services, job))[full.tenant_id]
    assert (result["status"], result["errorKind"]) == ("failed", "indicator-cap")
    assert (
        "has 14,998 active indicators the relay can see; adding 5 would pass Defender's limit of 15,000"
        in (result["message"])
    )
    assert "indicators-import" not in api_calls(emulator, full)


def test_defenders_own_cap_refusals_come_back_per_indicator(services: Services, emulator: EmulatorInfo) -> None:
    # GIVEN (a cap of 3 for the test) a tenant with two indicators of a portal user the relay cannot see
    tenant = indicator_tenant(emulator, services, roles=ONLY_OWN)
    emulator.control("POST", f"/tenants/{tenant.tenant_id}/indicators", json={"count": 2, "creator": "user"})
    assert emulator.control("PUT", "/indicators/settings", json={"max_active": 3}).status_code == 200
    try:
        job = start(services, "push", [tenant], indicators=hashes(3))
        run_jobs(services)
    finally:
        emulator.control("PUT", "/indicators/settings", json={"max_active": 15_000})
    # THEN one is created and two are reported with Defender's reason
    result = by_tenant(status(services, job))[tenant.tenant_id]
    assert (result["status"], result["created"], result["failed"]) == ("done", 1, 2)
    assert "limit of 3 active indicators (3 active)" in result["details"]["failed"][0]


def test_a_tenant_without_consented_ti_roles_fails_with_the_remedy(services: Services, emulator: EmulatorInfo) -> None:
    tenant = indicator_tenant(emulator, services, roles=["Alert.Read.All"])
    job = start(services, "push", [tenant], indicators=hashes(1))
    run_jobs(services)
    result = by_tenant(status(services, job))[tenant.tenant_id]
    assert (result["status"], result["errorKind"]) == ("failed", "missing-roles")
    assert "Ti.ReadWrite" in result["message"]
    assert result["remedy"]


def test_a_tenant_whose_import_fails_is_retried_by_the_drain_and_writes_each_indicator_once(
    services: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN Defender answering the first two imports of one tenant with 503 (a POST is not retried in place)
    tenant, steady = (indicator_tenant(emulator, services, roles=ONLY_OWN) for _ in range(2))
    rule = {"route": "indicators-import", "tenant_id": tenant.tenant_id, "p503": 1.0, "count": 2}
    emulator.control("PUT", "/faults", json={"rules": [rule]}).raise_for_status()
    try:
        job = start(services, "push", [tenant, steady], indicators=hashes(30))
        stats = run_jobs(services)
    finally:
        emulator.control("DELETE", "/faults")
    # THEN its message failed twice, was retried, and the job completed with each indicator created once
    assert stats.failures == 2
    document = status(services, job)
    assert document["complete"] is True
    assert {r["tenantId"]: (r["status"], r["created"]) for r in document["results"]} == {
        tenant.tenant_id: ("done", 30), steady.tenant_id: ("done", 30)
    }  # fmt: skip
    assert truth(emulator, tenant)["writes"] == {"created": 30}
