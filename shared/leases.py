"""Per-(tenant, feed) lease, so two workers never process the same tenant feed at once.

Table ``leases``: PartitionKey = tenant id, RowKey = feed, ``owner`` and ``expires_at``. Every change
is conditional on the ETag read just before (or on the entity not existing yet), so of two workers
racing for the same lease exactly one wins; the other gets ``LeaseHeldError`` and completes its job
quietly (the winner does the work). A lease whose holder died expires and can then be taken over.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.errors import LeaseHeldError
from shared.jobs import format_time, parse_time

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Lease:
    tenant_id: str
    feed: str
    owner: str
    expires_at: datetime
    etag: str


class LeaseStore(Protocol):
    def acquire(self, tenant_id: str, feed: str, *, owner: str, duration: timedelta) -> Lease: ...

    def renew(self, lease: Lease, *, duration: timedelta) -> Lease: ...

    def release(self, lease: Lease) -> None: ...


def new_owner_id() -> str:
    return uuid.uuid4().hex


class TableLeaseStore:
    def __init__(self, table: TableClient, *, clock: Clock | None = None) -> None:
        self._table = table
        self._clock = clock or (lambda: datetime.now(UTC))

    def acquire(self, tenant_id: str, feed: str, *, owner: str, duration: timedelta) -> Lease:
        """Take the lease if it is free, expired or already ours; else raise ``LeaseHeldError``."""
        now = self._clock()
        entity = {
            "PartitionKey": tenant_id,
            "RowKey": feed,
            "owner": owner,
            "expires_at": format_time(now + duration),
        }
        held = LeaseHeldError(f"tenant {tenant_id} feed {feed} is being processed by another worker")
        # Create first: a released lease is deleted, so the usual case is one insert, not a read and a write.
        try:
            return self._lease(entity, self._table.create_entity(entity))
        except ResourceExistsError:
            pass  # held, expired, or left by a crashed worker: read it and decide under its ETag
        try:
            current = self._table.get_entity(partition_key=tenant_id, row_key=feed)
        except ResourceNotFoundError as exc:  # the holder released it just now: its run covered this job
            raise held from exc
        if current.get("owner") != owner and parse_time(str(current.get("expires_at"))) > now:
            raise held
        return self._replace(entity, str(current.metadata["etag"]), held)

    def renew(self, lease: Lease, *, duration: timedelta) -> Lease:
        entity = {
            "PartitionKey": lease.tenant_id,
            "RowKey": lease.feed,
            "owner": lease.owner,
            "expires_at": format_time(self._clock() + duration),
        }
        lost = LeaseHeldError(f"lease on tenant {lease.tenant_id} feed {lease.feed} was taken over by another worker")
        return self._replace(entity, lease.etag, lost)

    def release(self, lease: Lease) -> None:
        """Give the lease back early; if it was taken over meanwhile, leave the new holder's lease alone."""
        with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
            self._table.delete_entity(
                partition_key=lease.tenant_id,
                row_key=lease.feed,
                etag=lease.etag,
                match_condition=MatchConditions.IfNotModified,
            )

    def _replace(self, entity: dict[str, str], etag: str, error: LeaseHeldError) -> Lease:
        try:
            meta = self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise error from exc
        return self._lease(entity, meta)

    @staticmethod
    def _lease(entity: dict[str, str], meta: dict[str, object]) -> Lease:
        return Lease(
            tenant_id=entity["PartitionKey"],
            feed=entity["RowKey"],
            owner=entity["owner"],
            expires_at=parse_time(entity["expires_at"]),
            etag=str(meta["etag"]),
        )
