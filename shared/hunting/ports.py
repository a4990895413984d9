"""What the hunting use case needs from the outside, as protocols; ``shared.bootstrap`` wires the real ones.

Adapters: ``shared.hunting.store.TableHuntStore``, ``shared.hunting.results.BlobResultStore``,
``shared.defender.graph_hunting.GraphHuntingClient``, the tenant registry, a ``hunt-jobs`` queue client,
the ingestion sinks and the audit table. Tests use the fakes in ``tests/fakes/hunting.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.defender.graph_hunting import HuntingAnswer
from shared.domain.envelope import EventItem
from shared.domain.tenant import Tenant, TenantHealth
from shared.hunting.job import HuntJob
from shared.hunting.model import Hunt, TenantRun


class HuntingApi(Protocol):
    def run_query(self, tenant: Tenant, query: str, *, timespan: str | None = None) -> HuntingAnswer: ...


class HuntStore(Protocol):
    def put_runs(self, hunt_id: str, runs: Sequence[TenantRun]) -> None: ...

    def create_header(self, hunt: Hunt) -> bool:
        """Create the hunt's header (what makes it exist); False when one with this id exists already."""
        ...

    def get(self, hunt_id: str) -> Hunt: ...

    def list_runs(self, hunt_id: str) -> list[TenantRun]: ...

    def get_run(self, hunt_id: str, tenant_id: str) -> TenantRun: ...

    def update_run(self, run: TenantRun, *, guard_final: bool = True, **changes: Any) -> TenantRun | None:
        """Merge ``changes`` into the run; None (nothing written) when ``guard_final`` and it is final already."""
        ...

    def cancel_queued(self, hunt_id: str, message: str) -> int: ...

    def update_hunt(self, hunt_id: str, **changes: Any) -> None: ...


class ResultStore(Protocol):
    def write(self, hunt_id: str, tenant_id: str, attempt: str, lines: Iterable[bytes]) -> tuple[int, int]:
        """Store NDJSON lines in chunks; returns (chunks, lines)."""
        ...

    def read_chunk(self, hunt_id: str, tenant_id: str, attempt: str, chunk: int) -> list[bytes]: ...

    def delete_attempt(self, hunt_id: str, tenant_id: str, attempt: str) -> None: ...


class TenantDirectory(Protocol):
    """The registry as a hunt's start sees it (``shared.tenants.store.TenantStore``)."""

    def list_with_health(self) -> list[tuple[Tenant, TenantHealth]]: ...


class TenantLookup(Protocol):
    """The registry as a job sees it (``shared.tenants.snapshot.RegistrySnapshot``: one read per 30 s)."""

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]: ...


class HuntJobSender(Protocol):
    def send(self, job: HuntJob, *, delay_seconds: int = 0) -> None: ...


class RowSink(Protocol):
    """An ingestion sink (``shared.ingest.sinks.base.Sink``) as the schedules' delivery sees it."""

    name: str

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int: ...


class SeenRows(Protocol):
    """The row hashes a saved hunt has delivered per tenant (what makes its next run deliver only new rows)."""

    def load(self, schedule_id: str, tenant_id: str) -> tuple[dict[str, str], str | None]: ...

    def save(self, schedule_id: str, tenant_id: str, seen: dict[str, str], etag: str | None) -> bool:
        """Write if unchanged since ``etag`` was read; False when another run wrote it meanwhile."""
        ...


class HuntAudit(Protocol):
    """The audit trail (``shared.actions.audit.HuntAuditTrail``): who hunted what, in which tenant, and how it went."""

    def record(
        self, tenant_id: str, *, hunt_id: str, requested_by: str, query: str, outcome: str, detail: str, at: datetime
    ) -> None: ...


class NewRowDelivery(Protocol):
    """Hands a saved hunt's rows that no earlier run delivered to the sinks (``shared.hunting.delivery``)."""

    def deliver_new(self, schedule_id: str, tenant: Tenant, rows: Sequence[dict[str, Any]]) -> int: ...
