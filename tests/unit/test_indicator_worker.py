"""One message of ``indicator-jobs``: the fan-out's choice of tenants, and what a tenant run leaves behind
for each kind of failure (a final result, a result that says it is being retried, or a throttle hand-back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.errors import DefenderUnavailableError, MissingRolesError, ThrottledError
from shared.domain.indicator import Indicator
from shared.domain.indicator_remote import ExistingIndicator
from shared.domain.indicator_values import Key
from shared.domain.tenant import Tenant
from shared.indicators.jobs import IndicatorJob, JobMessage, Selection
from shared.indicators.service import IndicatorService, TenantResult
from shared.indicators.worker import IndicatorWorker
from tests.fakes.actions import FakeTenants
from tests.fakes.indicators import FakeIndicatorApi, FakeIndicatorAudit
from tests.unit.test_indicator_service import hashes

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OPEN = Tenant("11111111-1111-1111-1111-111111111111", "Open", allowed_actions=frozenset({"indicators"}))
CLOSED = Tenant("22222222-2222-2222-2222-222222222222", "Closed", allowed_actions=frozenset({"isolate"}))
OFF = Tenant("33333333-3333-3333-3333-333333333333", "Off", enabled=False, allowed_actions=frozenset({"indicators"}))
GONE = "44444444-4444-4444-4444-444444444444"


class Registry(FakeTenants):
    def list(self, *, enabled_only: bool = False) -> list[Tenant]:
        return [t for t in self.tenants.values() if t.enabled or not enabled_only]


@dataclass
class Jobs:
    job: IndicatorJob
    results: dict[str, TenantResult] = field(default_factory=dict)
    planned: int | None = None

    def get(self, job_id: str) -> IndicatorJob:
        return self.job

    def set_planned(self, job_id: str, planned: int) -> None:
        self.planned = planned

    def mark_fanned_out(self, job_id: str) -> None: ...

    def save_result(self, job_id: str, result: TenantResult, *, now: datetime) -> None:
        self.results[result.tenant_id] = result

    def finished(self, job_id: str) -> set[str]:
        return {t for t, r in self.results.items() if r.status != "retrying"}


@dataclass
class Sets:
    indicators_: list[Indicator]

    def indicators(self, name: str, *, created_at: datetime) -> list[Indicator]:
        return self.indicators_

    def targets(self, name: str) -> list[list[Key]]:
        return []


@dataclass
class Queue:
    sent: list[tuple[JobMessage, int]] = field(default_factory=list)

    def send(self, message: JobMessage, *, delay_seconds: int = 0) -> None:
        self.sent.append((message, delay_seconds))


class FailingApi(FakeIndicatorApi):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def list_indicators(self, tenant: Tenant) -> list[ExistingIndicator]:
        raise self.error


def worker(selection: Selection, api: FakeIndicatorApi | None = None) -> tuple[IndicatorWorker, Jobs, Queue]:
    job = IndicatorJob("a" * 32, "push", False, selection, "set.json", 2, NOW, "test")
    jobs, queue = Jobs(job), Queue()
    service = IndicatorService(api=api or FakeIndicatorApi(), audit=FakeIndicatorAudit())
    made = IndicatorWorker(jobs=jobs, sets=Sets(hashes(2)), tenants=Registry(OPEN, CLOSED, OFF), queue=queue,
                           service=service, default_allowed=frozenset(), clock=lambda: NOW)  # fmt: skip
    return made, jobs, queue


def test_the_fan_out_queues_each_eligible_tenant_and_records_why_others_are_skipped() -> None:
    made, jobs, queue = worker(Selection(tenant_ids=(OPEN.tenant_id, CLOSED.tenant_id, OFF.tenant_id, GONE)))
    assert made.handle(JobMessage("fanout", "a" * 32).to_json()) == "fanned-out"
    assert [m.tenant_id for m, _ in queue.sent] == [OPEN.tenant_id]
    assert jobs.planned == 4
    assert {t: r.message.split(": ")[-1] for t, r in jobs.results.items()} == {
        CLOSED.tenant_id: "its allow-list does not name 'indicators'",
        OFF.tenant_id: f"tenant {OFF.tenant_id} is disabled in the registry",
        GONE: f"tenant {GONE} is not in the registry",
    }
    # AND "all" takes every enabled tenant whose allow-list names indicators, and nothing else
    made, jobs, queue = worker(Selection(all=True))
    made.fan_out("a" * 32)
    assert ([m.tenant_id for m, _ in queue.sent], jobs.planned, jobs.results) == ([OPEN.tenant_id], 1, {})


def test_a_retried_fan_out_queues_only_the_tenants_without_a_final_result() -> None:
    made, jobs, queue = worker(Selection(all=True))
    jobs.results[OPEN.tenant_id] = TenantResult(OPEN.tenant_id, "done", created=2)
    made.fan_out("a" * 32)
    assert queue.sent == []


def test_a_tenant_run_records_its_result() -> None:
    made, jobs, _ = worker(Selection(all=True))
    assert made.handle(JobMessage("tenant", "a" * 32, OPEN.tenant_id).to_json()) == "done"
    assert jobs.results[OPEN.tenant_id].created == 2


def test_a_long_throttle_puts_the_message_back_with_defenders_delay_and_records_nothing() -> None:
    error = ThrottledError("429", retry_at=NOW + timedelta(seconds=90), tenant_id=OPEN.tenant_id)
    made, jobs, queue = worker(Selection(all=True), FailingApi(error))
    message = JobMessage("tenant", "a" * 32, OPEN.tenant_id)
    assert made.run_tenant(message) == "throttled"
    assert queue.sent == [(message, 90)]
    assert jobs.results == {}


def test_missing_roles_is_a_final_failure_with_the_remedy() -> None:
    error = MissingRolesError("lacks Ti.ReadWrite", tenant_id=OPEN.tenant_id, missing=["Ti.ReadWrite"],
                              remedy="add the permission and consent again")  # fmt: skip
    made, jobs, _ = worker(Selection(all=True), FailingApi(error))
    assert made.run_tenant(JobMessage("tenant", "a" * 32, OPEN.tenant_id)) == "failed"
    result = jobs.results[OPEN.tenant_id]
    assert (result.error_kind, result.remedy) == ("missing-roles", "add the permission and consent again")


def test_defender_unavailable_is_recorded_as_retrying_and_raised_for_the_host_to_retry() -> None:
    made, jobs, _ = worker(Selection(all=True), FailingApi(DefenderUnavailableError("503", tenant_id=OPEN.tenant_id)))
    with pytest.raises(DefenderUnavailableError):
        made.run_tenant(JobMessage("tenant", "a" * 32, OPEN.tenant_id))
    assert jobs.results[OPEN.tenant_id].status == "retrying"
    assert jobs.finished("a" * 32) == set()
