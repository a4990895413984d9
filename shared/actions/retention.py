"""How long the relay's own records live, and the purge that removes the rest in bounded batches.

- accepted HMAC signatures: table ``idempotency``, partitions ``hmac-replay-<UTC hour of expiry>``; live
  5 minutes; purged a whole hour bucket at a time, found with one partition-range query;
- ``Idempotency-Key`` claims: table ``idempotency``, partition = tenant id; live 24 hours; purged with one
  query on ``ClaimedAt`` (the table never holds more than about a day of claims);
- audit records: table ``audit``, partition = tenant id, row = UTC time + request id; live
  ``RELAY_AUDIT_RETENTION_DAYS`` (400); purged with a row-key range query per tenant partition (and per
  shared partition: ``_invalid``, ``_hunts``, ``_indicators``).

Replay rows are the many ones (one per signed request), so they are bucketed by the hour they expire in.
Idempotency claims stay keyed by tenant and key: a lookup must find a key wherever in its 24 hours it was
claimed, and time buckets would cost every keyed request a second read; the purge reads them with one
filtered query instead, over a table that never holds more than a day and an hour of claims. Audit rows
already sort by time within their tenant's partition.

Bounded: at most ``max_deletes`` rows and ``max_seconds`` per run (the rest waits for the next run, the
timer being hourly). Deletes of claims are conditional on their ETag, so a key re-claimed while the purge
runs is never removed; replay and audit rows are never rewritten, so they go in batches of 100 (one
Table transaction per partition chunk).

Rows in the single partition ``hmac-replay`` written before the hour buckets existed are purged once
expired; ``shared.http.signing.TableReplayGuard`` still reads them for signatures that could have been
accepted before the process started (docs/operations.md §Retention).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError

from shared.actions.audit import SHARED_PARTITIONS, row_key_at
from shared.actions.idempotency import RETENTION as IDEMPOTENCY_RETENTION

logger = logging.getLogger("defender_relay.retention")

REPLAY_PREFIX: Final = "hmac-replay-"
LEGACY_REPLAY_PARTITION: Final = "hmac-replay"
# A claim is gone for good after 24 hours; an hour more keeps the purge clear of a claim being judged expired
# by a request at the same moment (the claim's own expiry check decides, not the purge).
IDEMPOTENCY_GRACE: Final = timedelta(hours=1)
MAX_DELETES: Final = 20_000
MAX_SECONDS: Final = 300.0  # half the function timeout (host.json: 10 minutes)
_BATCH: Final = 100  # Table transactions hold at most 100 operations, all in one partition


def replay_partition(expires_at: datetime) -> str:
    """The hour bucket of an accepted signature, by the UTC hour it expires in."""
    return REPLAY_PREFIX + expires_at.astimezone(UTC).strftime("%Y%m%d%H")


class TenantIds(Protocol):
    def list(self, *, enabled_only: bool = False) -> Any: ...


@dataclass
class PurgeResult:
    replay: int = 0
    idempotency: int = 0
    audit: int = 0
    complete: bool = True  # False: a bound was reached, the next run carries on

    @property
    def deleted(self) -> int:
        return self.replay + self.idempotency + self.audit


class _Budget:
    """What one run may still delete: rows left, while its time lasts."""

    def __init__(self, rows: int, seconds: float, monotonic: Callable[[], float]) -> None:
        self._rows, self._monotonic = rows, monotonic
        self._deadline = monotonic() + seconds

    def left(self) -> int:
        return 0 if self._monotonic() > self._deadline else self._rows

    def spend(self, rows: int) -> None:
        self._rows -= rows


class RetentionPurge:
    def __init__(
        self,
        *,
        idempotency: TableClient,
        audit: TableClient,
        tenants: TenantIds,
        audit_retention: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_deletes: int = MAX_DELETES,
        max_seconds: float = MAX_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idempotency = idempotency
        self._audit = audit
        self._tenants = tenants
        self._audit_retention = audit_retention
        self._clock = clock
        self._max_deletes = max_deletes
        self._max_seconds = max_seconds
        self._monotonic = monotonic

    def run(self) -> PurgeResult:
        """One purge: replay buckets, then expired claims, then old audit records, within the bounds."""
        started, now = self._monotonic(), self._clock()
        budget = _Budget(self._max_deletes, self._max_seconds, self._monotonic)
        result = PurgeResult()
        result.replay = self._purge_replay(now, budget)
        result.idempotency = self._purge_claims(now, budget)
        result.audit = self._purge_audit(now, budget)
        result.complete = budget.left() > 0
        logger.info(
            "retention purge replay=%d idempotency=%d audit=%d complete=%s ms=%d",
            result.replay, result.idempotency, result.audit, result.complete,
            (self._monotonic() - started) * 1000,
        )  # fmt: skip
        return result

    def _purge_replay(self, now: datetime, budget: _Budget) -> int:
        # Buckets whose every row has expired: every hour before the previous one.
        rows = self._idempotency.query_entities(
            "PartitionKey ge @low and PartitionKey lt @high",
            parameters={"low": REPLAY_PREFIX, "high": replay_partition(now - timedelta(hours=1))},
            select=["PartitionKey", "RowKey"],
        )
        deleted = _delete_in_batches(self._idempotency, rows, budget)
        legacy = self._idempotency.query_entities(
            "PartitionKey eq @pk and ExpiresAt lt @now",
            parameters={"pk": LEGACY_REPLAY_PARTITION, "now": now.astimezone(UTC).isoformat()},
            select=["PartitionKey", "RowKey"],
        )
        return deleted + _delete_in_batches(self._idempotency, legacy, budget)

    def _purge_claims(self, now: datetime, budget: _Budget) -> int:
        cutoff = (now - IDEMPOTENCY_RETENTION - IDEMPOTENCY_GRACE).astimezone(UTC).isoformat()
        # Tenant partitions are GUIDs (hex digits and dashes): all sort before "g", the replay buckets after.
        rows = self._idempotency.query_entities(
            "PartitionKey lt 'g' and ClaimedAt lt @cutoff",
            parameters={"cutoff": cutoff},
            select=["PartitionKey", "RowKey"],
        )
        deleted = 0
        for row in rows:
            if budget.left() <= 0:
                break
            try:  # conditional: a claim re-taken since the query is someone's live key now
                self._idempotency.delete_entity(
                    row["PartitionKey"], row["RowKey"], etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )  # fmt: skip
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            budget.spend(1)
            deleted += 1
        return deleted

    def _purge_audit(self, now: datetime, budget: _Budget) -> int:
        cutoff = row_key_at(now - self._audit_retention)
        partitions = [t.tenant_id for t in self._tenants.list()] + list(SHARED_PARTITIONS)
        deleted = 0
        for partition in partitions:
            if budget.left() <= 0:
                break
            rows = self._audit.query_entities(
                "PartitionKey eq @pk and RowKey lt @cutoff",
                parameters={"pk": partition, "cutoff": cutoff},
                select=["PartitionKey", "RowKey"],
            )
            deleted += _delete_in_batches(self._audit, rows, budget)
        return deleted


def _delete_in_batches(table: TableClient, rows: Iterable[Any], budget: _Budget) -> int:
    """Delete ``rows`` (rows nobody rewrites) up to 100 per transaction, within the budget."""
    deleted = 0
    for chunk in _chunks(rows, budget):
        try:
            table.submit_transaction([("delete", {"PartitionKey": pk, "RowKey": rk}) for pk, rk in chunk])
        except TableTransactionError:  # a row already gone (another instance purging): one by one
            for pk, rk in chunk:
                with contextlib.suppress(ResourceNotFoundError):
                    table.delete_entity(pk, rk)
        budget.spend(len(chunk))
        deleted += len(chunk)
    return deleted


def _chunks(rows: Iterable[Any], budget: _Budget) -> Iterator[list[tuple[str, str]]]:
    """Runs of (partition, row) keys of one partition, each at most 100 and at most the budget left."""
    chunk: list[tuple[str, str]] = []
    for row in rows:
        key = (str(row["PartitionKey"]), str(row["RowKey"]))
        if chunk and (chunk[0][0] != key[0] or len(chunk) >= min(_BATCH, budget.left())):
            yield chunk  # the caller spends it before asking for more
            chunk = []
        if budget.left() <= 0:
            return
        chunk.append(key)
    if chunk:
        yield chunk
