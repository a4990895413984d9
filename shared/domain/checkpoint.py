"""The per-(tenant, feed) checkpoint (cursor and the versions already delivered inside the overlap window)
and the ``Claim`` of its lease, as values; the Table storage behind them is ``shared.ingest.checkpoint_table``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.domain.job import parse_time

SeenKey = tuple[str, str]  # (id, version) with the version exactly as Defender wrote it


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: str
    feed: str
    cursor: datetime | None = None  # None: never run; the first run looks back RELAY_INITIAL_LOOKBACK_HOURS
    seen: frozenset[SeenKey] = field(default_factory=frozenset)

    def advanced(self, cursor: datetime, seen: Iterable[SeenKey], *, overlap: timedelta) -> Checkpoint:
        """A new checkpoint at ``cursor`` keeping only the keys the next read window can return again."""
        return replace(self, cursor=cursor, seen=prune_seen(seen, cursor - overlap))


@dataclass(frozen=True)
class Claim:
    """A held lease on one (tenant, feed): the checkpoint as of taking it, and the ETag that proves it is ours."""

    checkpoint: Checkpoint
    owner: str
    expires_at: datetime
    etag: str

    @property
    def tenant_id(self) -> str:
        return self.checkpoint.tenant_id

    @property
    def feed(self) -> str:
        return self.checkpoint.feed


def prune_seen(seen: Iterable[SeenKey], floor: datetime) -> frozenset[SeenKey]:
    return frozenset(key for key in seen if parse_time(key[1]) >= floor)
