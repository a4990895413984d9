"""``StorageJobQueue``: puts job messages on ``tenant-jobs`` (the sweep, and the worker's throttle
hand-back with a visibility delay)."""

from __future__ import annotations

from azure.storage.queue import (
    QueueClient,
)

from shared.domain.job import Job


class StorageJobQueue:
    """``tenant-jobs`` as the sweep and the worker's throttle hand-back see it."""

    def __init__(self, queue: QueueClient) -> None:
        self._queue = queue  # from StorageClients.queue: base64, as the queue trigger expects

    def send(self, job: Job, *, delay_seconds: int = 0) -> None:
        self._queue.send_message(job.to_json(), visibility_timeout=delay_seconds or None)
