"""The retention purge against Azurite: expired replay records, idempotency claims and audit records go,
live ones stay, in bounded runs; the replay guard keeps catching replays across the purge and the upgrade
from the single replay partition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localdev.azurite import AzuriteEndpoints
from shared.actions.audit import AuditRecord, TableAuditStore
from shared.actions.idempotency import StoredResponse, TableIdempotencyStore
from shared.actions.retention import LEGACY_REPLAY_PARTITION, RetentionPurge
from shared.domain.tenant import Tenant
from shared.http.signing import TableReplayGuard
from shared.platform.storage import StorageClients

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
TENANT = "11111111-1111-4111-8111-111111111111"


class Registry:
    def list(self, *, enabled_only: bool = False) -> list[Tenant]:
        return [Tenant(TENANT, "Contoso")]


@pytest.fixture
def tables(azurite: AzuriteEndpoints, unique_name: str) -> dict[str, Any]:
    storage = StorageClients.from_connection_string(azurite.connection_string)
    names = {"idempotency": unique_name + "idem", "audit": unique_name + "audit"}
    storage.ensure(tables=tuple(names.values()))
    return {kind: storage.table(name) for kind, name in names.items()}


def rows(table: Any) -> set[tuple[str, str]]:
    return {(e["PartitionKey"], e["RowKey"]) for e in table.list_entities(select=["PartitionKey", "RowKey"])}


def audit_record(at: datetime, partition: str = TENANT) -> AuditRecord:
    return AuditRecord(tenant_id=partition, time=at, request_id=uuid.uuid4().hex, caller="soar", action="isolate",
                       outcome="accepted", status=202)  # fmt: skip


def seed(tables: dict[str, Any]) -> dict[str, set[str]]:
    """Expired and live rows of every kind; returns the row keys that must survive."""
    guard = TableReplayGuard(tables["idempotency"], started=NOW - timedelta(days=1))
    assert guard.first_use("a" * 64, expires_at=NOW - timedelta(hours=3))  # a bucket three hours old
    assert guard.first_use("b" * 64, expires_at=NOW + timedelta(minutes=4))  # accepted a minute ago
    tables["idempotency"].create_entity({"PartitionKey": LEGACY_REPLAY_PARTITION, "RowKey": "c" * 64,
                                         "ExpiresAt": (NOW - timedelta(days=2)).isoformat()})  # fmt: skip
    claims = TableIdempotencyStore(tables["idempotency"])
    for key, age in (("old-key", timedelta(hours=26)), ("fresh-key", timedelta(hours=2))):
        assert claims.claim(TENANT, key, "fp", now=NOW - age) is None
        claims.complete(TENANT, key, StoredResponse(202, {"action": {"id": key}}))
    audit = TableAuditStore(tables["audit"])
    old, recent = audit_record(NOW - timedelta(days=401)), audit_record(NOW - timedelta(days=10))
    shared = (audit_record(NOW - timedelta(days=500), p) for p in ("_invalid", "_hunts", "_indicators"))
    for record in (old, recent, *shared):
        audit.write(record)
    return {"audit": {recent.row_key}, "replay": {"b" * 64}}


def purge(tables: dict[str, Any], **bounds: Any) -> Any:
    return RetentionPurge(idempotency=tables["idempotency"], audit=tables["audit"], tenants=Registry(),
                          audit_retention=timedelta(days=400), clock=lambda: NOW, **bounds).run()  # fmt: skip


def test_a_purge_removes_expired_rows_and_leaves_live_ones(tables: dict[str, Any]) -> None:
    # GIVEN expired and live replay records (bucketed and legacy), idempotency claims and audit records
    live = seed(tables)
    # WHEN the purge runs
    result = purge(tables)
    # THEN only the live rows are left, and it says it finished
    assert (result.replay, result.idempotency, result.audit, result.complete) == (2, 1, 4, True)
    left = rows(tables["idempotency"])
    assert {rk for pk, rk in left if pk.startswith("hmac-replay")} == live["replay"]
    assert [pk for pk, _ in left if not pk.startswith("hmac-replay")] == [TENANT]  # the fresh claim
    assert {rk for _, rk in rows(tables["audit"])} == live["audit"]
    # AND the fresh key still replays, while the purged key is free for a new request
    claims = TableIdempotencyStore(tables["idempotency"])
    assert claims.claim(TENANT, "fresh-key", "fp", now=NOW) == StoredResponse(202, {"action": {"id": "fresh-key"}})
    assert claims.claim(TENANT, "old-key", "fp", now=NOW) is None


def test_a_bounded_run_stops_and_the_next_one_finishes(tables: dict[str, Any]) -> None:
    seed(tables)
    first = purge(tables, max_deletes=2)
    assert (first.deleted, first.complete) == (2, False)
    second = purge(tables)
    assert (second.deleted, second.complete) == (5, True)


def test_the_replay_guard_catches_replays_in_a_bucket_and_in_the_pre_upgrade_partition(tables: dict[str, Any]) -> None:
    # GIVEN a signature accepted by the code before the buckets (single partition), a minute before start
    started = datetime.now(UTC)
    expires_at = started + timedelta(minutes=4)
    tables["idempotency"].create_entity({"PartitionKey": LEGACY_REPLAY_PARTITION, "RowKey": "d" * 64,
                                         "ExpiresAt": expires_at.isoformat()})  # fmt: skip
    guard = TableReplayGuard(tables["idempotency"], started=started)
    # WHEN it is presented again after the upgrade THEN it is a replay; and a new one is a replay the second time
    assert not guard.first_use("d" * 64, expires_at=expires_at)
    assert guard.first_use("e" * 64, expires_at=expires_at)
    assert not TableReplayGuard(tables["idempotency"], started=started).first_use("e" * 64, expires_at=expires_at)
