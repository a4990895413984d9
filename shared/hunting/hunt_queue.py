"""Queue ``hunt-jobs``: sending a hunt's jobs (``StorageHuntQueue``) and draining them in-process
(``drain_hunts``, on the host stand-in of ``shared.platform.queue_host``: the CLI, the tests and the benchmark).

The Functions host runs the same handler from the queue trigger ``hunt_tenant_job`` (shared/triggers/hunting.py).
"""

from __future__ import annotations

from collections.abc import Callable

from azure.storage.queue import QueueClient, QueueMessage

from shared.domain.errors import RelayError
from shared.hunting.job import HuntJob, parse_hunt_job
from shared.hunting.runner import HuntDeps, HuntJobResult, handle_hunt_message
from shared.platform.queue_host import HostOptions, HostStats, run_queue_host
from shared.platform.storage import HUNT_JOBS_QUEUE, StorageClients


class StorageHuntQueue:
    """``hunt-jobs`` as the start, the fan-out and the throttle hand-back see it."""

    def __init__(self, queue: QueueClient) -> None:
        self._queue = queue  # from StorageClients.queue: base64, as the queue trigger expects

    def send(self, job: HuntJob, *, delay_seconds: int = 0) -> None:
        self._queue.send_message(job.to_json(), visibility_timeout=delay_seconds or None)


def drain_hunts(
    storage: StorageClients,
    deps: HuntDeps,
    *,
    options: HostOptions | None = None,
    on_result: Callable[[HuntJobResult, float, float], None] | None = None,
    producing: Callable[[], bool] | None = None,
) -> HostStats[HuntJobResult]:
    """Run ``hunt-jobs`` until it has gone quiet, each message through ``handle_hunt_message``."""

    def handle(message: QueueMessage) -> HuntJobResult:
        return handle_hunt_message(message.content, deps=deps, dequeue_count=int(message.dequeue_count or 1))

    return run_queue_host(
        storage.queue(HUNT_JOBS_QUEUE),
        storage.queue(HUNT_JOBS_QUEUE + "-poison"),
        handle=handle,
        failed=failed_result,
        options=options or HostOptions(),
        on_result=on_result,
        producing=producing,
    )


def failed_result(message: QueueMessage, exc: Exception) -> HuntJobResult:
    """What an invocation that raised means to an operator: which hunt and tenant, and why (no traceback)."""
    try:
        job = parse_hunt_job(message.content)
        hunt_id, tenant_id = job.hunt_id, job.tenant_id
    except RelayError:
        hunt_id, tenant_id = "(malformed message)", "-"
    reason = exc.message if isinstance(exc, RelayError) else type(exc).__name__
    return HuntJobResult(hunt_id, tenant_id, "retrying", message=reason)
