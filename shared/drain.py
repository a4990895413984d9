"""Drain ``tenant-jobs`` in-process with N worker threads, the way the Functions host runs the queue trigger.

For local runs, the operator CLI, the benchmarks and the integration tests (the Functions host itself
cannot run here). Each thread takes one message at a time and calls the same
``shared.worker.handle_message`` as the trigger. Host semantics are mirrored (reference
azure-functions.md §2.2): messages are received in batches (one Storage call for up to ``threads``
messages, at most 32, like the host's ``batchSize``); success deletes the message; an exception
leaves it to reappear after ``retry_delay`` (host.json ``visibilityTimeout``), and a message that
has failed ``max_dequeue_count`` times is copied to ``tenant-jobs-poison`` and deleted.

    python -m shared.drain [--threads 8] [--idle-seconds 3] [--max-seconds 600] [--report FILE]

reads the settings from the environment like the Function App does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueMessage

from shared.bootstrap import Services
from shared.config import Settings
from shared.ingest import IngestDeps, JobResult
from shared.storage import JOBS_QUEUE
from shared.worker import handle_message

logger = logging.getLogger("defender_relay.drain")
MESSAGE_LEASE_SECONDS = 120  # like the host's 10-minute receive timeout, shorter for local runs
MAX_BATCH = 32  # Storage queues return at most 32 messages per receive


@dataclass
class DrainStats:
    jobs: int = 0
    failures: int = 0
    poisoned: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    results: list[JobResult] = field(default_factory=list)


def drain(
    services: Services,
    *,
    threads: int = 8,
    idle_seconds: float = 3.0,
    max_seconds: float = 600.0,
    retry_delay: int = 1,
    max_dequeue_count: int = 5,
    on_result: Callable[[JobResult, float, float], None] | None = None,
    deps: IngestDeps | None = None,
) -> DrainStats:
    """Run until the queue has stayed empty (visible or not) for ``idle_seconds``, or ``max_seconds``.

    ``deps`` replaces ``services.ingest_deps`` (tests inject faults into a port this way).
    """
    drainer = _Drainer(
        services,
        deps or services.ingest_deps,
        retry_delay=retry_delay,
        max_dequeue_count=max_dequeue_count,
        on_result=on_result,
        batch_size=min(MAX_BATCH, max(1, threads)),  # a batch never waits long for a free thread
    )
    deadline = time.monotonic() + max_seconds
    workers = [
        threading.Thread(target=drainer.work, args=(deadline, idle_seconds), name=f"drain-{n}", daemon=True)
        for n in range(max(1, threads))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    return drainer.stats


class _Drainer:
    def __init__(
        self,
        services: Services,
        deps: IngestDeps,
        *,
        retry_delay: int,
        max_dequeue_count: int,
        on_result: Callable[[JobResult, float, float], None] | None,
        batch_size: int = 1,
    ) -> None:
        self.services = services
        self.deps = deps
        self.queue = services.storage.queue(JOBS_QUEUE)
        self.poison = services.storage.queue(JOBS_QUEUE + "-poison")
        self.retry_delay = retry_delay
        self.max_dequeue_count = max_dequeue_count
        self.on_result = on_result
        self.stats = DrainStats()
        self.lock = threading.Lock()
        self.last_busy = time.monotonic()
        self.batch_size = batch_size
        self.batch: deque[QueueMessage] = deque()
        self.batch_lock = threading.Lock()

    def work(self, deadline: float, idle_seconds: float) -> None:
        while time.monotonic() < deadline:
            message = self.next_message()
            if message is None:
                with self.lock:
                    idle = time.monotonic() - self.last_busy > idle_seconds
                if idle and self.queue.get_queue_properties().approximate_message_count == 0:
                    return
                time.sleep(0.05)
                continue
            self._busy()
            self.process(message)
            self._busy()

    def next_message(self) -> QueueMessage | None:
        """A message of the current batch; an empty batch is refilled with one receive call."""
        with self.batch_lock:
            if not self.batch:
                pages = self.queue.receive_messages(
                    messages_per_page=self.batch_size, visibility_timeout=MESSAGE_LEASE_SECONDS
                ).by_page()
                self.batch.extend(next(pages, []))  # one page: one Storage call
            return self.batch.popleft() if self.batch else None

    def _busy(self) -> None:
        with self.lock:
            self.last_busy = time.monotonic()

    def process(self, message: QueueMessage) -> None:
        started = time.time()
        try:
            result = handle_message(message.content, deps=self.deps, requeue=self.services.requeue)
        except Exception as exc:  # the host's view: any exception fails the invocation
            logger.warning("job failed (dequeue %s): %s", message.dequeue_count, type(exc).__name__)
            self.fail(message)
            return
        ended = time.time()
        self.queue.delete_message(message)
        with self.lock:
            self.stats.jobs += 1
            self.stats.statuses[result.status] += 1
            self.stats.results.append(result)
        if self.on_result is not None:
            self.on_result(result, started, ended)

    def fail(self, message: QueueMessage) -> None:
        with self.lock:
            self.stats.failures += 1
        if int(message.dequeue_count or 0) >= self.max_dequeue_count:
            with contextlib.suppress(ResourceExistsError):
                self.poison.create_queue()  # the host creates it on first use too
            self.poison.send_message(message.content)
            self.queue.delete_message(message)
            with self.lock:
                self.stats.poisoned += 1
            return
        self.queue.update_message(message, visibility_timeout=self.retry_delay)


def main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drain tenant-jobs in-process with N worker threads.")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--report", help="append one JSON line per job (status, start, end) to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    services = Services(Settings.from_env(os.environ))
    report = open(args.report, "a", encoding="utf-8") if args.report else None  # noqa: SIM115
    write_lock = threading.Lock()

    def record(result: JobResult, started: float, ended: float) -> None:
        if report is not None:
            with write_lock:
                report.write(json.dumps({**asdict(result), "start": started, "end": ended, "pid": os.getpid()}) + "\n")
                report.flush()

    try:
        stats = drain(
            services,
            threads=args.threads,
            idle_seconds=args.idle_seconds,
            max_seconds=args.max_seconds,
            on_result=record,
        )
    finally:
        if report is not None:
            report.close()
    print(json.dumps({"jobs": stats.jobs, "failures": stats.failures, "statuses": dict(stats.statuses)}), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
