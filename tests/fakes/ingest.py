"""In-memory fakes for the worker's ports (fakes over mocks: they behave like the real adapters)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.checkpoint import Checkpoint, Claim
from shared.domain.envelope import EventItem
from shared.domain.errors import DeliveryError, LeaseHeldError, TenantNotFoundError
from shared.domain.job import Job, format_time, parse_time
from shared.domain.tenant import SuccessScope, Tenant, TenantHealth, success_clears
from shared.domain.windows import ChangePage
from shared.ingest.runner import ChangeSource, IngestDeps, IngestOptions

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TENANT = "11111111-2222-3333-4444-555555555555"


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeChangeSource:
    """Alerts per tenant; pages by $top/$skip over a sorted snapshot of ``[since, until)``.

    Each page is complete up to its last item's time (the next page may still hold more of that instant),
    the last one up to ``until``: the contract of ``ChangeSource`` without the real client's windows
    (those are tested over a fake transport in tests/unit/test_change_paging.py).
    """

    def __init__(self) -> None:
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.calls = 0
        self.fail_on_call: dict[int, Exception] = {}
        self.throttles = 0

    def put(self, tenant_id: str, item_id: str, when: datetime, **extra: Any) -> dict[str, Any]:
        item = {"id": item_id, "lastUpdateTime": format_time(when), **extra}
        self.items.setdefault(tenant_id, []).append(item)
        return item

    def iter_changes(
        self, tenant: Tenant, feed: str, since: datetime, until: datetime, *, page_size: int
    ) -> Iterator[ChangePage]:
        window = [i for i in self.items.get(tenant.tenant_id, []) if since <= parse_time(i["lastUpdateTime"]) < until]
        window.sort(key=lambda i: parse_time(i["lastUpdateTime"]))
        skip = 0
        while True:
            self.calls += 1
            if self.calls in self.fail_on_call:
                raise self.fail_on_call[self.calls]
            page = window[skip : skip + page_size]
            if len(page) < page_size:
                yield ChangePage(page, until)
                return
            yield ChangePage(page, parse_time(page[-1]["lastUpdateTime"]))
            skip += page_size

    def throttle_count(self) -> int:
        return self.throttles


class FakeCheckpoints:
    """Checkpoints and their leases, one row per (tenant, feed), with ETags like the Table store."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.rows: dict[tuple[str, str], Claim] = {}  # owner "" = free
        self.writes = 0
        self.saves = 0  # writes that moved a cursor (save, or release with a checkpoint)
        self.renewals = 0  # heartbeats: the lease extended, nothing else written
        self.fail_next_save: Exception | None = None

    @property
    def held(self) -> dict[tuple[str, str], str]:
        return {key: row.owner for key, row in self.rows.items() if row.owner and row.expires_at > self.clock()}

    def get(self, tenant_id: str, feed: str) -> Checkpoint:
        row = self.rows.get((tenant_id, feed))
        return row.checkpoint if row else Checkpoint(tenant_id=tenant_id, feed=feed)

    def claim(self, tenant_id: str, feed: str, *, owner: str, duration: timedelta) -> Claim:
        row = self.rows.get((tenant_id, feed))
        if row and row.owner and row.owner != owner and row.expires_at > self.clock():
            raise LeaseHeldError(
                f"tenant {tenant_id} feed {feed} is being processed by another worker",
                holder=row.owner,
                held_until=row.expires_at,
            )
        checkpoint = row.checkpoint if row else Checkpoint(tenant_id=tenant_id, feed=feed)
        return self._write(Claim(checkpoint, owner, self.clock() + duration, etag=""))

    def renew(self, claim: Claim, *, duration: timedelta) -> Claim:
        self._check(claim, moves_cursor=False)
        self.renewals += 1
        return self._write(Claim(claim.checkpoint, claim.owner, self.clock() + duration, etag=""))

    def save(self, claim: Claim, checkpoint: Checkpoint, *, duration: timedelta) -> Claim:
        self._check(claim, moves_cursor=True)
        return self._write(Claim(checkpoint, claim.owner, self.clock() + duration, etag=""))

    def release(self, claim: Claim, checkpoint: Checkpoint | None = None) -> None:
        try:
            self._check(claim, moves_cursor=checkpoint is not None)
        except LeaseHeldError:
            if checkpoint is not None:
                raise
            return
        self._write(Claim(checkpoint or claim.checkpoint, "", self.clock(), etag=""))

    def _check(self, claim: Claim, *, moves_cursor: bool) -> None:
        if moves_cursor and self.fail_next_save is not None:
            error, self.fail_next_save = self.fail_next_save, None
            raise error
        row = self.rows.get((claim.tenant_id, claim.feed))
        if row is None or row.etag != claim.etag:
            raise LeaseHeldError("lease taken over")
        if moves_cursor:
            self.saves += 1

    def _write(self, row: Claim) -> Claim:
        self.writes += 1
        row = replace(row, etag=str(self.writes))
        self.rows[(row.tenant_id, row.feed)] = row
        return row


@dataclass
class FakeTenants:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    successes: list[str] = field(default_factory=list)
    health: dict[str, TenantHealth] = field(default_factory=dict)

    def add(self, tenant_id: str = TENANT, **kwargs: Any) -> Tenant:
        tenant = Tenant(tenant_id=tenant_id, display_name=kwargs.pop("display_name", "Contoso"), **kwargs)
        self.tenants[tenant_id] = tenant
        return tenant

    def get(self, tenant_id: str) -> Tenant:
        if tenant_id not in self.tenants:
            raise TenantNotFoundError(tenant_id)
        return self.tenants[tenant_id]

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]:
        return self.get(tenant_id), self.health.get(tenant_id, TenantHealth())

    def get_health(self, tenant_id: str) -> TenantHealth:
        return self.get_with_health(tenant_id)[1]

    def list_with_health(self) -> list[tuple[Tenant, TenantHealth]]:
        return [(t, self.health.get(t.tenant_id, TenantHealth())) for t in self.tenants.values()]

    def list(self, *, enabled_only: bool = False) -> list[Tenant]:
        return [t for t in self.tenants.values() if t.enabled or not enabled_only]

    def upsert(self, tenant: Tenant) -> None:
        self.tenants[tenant.tenant_id] = tenant

    def record_success(
        self, tenant_id: str, *, now: datetime | None = None, scope: SuccessScope = "all"
    ) -> TenantHealth:
        self.successes.append(tenant_id)
        before = self.health.get(tenant_id, TenantHealth())
        if success_clears(before.last_error_scope, scope):
            after = replace(before, last_success=now, last_check=now, consecutive_failures=0, last_error_scope=None)
        else:
            after = replace(before, last_success=now)
        self.health[tenant_id] = after
        return after

    def record_failure(
        self,
        tenant_id: str,
        kind: str,
        message: str,
        remedy: str = "",
        *,
        now: datetime | None = None,
        scope: str | None = None,
    ) -> TenantHealth:
        self.failures.append((tenant_id, kind, message, remedy))
        before = self.health.get(tenant_id, TenantHealth())
        self.health[tenant_id] = replace(
            before,
            last_error_scope=scope,
            last_error_kind=kind,
            last_error_message=message,
            last_error_remedy=remedy or None,
            consecutive_failures=before.consecutive_failures + 1,
            last_check=now,
        )
        return self.health[tenant_id]


class FakeSink:
    name = "fake"

    def __init__(self) -> None:
        self.items: list[EventItem] = []
        self.fail_next: int = 0

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        if self.fail_next:
            self.fail_next -= 1
            raise DeliveryError("sink is down")
        self.items.extend(items)
        return 1

    @property
    def keys(self) -> list[str]:
        return [item.dedup_key for item in self.items]


class FakeJobQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[Job, int]] = []

    def send(self, job: Job, *, delay_seconds: int = 0) -> None:
        self.sent.append((job, delay_seconds))


class IngestHarness:
    """The worker's use case wired to these fakes: one tenant (``TENANT``, with ``feeds``), a clock, a source,
    a sink."""

    def __init__(self, options: IngestOptions, *, feeds: frozenset[str] = frozenset({"mde-alerts"})) -> None:
        self.clock = FakeClock()
        self.source = FakeChangeSource()
        self.checkpoints = FakeCheckpoints(self.clock)
        self.tenants = FakeTenants()
        self.tenants.add(feeds=feeds)
        self.sink = FakeSink()
        self.options = options

    def deps(self, owner: str = "worker-1", *, source: ChangeSource | None = None) -> IngestDeps:
        return IngestDeps(
            tenants=self.tenants, source=source or self.source, checkpoints=self.checkpoints, sinks=[self.sink],
            owner=owner, options=self.options, clock=self.clock,
        )  # fmt: skip
