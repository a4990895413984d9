"""``sweep --once [--tenant ID]`` and ``backfill --tenant ID --since DATE [--until DATE]``.

Both put jobs on ``tenant-jobs`` exactly as the timer and the HTTP sweep route do, then drain the
queue in-process with the worker's code. Jobs are enqueued without the timer's spread delay: an
operator running a sweep by hand wants the result now, not over the next five minutes.
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from shared.bootstrap import Services
from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, Column
from shared.cli.services import services
from shared.cli.tenants_cmd import tenant_id_arg
from shared.domain.errors import ValidationError
from shared.domain.job import FEEDS, Job, new_job
from shared.domain.tenant import Tenant
from shared.ingest.drain import drain
from shared.ingest.runner import JobResult
from shared.ingest.sweep import run_sweep

DRAIN_THREADS = 8
DRAIN_DEADLINE_SECONDS = 300.0
RETRY_VISIBILITY_SECONDS = 30  # a failed job is retried this much later (by the next sweep or the host)

COLUMNS = (
    Column("tenant", "TENANT", max_width=36),
    Column("name", "NAME", max_width=24),
    Column("items", "ITEMS", align_right=True),
    Column("delivered", "DELIVERED", align_right=True),
    Column("repeats", "REPEATS DROPPED", align_right=True),
    Column("throttles", "THROTTLES", align_right=True),
    Column("status", "STATUS"),
    Column("detail", "DETAIL", max_width=60),
)


class _OneTenant:
    """A registry view with one tenant, so ``run_sweep`` plans exactly its jobs."""

    def __init__(self, tenant: Tenant) -> None:
        self._tenant = tenant

    def list(self, *, enabled_only: bool = False) -> list[Tenant]:
        return [self._tenant] if self._tenant.enabled or not enabled_only else []


def sweep(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    lister = _OneTenant(svc.tenants.get(tenant_id_arg(args.tenant_id))) if args.tenant_id else svc.tenants
    planned = run_sweep(tenants=lister, queue=svc.job_queue, interval_seconds=0, clock=svc.clock)
    ctx.out.info(f"sweep {planned.sweep_id}: {planned.jobs} job(s) for {planned.tenants} tenant(s) enqueued")
    return _drain_and_report(ctx, svc, planned.jobs, {"sweep_id": planned.sweep_id})


def backfill(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    tenant = svc.tenants.get(tenant_id_arg(args.tenant_id))
    since = parse_date(args.since, flag="--since")
    until = parse_date(args.until, flag="--until") if args.until else None
    if until is not None and until <= since:
        raise ValidationError("--until must be later than --since", field="until")
    feeds = sorted(tenant.feeds)
    if args.feed:
        if args.feed not in FEEDS or args.feed not in tenant.feeds:
            raise ValidationError(f"--feed: '{args.feed}' is not enabled for this tenant ({', '.join(feeds)})")
        feeds = [args.feed]
    jobs: list[Job] = [
        new_job(tenant.tenant_id, feed, mode="backfill", since=since, until=until, now=svc.clock()) for feed in feeds
    ]
    for job in jobs:
        svc.job_queue.send(job)
    ctx.out.info(f"backfill of {tenant.display_name} from {since.isoformat()}: {len(jobs)} job(s) enqueued")
    return _drain_and_report(ctx, svc, len(jobs), {"since": since.isoformat(), "until": until and until.isoformat()})


def parse_date(value: str, *, flag: str) -> datetime:
    """``2026-11-16`` (midnight UTC) or an ISO date-time (UTC when no offset is given)."""
    try:
        if len(value.strip()) == 10:
            return datetime.combine(datetime.fromisoformat(value.strip()).date(), time(0), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{flag}: '{value}' is not a date (YYYY-MM-DD) or ISO date-time", field=flag) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _drain_and_report(ctx: CliContext, svc: Services, expected: int, extra: dict[str, object]) -> int:
    lock = threading.Lock()
    with ctx.out.progress("running jobs", expected) as bar:

        def done(result: JobResult) -> None:
            with lock:
                bar.set_total(max(bar.total, bar.done + 1))
                bar.advance(note=f"{result.feed} {result.status}")

        # The CLI's run ends once nothing is visible: a failed or throttled job stays on the queue, with
        # the host's retry delay, for the next sweep or the Functions host (and this run reports it).
        stats = drain(
            svc,
            threads=DRAIN_THREADS,
            idle_seconds=0.2,
            max_seconds=DRAIN_DEADLINE_SECONDS,
            retry_delay=RETRY_VISIBILITY_SECONDS,
            wait_for_hidden=False,
            on_result=lambda result, _start, _end: done(result),
        )
    results = stats.results + stats.failed
    summaries = summarize(results)
    names = {t.tenant_id: t.display_name for t in svc.tenants.list()}
    rows = [_row(s, names.get(s.tenant_id, "")) for s in summaries]
    failed = [r for r in rows if r["status"] in ("failed", "auth-failed")]
    # Not failing, and not read to the end either: a job handed back until another worker's lease ends,
    # or until Defender's throttling window passes. It runs later (Functions host or next sweep).
    incomplete = [r for r in rows if r["status"] in LEFT_FOR_LATER]
    if ctx.out.json_mode:
        ctx.out.json(
            {**extra, "jobs": len(results), "tenants": rows, "failed": len(failed), "incomplete": len(incomplete)}
        )
    else:
        ctx.out.table(rows, COLUMNS)
        delivered = sum(s.delivered for s in summaries)
        ctx.out.line(
            f"{len(results)} job(s) run, {delivered} item(s) delivered, {len(failed)} tenant(s) failing, "
            f"{len(incomplete)} not read to the end (lease held elsewhere or throttled: handed back to the queue)"
        )
    if failed:
        return EXIT_FAILED
    return EXIT_INCOMPLETE if incomplete else EXIT_OK


LEFT_FOR_LATER = ("throttled", "lease-held")


@dataclass
class TenantSummary:
    tenant_id: str
    jobs: int = 0
    items: int = 0
    delivered: int = 0
    repeats: int = 0
    throttles: int = 0
    statuses: set[str] = field(default_factory=set)
    messages: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        for worst in ("failed", "auth-failed", "throttled", "lease-held", "skipped"):
            if worst in self.statuses:
                return worst
        return "ok"

    def add(self, result: JobResult) -> None:
        self.jobs += 1
        self.items += result.items
        self.delivered += result.delivered
        self.repeats += result.repeats
        self.throttles += result.throttles
        self.statuses.add(result.status)
        if result.message:
            self.messages.append(f"{result.feed}: {result.message}")


def summarize(results: list[JobResult]) -> list[TenantSummary]:
    """Per tenant, in the order results came; a failure, a throttle or a held lease that a later run of the
    same feed completed is not counted (the drain ran the job again)."""
    completed_after: set[tuple[str, str]] = set()
    kept: list[JobResult] = []
    for result in reversed(results):
        key = (result.tenant_id, result.feed)
        unfinished = result.status == "failed" or result.status in LEFT_FOR_LATER
        if unfinished and key in completed_after:
            continue
        if not unfinished:
            completed_after.add(key)
        kept.append(result)
    by_tenant: dict[str, TenantSummary] = {}
    for result in reversed(kept):
        by_tenant.setdefault(result.tenant_id, TenantSummary(result.tenant_id)).add(result)
    return list(by_tenant.values())


def _row(summary: TenantSummary, name: str) -> dict[str, object]:
    return {
        "tenant": summary.tenant_id, "name": name, "jobs": summary.jobs, "items": summary.items,
        "delivered": summary.delivered, "repeats": summary.repeats, "throttles": summary.throttles,
        "status": summary.status, "detail": "; ".join(summary.messages),
    }  # fmt: skip
