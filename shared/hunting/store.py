"""``TableHuntStore``: hunts and their per-tenant runs in Table storage, table ``hunts``.

One partition per hunt (PartitionKey = hunt id): the header (RowKey ``hunt``) and one run per tenant
(RowKey = tenant id), so a hunt's whole status is one partition query and its runs are written in batches
of 100 (Entity Group Transactions take at most 100 operations of one partition). A run is changed under
its ETag, so two workers finishing the same tenant (a job sent twice) never both win: the first outcome
stands and the other attempt's rows are deleted (``shared.hunting.runner``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.errors import HuntNotFoundError
from shared.hunting.model import RUN_STATES, Hunt, RunState, TenantRun

TABLE: Final = "hunts"
HEADER: Final = "hunt"
_BATCH: Final = 100
_RETRIES: Final = 8  # ETag races only happen between duplicate jobs of one tenant
_RUN_FIELDS: Final = frozenset(TenantRun.__dataclass_fields__) - {"hunt_id", "tenant_id", "etag"}


class TableHuntStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def put_runs(self, hunt_id: str, runs: Sequence[TenantRun]) -> None:
        """Write the runs of a new hunt (upserts: a retried start writes the same runs again)."""
        for start in range(0, len(runs), _BATCH):
            operations: list[Any] = [
                ("upsert", _run_entity(run), {"mode": UpdateMode.REPLACE}) for run in runs[start : start + _BATCH]
            ]
            self._table.submit_transaction(operations)

    def create_header(self, hunt: Hunt) -> bool:
        try:
            self._table.create_entity(_header_entity(hunt))
        except ResourceExistsError:
            return False
        return True

    def get(self, hunt_id: str) -> Hunt:
        try:
            entity = self._table.get_entity(hunt_id, HEADER)
        except ResourceNotFoundError:
            raise HuntNotFoundError(hunt_id) from None
        return _hunt(entity)

    def list_runs(self, hunt_id: str) -> list[TenantRun]:
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ne @header", parameters={"pk": hunt_id, "header": HEADER}
        )
        return sorted((_run(e) for e in rows), key=lambda r: (r.tenant_name.lower(), r.tenant_id))

    def get_run(self, hunt_id: str, tenant_id: str) -> TenantRun:
        try:
            return _run(self._table.get_entity(hunt_id, tenant_id))
        except ResourceNotFoundError:
            raise HuntNotFoundError(hunt_id, f"hunt {hunt_id} has no run for tenant {tenant_id}") from None

    def update_run(self, run: TenantRun, *, guard_final: bool = True, **changes: Any) -> TenantRun | None:
        """Merge ``changes`` under the run's ETag. The caller's copy is tried first (no read when nobody else wrote
        since); after a conflict the run is read again, and a run that became final meanwhile is left alone."""
        unknown = set(changes) - _RUN_FIELDS
        if unknown:
            raise ValueError(f"not fields of a run: {sorted(unknown)}")
        changes.setdefault("updated_at", datetime.now(UTC))
        current: TenantRun | None = run if run.etag and not (guard_final and run.final) else None
        for _ in range(_RETRIES):
            if current is None:
                current = self.get_run(run.hunt_id, run.tenant_id)
                if guard_final and current.final:
                    return None
            entity = {"PartitionKey": run.hunt_id, "RowKey": run.tenant_id, **_encode(changes)}
            try:
                meta = self._table.update_entity(
                    entity, mode=UpdateMode.MERGE, etag=current.etag, match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError:
                current = None
                continue
            return replace(current, **changes, etag=str(meta.get("etag") or ""))
        raise ResourceModifiedError(f"run {run.hunt_id}/{run.tenant_id} kept changing under us")

    def cancel_queued(self, hunt_id: str, message: str) -> int:
        queued = [r for r in self.list_runs(hunt_id) if r.state == "queued"]
        now = datetime.now(UTC)
        change = {"state": "cancelled", "error_kind": "query-error", "message": message, "updated_at": now}
        for start in range(0, len(queued), _BATCH):
            operations: list[Any] = [
                ("update", {"PartitionKey": hunt_id, "RowKey": r.tenant_id, **change}, {"mode": UpdateMode.MERGE})
                for r in queued[start : start + _BATCH]
            ]
            self._table.submit_transaction(operations)
        return len(queued)

    def update_hunt(self, hunt_id: str, **changes: Any) -> None:
        self._table.update_entity({"PartitionKey": hunt_id, "RowKey": HEADER, **changes}, mode=UpdateMode.MERGE)


def _header_entity(hunt: Hunt) -> dict[str, Any]:
    return {
        "PartitionKey": hunt.hunt_id, "RowKey": HEADER, "query": hunt.query, "timespan": hunt.timespan or "",
        "requested_by": hunt.requested_by, "created_at": hunt.created_at, "tenant_count": hunt.tenant_count,
        "schedule_id": hunt.schedule_id or "", "name": hunt.name, "fanned_out": hunt.fanned_out,
        "query_error": hunt.query_error,
    }  # fmt: skip


def _hunt(entity: Mapping[str, Any]) -> Hunt:
    return Hunt(
        hunt_id=str(entity["PartitionKey"]),
        query=str(entity.get("query", "")),
        timespan=str(entity.get("timespan") or "") or None,
        requested_by=str(entity.get("requested_by", "")),
        created_at=_utc(entity.get("created_at")) or datetime.now(UTC),
        tenant_count=int(entity.get("tenant_count", 0)),
        schedule_id=str(entity.get("schedule_id") or "") or None,
        name=str(entity.get("name", "")),
        fanned_out=bool(entity.get("fanned_out", False)),
        query_error=str(entity.get("query_error", "")),
    )


def _run_entity(run: TenantRun) -> dict[str, Any]:
    fields = {name: getattr(run, name) for name in _RUN_FIELDS}
    return {"PartitionKey": run.hunt_id, "RowKey": run.tenant_id, **_encode(fields)}


def _encode(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Table properties: columns as JSON text, no None (an absent property reads back as the default)."""
    encoded: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "columns":
            encoded[name] = json.dumps([list(c) for c in value], separators=(",", ":"))
        elif value is None:
            encoded[name] = datetime(1970, 1, 1, tzinfo=UTC) if name in ("retry_at", "updated_at") else ""
        else:
            encoded[name] = value
    return encoded


def _run(entity: Mapping[str, Any]) -> TenantRun:
    state = str(entity.get("state", "queued"))
    columns = json.loads(entity.get("columns") or "[]")
    return TenantRun(
        hunt_id=str(entity["PartitionKey"]),
        tenant_id=str(entity["RowKey"]),
        tenant_name=str(entity.get("tenant_name", "")),
        rank=int(entity.get("rank", 0)),
        state=state if state in RUN_STATES else "queued",
        rows=int(entity.get("rows", 0)),
        chunks=int(entity.get("chunks", 0)),
        attempt=str(entity.get("attempt", "")),
        columns=tuple((str(n), str(t)) for n, t in columns),
        limit=str(entity.get("limit", "")),
        error_kind=str(entity.get("error_kind", "")),
        message=str(entity.get("message", "")),
        remedy=str(entity.get("remedy", "")),
        retry_at=_utc(entity.get("retry_at")),
        updated_at=_utc(entity.get("updated_at")),
        tries=int(entity.get("tries", 0)),
        etag=str(getattr(entity, "metadata", {}).get("etag") or "") or None,
    )


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime) or value.year <= 1970:
        return None
    return value.astimezone(UTC)


__all__ = ["TABLE", "RunState", "TableHuntStore"]
