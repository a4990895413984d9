"""Many alerts of one tenant in one request (a playbook closing an incident's 30 alerts): each alert gets its
own result, in the order given.

Alerts are written one after the other through the same transport as every other call, so the per-tenant
Graph limit (``RELAY_GRAPH_CALLS_PER_MINUTE``, shared/defender/rate_limit.py) holds: short waits are slept,
a long one stops the batch. An alert that fails on its own (404 unknown id, 403, a value Graph refuses) is
reported and the next one goes on. What stops the batch is what would fail every later alert too: throttling
past the in-place wait, the service unavailable, no usable token. The alerts not reached are reported
``skipped`` with that reason, and when it happens before anything was written the request fails as a whole
(so an ``Idempotency-Key`` retry runs again). Input is checked in full before the first call: a bad value
writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.domain.errors import AuthError, DefenderUnavailableError, RelayError, ThrottledError
from shared.domain.tenant import Tenant
from shared.triage.fields import Changes
from shared.triage.service import TriageNote, TriageService

Outcome = Literal["updated", "unchanged", "failed", "skipped"]
# Errors that would fail every later alert of the batch as well.
_STOPS_BATCH = (AuthError, ThrottledError, DefenderUnavailableError)


@dataclass(frozen=True)
class BatchRequest:
    alert_ids: tuple[str, ...]
    changes: Changes | None
    comment: str | None


@dataclass
class ItemResult:
    id: str
    outcome: Outcome = "skipped"
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    commented: bool = False
    error: RelayError | None = None


def update_alerts(service: TriageService, tenant: Tenant, batch: BatchRequest, *, note: TriageNote) -> list[ItemResult]:
    """One result per alert of ``batch``; raises only when nothing was written yet and the batch cannot go on."""
    note.target = f"{len(batch.alert_ids)} alert(s)"
    results = [ItemResult(alert_id) for alert_id in batch.alert_ids]
    for index, result in enumerate(results):
        try:
            _one(service, tenant, batch, result, note)
        except _STOPS_BATCH as exc:
            if not any(r.outcome == "updated" or r.commented for r in results[: index + 1]):
                raise
            result.outcome, result.error = "failed", exc
            for later in results[index + 1 :]:
                later.error = exc
                note.changes.append({"id": later.id, "outcome": "skipped"})
            break
        except RelayError as exc:
            result.outcome, result.error = "failed", exc
            note.changes.append({"id": result.id, "outcome": "failed"})
    return results


def _one(service: TriageService, tenant: Tenant, batch: BatchRequest, result: ItemResult, note: TriageNote) -> None:
    if batch.changes is not None:
        update = service.update(tenant, "alert", result.id, batch.changes, note=note)
        result.changes = update.changes
        result.outcome = "updated" if update.changes else "unchanged"
    if batch.comment is not None:
        service.comment(tenant, "alert", result.id, batch.comment, note=note)
        result.commented = True
        if batch.changes is None:
            result.outcome = "updated"


def counts(results: Sequence[ItemResult]) -> dict[str, int]:
    tally = {"updated": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    for result in results:
        tally[result.outcome] += 1
    return tally
