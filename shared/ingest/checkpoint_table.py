"""Per-(tenant, feed) checkpoint and lease in one Table entity: the cursor, the versions already delivered
inside the overlap window, and who is working on it until when.

The worker re-reads ``[cursor - overlap, now - settle]`` on every run so late writes (an item whose
``lastUpdateTime`` lands behind the cursor) are not lost; the ``seen`` keys ``(id, lastUpdateTime)``
with a version at or after ``cursor - overlap`` are what lets it drop what it delivered already. Older
keys can never be read again, so they are pruned and the entity stays small.

Table ``checkpoints``: PartitionKey = tenant id, RowKey = feed. ``cursor``; ``seen`` as JSON split over
string properties ``seen_0``, ``seen_1``, ... (a Table string property holds at most 64 KiB, an entity
1 MiB); ``handover`` (the keys a retired predecessor delivered, set by ``migrate``) the same way as
``handover_0``, ...; ``lease_owner`` and ``lease_expires_at`` (empty when free).

The lease lives in the checkpoint entity so that a job costs three Table round trips, not five: read
the entity, *claim* it (a merge of the lease columns conditional on the ETag just read), and at the end
*release* it (one replace, conditional on the claim's ETag, that writes the new cursor and frees the
lease). Every write is conditional, so of two workers racing for a free entity exactly one wins; the
other gets ``LeaseHeldError`` (with the holder and the lease's end when it read them). While a job runs,
*renew* (a merge of the lease columns only) extends the lease: a heartbeat, so the lease can be short
and a dead holder's lapses soon. A lease whose holder died expires and can then be taken over, and the
old holder's later writes fail on the ETag instead of moving the cursor.

A worker process also remembers the entity it released last for each (tenant, feed), with its ETag.
The next claim there is then one conditional merge on that ETag with no read: if the ETag still
matches, nothing changed since, so the remembered cursor is the current one. If another instance ran
the feed meanwhile the merge fails (412) and the claim reads the entity as usual.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.checkpoint import Checkpoint, Claim
from shared.domain.errors import LeaseHeldError
from shared.domain.job import format_time, parse_time

_CHUNK_CHARS: Final = 30_000  # UTF-16: 60 KB, under the 64 KiB property limit


_MAX_CHUNKS: Final = 28  # ~840 K chars, under the 1 MiB entity limit with room for the other properties
_MAX_HANDOVER_CHUNKS: Final = 8  # handover keys share that room with seen (they are the old feed's seen keys)


# What a worker process remembers of released entities, in characters of encoded ``seen`` keys
# (~64 per key): ~16 MB at most, i.e. a few thousand steady tenant feeds. Least recently used goes first.
_REMEMBER_CHARS: Final = 16_000_000


_REMEMBER_ONE_CHARS: Final = 160_000  # ~2,500 keys: a backfill-sized window is not kept, the next claim reads it


Clock = Callable[[], datetime]


class CheckpointStore(Protocol):
    def get(self, tenant_id: str, feed: str) -> Checkpoint:
        """The current checkpoint (a plain read; it does not take the lease)."""
        ...

    def claim(self, tenant_id: str, feed: str, *, owner: str, duration: timedelta) -> Claim:
        """Take the lease if it is free or expired; else raise ``LeaseHeldError`` (with its holder and end)."""
        ...

    def renew(self, claim: Claim, *, duration: timedelta) -> Claim:
        """Extend the lease from now (nothing else is written); ``LeaseHeldError`` if it was taken over."""
        ...

    def save(self, claim: Claim, checkpoint: Checkpoint, *, duration: timedelta) -> Claim:
        """Persist progress and extend the lease; ``LeaseHeldError`` if it was taken over meanwhile."""
        ...

    def release(self, claim: Claim, checkpoint: Checkpoint | None = None) -> None:
        """Free the lease, saving ``checkpoint`` in the same write if given.

        With a checkpoint, a lease taken over meanwhile is a ``LeaseHeldError`` (the progress is not
        saved: the job must be retried). Without one, it is left alone to its new holder.
        """
        ...


class TableCheckpointStore:
    """Checkpoints and their leases in Azure Table storage."""

    def __init__(
        self, table: TableClient, *, clock: Clock | None = None, remember_chars: int = _REMEMBER_CHARS
    ) -> None:
        self._table = table
        self._remember_chars = remember_chars
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._released: OrderedDict[tuple[str, str], tuple[dict[str, Any], str]] = OrderedDict()
        self._released_chars = 0

    def get(self, tenant_id: str, feed: str) -> Checkpoint:
        try:
            entity = self._table.get_entity(partition_key=tenant_id, row_key=feed)
        except ResourceNotFoundError:
            return Checkpoint(tenant_id=tenant_id, feed=feed)
        return _decode(tenant_id, feed, entity)

    def claim(self, tenant_id: str, feed: str, *, owner: str, duration: timedelta) -> Claim:
        now = self._clock()
        lease = _key(tenant_id, feed) | {"lease_owner": owner, "lease_expires_at": format_time(now + duration)}
        held = LeaseHeldError(f"tenant {tenant_id} feed {feed} is being processed by another worker")
        remembered = self._recall(tenant_id, feed)
        if remembered is not None:
            fields, etag = remembered
            try:
                return self._claimed(_decode(tenant_id, feed, fields), lease, self._merge(lease, etag))
            except (ResourceModifiedError, ResourceNotFoundError):
                pass  # written elsewhere since it was released here (another instance ran it): read it
        try:
            entity = self._table.get_entity(partition_key=tenant_id, row_key=feed)
        except ResourceNotFoundError:
            try:
                created = self._table.create_entity(lease | _encode(Checkpoint(tenant_id=tenant_id, feed=feed)))
            except ResourceExistsError as exc:  # another worker created it a moment ago: it holds it
                raise held from exc
            return self._claimed(Checkpoint(tenant_id=tenant_id, feed=feed), lease, created)
        holder, until = str(entity.get("lease_owner") or ""), str(entity.get("lease_expires_at") or "")
        if holder and holder != owner and until and parse_time(until) > now:
            raise LeaseHeldError(held.message, holder=holder, held_until=parse_time(until))
        try:
            meta = self._merge(lease, str(entity.metadata["etag"]))
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise held from exc
        return self._claimed(_decode(tenant_id, feed, entity), lease, meta)

    def renew(self, claim: Claim, *, duration: timedelta) -> Claim:
        """Extend the lease only (a merge of the lease columns under the claim's ETag): the heartbeat."""
        lease = {"lease_owner": claim.owner, "lease_expires_at": format_time(self._clock() + duration)}
        try:
            meta = self._merge(_key(claim.tenant_id, claim.feed) | lease, claim.etag)
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise _taken_over(claim) from exc
        return self._claimed(claim.checkpoint, lease, meta)

    def save(self, claim: Claim, checkpoint: Checkpoint, *, duration: timedelta) -> Claim:
        lease = {"lease_owner": claim.owner, "lease_expires_at": format_time(self._clock() + duration)}
        entity = _key(claim.tenant_id, claim.feed) | _encode(checkpoint) | lease
        return self._claimed(checkpoint, lease, self._replace(entity, claim))

    def release(self, claim: Claim, checkpoint: Checkpoint | None = None) -> None:
        free = {"lease_owner": "", "lease_expires_at": ""}
        if checkpoint is None:
            try:
                meta = self._merge(_key(claim.tenant_id, claim.feed) | free, claim.etag)
            except (ResourceModifiedError, ResourceNotFoundError):
                return  # taken over after it expired: the new holder's lease stays
            self._remember(claim.tenant_id, claim.feed, _encode(claim.checkpoint), str(meta["etag"]))
            return
        fields = _encode(checkpoint)
        meta = self._replace(_key(claim.tenant_id, claim.feed) | fields | free, claim)
        self._remember(claim.tenant_id, claim.feed, fields, str(meta["etag"]))

    def _merge(self, entity: dict[str, Any], etag: str) -> Mapping[str, Any]:
        return self._table.update_entity(
            entity, mode=UpdateMode.MERGE, etag=etag, match_condition=MatchConditions.IfNotModified
        )

    def _replace(self, entity: dict[str, Any], claim: Claim) -> Mapping[str, Any]:
        # REPLACE, not MERGE: a shorter ``seen`` must drop the chunk properties it no longer uses.
        try:
            return self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=claim.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise _taken_over(claim) from exc

    @staticmethod
    def _claimed(checkpoint: Checkpoint, lease: dict[str, Any], meta: Mapping[str, Any]) -> Claim:
        return Claim(checkpoint, lease["lease_owner"], parse_time(lease["lease_expires_at"]), str(meta["etag"]))

    def _recall(self, tenant_id: str, feed: str) -> tuple[dict[str, Any], str] | None:
        """The entity this process released last, taken out: a claim uses it at most once."""
        with self._lock:
            remembered = self._released.pop((tenant_id, feed), None)
            if remembered is not None:
                self._released_chars -= _chars(remembered[0])
            return remembered

    def _remember(self, tenant_id: str, feed: str, fields: dict[str, Any], etag: str) -> None:
        size = _chars(fields)
        if size > _REMEMBER_ONE_CHARS:
            return
        with self._lock:
            previous = self._released.pop((tenant_id, feed), None)
            if previous is not None:
                self._released_chars -= _chars(previous[0])
            self._released[(tenant_id, feed)] = (fields, etag)
            self._released_chars += size
            while self._released_chars > self._remember_chars:
                _, (oldest, _) = self._released.popitem(last=False)
                self._released_chars -= _chars(oldest)


def _key(tenant_id: str, feed: str) -> dict[str, Any]:
    return {"PartitionKey": tenant_id, "RowKey": feed}


def _chars(fields: Mapping[str, Any]) -> int:
    chunks = [f"{name}_{i}" for name in ("seen", "handover") for i in range(int(fields.get(f"{name}_chunks") or 0))]
    return sum(len(str(fields.get(chunk, ""))) for chunk in chunks) + 64


def _encode(checkpoint: Checkpoint) -> dict[str, Any]:
    handover = _encode_keys("handover", checkpoint.handover, _MAX_HANDOVER_CHUNKS) if checkpoint.handover else {}
    return {
        "cursor": format_time(checkpoint.cursor) if checkpoint.cursor else "",
        **_encode_keys("seen", checkpoint.seen, _MAX_CHUNKS - (len(handover) - 1 if handover else 0)),
        **handover,
    }


def _encode_keys(name: str, keys: frozenset[tuple[str, str]], max_chunks: int) -> dict[str, Any]:
    # Newest first, so if the window ever holds more than an entity can, the oldest keys are what is
    # dropped: at worst a consumer sees a repeat (same dedup key), never a loss.
    ordered = sorted(keys, key=lambda key: (parse_time(key[1]), key), reverse=True)
    text = json.dumps([list(key) for key in ordered], separators=(",", ":"))
    while len(text) > _CHUNK_CHARS * max_chunks:
        ordered = ordered[: len(ordered) * 9 // 10]
        text = json.dumps([list(key) for key in ordered], separators=(",", ":"))
    chunks = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)] if ordered else []
    return {f"{name}_chunks": len(chunks), **{f"{name}_{i}": chunk for i, chunk in enumerate(chunks)}}


def _decode_keys(name: str, entity: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    count = int(entity.get(f"{name}_chunks") or 0)
    text = "".join(str(entity.get(f"{name}_{i}", "")) for i in range(count))
    return frozenset((str(key[0]), str(key[1])) for key in json.loads(text)) if count else frozenset()


def _decode(tenant_id: str, feed: str, entity: Mapping[str, Any]) -> Checkpoint:
    cursor = entity.get("cursor")
    return Checkpoint(
        tenant_id=tenant_id,
        feed=feed,
        cursor=parse_time(cursor) if cursor else None,
        seen=_decode_keys("seen", entity),
        handover=_decode_keys("handover", entity),
    )


def _taken_over(claim: Claim) -> LeaseHeldError:
    """A write under the claim's ETag was refused: another worker holds the lease now."""
    return LeaseHeldError(f"lease on tenant {claim.tenant_id} feed {claim.feed} was taken over by another worker")
