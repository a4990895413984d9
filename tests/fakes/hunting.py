"""In-memory fakes for the hunting ports: they behave like the Table, blob, queue and Graph adapters."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared.defender.graph_hunting import HuntColumn, HuntingAnswer
from shared.domain.envelope import EventItem
from shared.domain.errors import HuntNotFoundError, RelayError, TenantNotFoundError
from shared.domain.tenant import Tenant, TenantHealth
from shared.hunting.job import HuntJob
from shared.hunting.model import Hunt, TenantRun
from shared.hunting.runner import HuntDeps
from shared.hunting.schedules import SavedHunt
from tests.fakes.ingest import FakeClock

COLUMNS = (HuntColumn("Timestamp", "DateTime"), HuntColumn("DeviceName", "String"), HuntColumn("FileName", "String"))


def tenant_ids(count: int) -> list[str]:
    return [str(uuid.UUID(int=n + 1)) for n in range(count)]


class FakeHuntStore:
    def __init__(self) -> None:
        self.headers: dict[str, Hunt] = {}
        self.runs: dict[tuple[str, str], TenantRun] = {}
        self.version = 0
        self.writes = 0

    def _etag(self) -> str:
        self.version += 1
        return str(self.version)

    def put_runs(self, hunt_id: str, runs: Sequence[TenantRun]) -> None:
        for run in runs:
            self.runs[(hunt_id, run.tenant_id)] = replace(run, etag=self._etag())

    def create_header(self, hunt: Hunt) -> bool:
        if hunt.hunt_id in self.headers:
            return False
        self.headers[hunt.hunt_id] = hunt
        return True

    def get(self, hunt_id: str) -> Hunt:
        if hunt_id not in self.headers:
            raise HuntNotFoundError(hunt_id)
        return self.headers[hunt_id]

    def list_runs(self, hunt_id: str) -> list[TenantRun]:
        runs = [run for (h, _t), run in self.runs.items() if h == hunt_id]
        return sorted(runs, key=lambda r: (r.tenant_name.lower(), r.tenant_id))

    def get_run(self, hunt_id: str, tenant_id: str) -> TenantRun:
        if (hunt_id, tenant_id) not in self.runs:
            raise HuntNotFoundError(hunt_id)
        return self.runs[(hunt_id, tenant_id)]

    def update_run(self, run: TenantRun, *, guard_final: bool = True, **changes: Any) -> TenantRun | None:
        current = self.runs[(run.hunt_id, run.tenant_id)]
        if guard_final and current.final:
            return None
        self.writes += 1
        changed = replace(current, **changes, etag=self._etag())
        self.runs[(run.hunt_id, run.tenant_id)] = changed
        return changed

    def cancel_queued(self, hunt_id: str, message: str) -> int:
        queued = [run for run in self.list_runs(hunt_id) if run.state == "queued"]
        for run in queued:
            self.update_run(run, state="cancelled", error_kind="query-error", message=message)
        return len(queued)

    def update_hunt(self, hunt_id: str, **changes: Any) -> None:
        self.headers[hunt_id] = replace(self.headers[hunt_id], **changes)


class FakeResultStore:
    def __init__(self, *, chunk_rows: int = 2) -> None:
        self.blobs: dict[tuple[str, str, str, int], list[bytes]] = {}
        self.chunk_rows = chunk_rows
        self.fail_after_chunks: int | None = None  # a crash after N chunks of one write

    def write(self, hunt_id: str, tenant_id: str, attempt: str, lines: Iterable[bytes]) -> tuple[int, int]:
        buffered = list(lines)
        chunks = 0
        for start in range(0, len(buffered), self.chunk_rows):
            if self.fail_after_chunks is not None and chunks >= self.fail_after_chunks:
                self.fail_after_chunks = None
                raise RuntimeError("worker crashed while writing rows")
            self.blobs[(hunt_id, tenant_id, attempt, chunks)] = buffered[start : start + self.chunk_rows]
            chunks += 1
        return chunks, len(buffered)

    def read_chunk(self, hunt_id: str, tenant_id: str, attempt: str, chunk: int) -> list[bytes]:
        return list(self.blobs[(hunt_id, tenant_id, attempt, chunk)])

    def delete_attempt(self, hunt_id: str, tenant_id: str, attempt: str) -> None:
        for key in [k for k in self.blobs if k[:3] == (hunt_id, tenant_id, attempt)]:
            del self.blobs[key]


@dataclass
class FakeHuntingApi:
    """Rows per tenant; a tenant in ``errors`` raises its error (a callable: raised once per call it returns)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, RelayError | Callable[[], RelayError | None]] = field(default_factory=dict)
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    def run_query(self, tenant: Tenant, query: str, *, timespan: str | None = None) -> HuntingAnswer:
        self.calls.append((tenant.tenant_id, query, timespan))
        error = self.errors.get(tenant.tenant_id)
        if callable(error):
            error = error()
        if error is not None:
            raise error
        return HuntingAnswer(COLUMNS, [dict(row) for row in self.rows.get(tenant.tenant_id, [])])


class FakeTenants:
    def __init__(self, tenants: Iterable[Tenant] = (), health: dict[str, TenantHealth] | None = None) -> None:
        self.tenants = {t.tenant_id: t for t in tenants}
        self.health = health or {}

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]:
        if tenant_id not in self.tenants:
            raise TenantNotFoundError(tenant_id)
        return self.tenants[tenant_id], self.health.get(tenant_id, TenantHealth())

    def list_with_health(self) -> list[tuple[Tenant, TenantHealth]]:
        return [(t, self.health.get(t.tenant_id, TenantHealth())) for t in self.tenants.values()]


class FakeHuntQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[HuntJob, int]] = []
        self.fail_after: int | None = None  # a crash after N sends

    def send(self, job: HuntJob, *, delay_seconds: int = 0) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            self.fail_after = None
            raise RuntimeError("worker crashed while fanning out")
        self.sent.append((job, delay_seconds))

    def take(self) -> list[HuntJob]:
        jobs = [job for job, _delay in self.sent]
        self.sent.clear()
        return jobs


class FakeSink:
    name = "fake"

    def __init__(self) -> None:
        self.items: list[EventItem] = []
        self.feeds: list[str] = []

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        self.items.extend(items)
        self.feeds.append(feed)
        return 1


class FakeSeenRows:
    def __init__(self) -> None:
        self.sets: dict[tuple[str, str], tuple[dict[str, str], str]] = {}
        self.version = 0

    def load(self, schedule_id: str, tenant_id: str) -> tuple[dict[str, str], str | None]:
        stored = self.sets.get((schedule_id, tenant_id))
        return (dict(stored[0]), stored[1]) if stored else ({}, None)

    def save(self, schedule_id: str, tenant_id: str, seen: dict[str, str], etag: str | None) -> bool:
        current = self.sets.get((schedule_id, tenant_id))
        if (current[1] if current else None) != etag:
            return False
        self.version += 1
        self.sets[(schedule_id, tenant_id)] = (dict(seen), str(self.version))
        return True


class FakeSchedules:
    def __init__(self) -> None:
        self.saved: dict[str, SavedHunt] = {}

    def add(self, saved: SavedHunt) -> SavedHunt:
        self.saved[saved.schedule_id] = replace(saved, etag="1")
        return self.saved[saved.schedule_id]

    def get(self, schedule_id: str) -> SavedHunt:
        if schedule_id not in self.saved:
            raise HuntNotFoundError(schedule_id)
        return self.saved[schedule_id]

    def list(self) -> list[SavedHunt]:
        return list(self.saved.values())

    def remove(self, schedule_id: str) -> SavedHunt:
        return self.saved.pop(self.get(schedule_id).schedule_id)

    def mark_started(self, saved: SavedHunt, slot: datetime, hunt_id: str) -> bool:
        current = self.get(saved.schedule_id)
        if current.etag != saved.etag:
            return False
        etag = (current.etag or "") + "1"
        self.saved[saved.schedule_id] = replace(current, last_slot=slot, last_hunt_id=hunt_id, etag=etag)
        return True


@dataclass
class Hunting:
    """Everything a hunt needs, in memory, with a clock at ``T0``."""

    store: FakeHuntStore = field(default_factory=FakeHuntStore)
    results: FakeResultStore = field(default_factory=FakeResultStore)
    api: FakeHuntingApi = field(default_factory=FakeHuntingApi)
    tenants: FakeTenants = field(default_factory=FakeTenants)
    queue: FakeHuntQueue = field(default_factory=FakeHuntQueue)
    clock: FakeClock = field(default_factory=lambda: FakeClock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC)))

    def deps(self, **overrides: Any) -> HuntDeps:
        fields: dict[str, Any] = {
            "hunts": self.store, "results": self.results, "api": self.api, "tenants": self.tenants,
            "jobs": self.queue, "clock": self.clock,
        }  # fmt: skip
        fields.update(overrides)
        return HuntDeps(**fields)
