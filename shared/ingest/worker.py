"""One queue message in, one job run: parsing, the throttle hand-back, and what is retried.

The queue trigger and the operator CLI / benchmark drain loops share this, so they behave alike.

- Malformed message: ``ValidationError`` is raised; the Functions host retries it up to
  ``maxDequeueCount`` and then moves it to ``tenant-jobs-poison`` where an operator can read it.
- Unknown / disabled tenant, consent or role problems: completed (``run_job`` records why).
- Lease held by another process (``JobResult.lease_until``): the job is put back on the queue, visible
  again just after that lease ends, and the current message completes. The holder may have died (its
  own message comes back only after the host's visibility timeout, and meets the same lease): without
  the hand-back, the feed would wait for the next sweep after the lease, and versions overwritten in
  that gap would never be read. Bounded: a hand-back *moves* the job (requeue, then complete), so the
  jobs of a feed are never more than the sweeps and manual runs enqueued; and a job is handed back again
  only if the lease it waited for was not renewed (a later ``held_until`` means a live holder, which
  reads the feed itself: the job completes). The sweep's next job for the feed may come back at the same
  time: the first claims the feed, the other finds it held (and completes) or free again after a quick
  run (one read of an empty window, nothing delivered twice: the checkpoint drops repeats).
  A lease held by another job of this process is never handed back: its holder is alive by definition.
- ``ThrottledError`` (Defender said 429 with a long ``Retry-After``): the job is put back on the queue
  with a visibility delay until ``retry_at`` and the current message completes. Raising instead would
  burn one of the message's five dequeues per throttle and retry after ``visibilityTimeout`` whatever
  Defender asked for (docs/microsoft-apis.md §Throttling: ignoring Retry-After keeps returning 429).
- Anything else (Defender unavailable, Entra ID unavailable, a sink failed): raised, so the host
  retries the message; the checkpoint did not move past what was delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from shared.domain.errors import ThrottledError
from shared.domain.job import Job, parse_job
from shared.ingest.runner import IngestDeps, JobResult, run_job
from shared.platform.queue_host import MAX_QUEUE_DELAY_SECONDS, visibility_delay

logger = logging.getLogger("defender_relay.worker")

# Puts a job back on the queue, invisible for the given number of seconds.
Requeue = Callable[[Job, int], None]
__all__ = ["MAX_QUEUE_DELAY_SECONDS", "Requeue", "handle_message", "throttle_delay"]


LEASE_MARGIN_SECONDS = 1  # a hand-back becomes visible just after the lease ends, not on its last second


def handle_message(body: str | bytes, *, deps: IngestDeps, requeue: Requeue) -> JobResult:
    job = parse_job(body)  # ValidationError propagates: retried, then poison
    try:
        result = run_job(job, deps=deps)
    except ThrottledError as exc:
        delay = throttle_delay(exc.retry_at, now=deps.clock())
        requeue(job, delay)
        logger.warning(
            "ingest tenant=%s feed=%s throttled by Defender: job handed back to the queue for %d s",
            job.tenant_id,
            job.feed,
            delay,
        )
        return JobResult(tenant_id=job.tenant_id, feed=job.feed, status="throttled", throttles=1, message="requeued")
    if result.status == "lease-held" and result.lease_until is not None:
        _hand_back(job, result, result.lease_until, deps=deps, requeue=requeue)
    return result


def _hand_back(job: Job, result: JobResult, held_until: datetime, *, deps: IngestDeps, requeue: Requeue) -> None:
    """Put a lease-held job back on the queue until the lease ends, unless it already waited for this holder."""
    if job.after_lease is not None and held_until > job.after_lease:
        result.message += "; the holder renewed its lease since this job was handed back: it reads the feed"
        return
    delay = throttle_delay(held_until + timedelta(seconds=LEASE_MARGIN_SECONDS), now=deps.clock())
    requeue(replace(job, after_lease=held_until), delay)
    result.message += f"; handed back to the queue for {delay} s, until the lease ends"
    logger.info("ingest tenant=%s feed=%s lease held: job handed back for %d s", job.tenant_id, job.feed, delay)


def throttle_delay(retry_at: datetime, *, now: datetime) -> int:
    return visibility_delay(retry_at, now=now)
