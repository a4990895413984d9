"""A hunt's jobs end to end over in-memory ports: probe first, fan-out, outcomes, retries, exactly-once rows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.domain.errors import (
    DefenderForbiddenError,
    DefenderUnavailableError,
    HuntLimitError,
    HuntQueryError,
    MissingRolesError,
    ThrottledError,
    ValidationError,
)
from shared.domain.tenant import Tenant, TenantHealth
from shared.hunting.model import HuntSpec, hunt_state
from shared.hunting.reader import stream
from shared.hunting.runner import HuntDeps, HuntJobResult, handle_hunt_message
from shared.hunting.service import HuntService
from tests.fakes.hunting import FakeSchedules, Hunting, tenant_ids

QUERY = 'DeviceProcessEvents | where FileName =~ "powershell.exe" | take 10'


def _setup(count: int, rows_each: int = 3) -> tuple[Hunting, list[str]]:
    h = Hunting()
    ids = tenant_ids(count)
    h.tenants.tenants = {tid: Tenant(tid, f"Customer {n:02d}") for n, tid in enumerate(ids)}
    h.api.rows = {
        tid: [{"DeviceName": f"pc-{n}", "FileName": f"f{i}.exe"} for i in range(rows_each)] for n, tid in enumerate(ids)
    }
    return h, ids


def _service(h: Hunting) -> HuntService:
    return HuntService(
        hunts=h.store, results=h.results, tenants=h.tenants, jobs=h.queue, schedules=FakeSchedules(),
        enabled=True, clock=h.clock,
    )  # fmt: skip


def _drain(h: Hunting, deps: HuntDeps, *, max_rounds: int = 50) -> list[HuntJobResult]:
    """Run queued jobs like the host: an exception makes the message come back with one more dequeue."""
    results: list[HuntJobResult] = []
    pending: list[tuple[str, int]] = [(job.to_json(), 1) for job in h.queue.take()]
    for _ in range(max_rounds):
        if not pending:
            return results
        body, dequeues = pending.pop(0)
        try:
            results.append(handle_hunt_message(body, deps=deps, dequeue_count=dequeues))
        except Exception:
            if dequeues < deps.max_dequeue_count:
                pending.append((body, dequeues + 1))
        pending += [(job.to_json(), 1) for job in h.queue.take()]
    raise AssertionError("the queue did not drain")


def _merged(h: Hunting, hunt_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream(h.results, hunt_id, h.store.list_runs(hunt_id), fmt="ndjson")]


def test_a_hunt_runs_once_in_the_first_tenant_then_in_all_others_and_merges_every_row_once() -> None:
    # GIVEN six tenants with three rows each
    h, ids = _setup(6)
    hunt = _service(h).start(HuntSpec(QUERY, timespan="P7D", requested_by="soc"))
    # WHEN only the first job runs THEN only one tenant was asked, and the others are queued behind it
    first = h.queue.take()
    assert len(first) == 1
    assert first[0].probe
    h.queue.sent = [(first[0], 0)]
    # WHEN the queue is drained
    _drain(h, h.deps())
    # THEN every tenant was asked exactly once with the query and timespan
    assert sorted(c[0] for c in h.api.calls) == sorted(ids)
    assert {(c[1], c[2]) for c in h.api.calls} == {(QUERY, "P7D")}
    # AND the merged result holds every row once, each with its tenant's id and name in front
    rows = _merged(h, hunt.hunt_id)
    assert len(rows) == 18
    assert {(r["tenantId"], r["FileName"]) for r in rows} == {(t, f"f{i}.exe") for t in ids for i in range(3)}
    assert list(rows[0])[:2] == ["tenantId", "tenantName"]
    assert hunt_state(h.store.get(hunt.hunt_id), h.store.list_runs(hunt.hunt_id)) == "done"


def test_a_syntax_error_costs_one_upstream_call_and_fails_the_hunt_with_microsofts_message() -> None:
    h, ids = _setup(20)
    message = "Query could not be parsed at 'wher' on line [1,22]"
    for tid in ids:
        h.api.errors[tid] = HuntQueryError(message, status=400, tenant_id=tid)
    hunt = _service(h).start(HuntSpec("DeviceProcessEvents | wher x"))
    _drain(h, h.deps())
    # THEN Graph was asked once, the hunt failed with Microsoft's words, and nobody else ran it
    assert len(h.api.calls) == 1
    header, runs = h.store.get(hunt.hunt_id), h.store.list_runs(hunt.hunt_id)
    assert hunt_state(header, runs) == "failed"
    assert message in header.query_error
    assert sorted(r.state for r in runs) == ["cancelled"] * 19 + ["failed"]


def test_a_tenant_that_cannot_answer_hands_the_probe_to_the_next_one() -> None:
    # GIVEN the healthiest-looking tenant lacks the role and the next one has no advanced hunting
    h, ids = _setup(5)
    h.tenants.health = {tid: TenantHealth(last_success=h.clock()) for tid in ids[:2]}
    h.api.errors[ids[0]] = MissingRolesError("no role", tenant_id=ids[0], missing=["ThreatHunting.Read.All"])
    h.api.errors[ids[1]] = DefenderForbiddenError("403 Forbidden: tenant has no license", status=403)
    hunt = _service(h).start(HuntSpec(QUERY))
    _drain(h, h.deps())
    # THEN the probe moved on, the query was proven by the third tenant, and every tenant has its outcome
    assert [c[0] for c in h.api.calls[:3]] == ids[:3]
    runs = {r.tenant_id: r for r in h.store.list_runs(hunt.hunt_id)}
    assert runs[ids[0]].error_kind == "missing-roles"
    assert "ThreatHunting.Read.All" in runs[ids[0]].remedy
    assert runs[ids[1]].error_kind == "no-hunting"
    assert "licence" in runs[ids[1]].remedy
    assert {runs[t].state for t in ids[2:]} == {"done"}
    assert len(_merged(h, hunt.hunt_id)) == 9


def test_throttling_hands_the_job_back_until_retry_after_and_the_rows_arrive_once() -> None:
    h, ids = _setup(3)
    retry_at = h.clock() + timedelta(seconds=45)
    answers = iter([ThrottledError("429", retry_at=retry_at, tenant_id=ids[1]), None])
    h.api.errors[ids[1]] = lambda: next(answers)
    hunt = _service(h).start(HuntSpec(QUERY))
    probe = h.queue.take()
    h.queue.sent = [(probe[0], 0)]
    results = _drain(h, h.deps())
    # THEN the throttled job went back on the queue for Retry-After, then ran, and its rows are there once
    assert any(r.status == "throttled" for r in results)
    assert len(_merged(h, hunt.hunt_id)) == 9
    assert [c[0] for c in h.api.calls].count(ids[1]) == 2


def test_a_throttled_run_shows_until_when_in_its_status() -> None:
    h, ids = _setup(1)
    retry_at = h.clock() + timedelta(seconds=45)
    h.api.errors[ids[0]] = ThrottledError("429", retry_at=retry_at, tenant_id=ids[0])
    hunt = _service(h).start(HuntSpec(QUERY))
    job = h.queue.take()[0]
    result = handle_hunt_message(job.to_json(), deps=h.deps())
    assert result.status == "throttled"
    assert h.queue.sent[0][1] == 45
    run = h.store.get_run(hunt.hunt_id, ids[0])
    assert run.state == "throttled"
    assert run.retry_at == retry_at


def test_graph_unavailable_is_retried_and_on_the_last_attempt_becomes_an_outcome() -> None:
    h, ids = _setup(2)
    h.api.errors[ids[1]] = DefenderUnavailableError("503 after retries", tenant_id=ids[1])
    hunt = _service(h).start(HuntSpec(QUERY))
    _drain(h, h.deps(max_dequeue_count=3))
    run = h.store.get_run(hunt.hunt_id, ids[1])
    assert run.state == "failed"
    assert run.error_kind == "unavailable"
    assert [c[0] for c in h.api.calls].count(ids[1]) == 3
    assert hunt_state(h.store.get(hunt.hunt_id), h.store.list_runs(hunt.hunt_id)) == "done"


def test_a_crash_mid_fan_out_is_retried_and_still_stores_every_row_exactly_once() -> None:
    # GIVEN the probe's fan-out crashes after 4 of its 9 sends (the host retries the probe's message)
    h, ids = _setup(10)
    hunt = _service(h).start(HuntSpec(QUERY))
    h.queue.fail_after = 4  # counted from the drain's first take: the fifth send of the fan-out fails
    _drain(h, h.deps())
    # THEN every tenant is done, asked once (the jobs sent twice found their run done), every row once
    assert {r.state for r in h.store.list_runs(hunt.hunt_id)} == {"done"}
    assert sorted(c[0] for c in h.api.calls) == sorted(ids)
    rows = _merged(h, hunt.hunt_id)
    assert len(rows) == 30
    assert len({(r["tenantId"], r["FileName"]) for r in rows}) == 30


def test_rows_of_an_attempt_that_crashed_while_writing_are_never_read() -> None:
    h, _ids = _setup(1, rows_each=5)
    hunt = _service(h).start(HuntSpec(QUERY))
    h.results.fail_after_chunks = 1  # chunk 0 of the first attempt is stored, then the worker dies
    _drain(h, h.deps())
    assert len(h.api.calls) == 2
    assert len(_merged(h, hunt.hunt_id)) == 5


def test_a_job_sent_twice_runs_once_and_a_late_attempt_loses_to_the_first_outcome() -> None:
    h, _ids = _setup(1)
    hunt = _service(h).start(HuntSpec(QUERY))
    job = h.queue.take()[0]
    handle_hunt_message(job.to_json(), deps=h.deps())
    again = handle_hunt_message(job.to_json(), deps=h.deps())
    assert again.status == "duplicate"
    assert len(h.api.calls) == 1
    assert len(_merged(h, hunt.hunt_id)) == 3


def test_a_documented_limit_is_the_tenants_outcome_and_a_full_result_says_it_may_be_cut() -> None:
    h, ids = _setup(3, rows_each=4)
    h.api.errors[ids[2]] = HuntLimitError("Query exceeded the timeout period.", limit="timeout")
    hunt = _service(h).start(HuntSpec(QUERY))
    _drain(h, h.deps(row_cap=4))
    runs = {r.tenant_id: r for r in h.store.list_runs(hunt.hunt_id)}
    assert runs[ids[2]].error_kind == "hunt-timeout"
    assert "narrow" in runs[ids[2]].remedy
    assert "4-row limit" in runs[ids[0]].limit


def test_a_tenant_disabled_after_the_start_is_skipped_not_queried() -> None:
    h, ids = _setup(2)
    hunt = _service(h).start(HuntSpec(QUERY))
    h.tenants.tenants[ids[1]] = Tenant(ids[1], "Customer 01", enabled=False)
    _drain(h, h.deps())
    run = h.store.get_run(hunt.hunt_id, ids[1])
    assert run.state == "skipped"
    assert "disabled" in run.message
    assert [c[0] for c in h.api.calls] == [ids[0]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"\xff", "body"),
        ("not json", "body"),
        ("[1]", "body"),
        ('{"v": 2, "hunt_id": "h1", "tenant_id": "00000000-0000-0000-0000-000000000001"}', "v"),
        ('{"v": 1, "hunt_id": "h 1", "tenant_id": "00000000-0000-0000-0000-000000000001"}', "hunt_id"),
        ('{"v": 1, "hunt_id": "h1", "tenant_id": "contoso"}', "tenant_id"),
        ('{"v": 1, "hunt_id": "h1", "tenant_id": "00000000-0000-0000-0000-000000000001", "probe": "yes"}', "probe"),
    ],
)
def test_a_malformed_hunt_job_is_refused_naming_the_field_so_the_host_retries_then_poisons_it(
    body: str | bytes, field: str
) -> None:
    h, _ids = _setup(1)
    with pytest.raises(ValidationError) as caught:
        handle_hunt_message(body, deps=h.deps())
    assert caught.value.field == field
    assert h.api.calls == []


def test_a_job_that_keeps_crashing_still_leaves_its_tenant_an_outcome_before_it_is_poisoned() -> None:
    # GIVEN a tenant whose rows cannot be stored, attempt after attempt
    h, ids = _setup(3)
    hunt = _service(h).start(HuntSpec(QUERY))

    class BrokenStore:
        def write(self, *args: object) -> tuple[int, int]:
            raise RuntimeError("storage is gone")

    deps = h.deps(max_dequeue_count=2)
    results_of: dict[str, HuntDeps] = {ids[1]: h.deps(max_dequeue_count=2, results=BrokenStore())}
    pending = [(job.to_json(), 1) for job in h.queue.take()]
    for _ in range(50):
        if not pending:
            break
        body, dequeues = pending.pop(0)
        tenant = json.loads(body)["tenant_id"]
        try:
            handle_hunt_message(body, deps=results_of.get(tenant, deps), dequeue_count=dequeues)
        except RuntimeError:
            if dequeues < 2:
                pending.append((body, dequeues + 1))
        pending += [(job.to_json(), 1) for job in h.queue.take()]
    # THEN the hunt finishes: that tenant is failed with the reason, the others are done
    runs = {r.tenant_id: r for r in h.store.list_runs(hunt.hunt_id)}
    assert runs[ids[1]].state == "failed"
    assert "RuntimeError" in runs[ids[1]].message
    assert {runs[t].state for t in (ids[0], ids[2])} == {"done"}
    assert hunt_state(h.store.get(hunt.hunt_id), list(runs.values())) == "done"
