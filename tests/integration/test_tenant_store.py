"""TenantStore against real Table storage (Azurite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableClient

from localdev.azurite import AzuriteEndpoints
from shared.domain.errors import TenantNotFoundError
from shared.domain.tenant import Tenant, parse_tenant
from shared.tenants.snapshot import RegistrySnapshot
from shared.tenants.store import TenantStore

pytestmark = pytest.mark.integration

A = "aaaaaaaa-0000-0000-0000-000000000001"
B = "bbbbbbbb-0000-0000-0000-000000000002"


@pytest.fixture
def store(azurite: AzuriteEndpoints, unique_name: str) -> Iterator[TenantStore]:
    table = TableClient.from_connection_string(azurite.connection_string, table_name=unique_name)
    table.create_table()
    yield TenantStore(table)
    table.delete_table()


def test_upsert_get_list_and_delete(store: TenantStore):
    # GIVEN two tenants, one disabled
    store.upsert(parse_tenant({"tenant_id": A, "display_name": "Beta", "allowed_actions": ["scan"]}, where="a"))
    store.upsert(Tenant(tenant_id=B, display_name="Alpha", enabled=False, feeds=frozenset({"xdr-incidents"})))
    # THEN they read back equal, sorted by name, and enabled_only filters
    assert store.get(A).allowed_actions == {"scan"}
    assert store.get(B).allowed_actions is None
    assert [t.display_name for t in store.list()] == ["Alpha", "Beta"]
    assert [t.tenant_id for t in store.list(enabled_only=True)] == [A]
    store.enable(B)
    assert len(store.list(enabled_only=True)) == 2
    store.delete(A)
    with pytest.raises(TenantNotFoundError, match=A):
        store.get(A)
    with pytest.raises(TenantNotFoundError):
        store.delete(A)


def test_health_is_recorded_and_survives_a_config_update(store: TenantStore):
    store.upsert(Tenant(tenant_id=A, display_name="A"))
    store.record_failure(A, "not-consented", "app not consented", "open the consent link")
    health = store.record_failure(A, "not-consented", "app not consented", "open the consent link")
    assert health.consecutive_failures == 2
    store.upsert(Tenant(tenant_id=A, display_name="A renamed"))  # config change keeps health
    health = store.get_health(A)
    assert (health.consecutive_failures, health.last_error_kind) == (2, "not-consented")
    assert health.last_error_remedy == "open the consent link"
    now = datetime(2026, 1, 2, tzinfo=UTC)
    store.record_success(A, now=now)
    health = store.get_health(A)
    assert health.consecutive_failures == 0
    assert health.last_success == now
    assert store.list_with_health()[0][0].display_name == "A renamed"


def test_a_sweep_success_keeps_an_actions_only_failure_and_a_check_success_clears_it(store: TenantStore):
    # GIVEN check recorded a failure that only concerns response actions
    store.upsert(Tenant(tenant_id=A, display_name="A"))
    store.record_failure(A, "missing-roles", "lacks Machine.Isolate", "add the permission", scope="actions")
    # WHEN a sweep succeeds THEN the success time moves but the failure stays on record
    now = datetime(2026, 1, 2, tzinfo=UTC)
    health = store.record_success(A, now=now, scope="feeds")
    assert (health.consecutive_failures, health.last_error_kind, health.last_success) == (1, "missing-roles", now)
    assert store.get_health(A).last_error_scope == "actions"
    # WHEN check passes THEN the tenant is healthy again
    assert store.record_success(A, now=now).consecutive_failures == 0
    # AND a feed failure (no scope) is healed by the next sweep's success
    store.record_failure(A, "forbidden", "403 on /api/alerts")
    assert store.record_success(A, now=now, scope="feeds").consecutive_failures == 0


def test_concurrent_failures_are_all_counted(store: TenantStore):
    # GIVEN several workers failing on the same tenant at once WHEN they record THEN no count is lost (ETag)
    store.upsert(Tenant(tenant_id=A, display_name="A"))
    threads = [threading.Thread(target=store.record_failure, args=(A, "k", "m")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert store.get_health(A).consecutive_failures == 4


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_worker_s_registry_snapshot_reads_once_for_many_jobs_and_sees_changes_in_time(
    azurite: AzuriteEndpoints, unique_name: str
) -> None:
    # GIVEN 30 tenants, and a worker whose table client counts its requests
    sent: list[str] = []
    table = TableClient.from_connection_string(
        azurite.connection_string, table_name=unique_name, raw_request_hook=lambda r: sent.append(r.http_request.method)
    )
    table.create_table()
    store = TenantStore(table)
    other_process = TenantStore(TableClient.from_connection_string(azurite.connection_string, table_name=unique_name))
    ids = [f"{n:08x}-0000-0000-0000-000000000000" for n in range(30)]
    for tid in ids:
        other_process.upsert(parse_tenant({"tenant_id": tid, "display_name": tid}, where="test"))
    ticks = Ticks()
    snapshot = RegistrySnapshot(store, max_age=timedelta(seconds=30), clock=ticks)
    try:
        # WHEN 30 jobs look up their tenants THEN one query answers them all
        sent.clear()
        assert [snapshot.get_with_health(tid)[0].tenant_id for tid in ids] == ids
        assert sent == ["GET"]
        # WHEN another process adds a tenant THEN its first job finds it (a direct read), not "skipped"
        other_process.upsert(parse_tenant({"tenant_id": A, "display_name": "new"}, where="test"))
        assert snapshot.get_with_health(A)[0].display_name == "new"
        # WHEN another process disables one THEN the worker sees it once the snapshot is 30 s old
        other_process.disable(ids[0])
        assert snapshot.get_with_health(ids[0])[0].enabled
        ticks.now += 30
        assert not snapshot.get_with_health(ids[0])[0].enabled
        # WHEN this process's own store disables one THEN the next lookup sees it at once
        store.disable(ids[1])
        assert not snapshot.get_with_health(ids[1])[0].enabled
        # AND a removed tenant is "not found" once the snapshot is renewed
        other_process.delete(ids[2])
        ticks.now += 30
        with pytest.raises(TenantNotFoundError):
            snapshot.get_with_health(ids[2])
        # AND health this worker records is what its next lookup returns
        snapshot.record_failure(ids[3], "not-consented", "mde-alerts: consent missing")
        assert snapshot.get_with_health(ids[3])[1].consecutive_failures == 1
    finally:
        table.delete_table()
