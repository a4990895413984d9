"""The worker's use case: one tenant job end to end (docs/contracts.md §2, docs/ingestion.md "The flow").

1. The tenant must be in the registry and enabled (else: logged, completed, not retried).
2. A short per-(tenant, feed) lease in the checkpoint entity, renewed by a heartbeat while the job runs
   (``shared.ingest.lease``), keeps two workers off one cursor. Held by another process: ``lease_until``
   says until when (``shared.ingest.worker`` hands the job back). The release is the cursor's write.
3. Read ``[cursor - overlap, now - settle]`` in windows that are complete whatever order the service
   answers in (``shared.domain.windows``); a first run starts ``RELAY_INITIAL_LOOKBACK_HOURS`` back. The
   overlap re-reads late writes. The cursor moves only as far as the windows read completely.
4. Drop versions already delivered: the checkpoint keeps the ``(id, change time)`` keys seen inside
   the overlap window, so ties and late writes are neither lost nor repeated; right after a migration
   also the versions the retired feed delivered (``Checkpoint.handover``).
5. Deliver each page to every sink, *then* move the checkpoint. A failure in between means the job is
   retried and the page delivered again with the same dedup keys (at-least-once).
6. Record the tenant's health and log one summary line (never a token or secret). A success that
   changes nothing (no failure to clear, ``last_success`` younger than ``health_refresh``) is not
   written: the health a user reads stays right to within ``health_refresh``, and a failure or a
   recovery is written at once (docs/ingestion.md "Health").

Pages are streamed: only the current page and the keys of the overlap window are in memory, and the
checkpoint advances after each delivered page, so a 100,000-alert backfill runs in flat memory and a
crash loses at most one page of progress. Each page's checkpoint is saved when the next page has
arrived, so a normal run (one page) writes the checkpoint once; when a run ends in an error (a throttle
hand-back, a failing later page) the delivered page's progress is saved first, so only a crash repeats it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from shared.domain.checkpoint import Checkpoint, SeenKey
from shared.domain.errors import (
    AuthError,
    DefenderForbiddenError,
    LeaseHeldError,
    RelayError,
    TenantNotFoundError,
    ThrottledError,
    TokenServiceError,
)
from shared.domain.job import Feed, Job
from shared.domain.tenant import SuccessScope, Tenant, TenantHealth, success_clears
from shared.domain.windows import ChangePage
from shared.ingest.checkpoint_table import CheckpointStore
from shared.ingest.lease import LeaseKeeper
from shared.ingest.sinks.base import Sink
from shared.ingest.versions import new_versions

logger = logging.getLogger("defender_relay.ingest")

Status = Literal["ok", "skipped", "lease-held", "auth-failed", "throttled", "failed"]


class ChangeSource(Protocol):
    """Everything of one feed changed in ``[since, until)``, a page at a time, in any order within a page.

    Each page says how far the read is complete (``ChangePage.complete_until``): every version changed
    before it has been handed over. The last page carries the final mark (``until`` when the read got
    through); a read that finds nothing yields one empty page.
    """

    def iter_changes(
        self, tenant: Tenant, feed: Feed, since: datetime, until: datetime, *, page_size: int
    ) -> Iterator[ChangePage]: ...

    def throttle_count(self) -> int:
        """429s seen so far by the calling thread (the summary line reports the difference per job)."""
        ...


class TenantDirectory(Protocol):
    """The part of ``shared.tenants.store.TenantStore`` the worker uses."""

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]:
        """The tenant and its recorded health (one read), or ``TenantNotFoundError``."""
        ...

    def record_success(
        self, tenant_id: str, *, now: datetime | None = None, scope: SuccessScope = "all"
    ) -> TenantHealth: ...

    def record_failure(
        self, tenant_id: str, kind: str, message: str, remedy: str = "", *, now: datetime | None = None
    ) -> TenantHealth: ...


@dataclass(frozen=True)
class IngestOptions:
    overlap: timedelta = timedelta(seconds=600)
    settle: timedelta = timedelta(seconds=30)
    initial_lookback: timedelta = timedelta(hours=24)
    page_size: int = 1000
    lease_duration: timedelta = timedelta(seconds=60)
    heartbeat: timedelta | None = None  # how often a running job renews its lease; None: a third of it
    # A healthy tenant's last_success/last_check are rewritten at most this often (saves two Table
    # round trips per job); any change of state is written at once.
    health_refresh: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class IngestDeps:
    tenants: TenantDirectory
    source: ChangeSource
    checkpoints: CheckpointStore  # cursors and the per-(tenant, feed) leases
    sinks: Sequence[Sink]
    owner: str  # this worker process's id; each job's lease owner is derived from it
    options: IngestOptions = field(default_factory=IngestOptions)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class JobResult:
    tenant_id: str
    feed: str
    status: Status = "ok"
    pages: int = 0
    items: int = 0
    delivered: int = 0
    repeats: int = 0
    throttles: int = 0
    duration_ms: int = 0
    message: str = ""
    # Wall-clock seconds from just after the claim to just before the release: inside the time the lease was held.
    leased: tuple[float, float] | None = None
    # lease-held by another process: when that lease ends (the worker hands the job back until then).
    lease_until: datetime | None = None


def run_job(job: Job, *, deps: IngestDeps) -> JobResult:
    """Process one job. Raises (so the message is retried) only for failures worth retrying."""
    started = time.monotonic()
    result = JobResult(tenant_id=job.tenant_id, feed=job.feed)
    throttles_before = deps.source.throttle_count()
    try:
        _run(job, deps, result)
    except ThrottledError:
        result.status = "throttled"
        raise
    except Exception as exc:
        # Retried by the queue; the summary says why without the details a library may put in str(exc).
        result.status = "failed"
        result.message = exc.message if isinstance(exc, RelayError) else type(exc).__name__
        raise
    finally:
        result.throttles = deps.source.throttle_count() - throttles_before
        result.duration_ms = int((time.monotonic() - started) * 1000)
        _log_summary(result)
    return result


def _run(job: Job, deps: IngestDeps, result: JobResult) -> None:
    try:
        tenant, health = deps.tenants.get_with_health(job.tenant_id)
    except TenantNotFoundError as exc:
        result.status, result.message = "skipped", exc.message
        return
    if not tenant.enabled or job.feed not in tenant.feeds:
        result.status = "skipped"
        result.message = (
            "tenant is disabled" if not tenant.enabled else f"feed {job.feed} is not enabled for the tenant"
        )
        return
    lease = _claim(job, deps, result)
    if lease is None:
        return
    run = _Held(lease)
    leased_at = time.time()
    try:
        final, run.pending = _ingest(job, tenant, deps, run, result), None  # ``final`` includes the pending page
        result.leased = (leased_at, time.time())  # taken before the release: another worker may claim right after
        run.lease.release(final)  # the new cursor and the freed lease: one write
        run.released = True
        _record_success(job, deps, health)
    except TokenServiceError:
        raise  # Entra ID unavailable: transient, let the queue retry
    except (AuthError, DefenderForbiddenError) as exc:
        # Consent, roles, credential or cloud problems do not heal by retrying: record and complete.
        result.status, result.message = "auth-failed", exc.message
        remedy = getattr(exc, "remedy", "")
        deps.tenants.record_failure(job.tenant_id, exc.kind, f"{job.feed}: {exc.message}", remedy, now=deps.clock())
        return
    finally:
        if not run.released:
            result.leased = (leased_at, time.time())
            _release_quietly(run)


def _claim(job: Job, deps: IngestDeps, result: JobResult) -> LeaseKeeper | None:
    """The feed's lease, kept alive by its heartbeat from now on; None when another job holds it."""
    opts = deps.options
    # One owner id per job, not per process: two threads of one worker must exclude each other too.
    owner = f"{deps.owner}/{uuid.uuid4().hex[:12]}"
    try:
        claim = deps.checkpoints.claim(job.tenant_id, job.feed, owner=owner, duration=opts.lease_duration)
    except LeaseHeldError as exc:
        result.status, result.message = "lease-held", exc.message
        # A holder in this process is running (it is us); one elsewhere may have died: say when its lease ends.
        result.lease_until = None if exc.holder.startswith(f"{deps.owner}/") else exc.held_until
        return None
    keeper = LeaseKeeper(deps.checkpoints, claim, duration=opts.lease_duration, interval=opts.heartbeat)
    return keeper.start()


@dataclass
class _Held:
    """The lease a job holds (kept alive by its heartbeat) and the delivered page whose progress is not saved yet."""

    lease: LeaseKeeper
    pending: Checkpoint | None = None
    released: bool = False


def _ingest(job: Job, tenant: Tenant, deps: IngestDeps, run: _Held, result: JobResult) -> Checkpoint:
    """Deliver every page of the window; return the checkpoint to save when the lease is released."""
    opts = deps.options
    checkpoint = run.lease.claim.checkpoint
    now = deps.clock()
    until = now - opts.settle if job.until is None else min(now - opts.settle, job.until)
    since = _window_start(job, checkpoint, now, opts)
    seen: set[SeenKey] = set(checkpoint.seen)
    complete = since  # how far the read is complete: the cursor never moves past it
    for page in deps.source.iter_changes(tenant, job.feed, since, until, page_size=opts.page_size):
        if run.pending is not None:  # a further page arrived: the previous one was not the last, save its progress
            checkpoint, run.pending = run.lease.save(run.pending).checkpoint, None
        result.pages += 1
        result.items += len(page.items)
        fresh, repeats = new_versions(job, page.items, seen=seen, handover=checkpoint.handover)
        result.repeats += repeats
        if fresh:
            for sink in deps.sinks:
                sink.deliver(job.tenant_id, job.feed, fresh)
        result.delivered += len(fresh)
        complete = max(complete, min(page.complete_until, until))
        if fresh or checkpoint.cursor is None or complete > checkpoint.cursor:
            # Also when only keys were added (a late write behind the cursor): a retry then drops them.
            run.pending = checkpoint.advanced(_cursor(checkpoint, complete), seen, overlap=opts.overlap)
            seen = set(run.pending.seen)  # keys older than the window cannot come back: keep memory flat
        else:
            run.pending = None
    return checkpoint.advanced(_cursor(checkpoint, complete), seen, overlap=opts.overlap)


def _cursor(checkpoint: Checkpoint, complete: datetime) -> datetime:
    """Where the cursor stands once the read is complete up to ``complete``: it never moves back."""
    return complete if checkpoint.cursor is None else max(complete, checkpoint.cursor)


def _release_quietly(run: _Held) -> None:
    """Free the lease after a failed run, saving the delivered page's progress in the same write.

    Whatever ended the run (a throttle hand-back, Defender or a sink failing on a later page), the
    pending page was delivered: keeping its progress means the retry does not deliver it again.
    """
    try:
        run.lease.release(run.pending)
    except Exception:  # the original error is what the retry must see; this write only spares repeats
        claim = run.lease.claim
        logger.warning("tenant %s feed %s: progress not saved before the retry", claim.tenant_id, claim.feed)


def _record_success(job: Job, deps: IngestDeps, health: TenantHealth) -> None:
    now = deps.clock()
    last = health.last_success
    recent = last is not None and timedelta(0) <= now - last < deps.options.health_refresh
    nothing_to_clear = health.consecutive_failures == 0 or not success_clears(health.last_error_scope, "feeds")
    if nothing_to_clear and recent and health.last_check is not None:
        return  # nothing to clear and last_success is fresh enough: the write would change nothing a user reads
    deps.tenants.record_success(job.tenant_id, now=now, scope="feeds")


def _window_start(job: Job, checkpoint: Checkpoint, now: datetime, opts: IngestOptions) -> datetime:
    if job.since is not None:
        return job.since
    if checkpoint.cursor is None:
        return now - opts.initial_lookback
    return checkpoint.cursor - opts.overlap


def _log_summary(result: JobResult) -> None:
    logger.info(
        "ingest tenant=%s feed=%s status=%s pages=%d items=%d delivered=%d repeats=%d throttles=%d duration_ms=%d%s",
        result.tenant_id, result.feed, result.status, result.pages, result.items, result.delivered, result.repeats,
        result.throttles, result.duration_ms, f" message={result.message!r}" if result.message else "",
    )  # fmt: skip


__all__ = ["ChangeSource", "IngestDeps", "IngestOptions", "JobResult", "TenantDirectory", "run_job"]
