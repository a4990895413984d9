"""Drain ``tenant-jobs`` in-process with the worker's own code (``shared.worker.handle_message``).

This is what the queue trigger does in Azure, minus the host: receive, run the job, delete the message
only when the job completed. A job that raised stays on the queue and becomes visible again after the
visibility timeout, exactly as the host would retry it; a throttled job is handed back with Defender's
delay. The loop is bounded by a deadline and stops as soon as no message is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shared.bootstrap import Services
from shared.domain.errors import RelayError
from shared.domain.job import parse_job
from shared.ingest.runner import JobResult
from shared.ingest.worker import handle_message
from shared.platform.storage import JOBS_QUEUE

THREADS = 8
BATCH = 32  # the most a Storage queue hands out per receive
RETRY_VISIBILITY_SECONDS = 30  # a failed job is retried this much later (by the next drain or the host)


@dataclass
class TenantSummary:
    tenant_id: str
    jobs: int = 0
    items: int = 0
    delivered: int = 0
    repeats: int = 0
    throttles: int = 0
    statuses: set[str] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        for worst in ("failed", "auth-failed", "throttled", "lease-held", "skipped"):
            if worst in self.statuses:
                return worst
        return "ok"

    def add(self, result: JobResult) -> None:
        self.jobs += 1
        self.items += result.items
        self.delivered += result.delivered
        self.repeats += result.repeats
        self.throttles += result.throttles
        self.statuses.add(result.status)
        if result.message:
            self.messages.append(f"{result.feed}: {result.message}")


def drain_jobs(
    svc: Services, *, deadline_seconds: float = 300.0, on_result: Callable[[JobResult], None] = lambda _r: None
) -> list[JobResult]:
    """Run every visible job until none is left or the deadline passes; one result per message handled."""
    queue = svc.storage.queue(JOBS_QUEUE)
    deadline = time.monotonic() + deadline_seconds
    visibility = max(RETRY_VISIBILITY_SECONDS, svc.settings.lease_seconds)
    results: list[JobResult] = []
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="drain") as pool:
        while time.monotonic() < deadline:
            batch = list(queue.receive_messages(max_messages=BATCH, visibility_timeout=visibility))
            if not batch:
                break
            for result in pool.map(lambda m: _run_one(svc, queue, m), batch):
                results.append(result)
                on_result(result)
    return results


def _run_one(svc: Services, queue: Any, message: Any) -> JobResult:
    body = message.content
    try:
        result = handle_message(body, deps=svc.ingest_deps, requeue=svc.requeue)
    except Exception as exc:  # the host would retry: leave the message, make it visible again soon
        queue.update_message(message, visibility_timeout=RETRY_VISIBILITY_SECONDS)
        return _failed(body, exc)
    queue.delete_message(message)
    return result


def _failed(body: str, exc: Exception) -> JobResult:
    try:
        job = parse_job(body)
        tenant_id, feed = job.tenant_id, str(job.feed)
    except RelayError:
        tenant_id, feed = "(malformed message)", "-"
    message = exc.message if isinstance(exc, RelayError) else type(exc).__name__
    return JobResult(tenant_id=tenant_id, feed=feed, status="failed", message=message)


def summarize(results: list[JobResult]) -> list[TenantSummary]:
    by_tenant: dict[str, TenantSummary] = {}
    for result in results:
        by_tenant.setdefault(result.tenant_id, TenantSummary(result.tenant_id)).add(result)
    return list(by_tenant.values())
