"""The per-(tenant, feed) checkpoint (cursor and the versions already delivered inside the overlap window)
and the ``Claim`` of its lease, as values; the Table storage behind them is ``shared.ingest.checkpoint_table``.

``handover`` is set by ``defender-relay migrate`` on a Graph feed's first checkpoint: the versions its
retiring predecessor delivered inside the overlap window, as ``(provider id, normalised change time)``
(``handover_key``). A Graph version with such a key was delivered already and is dropped, so the switch
repeats nothing; the keys are pruned like ``seen`` and are gone one overlap after the switch.
``migrate --rollback`` does the same the other way; since a Graph alert's ``id`` is not its provider id,
the Graph alerts feed also keeps ``("provider:" + providerAlertId, change time)`` in ``seen``
(``provider_key``): that prefix never matches an item id, so it changes nothing for the feed's own dedup.
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


PROVIDER_PREFIX = "provider:"  # no Graph or Defender id holds a colon


def provider_key(provider_id: object, version: str) -> SeenKey:
    """A ``seen`` entry that remembers a delivered version by the provider's id (for a later handover)."""
    return (f"{PROVIDER_PREFIX}{provider_id}", version)


def carried_keys(checkpoint: Checkpoint) -> frozenset[SeenKey]:
    """The handover a feed's checkpoint gives the feed it is switched to: every version it delivered inside the
    overlap, and the ones it was handed itself (a switch back soon after a switch), by provider id and time.
    A Graph alert's own ``(id, time)`` is carried too: it matches no MDE id, so it costs a key, never a version."""
    keys = checkpoint.seen | checkpoint.handover
    return frozenset(handover_key(item_id.removeprefix(PROVIDER_PREFIX), version) for item_id, version in keys)


def delivered_versions(checkpoint: Checkpoint) -> int:
    """How many delivered versions ``carried_keys`` stands for (a provider key repeats one of ``seen``)."""
    return sum(1 for item_id, _ in checkpoint.seen if not item_id.startswith(PROVIDER_PREFIX)) + len(
        checkpoint.handover
    )


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
