"""``ArchiveSink``: every delivered item as one NDJSON line, appended to a daily Append Blob per tenant and
feed (``<tenant>/<feed>/<YYYY-MM-DD>.ndjson``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import ContainerClient

from shared.domain.envelope import EventItem
from shared.domain.errors import DeliveryError

_APPEND_BLOCK_BYTES: Final = 4 * 1024 * 1024  # Append Blob block limit


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
