"""``RegistrySnapshot``: the worker's periodically refreshed view of the tenant registry, one query every
``max_age`` instead of one read per job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.domain.tenant import SuccessScope, Tenant, TenantHealth, row_key
from shared.tenants.store import TenantStore


class RegistrySnapshot:
    """The worker's view of the registry: one query every ``max_age`` instead of one read per job.

    Every job needs its tenant's configuration and health; with a thousand tenants per sweep, reading
    the whole partition once (one round trip per 1,000 tenants) replaces a thousand point reads. A
    tenant missing from the snapshot is read directly, so one added a moment ago is never skipped.
    Disabling a tenant, or changing its feeds, reaches a worker process within ``max_age`` (at once
    when made through the same ``TenantStore``); a job that already started finishes. Health read
    here is at most ``max_age`` old: it only decides whether a success needs writing, and this
    process's own health writes update the snapshot.
    """

    def __init__(
        self,
        store: TenantStore,
        *,
        max_age: timedelta = timedelta(seconds=30),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._max_age = max_age.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[Tenant, TenantHealth]] = {}
        self._taken: tuple[float, int] | None = None  # (when, store generation) of the last full read

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]:
        key = row_key(tenant_id)
        with self._lock:
            if (
                self._taken is None
                or self._clock() - self._taken[0] >= self._max_age
                or (self._taken[1] != self._store.generation)
            ):
                generation = self._store.generation
                self._rows = {t.tenant_id: (t, h) for t, h in self._store.list_with_health()}
                self._taken = (self._clock(), generation)
            found = self._rows.get(key)
        if found is None:
            found = self._store.get_with_health(tenant_id)  # added since the snapshot, or not there at all
            with self._lock:
                self._rows[key] = found
        return found

    def record_success(
        self, tenant_id: str, *, now: datetime | None = None, scope: SuccessScope = "all"
    ) -> TenantHealth:
        return self._remember(tenant_id, self._store.record_success(tenant_id, now=now, scope=scope))

    def record_failure(
        self, tenant_id: str, kind: str, message: str, remedy: str = "", *, now: datetime | None = None
    ) -> TenantHealth:
        return self._remember(tenant_id, self._store.record_failure(tenant_id, kind, message, remedy, now=now))

    def _remember(self, tenant_id: str, health: TenantHealth) -> TenantHealth:
        key = row_key(tenant_id)
        with self._lock:
            if key in self._rows:
                self._rows[key] = (self._rows[key][0], health)
        return health
