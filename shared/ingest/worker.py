"""One queue message in, one job run: parsing, the throttle hand-back, and what is retried.

The queue trigger and the operator CLI / benchmark drain loops share this, so they behave alike.

- Malformed message: ``ValidationError`` is raised; the Functions host retries it up to
  ``maxDequeueCount`` and then moves it to ``tenant-jobs-poison`` where an operator can read it.
- Unknown / disabled tenant, lease held, consent or role problems: completed (``run_job`` records why).
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
from datetime import datetime

from shared.domain.errors import ThrottledError
from shared.domain.job import Job, parse_job
from shared.ingest.runner import IngestDeps, JobResult, run_job
from shared.platform.queue_host import MAX_QUEUE_DELAY_SECONDS, visibility_delay

logger = logging.getLogger("defender_relay.worker")

# Puts a job back on the queue, invisible for the given number of seconds.
Requeue = Callable[[Job, int], None]
__all__ = ["MAX_QUEUE_DELAY_SECONDS", "Requeue", "handle_message", "throttle_delay"]


def handle_message(body: str | bytes, *, deps: IngestDeps, requeue: Requeue) -> JobResult:
    job = parse_job(body)  # ValidationError propagates: retried, then poison
    try:
        return run_job(job, deps=deps)
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


def throttle_delay(retry_at: datetime, *, now: datetime) -> int:
    return visibility_delay(retry_at, now=now)
