"""The per-(tenant, feed) checkpoint (cursor and the versions already delivered inside the overlap window)
and the ``Claim`` of its lease, as values; the Table storage behind them is ``shared.ingest.checkpoint_table``.

``handover`` is set by ``defender-relay migrate`` on a Graph feed's first checkpoint: the versions its
retiring predecessor delivered inside the overlap window, as ``(provider id, normalised change time)``
(``handover_key``). A Graph version with such a key was delivered already and is dropped, so the switch
repeats nothing; the keys are pruned like ``seen`` and are gone one overlap after the switch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.domain.job import format_time, parse_time

SeenKey = tuple[str, str]  # (id, version) with the version exactly as Defender wrote it


@dataclass(frozen=True)
class Checkpoint:
    tenant_id: str
    feed: str
    cursor: datetime | None = None  # None: never run; the first run looks back RELAY_INITIAL_LOOKBACK_HOURS
    seen: frozenset[SeenKey] = field(default_factory=frozenset)
    handover: frozenset[SeenKey] = field(default_factory=frozenset)  # delivered by the retired predecessor

    def advanced(self, cursor: datetime, seen: Iterable[SeenKey], *, overlap: timedelta) -> Checkpoint:
        """A new checkpoint at ``cursor`` keeping only the keys the next read window can return again."""
        floor = cursor - overlap
        return replace(self, cursor=cursor, seen=prune_seen(seen, floor), handover=prune_seen(self.handover, floor))


def handover_key(provider_id: object, version: str) -> SeenKey:
    """How a version is recognised across feeds: the provider's id and the change time to the microsecond
    (MDE and Graph may write the same instant with different trailing digits)."""
    return (str(provider_id), format_time(parse_time(version)))


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
