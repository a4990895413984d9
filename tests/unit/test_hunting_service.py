"""Starting hunts, reading their merged rows page by page, saved hunts, the delivery of new rows, the role check."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.errors import (
    HuntFailedError,
    HuntingDisabledError,
    TenantNotFoundError,
    ValidationError,
)
from shared.domain.tenant import Tenant, TenantHealth
from shared.hunting.delivery import SinkDelivery
from shared.hunting.model import HuntSpec
from shared.hunting.reader import read_page, stream
from shared.hunting.service import HuntService, ScheduleRequest
from shared.tenants.check import check_tenant
from shared.tenants.permissions import required_roles
from tests.fakes.graph import FakeReader, FakeTokens
from tests.fakes.hunting import FakeSchedules, FakeSeenRows, FakeSink, Hunting, tenant_ids
from tests.unit.test_hunting_runner import QUERY, _drain, _setup


def _service(h: Hunting, *, enabled: bool = True, schedules: FakeSchedules | None = None) -> HuntService:
    return HuntService(
        hunts=h.store, results=h.results, tenants=h.tenants, jobs=h.queue, schedules=schedules or FakeSchedules(),
        enabled=enabled, clock=h.clock,
    )  # fmt: skip


def test_hunts_are_refused_while_hunting_is_switched_off() -> None:
    h, _ids = _setup(2)
    with pytest.raises(HuntingDisabledError, match="RELAY_HUNTING_ENABLED=1"):
        _service(h, enabled=False).start(HuntSpec(QUERY))
    assert h.queue.sent == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (HuntSpec("   "), "query"),
        (HuntSpec("AlertInfo\x00"), "query"),
        (HuntSpec("x" * 30_001), "query"),
        (HuntSpec(QUERY, timespan="a week"), "timespan"),
        (HuntSpec(QUERY, timespan="P7"), "timespan"),
    ],
)
def test_a_query_or_timespan_that_cannot_be_sent_is_refused_naming_it(spec: HuntSpec, field: str) -> None:
    h, _ids = _setup(1)
    with pytest.raises(ValidationError) as caught:
        _service(h).start(spec)
    assert caught.value.field == field
    assert h.queue.sent == []


DOCUMENTED_TIMESPANS = (
    "P7D", "PT12H", "P1DT6H", "2026-02-01T08:00:00Z/2026-02-15T08:00:00Z", "P30D/2026-02-15T08:00:00Z",
    "2026-02-01T08:00:00Z/P30D", "2026-02-01T08:00:00Z",
)  # fmt: skip


@pytest.mark.parametrize("timespan", DOCUMENTED_TIMESPANS)
def test_every_documented_timespan_form_is_accepted(timespan: str) -> None:
    h, _ids = _setup(1)
    assert _service(h).start(HuntSpec(QUERY, timespan=timespan)).timespan == timespan


def test_named_tenants_must_exist_and_be_enabled() -> None:
    h, ids = _setup(2)
    h.tenants.tenants[ids[1]] = Tenant(ids[1], "Off", enabled=False)
    with pytest.raises(TenantNotFoundError):
        _service(h).start(HuntSpec(QUERY, tenant_ids=(tenant_ids(5)[4],)))
    with pytest.raises(ValidationError, match="is disabled"):
        _service(h).start(HuntSpec(QUERY, tenant_ids=(ids[1],)))
    hunt = _service(h).start(HuntSpec(QUERY, tenant_ids=(ids[0].upper(),)))
    assert [r.tenant_id for r in h.store.list_runs(hunt.hunt_id)] == [ids[0]]


def test_the_probe_is_the_healthiest_tenant_and_a_filter_narrows_the_selection() -> None:
    h, ids = _setup(4)
    h.tenants.health = {
        ids[0]: TenantHealth(consecutive_failures=3),
        ids[2]: TenantHealth(last_success=h.clock()),
    }
    hunt = _service(h).start(HuntSpec(QUERY), allow=lambda t: t.tenant_id != ids[3])
    probe = h.queue.take()
    assert [job.tenant_id for job in probe] == [ids[2]]
    assert {r.tenant_id for r in h.store.list_runs(hunt.hunt_id)} == set(ids[:3])


def test_pages_of_the_merged_result_hold_every_row_once_across_chunks_and_tenants() -> None:
    # GIVEN 3 tenants x 5 rows in chunks of 2 rows
    h, _ids = _setup(3, rows_each=5)
    hunt = _service(h).start(HuntSpec(QUERY))
    _drain(h, h.deps())
    runs = h.store.list_runs(hunt.hunt_id)
    # WHEN the result is read 4 rows at a time, following the cursors
    seen: list[bytes] = []
    cursor: str | None = None
    for _ in range(10):
        page = read_page(h.results, hunt.hunt_id, runs, fmt="ndjson", cursor=cursor, limit=4)
        seen += page.body.splitlines()
        cursor = page.next_cursor
        if cursor is None:
            break
    # THEN the pages together are the whole result, in order, each row once
    whole = [line.rstrip(b"\n") for line in stream(h.results, hunt.hunt_id, runs, fmt="ndjson")]
    assert seen == whole
    assert len(whole) == 15


def test_csv_has_the_tenant_columns_first_then_every_schema_column_and_json_for_objects() -> None:
    h, ids = _setup(2, rows_each=1)
    h.api.rows[ids[1]] = [{"DeviceName": "pc", "FileName": None, "Extra": {"a": [1]}, "Flag": True}]
    hunt = _service(h).start(HuntSpec(QUERY))
    _drain(h, h.deps())
    page = read_page(h.results, hunt.hunt_id, h.store.list_runs(hunt.hunt_id), fmt="csv", cursor=None, limit=10)
    rows = list(csv.reader(io.StringIO(page.body.decode())))
    assert rows[0] == ["tenantId", "tenantName", "Timestamp", "DeviceName", "FileName"]
    assert rows[2][:5] == [ids[1], "Customer 01", "", "pc", ""]
    assert page.content_type == "text/csv"


def test_a_cursor_that_was_not_handed_out_is_refused_and_a_failed_hunt_has_no_results() -> None:
    h, _ids = _setup(1)
    hunt = _service(h).start(HuntSpec(QUERY))
    with pytest.raises(ValidationError, match="cursor"):
        _service(h).page(hunt.hunt_id, fmt="ndjson", cursor="not-a-cursor", limit=10)
    h.store.update_hunt(hunt.hunt_id, query_error="Microsoft Graph refused the query: nope")
    with pytest.raises(HuntFailedError, match="nope"):
        _service(h).page(hunt.hunt_id, fmt="ndjson", cursor=None, limit=10)


def test_a_saved_hunt_starts_once_per_slot_of_its_schedule() -> None:
    h, _ids = _setup(2)
    schedules = FakeSchedules()
    service = _service(h, schedules=schedules)
    saved = service.add_schedule(ScheduleRequest("hourly ps", QUERY, "0 0 * * * *", timespan="PT1H"))
    assert service.run_due() == []  # created at 12:00:00 exactly: the 12:00 slot is not after it
    h.clock.advance(3600)
    first = service.run_due()
    assert first == [f"{saved.schedule_id}-20261101t130000"]
    assert service.run_due() == []
    h.clock.advance(3 * 3600)  # missed two slots (a restart): runs once, for the latest
    assert service.run_due() == [f"{saved.schedule_id}-20261101t160000"]
    hunt = h.store.get(first[0])
    assert hunt.schedule_id == saved.schedule_id
    assert hunt.requested_by.startswith("saved hunt hourly ps")


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ScheduleRequest("", QUERY, "0 0 * * * *"), "name"),
        (ScheduleRequest("x", QUERY, "0 0 * * *"), "schedule"),
        (ScheduleRequest("x", QUERY, "0 0 25 * * *"), "schedule"),
        (ScheduleRequest("x", "", "0 0 * * * *"), "query"),
    ],
)
def test_a_saved_hunt_that_could_never_run_is_refused(request_: ScheduleRequest, field: str) -> None:
    h, _ids = _setup(1)
    with pytest.raises(ValidationError) as caught:
        _service(h).add_schedule(request_)
    assert caught.value.field == field


def test_new_rows_are_delivered_once_with_a_dedup_key_stable_per_row() -> None:
    sink, seen = FakeSink(), FakeSeenRows()
    delivery = SinkDelivery(sinks=[sink], seen=seen, clock=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    tenant = Tenant(tenant_ids(1)[0], "Contoso")
    rows = [{"DeviceName": "pc-1", "FileName": "a.exe"}, {"DeviceName": "pc-2", "FileName": "b.exe"}]
    assert delivery.deliver_new("sched", tenant, rows) == 2
    assert delivery.deliver_new("sched", tenant, list(reversed(rows))) == 0
    assert delivery.deliver_new("sched", tenant, [*rows, {"DeviceName": "pc-3", "FileName": "c.exe"}]) == 1
    keys = [item.dedup_key for item in sink.items]
    assert len(set(keys)) == 3
    assert all(key.startswith(f"{tenant.tenant_id}:hunt-row:sched:") for key in keys)
    assert sink.feeds == ["hunt-sched", "hunt-sched"]
    assert sink.items[0].data == {"tenantId": tenant.tenant_id, "tenantName": "Contoso", **rows[0]}


def test_delivered_row_hashes_are_forgotten_after_the_hunting_window() -> None:
    sink, seen = FakeSink(), FakeSeenRows()
    now = [datetime(2026, 11, 1, tzinfo=UTC)]
    delivery = SinkDelivery(sinks=[sink], seen=seen, clock=lambda: now[0])
    tenant = Tenant(tenant_ids(1)[0], "Contoso")
    delivery.deliver_new("sched", tenant, [{"a": 1}])
    now[0] += timedelta(days=40)
    delivery.deliver_new("sched", tenant, [{"b": 2}])
    assert len(next(iter(seen.sets.values()))[0]) == 1


def test_threat_hunting_role_is_required_only_when_hunting_is_on() -> None:
    tenant = Tenant(tenant_ids(1)[0], "Contoso")
    assert "ThreatHunting.Read.All" not in required_roles(tenant, frozenset()).get("graph", frozenset())
    assert "ThreatHunting.Read.All" in required_roles(tenant, frozenset(), hunting=True)["graph"]
    tokens = FakeTokens()
    off = check_tenant(tenant, tokens=tokens, defender=FakeReader(), default_allowed=frozenset())
    on = check_tenant(tenant, tokens=tokens, defender=FakeReader(), default_allowed=frozenset(), hunting=True)
    assert off.ok
    assert on.status == "missing-roles"
    assert on.missing == ["ThreatHunting.Read.All"]
    tokens.grant(
        tenant.tenant_id, "graph", ["SecurityAlert.Read.All", "SecurityIncident.Read.All", "ThreatHunting.Read.All"]
    )
    assert check_tenant(tenant, tokens=tokens, defender=FakeReader(), default_allowed=frozenset(), hunting=True).ok
