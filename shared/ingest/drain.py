"""Drain ``tenant-jobs`` in-process with N worker threads, the way the Functions host runs the queue trigger.

The one drain of the project: the operator CLI (``sweep --once``, ``backfill``), the benchmarks and the
integration tests all use it (the Functions host itself cannot run here). Each thread takes one message
at a time and calls the same ``shared.ingest.worker.handle_message`` as the trigger. Host semantics are
mirrored (docs/microsoft-apis.md §Queue trigger): a receiver thread fetches batches (one Storage call
for up to ``threads`` messages, at most 32, like the host's ``batchSize``) whenever no more than half a batch is left
(``newBatchThreshold``); after the invocation, success deletes the message; an exception leaves it to
reappear after ``retry_delay`` (host.json ``visibilityTimeout``), and a message that has failed
``max_dequeue_count`` times is copied to ``tenant-jobs-poison`` and deleted. Deleting is done by
completer threads, as the host does it outside the function, so an invocation's thread is free at once.

When it stops: by default once the queue has stayed empty, visible or not, for ``idle_seconds`` (a test
or a benchmark waits for retries and throttle hand-backs). ``wait_for_hidden=False`` (the CLI) stops as
soon as nothing is visible and nothing runs: a job handed back with a delay, or released for a retry,
stays on the queue for the next sweep or the Functions host, and the run says so.

``python -m shared.cli.drain`` runs it as a process of its own, with the settings from the environment.

Another queue with a handler of its own (``queue_name``, ``handle``: the indicator jobs of
``shared.indicators.worker``) gets the same host semantics; the ingestion parts are then never built.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueMessage

from shared.domain.errors import RelayError
from shared.domain.job import Job, parse_job
from shared.ingest.runner import IngestDeps, JobResult
from shared.ingest.worker import handle_message
from shared.platform.storage import JOBS_QUEUE, StorageClients

logger = logging.getLogger("defender_relay.drain")


class DrainHost(Protocol):
    """What the drain needs of the app's services (``shared.bootstrap.Services`` is one)."""

    @property
    def storage(self) -> StorageClients: ...

    @property
    def ingest_deps(self) -> IngestDeps: ...

    def requeue(self, job: Job, delay_seconds: int) -> None: ...


MESSAGE_LEASE_SECONDS = 120  # like the host's 10-minute receive timeout, shorter for local runs
MAX_BATCH = 32  # Storage queues return at most 32 messages per receive


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
    drainer = _Drainer(
        services,
        deps or (None if handle is not None else services.ingest_deps),
        producing=producing or (lambda: False),
        wait_for_hidden=wait_for_hidden,
        retry_delay=retry_delay,
        max_dequeue_count=max_dequeue_count,
        on_result=on_result,
        batch_size=min(MAX_BATCH, max(1, threads)),
        threads=max(1, threads),
        queue_name=queue_name,
        handle=handle,
    )
    deadline = time.monotonic() + max_seconds
    roles: list[tuple[Callable[..., None], tuple[float, ...], str]] = [
        (drainer.receive, (deadline, idle_seconds), "drain-receiver"),
        *[(drainer.complete, (deadline,), f"drain-completer-{n}") for n in range(COMPLETERS)],
        *[(drainer.work, (deadline,), f"drain-{n}") for n in range(max(1, threads))],
    ]
    running = [threading.Thread(target=role, args=args, name=name, daemon=True) for role, args, name in roles]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    return drainer.stats


COMPLETERS = 2  # threads that delete (or release for a retry) finished messages, as the host does itself


class _Drainer:
    """The host's three parts: a receiver that keeps a batch buffered, the invocations, and completion.

    The receiver fetches the next batch once no more than half a batch is waiting (like host.json
    ``newBatchThreshold``), so a free invocation thread never waits for a receive. A finished message is deleted
    (or made visible again after a failure) by a completer thread, as the host does it after the
    function returned, so the invocation's thread goes on to the next message at once.
    """

    def __init__(
        self,
        services: DrainHost,
        deps: IngestDeps | None,
        *,
        producing: Callable[[], bool],
        wait_for_hidden: bool,
        retry_delay: int,
        max_dequeue_count: int,
        on_result: Callable[[JobResult, float, float], None] | None,
        batch_size: int,
        threads: int,
        queue_name: str,
        handle: Callable[[str], object] | None,
    ) -> None:
        self.services = services
        self.deps = deps
        self.handle = handle
        self.producing = producing
        self.wait_for_hidden = wait_for_hidden
        self.queue_name = queue_name
        self.queue = services.storage.queue(queue_name)
        self.poison = services.storage.queue(queue_name + "-poison")
        self.retry_delay = retry_delay
        self.max_dequeue_count = max_dequeue_count
        self.on_result = on_result
        self.stats = DrainStats()
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)  # notified whenever an invocation takes or ends a message
        self.batch_size = batch_size
        self.threads = threads
        self.waiting: queue.Queue[QueueMessage] = queue.Queue()
        self.finished: queue.Queue[tuple[QueueMessage, bool]] = queue.Queue()  # (message, succeeded)
        self.in_flight = 0
        self.done = threading.Event()  # set by the receiver: nothing more will be received

    def receive(self, deadline: float, idle_seconds: float) -> None:
        last_seen = time.monotonic()
        try:
            while time.monotonic() < deadline:
                with self.room:
                    busy = self.in_flight + self.waiting.qsize()
                    if self.waiting.qsize() > self.batch_size // 2:  # enough buffered for the next free thread
                        self.room.wait(timeout=0.1)
                        continue
                try:
                    pages = self.queue.receive_messages(
                        messages_per_page=self.batch_size, visibility_timeout=MESSAGE_LEASE_SECONDS
                    ).by_page()
                    batch = list(next(pages, []))  # one page: one Storage call
                except AzureError as exc:  # Storage hiccup: the host keeps polling too
                    logger.warning("receive from %s failed: %s; trying again", self.queue_name, type(exc).__name__)
                    time.sleep(1.0)
                    continue
                for message in batch:
                    self.waiting.put(message)
                if batch:
                    last_seen = time.monotonic()
                    continue
                if busy == 0 and self.finished.empty() and time.monotonic() - last_seen > idle_seconds:
                    if not self.producing() and (
                        not self.wait_for_hidden or self.queue.get_queue_properties().approximate_message_count == 0
                    ):
                        return
                    last_seen = time.monotonic() - idle_seconds / 2  # look again a little later
                time.sleep(0.05)
        finally:
            self.done.set()

    def work(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                message = self.waiting.get(timeout=0.05)
            except queue.Empty:
                if self.done.is_set():
                    return
                continue
            with self.room:
                self.in_flight += 1
                self.room.notify()
            try:
                self.finished.put((message, self.process(message)))
            finally:
                with self.room:
                    self.in_flight -= 1
                    self.room.notify()

    def complete(self, deadline: float) -> None:
        while time.monotonic() < deadline + 5:
            try:
                message, succeeded = self.finished.get(timeout=0.05)
            except queue.Empty:
                with self.lock:
                    idle = self.in_flight == 0 and self.waiting.empty()
                if self.done.is_set() and idle:
                    return
                continue
            try:
                if succeeded:
                    self.queue.delete_message(message)
                else:
                    self.fail(message)
            except AzureError as exc:  # the message reappears after its lease and runs again (at-least-once)
                logger.warning("completing a message failed: %s", type(exc).__name__)

    def process(self, message: QueueMessage) -> bool:
        started = time.time()
        if self.handle is not None:
            return self.process_other(message)
        assert self.deps is not None
        try:
            result = handle_message(message.content, deps=self.deps, requeue=self.services.requeue)
        except Exception as exc:  # the host's view: any exception fails the invocation
            logger.warning("job failed (dequeue %s): %s", message.dequeue_count, type(exc).__name__)
            failed = failed_result(message.content, exc)
            with self.lock:
                self.stats.failures += 1
                self.stats.failed.append(failed)
            if self.on_result is not None:
                self.on_result(failed, started, time.time())
            return False
        ended = time.time()
        with self.lock:
            self.stats.jobs += 1
            self.stats.statuses[result.status] += 1
            self.stats.results.append(result)
        if self.on_result is not None:
            self.on_result(result, started, ended)
        return True

    def process_other(self, message: QueueMessage) -> bool:
        """A message of another queue through its own handler; only the counts are kept."""
        assert self.handle is not None
        try:
            self.handle(message.content)
        except Exception as exc:  # the host's view: any exception fails the invocation
            logger.warning("job failed (dequeue %s): %s", message.dequeue_count, type(exc).__name__)
            with self.lock:
                self.stats.failures += 1
            return False
        with self.lock:
            self.stats.jobs += 1
        return True

    def fail(self, message: QueueMessage) -> None:
        if int(message.dequeue_count or 0) >= self.max_dequeue_count:
            with contextlib.suppress(ResourceExistsError):
                self.poison.create_queue()  # the host creates it on first use too
            self.poison.send_message(message.content)
            self.queue.delete_message(message)
            with self.lock:
                self.stats.poisoned += 1
            return
        self.queue.update_message(message, visibility_timeout=self.retry_delay)


def failed_result(body: str, exc: Exception) -> JobResult:
    """What an invocation that raised means to an operator: which tenant and feed, and why (no traceback)."""
    try:
        job = parse_job(body)
        tenant_id, feed = job.tenant_id, str(job.feed)
    except RelayError:
        tenant_id, feed = "(malformed message)", "-"
    message = exc.message if isinstance(exc, RelayError) else type(exc).__name__
    return JobResult(tenant_id=tenant_id, feed=feed, status="failed", message=message)
