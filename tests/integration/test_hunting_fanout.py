"""Hunting across tenants against Azurite and the emulator: the real stores, queue, tokens and Graph calls.

A hunt across 50 tenants, three kinds of them failing, Graph answering 429s (short ones slept through, a long
one handing the job back to the queue), a worker dying mid-fan-out and another mid-write, still returns every
row of every healthy tenant exactly once with each failure named; a syntax error costs one upstream call; a
saved hunt delivers its new rows to the sinks once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.hunting.model import HuntSpec, hunt_state
from shared.hunting.service import ScheduleRequest
from tests.integration.hunting_support import (
    CrashingQueue,
    CrashingResults,
    drain,
    drain_events,
    hunt_rows,
    hunting_calls,
    hunting_services,
    hunting_tenants,
)
from tests.integration.ingest_support import trusting

pytestmark = pytest.mark.integration
QUERY = "DeviceProcessEvents | project Timestamp, DeviceName, FileName, ReportId | take 25"
NO_HUNTING_ROLE = {"graph": ["SecurityAlert.Read.All", "SecurityIncident.Read.All"]}


@pytest.fixture
def services(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    with trusting(emulator):
        yield hunting_services(azurite, emulator)
    emulator.control("DELETE", "/faults")
    emulator.control("PUT", "/graph/hunting", json={"unlicensed": [], "timeouts": [], "cpu_exhausted": {}})


def _key(row: dict[str, object]) -> tuple[object, ...]:
    return (row["tenantId"], row["DeviceName"], row["ReportId"])


def test_a_hunt_across_50_tenants_returns_every_healthy_row_once_and_names_every_failure(
    emulator: EmulatorInfo, services: Services
) -> None:
    # GIVEN 50 tenants: 44 healthy, 2 without ThreatHunting.Read.All, 2 without advanced hunting, 2 timing out
    healthy = hunting_tenants(emulator, services, 44)
    no_role = hunting_tenants(emulator, services, 2, roles=NO_HUNTING_ROLE)
    unlicensed = hunting_tenants(emulator, services, 2)
    slow = hunting_tenants(emulator, services, 2)
    emulator.control("PUT", "/graph/hunting", json={"unlicensed": [t.tenant_id for t in unlicensed],
                                                    "timeouts": [t.tenant_id for t in slow]})  # fmt: skip
    # AND Graph answers a quarter of the queries with 429 (Retry-After 1 s), and one tenant once with a long one
    long_wait = healthy[7].tenant_id
    rules = [{"route": "graph-hunting", "tenant_id": long_wait, "p429": 1.0, "count": 1, "retry_after": 11},
             {"route": "graph-hunting", "p429": 0.25, "retry_after": 1}]  # fmt: skip
    assert emulator.control("PUT", "/faults", json={"rules": rules, "seed": 7}).status_code == 200
    # AND the worker dies once in the middle of the fan-out and once in the middle of storing a tenant's rows
    crashing_queue = CrashingQueue(services.hunt_queue, after=12)
    crashing_results = CrashingResults(services.hunt_deps.results)
    deps = replace(services.hunt_deps, jobs=crashing_queue, results=crashing_results)
    # WHEN the hunt is started and its jobs are run by the host stand-in
    hunt = services.hunt_service().start(HuntSpec(QUERY, timespan="P30D", requested_by="soc-test"))
    stats = drain(services, deps)
    assert crashing_queue.crashed
    assert crashing_results.crashed
    assert any(r.status == "throttled" for r in stats.results), "the long Retry-After was handed back to the queue"
    # THEN the hunt is done and each failing tenant is named with its reason
    header, runs = services.hunt_service().status(hunt.hunt_id)
    assert hunt_state(header, runs) == "done"
    by_tenant = {run.tenant_id: run for run in runs}
    assert {by_tenant[t.tenant_id].error_kind for t in no_role} == {"missing-roles"}
    assert {by_tenant[t.tenant_id].error_kind for t in unlicensed} == {"no-hunting"}
    assert {by_tenant[t.tenant_id].error_kind for t in slow} == {"hunt-timeout"}
    assert all("ThreatHunting.Read.All" in by_tenant[t.tenant_id].remedy for t in no_role)
    assert {by_tenant[t.tenant_id].state for t in healthy} == {"done"}
    # AND the merged result holds exactly the rows each healthy tenant answers, each once
    merged = [json.loads(line) for line in services.hunt_service().stream(hunt.hunt_id, fmt="ndjson")]
    emulator.control("DELETE", "/faults")
    expected = []
    for tenant in healthy:
        answer = services.hunting_api.run_query(tenant, QUERY, timespan="P30D")
        expected += [(tenant.tenant_id, row["DeviceName"], row["ReportId"]) for row in answer.rows]
    assert len(expected) == 44 * 25
    assert sorted(_key(row) for row in merged) == sorted(expected)
    assert {row["tenantName"] for row in merged} == {t.display_name for t in healthy}


def test_a_syntax_error_costs_one_upstream_call_and_the_hunt_fails_with_microsofts_message(
    emulator: EmulatorInfo, services: Services
) -> None:
    tenants = hunting_tenants(emulator, services, 20)
    ids = [t.tenant_id for t in tenants]
    before = hunting_calls(emulator, ids)
    hunt = services.hunt_service().start(HuntSpec("DeviceProcessEvents | wher FileName == 'x'"))
    drain(services)
    header, runs = services.hunt_service().status(hunt.hunt_id)
    assert hunting_calls(emulator, ids) - before == 1
    assert hunt_state(header, runs) == "failed"
    assert "The 'wher' operator is not in the subset" in header.query_error
    assert sorted(run.state for run in runs) == ["cancelled"] * 19 + ["failed"]


def test_a_saved_hunt_delivers_its_new_rows_to_the_sinks_once(
    azurite: AzuriteEndpoints, emulator: EmulatorInfo
) -> None:
    now = [datetime.now(UTC)]
    with trusting(emulator):
        services = hunting_services(azurite, emulator, clock=lambda: now[0])
        tenants = hunting_tenants(emulator, services, 3, alerts=4)
        service = services.hunt_service()
        query = "DeviceProcessEvents | where ReportId >= 10000 | project Timestamp, DeviceName, FileName, SHA1"
        saved = service.add_schedule(
            ScheduleRequest("alert processes", query, "0 * * * * *", timespan="P3D",
                            tenant_ids=tuple(t.tenant_id for t in tenants), created_by="soc-test")
        )  # fmt: skip
        # WHEN its schedule comes round THEN one hunt starts, once, and all of its rows reach the queue sink
        now[0] += timedelta(seconds=61)
        first = service.run_due()
        assert len(first) == 1
        assert service.run_due() == []
        drain(services)
        delivered = hunt_rows(drain_events(services))
        expected = sum(len(services.hunting_api.run_query(t, query, timespan="P3D").rows) for t in tenants)
        assert len(delivered) == expected > 0
        # WHEN one tenant has new alerts and the next slot comes
        emulator.control("POST", "/generate", json={"tenant_id": tenants[0].tenant_id, "new_alerts": 2})
        now[0] += timedelta(seconds=60)
        assert len(service.run_due()) == 1
        drain(services)
        again = hunt_rows(drain_events(services))
    # THEN only the new rows were delivered, from that tenant, with keys never seen before
    assert len(again) == 2
    assert {item["dedup_key"].split(":")[0] for item in again} == {tenants[0].tenant_id}
    assert not {i["dedup_key"] for i in again} & {i["dedup_key"] for i in delivered}
    assert len({i["dedup_key"] for i in delivered}) == len(delivered)
    assert {item["id"] for item in delivered} == {saved.schedule_id}
    assert all(item["data"]["tenantName"] for item in delivered)
