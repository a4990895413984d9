"""Drain ``tenant-jobs`` in-process with N worker threads, the way the Functions host runs the queue trigger.

The one ingestion drain of the project: the operator CLI (``sweep --once``, ``backfill``), the benchmarks and
the integration tests all use it (the Functions host itself cannot run here). Each invocation calls the same
``shared.ingest.worker.handle_message`` as the trigger; receiving, completing, retrying and poisoning are the
host stand-in of ``shared.platform.queue_host`` (its docstring lists the host semantics it mirrors).

When it stops: by default once the queue has stayed empty, visible or not, for ``idle_seconds`` (a test
or a benchmark waits for retries and throttle hand-backs). ``wait_for_hidden=False`` (the CLI) stops as
soon as nothing is visible and nothing runs: a job handed back with a delay, or released for a retry,
stays on the queue for the next sweep or the Functions host, and the run says so.

``python -m shared.cli.drain`` runs it as a process of its own, with the settings from the environment.

Another queue with a handler of its own (``queue_name``, ``handle``: the indicator jobs of
``shared.indicators.worker``) gets the same host semantics; the ingestion parts are then never built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from azure.storage.queue import QueueMessage

from shared.domain.errors import RelayError
from shared.domain.job import Job, parse_job
from shared.ingest.runner import IngestDeps, JobResult
from shared.ingest.worker import handle_message
from shared.platform.queue_host import HostOptions, run_queue_host
from shared.platform.storage import JOBS_QUEUE, StorageClients


class DrainHost(Protocol):
    """What the drain needs of the app's services (``shared.bootstrap.Services`` is one)."""

    @property
    def storage(self) -> StorageClients: ...

    @property
    def ingest_deps(self) -> IngestDeps: ...

    def requeue(self, job: Job, delay_seconds: int) -> None: ...


@dataclass
class DrainStats:
    jobs: int = 0
    failures: int = 0  # invocations that raised (the message is retried, or poisoned)
    poisoned: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    results: list[JobResult] = field(default_factory=list)  # completed jobs
    failed: list[JobResult] = field(default_factory=list)  # one "failed" result per invocation that raised


def drain(
    services: DrainHost,
    *,
    threads: int = 8,
    idle_seconds: float = 3.0,
    max_seconds: float = 600.0,
    retry_delay: int = 1,
    max_dequeue_count: int = 5,
    on_result: Callable[[JobResult, float, float], None] | None = None,
    deps: IngestDeps | None = None,
    producing: Callable[[], bool] | None = None,
    wait_for_hidden: bool = True,
    queue_name: str = JOBS_QUEUE,
    handle: Callable[[str], object] | None = None,
) -> DrainStats:
    """Run until the queue has stayed empty (visible or not) for ``idle_seconds``, or ``max_seconds``.

    ``deps`` replaces ``services.ingest_deps`` (tests inject faults into a port this way). While
    ``producing()`` is true (a sweep still enqueueing beside the drain, as on the Functions host), an
    empty queue is not the end.
    """
    options = HostOptions(threads, idle_seconds, max_seconds, retry_delay, max_dequeue_count, wait_for_hidden)
    work, poison = services.storage.queue(queue_name), services.storage.queue(queue_name + "-poison")
    if handle is not None:  # another queue (indicator jobs): only the counts are kept
        other = run_queue_host(
            work, poison, handle=lambda message: handle(message.content), failed=lambda _m, _e: None,
            options=options, producing=producing,
        )  # fmt: skip
        return DrainStats(jobs=other.succeeded, failures=other.failures, poisoned=other.poisoned)
    job_deps = deps or services.ingest_deps

    def handle_job(message: QueueMessage) -> JobResult:
        return handle_message(message.content, deps=job_deps, requeue=services.requeue)

    stats = run_queue_host(
        work,
        poison,
        handle=handle_job,
        failed=lambda message, exc: failed_result(message.content, exc),
        options=options,
        on_result=on_result,
        producing=producing,
    )
    return DrainStats(
        jobs=stats.succeeded,
        failures=stats.failures,
        poisoned=stats.poisoned,
        statuses=Counter(result.status for result in stats.results),
        results=stats.results,
        failed=stats.failed,
    )


def failed_result(body: str, exc: Exception) -> JobResult:
    """What an invocation that raised means to an operator: which tenant and feed, and why (no traceback)."""
    try:
        job = parse_job(body)
        tenant_id, feed = job.tenant_id, str(job.feed)
    except RelayError:
        tenant_id, feed = "(malformed message)", "-"
    message = exc.message if isinstance(exc, RelayError) else type(exc).__name__
    return JobResult(tenant_id=tenant_id, feed=feed, status="failed", message=message)
