"""Per-(tenant, feed) checkpoint: the cursor plus the versions already delivered inside the overlap window.

The worker re-reads ``[cursor - overlap, now - settle]`` on every run so late writes (an item whose
``lastUpdateTime`` lands behind the cursor) are not lost; the ``seen`` keys ``(id, lastUpdateTime)``
with a version at or after ``cursor - overlap`` are what lets it drop what it delivered already. Older
keys can never be read again, so they are pruned and the entity stays small.

Table ``checkpoints``: PartitionKey = tenant id, RowKey = feed. ``seen`` is JSON split over string
properties ``seen_0``, ``seen_1``, ... (a Table string property holds at most 64 KiB, an entity 1 MiB).
Writes use the ETag (optimistic concurrency): a checkpoint moved by someone else is a ``LeaseHeldError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.errors import LeaseHeldError
from shared.jobs import format_time, parse_time

_CHUNK_CHARS: Final = 30_000  # UTF-16: 60 KB, under the 64 KiB property limit
_MAX_CHUNKS: Final = 28  # ~840 K chars, under the 1 MiB entity limit with room for the other properties

SeenKey = tuple[str, str]  # (id, version) with the version exactly as Defender wrote it


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: str
    feed: str
    cursor: datetime | None = None  # None: never run; the first run looks back RELAY_INITIAL_LOOKBACK_HOURS
    seen: frozenset[SeenKey] = field(default_factory=frozenset)
    etag: str | None = None

    def advanced(self, cursor: datetime, seen: Iterable[SeenKey], *, overlap: timedelta) -> Checkpoint:
        """A new checkpoint at ``cursor`` keeping only the keys the next read window can return again."""
        return replace(self, cursor=cursor, seen=prune_seen(seen, cursor - overlap))


def prune_seen(seen: Iterable[SeenKey], floor: datetime) -> frozenset[SeenKey]:
    return frozenset(key for key in seen if parse_time(key[1]) >= floor)


class CheckpointStore(Protocol):
    def get(self, tenant_id: str, feed: str) -> Checkpoint: ...

    def save(self, checkpoint: Checkpoint) -> Checkpoint:
        """Persist; return it with its new ETag. Raise ``LeaseHeldError`` if it changed since it was read."""
        ...


class TableCheckpointStore:
    """Checkpoints in Azure Table storage."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, tenant_id: str, feed: str) -> Checkpoint:
        try:
            entity = self._table.get_entity(partition_key=tenant_id, row_key=feed)
        except ResourceNotFoundError:
            return Checkpoint(tenant_id=tenant_id, feed=feed)
        cursor = entity.get("cursor")
        return Checkpoint(
            tenant_id=tenant_id,
            feed=feed,
            cursor=parse_time(cursor) if cursor else None,
            seen=_decode_seen(entity),
            etag=entity.metadata.get("etag"),
        )

    def save(self, checkpoint: Checkpoint) -> Checkpoint:
        entity = {
            "PartitionKey": checkpoint.tenant_id,
            "RowKey": checkpoint.feed,
            "cursor": format_time(checkpoint.cursor) if checkpoint.cursor else "",
            **_encode_seen(checkpoint.seen),
        }
        try:
            if checkpoint.etag is None:
                meta = self._table.create_entity(entity)
            else:
                # REPLACE, not MERGE: a shorter ``seen`` must drop the chunk properties it no longer uses.
                meta = self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=checkpoint.etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise LeaseHeldError(
                f"checkpoint of tenant {checkpoint.tenant_id} feed {checkpoint.feed} was moved by another worker"
            ) from exc
        return replace(checkpoint, etag=meta.get("etag"))


def _encode_seen(seen: frozenset[SeenKey]) -> dict[str, Any]:
    # Newest first, so if the window ever holds more than an entity can, the oldest keys are what is
    # dropped: at worst a consumer sees a repeat (same dedup key), never a loss.
    ordered = sorted(seen, key=lambda key: (parse_time(key[1]), key), reverse=True)
    text = json.dumps([list(key) for key in ordered], separators=(",", ":"))
    while len(text) > _CHUNK_CHARS * _MAX_CHUNKS:
        ordered = ordered[: len(ordered) * 9 // 10]
        text = json.dumps([list(key) for key in ordered], separators=(",", ":"))
    chunks = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)]
    return {"seen_chunks": len(chunks), **{f"seen_{i}": chunk for i, chunk in enumerate(chunks)}}


def _decode_seen(entity: dict[str, Any]) -> frozenset[SeenKey]:
    count = int(entity.get("seen_chunks") or 0)
    if count == 0:
        return frozenset()
    text = "".join(str(entity.get(f"seen_{i}", "")) for i in range(count))
    return frozenset((str(key[0]), str(key[1])) for key in json.loads(text))
