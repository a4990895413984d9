"""``QueueSink``: envelopes on the Storage queue ``defender-events`` (base64), oversize items claim-checked."""

from __future__ import annotations

from collections.abc import Sequence

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueClient

from shared.domain.envelope import EventItem, build_envelopes
from shared.domain.errors import DeliveryError
from shared.ingest.sinks.payloads import BlobPayloads


class QueueSink:
    name = "queue"

    def __init__(self, queue: QueueClient, payloads: BlobPayloads) -> None:
        self._queue = queue  # must use TextBase64EncodePolicy (StorageClients.queue)
        self._payloads = payloads

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        sent = 0
        for envelope in build_envelopes(tenant_id, feed, items, offload=self._payloads):
            try:
                self._queue.send_message(envelope)
            except AzureError as exc:
                raise DeliveryError(
                    f"could not enqueue events of tenant {tenant_id} to {self._queue.queue_name}: {type(exc).__name__}"
                ) from exc
            sent += 1
        return sent
