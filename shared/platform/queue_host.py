"""An in-process stand-in for the Functions host's queue trigger, for any queue and any message handler.

The ingestion drain (``shared.ingest.drain``: queue ``tenant-jobs``, and ``indicator-jobs`` with its own handler) and
the hunt drain (``shared.hunting.hunt_queue``, queue ``hunt-jobs``) run on it, so the operator CLI, the benchmarks
and the integration tests see the host's semantics (docs/microsoft-apis.md §Queue trigger): a receiver thread
fetches batches (one Storage call for up to ``threads`` messages, at most 32, like the host's ``batchSize``)
whenever no more than half a batch is left (``newBatchThreshold``); after the invocation, success deletes the
message; an exception leaves it to reappear after ``retry_delay`` (host.json ``visibilityTimeout``), and a
message that has failed ``max_dequeue_count`` times is copied to ``<queue>-poison`` and deleted. Deleting is done
by completer threads, as the host does it outside the function, so an invocation's thread is free at once.

When it stops: by default once the queue has stayed empty, visible or not, for ``idle_seconds``.
``wait_for_hidden=False`` stops as soon as nothing is visible and nothing runs: a message handed back with a
delay stays on the queue for the next run or the Functions host.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Generic, TypeVar

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueClient, QueueMessage

logger = logging.getLogger("defender_relay.queue_host")
R = TypeVar("R")

MESSAGE_LEASE_SECONDS: Final = 120  # like the host's 10-minute receive timeout, shorter for local runs
MAX_BATCH: Final = 32  # Storage queues return at most 32 messages per receive
COMPLETERS: Final = 2  # threads that delete (or release for a retry) finished messages, as the host does itself
MAX_QUEUE_DELAY_SECONDS: Final = 7 * 24 * 3600  # Storage queue visibility timeout limit


def visibility_delay(retry_at: datetime, *, now: datetime) -> int:
    """Seconds a message handed back until ``retry_at`` stays invisible (at least 1, at most the queue's limit)."""
    seconds = math.ceil((retry_at - now).total_seconds())
    return max(1, min(seconds, MAX_QUEUE_DELAY_SECONDS))


@dataclass
class HostStats(Generic[R]):
    succeeded: int = 0
    failures: int = 0  # invocations that raised (the message is retried, or poisoned)
    poisoned: int = 0
    results: list[R] = field(default_factory=list)  # one per invocation that returned
    failed: list[R] = field(default_factory=list)  # one per invocation that raised


@dataclass(frozen=True)
class HostOptions:
    threads: int = 8
    idle_seconds: float = 3.0
    max_seconds: float = 600.0
    retry_delay: int = 1
    max_dequeue_count: int = 5
    wait_for_hidden: bool = True


def run_queue_host(
    work: QueueClient,
    poison: QueueClient,
    *,
    handle: Callable[[QueueMessage], R],
    failed: Callable[[QueueMessage, Exception], R],
    options: HostOptions = HostOptions(),  # frozen: one shared default is safe
    on_result: Callable[[R, float, float], None] | None = None,
    producing: Callable[[], bool] | None = None,
) -> HostStats[R]:
    """Invoke ``handle`` for every message until the queue has gone quiet (see the module docstring).

    ``failed`` turns an invocation's exception into the result an operator reads; ``on_result`` sees every
    result with its start and end time. While ``producing()`` is true an empty queue is not the end.
    """
    host = _Host(
        work,
        poison,
        handle=handle,
        failed=failed,
        options=options,
        on_result=on_result,
        producing=producing or (lambda: False),
    )
    deadline = time.monotonic() + options.max_seconds
    threads = max(1, options.threads)
    roles: list[tuple[Callable[..., None], tuple[float, ...], str]] = [
        (host.receive, (deadline, options.idle_seconds), f"{work.queue_name}-receiver"),
        *[(host.complete, (deadline,), f"{work.queue_name}-completer-{n}") for n in range(COMPLETERS)],
        *[(host.work, (deadline,), f"{work.queue_name}-{n}") for n in range(threads)],
    ]
    running = [threading.Thread(target=role, args=args, name=name, daemon=True) for role, args, name in roles]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    return host.stats


class _Host(Generic[R]):
    """The host's three parts: a receiver that keeps a batch buffered, the invocations, and completion."""

    def __init__(
        self,
        work: QueueClient,
        poison: QueueClient,
        *,
        handle: Callable[[QueueMessage], R],
        failed: Callable[[QueueMessage, Exception], R],
        options: HostOptions,
        on_result: Callable[[R, float, float], None] | None,
        producing: Callable[[], bool],
    ) -> None:
        self.queue, self.poison = work, poison
        self.handle, self.failed, self.on_result, self.producing = handle, failed, on_result, producing
        self.options = options
        self.batch_size = min(MAX_BATCH, max(1, options.threads))
        self.stats: HostStats[R] = HostStats()
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)  # notified whenever an invocation takes or ends a message
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
                    name = self.queue.queue_name
                    logger.warning("receive from %s failed: %s; trying again", name, type(exc).__name__)
                    time.sleep(1.0)
                    continue
                for message in batch:
                    self.waiting.put(message)
                if batch:
                    last_seen = time.monotonic()
                    continue
                if busy == 0 and self.finished.empty() and time.monotonic() - last_seen > idle_seconds:
                    if not self.producing() and (not self.options.wait_for_hidden or self._empty()):
                        return
                    last_seen = time.monotonic() - idle_seconds / 2  # look again a little later
                time.sleep(0.05)
        finally:
            self.done.set()

    def _empty(self) -> bool:
        return self.queue.get_queue_properties().approximate_message_count == 0

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
        try:
            result = self.handle(message)
        except Exception as exc:  # the host's view: any exception fails the invocation
            logger.warning("job failed (dequeue %s): %s", message.dequeue_count, type(exc).__name__)
            failed = self.failed(message, exc)
            with self.lock:
                self.stats.failures += 1
                self.stats.failed.append(failed)
            if self.on_result is not None:
                self.on_result(failed, started, time.time())
            return False
        ended = time.time()
        with self.lock:
            self.stats.succeeded += 1
            self.stats.results.append(result)
        if self.on_result is not None:
            self.on_result(result, started, ended)
        return True

    def fail(self, message: QueueMessage) -> None:
        if int(message.dequeue_count or 0) >= self.options.max_dequeue_count:
            with contextlib.suppress(ResourceExistsError):
                self.poison.create_queue()  # the host creates it on first use too
            self.poison.send_message(message.content)
            self.queue.delete_message(message)
            with self.lock:
                self.stats.poisoned += 1
            return
        self.queue.update_message(message, visibility_timeout=self.options.retry_delay)
