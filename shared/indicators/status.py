"""A job's status as the HTTP route and the CLI show it: progress, totals, and every tenant's outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from shared.domain.indicator import format_time
from shared.indicators.jobs import IndicatorJob
from shared.indicators.service import COUNTS, FINAL_STATUSES, TenantResult


def job_status(job: IndicatorJob, results: Sequence[TenantResult]) -> dict[str, Any]:
    """``complete`` once the fan-out ran and every tenant it found has a final result."""
    statuses = Counter(r.status for r in results)
    final = sum(n for status, n in statuses.items() if status in FINAL_STATUSES)
    planned = job.planned
    pending = max(0, planned - final) if planned is not None else None
    return {
        "jobId": job.job_id,
        "kind": job.label,
        "dryRun": job.dry_run,
        "createdAt": format_time(job.created_at),
        "requestedBy": job.requested_by,
        "tenants": job.selection.to_json(),
        "size": job.size,
        "complete": job.fanned_out and planned is not None and pending == 0,
        "progress": {"planned": planned, "finished": final, "pending": pending, "statuses": dict(statuses)},
        "totals": {name: sum(getattr(r, name) for r in results) for name in COUNTS},
        "results": [r.to_json() for r in sorted(results, key=lambda r: r.tenant_id)],
    }
