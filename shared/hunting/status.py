"""A hunt's status as the HTTP API and the CLI show it: the hunt's state, counts, and one line per tenant."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from shared.hunting.model import RUN_STATES, Hunt, TenantRun, hunt_state


def run_json(run: TenantRun) -> dict[str, Any]:
    body: dict[str, Any] = {"tenantId": run.tenant_id, "tenantName": run.tenant_name, "state": run.state}
    if run.state == "done":
        body["rows"] = run.rows
        body["truncated"] = bool(run.limit)
        if run.limit:
            body["limit"] = run.limit
    if run.state in ("failed", "skipped", "cancelled") or (run.message and not run.final):
        body["error"] = {"kind": run.error_kind or run.state, "message": run.message, "remedy": run.remedy}
    if run.state == "throttled" and run.retry_at is not None:
        body["retryAt"] = _iso(run.retry_at)
    return body


def hunt_json(hunt: Hunt, runs: list[TenantRun], *, base_path: str = "/api/hunts") -> dict[str, Any]:
    counts = Counter(run.state for run in runs)
    state = hunt_state(hunt, runs)
    return {
        "huntId": hunt.hunt_id,
        "state": state,
        "name": hunt.name or None,
        "query": hunt.query,
        "timespan": hunt.timespan,
        "requestedBy": hunt.requested_by,
        "createdAt": _iso(hunt.created_at),
        "scheduleId": hunt.schedule_id,
        "error": {"kind": "query-error", "message": hunt.query_error} if hunt.query_error else None,
        "tenants": {"total": len(runs), **{name: counts.get(name, 0) for name in RUN_STATES}},
        "rows": sum(run.rows for run in runs if run.state == "done"),
        "truncatedTenants": sum(1 for run in runs if run.state == "done" and run.limit),
        "results": f"{base_path}/{hunt.hunt_id}/results",
        "perTenant": [run_json(run) for run in runs],
    }


def summary_line(document: dict[str, Any]) -> str:
    """One line for a header or a terminal: ``done: 47 done, 3 failed; 4,700 rows``."""
    tenants = document["tenants"]
    parts = [f"{tenants[name]} {name}" for name in RUN_STATES if tenants.get(name)]
    return f"{document['state']}: {', '.join(parts) or 'no tenants'}; {document['rows']:,} rows"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None
