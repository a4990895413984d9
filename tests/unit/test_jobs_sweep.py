"""Job messages, the sweep plan and the worker's throttle hand-back."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.domain.errors import ThrottledError, ValidationError
from shared.domain.job import Job, new_job, parse_job
from shared.ingest.runner import IngestDeps
from shared.ingest.sweep import plan_sweep, run_sweep, spread_delay
from shared.ingest.worker import handle_message
from tests.fakes.ingest import (
    T0,
    TENANT,
    FakeChangeSource,
    FakeCheckpoints,
    FakeClock,
    FakeJobQueue,
    FakeSink,
    FakeTenants,
)


def test_a_job_round_trips_through_its_wire_format() -> None:
    job = new_job(TENANT.upper(), "xdr-incidents", sweep_id="s1", mode="backfill", since=T0, now=T0)
    parsed = parse_job(job.to_json().encode())
    assert parsed == Job(TENANT, "xdr-incidents", "s1", T0, "backfill", since=T0, until=None)
    assert len(job.to_json()) < 300  # small: thousands per sweep


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"\xff\xfe", "body"),
        ("not json", "body"),
        ("[1]", "body"),
        ('{"v": 2}', "v"),
        ('{"v": 1, "tenant_id": "contoso", "feed": "mde-alerts"}', "tenant_id"),
        (f'{{"v": 1, "tenant_id": "{TENANT}", "feed": "alerts"}}', "feed"),
        (f'{{"v": 1, "tenant_id": "{TENANT}", "feed": "mde-alerts"}}', "sweep_id"),
        (f'{{"v": 1, "tenant_id": "{TENANT}", "feed": "mde-alerts", "sweep_id": "s"}}', "enqueued_at"),
        (
            f'{{"v": 1, "tenant_id": "{TENANT}", "feed": "mde-alerts", "sweep_id": "s", '
            '"enqueued_at": "2026-01-01T00:00:00Z", "since": "yesterday"}',
            "since",
        ),
    ],
)
def test_a_malformed_job_names_the_field_at_fault(body: str | bytes, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_job(body)
    assert caught.value.field == field
    assert field in str(caught.value) or field == "body"


def test_the_sweep_plans_one_job_per_enabled_tenant_and_feed_spread_over_the_interval() -> None:
    tenants = FakeTenants()
    for n in range(200):
        tenants.add(f"00000000-0000-0000-0000-{n:012}", feeds=frozenset({"mde-alerts", "xdr-incidents"}))
    tenants.add("99999999-0000-0000-0000-000000000000", enabled=False)
    planned = plan_sweep(tenants.list(), interval_seconds=300, sweep_id="s", now=T0)
    assert len(planned) == 400
    delays = [p.delay_seconds for p in planned]
    assert min(delays) >= 0
    assert max(delays) < 300
    # spread: every minute of the interval gets a fair share (expected 80 each)
    per_minute = [sum(1 for d in delays if m * 60 <= d < (m + 1) * 60) for m in range(5)]
    assert all(50 < n < 110 for n in per_minute), per_minute
    # stable: a tenant keeps its slot from one sweep to the next
    assert spread_delay(TENANT, "mde-alerts", 300) == spread_delay(TENANT, "mde-alerts", 300)


def test_run_sweep_enqueues_every_planned_job() -> None:
    tenants = FakeTenants()
    for n in range(50):
        tenants.add(f"00000000-0000-0000-0000-{n:012}")
    queue = FakeJobQueue()
    result = run_sweep(tenants=tenants, queue=queue, interval_seconds=300, clock=lambda: T0)
    assert (result.tenants, result.jobs) == (50, 100)  # graph-alerts and graph-incidents each
    assert {job.tenant_id for job, _ in queue.sent} == set(tenants.tenants)
    assert {job.sweep_id for job, _ in queue.sent} == {result.sweep_id}


def _deps(source: FakeChangeSource, clock: FakeClock) -> IngestDeps:
    tenants = FakeTenants()
    tenants.add(feeds=frozenset({"mde-alerts"}))
    return IngestDeps(
        tenants=tenants,
        source=source,
        checkpoints=FakeCheckpoints(clock),
        sinks=[FakeSink()],
        owner="w",
        clock=clock,
    )


def test_a_throttled_job_goes_back_to_the_queue_for_the_retry_after_wait() -> None:
    clock = FakeClock()
    source = FakeChangeSource()
    source.fail_on_call[1] = ThrottledError("quota", retry_at=T0 + timedelta(seconds=42.5), tenant_id=TENANT)
    requeued: list[tuple[Job, int]] = []
    job = new_job(TENANT, "mde-alerts", now=T0)
    result = handle_message(job.to_json(), deps=_deps(source, clock), requeue=lambda j, d: requeued.append((j, d)))
    # THEN the message completes (no dequeue burnt) and the same job comes back after the wait
    assert result.status == "throttled"
    assert requeued == [(job, 43)]


def test_a_malformed_message_raises_so_the_host_moves_it_to_poison() -> None:
    with pytest.raises(ValidationError):
        handle_message(json.dumps({"v": 1}), deps=_deps(FakeChangeSource(), FakeClock()), requeue=lambda j, d: None)
