"""Where delivered items go, behind one small interface (``Sink``).

- ``QueueSink``: envelopes (shared/envelopes.py) on the Storage queue ``defender-events``, base64
  like every queue a Functions trigger reads; oversize items claim-checked to ``defender-payloads``.
- ``WebhookSink``: the same envelopes POSTed to an HTTPS URL, signed with HMAC-SHA256. Headers::

      Content-Type: application/json
      X-Relay-Batch-Id: <batch_id>
      X-Relay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

  A receiver recomputes the HMAC over ``f"{t}.".encode() + raw_body``, compares in constant time,
  and refuses a ``t`` older than a few minutes (replay).
- ``ArchiveSink``: NDJSON lines appended to ``defender-archive/<tenant>/<feed>/<YYYY-MM-DD>.ndjson``.

Any failure raises ``DeliveryError``: the worker does not move the checkpoint and the job is retried,
so every sink is at-least-once and consumers drop repeats by ``dedup_key``. Error messages never carry
the webhook URL (it may embed a key) or the signing secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final, Protocol

import requests
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from shared.envelopes import EventItem, build_envelopes, payload_path
from shared.errors import DeliveryError

_APPEND_BLOCK_BYTES: Final = 4 * 1024 * 1024  # Append Blob block limit


class Sink(Protocol):
    name: str

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        """Deliver every item or raise ``DeliveryError``. Returns the number of messages/requests sent."""
        ...


class BlobPayloads:
    """Claim-check store: one blob per oversize item version in ``defender-payloads``."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def __call__(self, item: EventItem, body: bytes) -> str:
        name = payload_path(item)
        try:
            self._container.upload_blob(name, body, overwrite=True)
        except AzureError as exc:
            raise DeliveryError(f"could not store payload of {item.kind} {item.id}: {type(exc).__name__}") from exc
        return f"{self._container.container_name}/{name}"


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


class WebhookSink:
    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: bytes,
        payloads: BlobPayloads,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._secret = secret
        self._payloads = payloads
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        sent = 0
        for envelope in build_envelopes(tenant_id, feed, items, offload=self._payloads):
            self._post(tenant_id, envelope.encode())
            sent += 1
        return sent

    def _post(self, tenant_id: str, body: bytes) -> None:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Relay-Batch-Id": json.loads(body)["batch_id"],
            "X-Relay-Signature": f"t={timestamp},v1={sign(self._secret, timestamp, body)}",
        }
        try:
            response = self._session.post(self._url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryError(f"webhook delivery for tenant {tenant_id} failed: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook refused events of tenant {tenant_id}: HTTP {response.status_code}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class ArchiveSink:
    name = "archive"

    def __init__(self, container: ContainerClient, *, clock: Callable[[], datetime] | None = None) -> None:
        self._container = container
        self._clock = clock or (lambda: datetime.now(UTC))

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        if not items:
            return 0
        blob = self._container.get_blob_client(f"{tenant_id}/{feed}/{self._clock():%Y-%m-%d}.ndjson")
        lines = [
            json.dumps({**item.entry(), "feed": feed, "data": item.data}, separators=(",", ":")).encode() + b"\n"
            for item in items
        ]
        try:
            with contextlib.suppress(ResourceExistsError):
                blob.create_append_blob(if_none_match="*")
            for chunk in _chunks(lines, _APPEND_BLOCK_BYTES):
                blob.append_block(chunk)
        except AzureError as exc:
            raise DeliveryError(f"could not archive events of tenant {tenant_id}: {type(exc).__name__}") from exc
        return len(lines)


def _chunks(lines: list[bytes], limit: int) -> list[bytes]:
    chunks: list[bytes] = []
    current = bytearray()
    for line in lines:
        if current and len(current) + len(line) > limit:
            chunks.append(bytes(current))
            current = bytearray()
        current += line  # a single line over 4 MiB cannot be appended; Defender items are far smaller
    if current:
        chunks.append(bytes(current))
    return chunks
