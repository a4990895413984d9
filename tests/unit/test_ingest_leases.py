"""The (tenant, feed) lease over fakes: renewed while a job runs, and a job that meets another process's
lease handed back to the queue until that lease ends (once per lease), so a dead holder's feed is read
again as soon as its lease runs out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shared.domain.job import Job, new_job, parse_job
from shared.domain.tenant import Tenant
from shared.ingest.runner import IngestOptions, JobResult
from shared.ingest.worker import handle_message
from tests.fakes.ingest import TENANT, FakeChangeSource, FakeCheckpoints, IngestHarness

FEED = "mde-alerts"
WORKER = "4242-worker"  # this process's owner id; each job's lease owner is f"{WORKER}/<job>"


class World(IngestHarness):
    def __init__(self, **options: Any) -> None:
        super().__init__(IngestOptions(settle=timedelta(seconds=30), **options))
        self.requeued: list[tuple[Job, int]] = []

    def handle(self, job: Job, source: Any = None) -> JobResult:
        deps = self.deps(WORKER, source=source)
        return handle_message(job.to_json(), deps=deps, requeue=lambda j, d: self.requeued.append((j, d)))

    def job(self) -> Job:
        return new_job(TENANT, FEED, now=self.clock())

    def dead_holder(self, seconds: float) -> datetime:
        """Another process claimed the feed and died: its lease is never renewed nor released."""
        claim = self.checkpoints.claim(TENANT, FEED, owner="9999-dead/job", duration=timedelta(seconds=seconds))
        return claim.expires_at


def test_a_job_meeting_a_dead_holder_s_lease_is_handed_back_until_it_ends_then_reads_the_feed() -> None:
    # GIVEN alerts waiting, and a feed whose lease a crashed worker holds for 40 more seconds
    w = World()
    w.source.put(TENANT, "a1", w.clock() - timedelta(seconds=100))
    expires = w.dead_holder(40)
    # WHEN the sweep's job meets that lease
    result = w.handle(w.job())
    # THEN it is not dropped: it goes back on the queue, visible again just after the lease ends
    assert result.status == "lease-held"
    assert "handed back" in result.message
    [(again, delay)] = w.requeued
    assert delay == 41
    assert again.after_lease == expires
    assert parse_job(again.to_json()) == again  # the wire format keeps it
    assert w.source.calls == 0
    # WHEN it comes back after the lease ended THEN it claims the feed and delivers what waited
    w.clock.advance(delay)
    assert w.handle(again).status == "ok"
    assert [i.id for i in w.sink.items] == ["a1"]
    assert len(w.requeued) == 1


def test_a_handed_back_job_that_finds_the_lease_renewed_completes_the_holder_is_alive() -> None:
    # GIVEN a job already handed back once for a lease that ended at `first`
    w = World()
    first = w.dead_holder(40)
    w.handle(w.job())
    [(again, delay)] = w.requeued
    # WHEN it comes back and the feed is held again, by a live holder with a later expiry
    w.clock.advance(delay)
    w.checkpoints.claim(TENANT, FEED, owner="7777-live/job", duration=timedelta(seconds=60))
    result = w.handle(again)
    # THEN it completes without another hand-back: jobs do not pile up behind a working holder
    assert result.status == "lease-held"
    assert again.after_lease == first
    assert len(w.requeued) == 1


def test_a_lease_held_by_another_job_of_this_process_is_not_handed_back() -> None:
    # GIVEN a feed held by a running job of this very process (its holder is alive, it is us)
    w = World()
    w.checkpoints.claim(TENANT, FEED, owner=f"{WORKER}/other-job", duration=timedelta(seconds=60))
    # WHEN a second job of the feed arrives THEN it completes at once, the holder reads the feed
    assert w.handle(w.job()).status == "lease-held"
    assert w.requeued == []


class _SlowPage:
    """A change source whose one page arrives only after the lease has been renewed twice (a long read)."""

    def __init__(self, checkpoints: FakeCheckpoints, inner: FakeChangeSource) -> None:
        self.checkpoints, self.inner = checkpoints, inner
        self.renewed = threading.Event()

    def iter_changes(
        self, tenant: Tenant, feed: str, since: datetime, until: datetime, *, page_size: int
    ) -> Iterator[Any]:
        for _ in range(400):  # bounded: 400 x 25 ms
            if self.checkpoints.renewals >= 2:
                self.renewed.set()
                break
            threading.Event().wait(0.025)
        yield from self.inner.iter_changes(tenant, feed, since, until, page_size=page_size)

    def throttle_count(self) -> int:
        return 0


def test_the_lease_is_renewed_while_a_job_runs_and_the_job_still_saves_its_progress() -> None:
    # GIVEN a short lease (0.3 s: a heartbeat every 0.1 s) and a Defender read that takes several heartbeats
    w = World(lease_duration=timedelta(seconds=0.3))
    w.source.put(TENANT, "a1", w.clock() - timedelta(seconds=100))
    slow = _SlowPage(w.checkpoints, w.source)
    # WHEN the job runs
    result = w.handle(w.job(), source=slow)
    # THEN the lease was renewed while it read, and the job's own final write (cursor + release) still held
    assert slow.renewed.is_set()
    assert result.status == "ok"
    assert [i.id for i in w.sink.items] == ["a1"]
    assert w.checkpoints.get(TENANT, FEED).cursor == w.clock() - w.options.settle
    assert w.checkpoints.held == {}


def test_a_job_record_without_after_lease_is_read_as_before() -> None:
    job = new_job(TENANT, FEED)
    assert "after_lease" not in job.to_json()
    assert parse_job(job.to_json()).after_lease is None
    later = replace(job, after_lease=job.enqueued_at + timedelta(seconds=60))
    assert parse_job(later.to_json()).after_lease == later.after_lease
