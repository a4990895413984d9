"""One ``hunt-jobs`` message: one tenant's run of a hunt, end to end (docs/hunting.md "The flow").

1. The hunt and the run are read; a run that already has an outcome is not run again (a job sent twice).
   A job whose hunt header is not written yet (the start sends the probe first) waits a moment and retries.
2. The tenant must still be in the registry and enabled (else ``skipped``).
3. ``runHuntingQuery`` for the tenant. A refused query (400 that is not a limit) on the probe fails the
   whole hunt with Microsoft's message and cancels every run not tried: one upstream call for a bad query.
4. Rows go to blob storage in chunks under a fresh attempt id, then the outcome is written under the run's
   ETag. Whoever writes first wins; a losing attempt deletes its chunks, so every row is stored once.
5. A saved hunt's rows are handed to the sinks as ``hunt-row`` events before the outcome is written (a
   failure in between retries the job: at-least-once, with a stable dedup key per row).
6. The probe, once final, queues the next probe (the tenant could not answer) or fans the hunt out.

What is retried: throttling (the job is handed back to the queue until ``Retry-After``), Graph or Entra ID
unavailable (raised, so the host retries; on the last dequeue the run is recorded ``failed`` instead, so
every tenant ends with an outcome). Consent, roles, licence and limits are outcomes, never retried.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.defender.graph_hunting import HuntingAnswer
from shared.domain.errors import (
    DefenderUnavailableError,
    HuntNotFoundError,
    HuntQueryError,
    RelayError,
    TenantNotFoundError,
    ThrottledError,
    TokenServiceError,
)
from shared.domain.tenant import Tenant
from shared.hunting.fanout import fan_out, next_probe
from shared.hunting.job import HuntJob, parse_hunt_job
from shared.hunting.model import Hunt, TenantRun
from shared.hunting.outcomes import ROW_CAP, failure_of, limit_note
from shared.hunting.ports import (
    HuntAudit,
    HuntingApi,
    HuntJobSender,
    HuntStore,
    NewRowDelivery,
    ResultStore,
    TenantLookup,
)
from shared.platform.queue_host import visibility_delay

logger = logging.getLogger("defender_relay.hunting")
HEADER_WAIT = timedelta(minutes=10)  # how long a job waits for a hunt header that a failed start never wrote
_SIDE = ThreadPoolExecutor(max_workers=16, thread_name_prefix="hunt-claim")  # writes made while a query runs


class HeaderCache:
    """Hunt headers this process read in the last ``seconds``: a thousand jobs of one hunt read it once.

    What a job takes from the header (query, timespan, saved hunt, who asked) never changes; what does change
    (``query_error``, ``fanned_out``) only matters to the probe, which reads it fresh (``after_probe``,
    ``_query_refused``). A job of a hunt that failed meanwhile can only be a duplicate, and its run is final.
    """

    def __init__(self, seconds: float = 10.0) -> None:
        self._seconds = seconds
        self._entries: dict[str, tuple[float, Hunt]] = {}
        self._lock = threading.Lock()

    def get(self, hunt_id: str, read: Callable[[str], Hunt]) -> Hunt:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(hunt_id)
        if cached is not None and now - cached[0] < self._seconds:
            return cached[1]
        hunt = read(hunt_id)
        with self._lock:
            if len(self._entries) > 1000:
                self._entries.clear()
            self._entries[hunt_id] = (now, hunt)
        return hunt


@dataclass(frozen=True)
class HuntDeps:
    hunts: HuntStore
    results: ResultStore
    api: HuntingApi
    tenants: TenantLookup
    jobs: HuntJobSender
    delivery: NewRowDelivery | None = None  # saved hunts: new rows to the sinks
    audit: HuntAudit | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    max_dequeue_count: int = 5  # host.json extensions.queues.maxDequeueCount
    max_probes: int = 5  # tenants that may fail before the query is proven and the hunt fans out anyway
    row_cap: int = ROW_CAP
    headers: HeaderCache = field(default_factory=HeaderCache)


@dataclass
class HuntJobResult:
    hunt_id: str
    tenant_id: str
    status: str  # done, failed, skipped, cancelled, throttled, retrying, duplicate, waiting, dropped
    rows: int = 0
    message: str = ""


def handle_hunt_message(body: str | bytes, *, deps: HuntDeps, dequeue_count: int = 1) -> HuntJobResult:
    """One message; a malformed one raises ``ValidationError`` (retried, then poison)."""
    job = parse_hunt_job(body)
    try:
        return run_hunt_job(job, deps=deps, dequeue_count=dequeue_count)
    except ThrottledError as exc:
        delay = visibility_delay(exc.retry_at, now=deps.clock())
        deps.jobs.send(job, delay_seconds=delay)
        logger.warning("hunt %s tenant %s throttled: job handed back for %d s", job.hunt_id, job.tenant_id, delay)
        return HuntJobResult(job.hunt_id, job.tenant_id, "throttled", message=exc.message)
    except Exception as exc:
        if dequeue_count >= deps.max_dequeue_count:
            _last_attempt(job, deps, exc)
        raise  # the host retries it, and after the last attempt moves it to hunt-jobs-poison


def _last_attempt(job: HuntJob, deps: HuntDeps, exc: Exception) -> None:
    """The message goes to poison: give its tenant an outcome first, so the hunt can still finish (best effort)."""
    reason = exc.message if isinstance(exc, RelayError) else f"{type(exc).__name__} (see the function log)"
    try:
        run = deps.hunts.get_run(job.hunt_id, job.tenant_id)
        deps.hunts.update_run(
            run, state="failed", error_kind="unavailable", message=f"every attempt failed: {reason}",
            remedy="transient: run the hunt again for this tenant", retry_at=None,
        )  # fmt: skip
        if job.probe:
            after_probe(job.hunt_id, deps)
    except Exception:  # storage is down too: the poisoned message is what the operator will see
        logger.exception(
            "hunt %s tenant %s: the last attempt's outcome could not be written", job.hunt_id, job.tenant_id
        )


def run_hunt_job(job: HuntJob, *, deps: HuntDeps, dequeue_count: int = 1) -> HuntJobResult:
    try:
        hunt = deps.hunts.get(job.hunt_id) if job.probe else deps.headers.get(job.hunt_id, deps.hunts.get)
        run = deps.hunts.get_run(job.hunt_id, job.tenant_id)
    except HuntNotFoundError:
        return _not_written_yet(job, deps)
    if run.final:
        if job.probe:
            after_probe(hunt.hunt_id, deps)
        return HuntJobResult(job.hunt_id, job.tenant_id, "duplicate", run.rows)
    if hunt.query_error:
        deps.hunts.update_run(run, state="cancelled", error_kind="query-error", message=hunt.query_error)
        return HuntJobResult(job.hunt_id, job.tenant_id, "cancelled")
    result = _run(job, hunt, run, deps, dequeue_count)
    if job.probe and result.status in ("done", "failed", "skipped"):
        after_probe(hunt.hunt_id, deps)
    return result


def _run(job: HuntJob, hunt: Hunt, run: TenantRun, deps: HuntDeps, dequeue_count: int) -> HuntJobResult:
    try:
        tenant = deps.tenants.get_with_health(run.tenant_id)[0]
    except TenantNotFoundError:
        tenant = None
    if tenant is None or not tenant.enabled:
        why = "the tenant is no longer in the registry" if tenant is None else "the tenant is disabled"
        deps.hunts.update_run(run, state="skipped", message=why)
        return HuntJobResult(job.hunt_id, job.tenant_id, "skipped", message=why)
    # "running" is written while the query runs: the write is off the tenant's critical path (one Table round
    # trip less per tenant in a 1,000-tenant fan-out, bench/results/hunting_bench.txt).
    claim = _SIDE.submit(deps.hunts.update_run, run, state="running", tries=run.tries + 1, retry_at=None)
    try:
        answer = deps.api.run_query(tenant, hunt.query, timespan=hunt.timespan)
    except RelayError as exc:
        claimed = claim.result()
        if claimed is None:
            return HuntJobResult(job.hunt_id, job.tenant_id, "duplicate")
        return _refused(job, hunt, claimed, exc, deps, dequeue_count=dequeue_count)
    claimed = claim.result()
    if claimed is None:  # another attempt finished this tenant meanwhile: its outcome stands
        return HuntJobResult(job.hunt_id, job.tenant_id, "duplicate")
    return _store(job, hunt, claimed, deps, tenant=tenant, answer=answer)


def _refused(
    job: HuntJob, hunt: Hunt, run: TenantRun, exc: RelayError, deps: HuntDeps, *, dequeue_count: int
) -> HuntJobResult:
    """What a refused or failed query means for the run: the hunt fails, the job retries, or an outcome."""
    if isinstance(exc, HuntQueryError):
        return _query_refused(job, hunt, run, exc, deps)
    if isinstance(exc, ThrottledError):
        deps.hunts.update_run(run, state="throttled", retry_at=exc.retry_at, message=exc.message)
        raise exc
    if isinstance(exc, TokenServiceError | DefenderUnavailableError) and dequeue_count < deps.max_dequeue_count:
        note = f"attempt {dequeue_count} of {deps.max_dequeue_count} failed ({exc.message}); retrying"
        deps.hunts.update_run(run, message=note)
        raise exc
    return _failed(job, hunt, run, exc, deps)  # consent, roles, licence, limits, retries used up: outcomes


def _store(
    job: HuntJob, hunt: Hunt, run: TenantRun, deps: HuntDeps, *, tenant: Tenant, answer: HuntingAnswer
) -> HuntJobResult:
    attempt = uuid.uuid4().hex[:12]
    chunks, rows = deps.results.write(hunt.hunt_id, tenant.tenant_id, attempt, _lines(tenant, answer.rows))
    if hunt.schedule_id and deps.delivery is not None:
        deps.delivery.deliver_new(hunt.schedule_id, tenant, answer.rows)
    done = deps.hunts.update_run(
        run, state="done", rows=rows, chunks=chunks, attempt=attempt, limit=limit_note(rows, deps.row_cap),
        columns=tuple((c.name, c.type) for c in answer.columns), error_kind="", message="", remedy="",
    )  # fmt: skip
    if done is None:  # another attempt at this tenant finished first: its rows are the ones that count
        deps.results.delete_attempt(hunt.hunt_id, tenant.tenant_id, attempt)
        return HuntJobResult(job.hunt_id, job.tenant_id, "duplicate")
    _audit(deps, hunt, tenant.tenant_id, "accepted", f"hunt {hunt.hunt_id}: {rows} row(s)")
    return HuntJobResult(job.hunt_id, job.tenant_id, "done", rows)


def _lines(tenant: Tenant, rows: Sequence[dict[str, Any]]) -> Iterator[bytes]:
    """Each row with the tenant's id and name in front (the merged result's first two columns)."""
    for row in rows:
        line = {"tenantId": tenant.tenant_id, "tenantName": tenant.display_name, **row}
        yield json.dumps(line, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _failed(job: HuntJob, hunt: Hunt, run: TenantRun, exc: RelayError, deps: HuntDeps) -> HuntJobResult:
    kind, message, remedy = failure_of(exc)
    deps.hunts.update_run(run, state="failed", error_kind=kind, message=message, remedy=remedy, retry_at=None)
    _audit(deps, hunt, run.tenant_id, "failed", f"hunt {hunt.hunt_id}: {kind}: {message}")
    return HuntJobResult(job.hunt_id, job.tenant_id, "failed", message=f"{kind}: {message}")


def _query_refused(job: HuntJob, hunt: Hunt, run: TenantRun, exc: HuntQueryError, deps: HuntDeps) -> HuntJobResult:
    """Before the query was proven anywhere, a refusal is the query's fault: the hunt fails, nobody else runs it."""
    if deps.hunts.get(hunt.hunt_id).fanned_out:
        return _failed(job, hunt, run, exc, deps)  # proven elsewhere: this tenant's own problem
    message = f"Microsoft Graph refused the query: {exc.message}"
    deps.hunts.update_hunt(hunt.hunt_id, query_error=message)
    remedy = "fix the query; no other tenant was asked"
    deps.hunts.update_run(run, state="failed", error_kind="query-error", message=message, remedy=remedy)
    cancelled = deps.hunts.cancel_queued(hunt.hunt_id, f"not run: {message}")
    _audit(deps, hunt, run.tenant_id, "rejected", f"hunt {hunt.hunt_id}: {message}")
    logger.warning("hunt %s: query refused in its first tenant; %d run(s) cancelled", hunt.hunt_id, cancelled)
    return HuntJobResult(job.hunt_id, job.tenant_id, "failed", message=message)


def after_probe(hunt_id: str, deps: HuntDeps) -> None:
    """The probe has its outcome: prove the query with the next tenant, or queue every other run."""
    hunt = deps.hunts.get(hunt_id)
    if hunt.fanned_out or hunt.query_error:
        return
    runs = deps.hunts.list_runs(hunt_id)
    proven = any(run.state == "done" for run in runs)
    failures = sum(1 for run in runs if run.state == "failed")
    candidate = next_probe(runs)
    if candidate is not None and not proven and failures < deps.max_probes:
        deps.jobs.send(HuntJob(hunt_id, candidate.tenant_id, probe=True, enqueued_at=deps.clock()))
        return
    fan_out(hunt_id, runs, deps.jobs, now=deps.clock())
    deps.hunts.update_hunt(hunt_id, fanned_out=True)


def _not_written_yet(job: HuntJob, deps: HuntDeps) -> HuntJobResult:
    now = deps.clock()
    if job.enqueued_at is not None and now - job.enqueued_at < HEADER_WAIT:
        deps.jobs.send(job, delay_seconds=2)
        return HuntJobResult(job.hunt_id, job.tenant_id, "waiting", message="the hunt is still being created")
    logger.warning("hunt %s: no such hunt (its start failed?); job for %s dropped", job.hunt_id, job.tenant_id)
    return HuntJobResult(job.hunt_id, job.tenant_id, "dropped", message="no such hunt")


def _audit(deps: HuntDeps, hunt: Hunt, tenant_id: str, outcome: str, detail: str) -> None:
    if deps.audit is None:
        return
    try:
        deps.audit.record(
            tenant_id, hunt_id=hunt.hunt_id, requested_by=hunt.requested_by, query=hunt.query, outcome=outcome,
            detail=detail, at=deps.clock(),
        )  # fmt: skip
    except Exception:  # the run's outcome is stored; a lost audit line must not rerun the query
        logger.exception("hunt %s tenant %s: audit record not written", hunt.hunt_id, tenant_id)
