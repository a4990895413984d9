"""The worker's use case over in-memory fakes: every version delivered once, nothing lost, flat progress."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.errors import DeliveryError, NotConsentedError, ThrottledError, TokenServiceError
from shared.domain.job import new_job
from shared.ingest.runner import IngestOptions, run_job
from tests.fakes.ingest import TENANT, IngestHarness

OVERLAP = timedelta(seconds=600)
SETTLE = timedelta(seconds=30)


class World(IngestHarness):
    def __init__(self, *, page_size: int = 1000) -> None:
        super().__init__(
            IngestOptions(overlap=OVERLAP, settle=SETTLE, initial_lookback=timedelta(hours=24), page_size=page_size)
        )

    def run(self, **job_kwargs: object):  # type: ignore[no-untyped-def]
        return run_job(new_job(TENANT, "mde-alerts", now=self.clock(), **job_kwargs), deps=self.deps())  # type: ignore[arg-type]

    def ago(self, seconds: float):  # type: ignore[no-untyped-def]
        return self.clock() - timedelta(seconds=seconds)


def test_first_run_delivers_everything_in_the_lookback_window_once() -> None:
    # GIVEN alerts from 2 hours ago, 25 hours ago (before the lookback) and 5 s ago (not settled yet)
    w = World()
    w.source.put(TENANT, "a1", w.ago(7200))
    w.source.put(TENANT, "old", w.ago(25 * 3600))
    w.source.put(TENANT, "fresh", w.ago(5))
    # WHEN the first job runs
    result = w.run()
    # THEN only the settled alert inside the lookback is delivered, with a stable dedup key
    assert result.status == "ok"
    assert [i.id for i in w.sink.items] == ["a1"]
    assert w.sink.items[0].dedup_key == f"{TENANT}:alert:a1:{w.source.items[TENANT][0]['lastUpdateTime']}"
    # AND the cursor is now - settle, the health is ok
    assert w.checkpoints.get(TENANT, "mde-alerts").cursor == w.clock() - SETTLE
    assert w.tenants.successes == [TENANT]


def test_a_run_with_nothing_new_delivers_nothing_and_counts_overlap_repeats() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(300))
    w.run()
    w.clock.advance(60)
    # WHEN the next sweep finds only what it already delivered (inside the overlap)
    result = w.run()
    # THEN nothing is delivered again
    assert result.delivered == 0
    assert result.repeats == 1
    assert len(w.sink.items) == 1


def test_ties_across_a_page_boundary_are_neither_lost_nor_repeated() -> None:
    # GIVEN five alerts sharing one exact lastUpdateTime and pages of two
    w = World(page_size=2)
    same = w.ago(120)
    for n in range(5):
        w.source.put(TENANT, f"tie{n}", same)
    w.source.put(TENANT, "later", w.ago(60))
    # WHEN two runs happen
    first = w.run()
    w.clock.advance(30)
    w.run()
    # THEN every alert is delivered exactly once
    assert sorted(i.id for i in w.sink.items) == ["later", "tie0", "tie1", "tie2", "tie3", "tie4"]
    assert first.pages == 4  # 2 + 2 + 2 (tie4, later) + the empty page that proves the end
    assert len(set(w.sink.keys)) == len(w.sink.keys)


def test_a_late_write_inside_the_overlap_is_delivered_on_the_next_run() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(100))
    w.run()
    # GIVEN an alert written now but stamped 3 minutes ago, behind the cursor
    w.clock.advance(60)
    w.source.put(TENANT, "late", w.ago(180))
    # WHEN the next run reads [cursor - overlap, now - settle]
    result = w.run()
    # THEN the late write is delivered, the earlier alert is not repeated
    assert [i.id for i in w.sink.items] == ["a1", "late"]
    assert result.repeats == 1


def test_an_updated_alert_is_a_new_version_with_its_own_dedup_key() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(100), status="New")
    w.run()
    w.clock.advance(120)
    w.source.put(TENANT, "a1", w.ago(60), status="Resolved")
    w.run()
    assert [(i.id, i.data["status"]) for i in w.sink.items] == [("a1", "New"), ("a1", "Resolved")]
    assert len(set(w.sink.keys)) == 2


def test_a_sink_failure_leaves_the_checkpoint_and_the_retry_delivers_with_the_same_keys() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(100))
    w.sink.fail_next = 1
    # WHEN delivery fails
    with pytest.raises(DeliveryError):
        w.run()
    # THEN the checkpoint did not move and the lease was given back
    assert w.checkpoints.get(TENANT, "mde-alerts").cursor is None
    assert not w.checkpoints.held
    # AND the retry delivers it
    w.run()
    assert [i.id for i in w.sink.items] == ["a1"]


def test_a_crash_between_delivery_and_checkpoint_repeats_with_identical_dedup_keys() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(100))
    w.source.put(TENANT, "a2", w.ago(90))
    w.checkpoints.fail_next_save = RuntimeError("worker killed")
    with pytest.raises(RuntimeError):
        w.run()
    w.run()
    # THEN both versions were delivered twice, and the repeats carry the same dedup keys
    assert sorted(w.sink.keys) == sorted(w.sink.keys[:2] * 2)
    assert len(set(w.sink.keys)) == 2


def test_a_backfill_advances_the_checkpoint_page_by_page() -> None:
    # GIVEN 10 alerts, pages of 3
    w = World(page_size=3)
    for n in range(10):
        w.source.put(TENANT, f"a{n:02}", w.ago(3600 - n * 60))
    # AND the fourth page's read fails (Defender unavailable after retries)
    w.source.fail_on_call[4] = TokenServiceError("down", tenant_id=TENANT)
    with pytest.raises(TokenServiceError):
        w.run()
    # THEN three pages were delivered and all three are checkpointed: the failure came after the third
    # page's delivery, so its progress is kept for the retry
    checkpoint = w.checkpoints.get(TENANT, "mde-alerts")
    assert len(w.sink.items) == 9
    assert checkpoint.cursor == w.ago(3600 - 8 * 60)
    # AND the retry delivers the rest without repeating anything
    w.run()
    assert sorted(i.id for i in w.sink.items) == [f"a{n:02}" for n in range(10)]


def test_a_throttle_hand_back_mid_backfill_keeps_the_delivered_pages() -> None:
    # GIVEN a backfill whose third page read is throttled for longer than the worker waits in place
    w = World(page_size=3)
    for n in range(10):
        w.source.put(TENANT, f"a{n:02}", w.ago(3600 - n * 60))
    w.source.fail_on_call[3] = ThrottledError("429", retry_at=w.clock() + timedelta(minutes=1), tenant_id=TENANT)
    # WHEN the job is handed back and retried
    with pytest.raises(ThrottledError):
        w.run()
    w.run()
    # THEN every alert is delivered exactly once
    assert sorted(i.id for i in w.sink.items) == [f"a{n:02}" for n in range(10)]


def test_the_checkpoint_keeps_only_keys_inside_the_overlap_window() -> None:
    w = World()
    w.source.put(TENANT, "old", w.ago(3000))
    w.source.put(TENANT, "recent", w.ago(100))
    w.run()
    seen_ids = {key[0] for key in w.checkpoints.get(TENANT, "mde-alerts").seen}
    assert seen_ids == {"recent"}


def test_a_held_lease_completes_quietly_without_reading() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(100))
    w.checkpoints.claim(TENANT, "mde-alerts", owner="other-worker", duration=timedelta(minutes=5))
    result = w.run()
    assert result.status == "lease-held"
    assert w.source.calls == 0
    assert w.sink.items == []


def test_an_expired_lease_is_taken_over() -> None:
    w = World()
    w.source.put(TENANT, "a1", w.ago(100))
    w.checkpoints.claim(TENANT, "mde-alerts", owner="crashed-worker", duration=timedelta(seconds=10))
    w.clock.advance(11)
    assert w.run().status == "ok"
    assert len(w.sink.items) == 1


@pytest.mark.parametrize(("enabled", "message"), [(False, "disabled"), (None, "not in the registry")])
def test_unknown_or_disabled_tenants_are_completed_not_retried(enabled: bool | None, message: str) -> None:
    w = World()
    if enabled is None:
        w.tenants.tenants.clear()
    else:
        w.tenants.add(enabled=False, feeds=frozenset({"mde-alerts"}))
    result = w.run()
    assert result.status == "skipped"
    assert message in result.message
    assert w.source.calls == 0


def test_a_consent_problem_is_recorded_in_health_with_its_remedy_and_completes() -> None:
    w = World()
    w.source.fail_on_call[1] = NotConsentedError(
        "the partner app is not consented in tenant", tenant_id=TENANT, remedy="open the consent link"
    )
    result = w.run()
    assert result.status == "auth-failed"
    assert w.tenants.failures == [
        (TENANT, "not-consented", "mde-alerts: the partner app is not consented in tenant", "open the consent link")
    ]
    assert not w.checkpoints.held


def test_a_healthy_tenant_s_success_is_rewritten_only_when_its_last_success_gets_old() -> None:
    # GIVEN a tenant whose last success was just recorded
    w = World()
    w.run()
    assert len(w.tenants.successes) == 1
    # WHEN it succeeds again within the refresh period THEN nothing is written (nothing a user reads changes)
    w.clock.advance(300)
    w.run()
    assert len(w.tenants.successes) == 1
    # WHEN the recorded success gets older than the refresh period THEN the next success is written
    w.clock.advance(w.options.health_refresh.total_seconds())
    w.run()
    assert len(w.tenants.successes) == 2
    assert w.tenants.health[TENANT].last_success == w.clock()


def test_a_recovery_after_a_failure_is_recorded_at_once() -> None:
    # GIVEN a tenant whose last run failed on consent right after a success
    w = World()
    w.run()
    w.source.fail_on_call[w.source.calls + 1] = NotConsentedError("not consented", tenant_id=TENANT, remedy="consent")
    w.clock.advance(60)
    w.run()
    assert w.tenants.health[TENANT].consecutive_failures == 1
    # WHEN the next run succeeds, well within the refresh period
    w.clock.advance(60)
    assert w.run().status == "ok"
    # THEN the health says ok again with the new success time
    assert w.tenants.health[TENANT].consecutive_failures == 0
    assert w.tenants.health[TENANT].last_success == w.clock()


def test_a_failure_only_check_can_see_survives_a_successful_sweep() -> None:
    # GIVEN `check` found the tenant lacks an action role (its feeds read fine)
    w = World()
    w.tenants.record_failure(TENANT, "missing-roles", "lacks Machine.Isolate", "add it", now=w.clock(), scope="actions")
    # WHEN a sweep job then succeeds
    assert w.run().status == "ok"
    # THEN the success is recorded, and the missing role stays on record until a check passes
    health = w.tenants.health[TENANT]
    assert health.last_success == w.clock()
    assert (health.consecutive_failures, health.last_error_kind) == (1, "missing-roles")
    w.tenants.record_success(TENANT, now=w.clock())
    assert w.tenants.health[TENANT].consecutive_failures == 0
