"""``BlobResultStore``: each tenant's rows of a hunt as NDJSON chunks in container ``hunt-results``.

Blob names: ``<hunt>/<tenant>/<attempt>/<chunk:05d>.ndjson``. Every attempt at a tenant writes under its own
id and the run's outcome names the one attempt that counts, so a crashed or duplicated attempt can leave
chunks behind that are never read: the rows of a tenant are in the result exactly once. A chunk holds at
most ``CHUNK_ROWS`` lines and ``CHUNK_BYTES`` bytes, so neither the writer nor the merged reader ever holds
more than one chunk of one tenant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Final

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.domain.errors import DeliveryError

CHUNK_ROWS: Final = 5_000
CHUNK_BYTES: Final = 4 * 1024 * 1024


def chunk_name(hunt_id: str, tenant_id: str, attempt: str, chunk: int) -> str:
    return f"{hunt_id}/{tenant_id}/{attempt}/{chunk:05d}.ndjson"


class BlobResultStore:
    def __init__(self, container: ContainerClient, *, chunk_rows: int = CHUNK_ROWS) -> None:
        self._container = container
        self._chunk_rows = chunk_rows

    def write(self, hunt_id: str, tenant_id: str, attempt: str, lines: Iterable[bytes]) -> tuple[int, int]:
        chunks = rows = 0
        buffer = bytearray()
        count = 0
        for line in lines:
            buffer += line + b"\n"
            count += 1
            if count >= self._chunk_rows or len(buffer) >= CHUNK_BYTES:
                self._upload(chunk_name(hunt_id, tenant_id, attempt, chunks), bytes(buffer))
                chunks, rows, buffer, count = chunks + 1, rows + count, bytearray(), 0
        if count:
            self._upload(chunk_name(hunt_id, tenant_id, attempt, chunks), bytes(buffer))
            chunks, rows = chunks + 1, rows + count
        return chunks, rows

    def read_chunk(self, hunt_id: str, tenant_id: str, attempt: str, chunk: int) -> list[bytes]:
        name = chunk_name(hunt_id, tenant_id, attempt, chunk)
        try:
            data = self._container.download_blob(name).readall()
        except ResourceNotFoundError:
            raise DeliveryError(f"hunt {hunt_id}: result chunk {name} is missing") from None
        return [line for line in data.split(b"\n") if line]

    def delete_attempt(self, hunt_id: str, tenant_id: str, attempt: str) -> None:
        """Best effort: an attempt that lost the race leaves nothing a reader would look at anyway."""
        with contextlib.suppress(AzureError):
            for blob in self._container.list_blobs(name_starts_with=f"{hunt_id}/{tenant_id}/{attempt}/"):
                with contextlib.suppress(ResourceNotFoundError):
                    self._container.delete_blob(blob.name)

    def _upload(self, name: str, data: bytes) -> None:
        try:
            self._container.upload_blob(name, data, overwrite=True)
        except AzureError as exc:
            raise DeliveryError(f"could not store hunt result chunk {name}: {type(exc).__name__}") from exc
