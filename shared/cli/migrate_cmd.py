"""``migrate --report`` and ``migrate --tenant ID | --all [--dry-run]``: off the retiring MDE/XDR feeds, onto Graph.

The report lists every enabled tenant: its feeds, whether its Graph token has the roles, whether a Graph
read works, what to do, and a summary line an MSSP can act on ("212 of 240 tenants ready; 28 need
consent"). ``migrate`` moves the tenants that are ready (``shared.ingest.migration``) and leaves the
others as they are, saying why; the exit status is 1 when any tenant asked for was not moved.
``migrate --rollback`` moves Graph feeds back to their MDE/XDR predecessors (``shared.ingest.rollback``)
until 2027-02-01, and says which alerts that stops (other Defender products' ``serviceSource``).
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shared.bootstrap import Services
from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, Column
from shared.cli.services import services
from shared.cli.tenants_cmd import tenant_id_arg
from shared.domain.catalogue import MDE_XDR_RETIREMENT
from shared.domain.errors import ValidationError
from shared.domain.tenant import Tenant
from shared.ingest.migration import MigrationDeps, MigrationResult, migrate_tenant
from shared.ingest.rollback import retirement_refusal, rollback_tenant
from shared.tenants.readiness import Readiness, assess, summary_line

THREADS = 8
T = TypeVar("T")

REPORT_COLUMNS = (
    Column("tenant_id", "TENANT"),
    Column("display_name", "NAME", max_width=24),
    Column("feeds", "FEEDS", max_width=32),
    Column("status", "STATUS"),
    Column("roles", "GRAPH ROLES", max_width=40),
    Column("reads", "GRAPH READ"),
    Column("action", "WHAT TO DO", max_width=70),
)
MIGRATE_COLUMNS = (
    Column("tenant_id", "TENANT"),
    Column("display_name", "NAME", max_width=24),
    Column("outcome", "OUTCOME"),
    Column("detail", "DETAIL", max_width=80),
)


def migrate(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.report:
        if args.dry_run or args.rollback:
            flag = "--dry-run" if args.dry_run else "--rollback"
            raise ValidationError(f"{flag}: the report is about the move to Graph and changes nothing; leave one out")
        return _report(args, ctx)
    if not args.tenant_id and not args.all:
        raise ValidationError(
            "migrate --rollback needs --tenant ID or --all"
            if args.rollback
            else "migrate needs --tenant ID, --all, or --report"
        )
    return _migrate(args, ctx)


def _tenants(args: argparse.Namespace, svc: Services) -> list[Tenant]:
    if args.tenant_id:
        return [svc.tenants.get(tenant_id_arg(args.tenant_id))]
    return svc.tenants.list(enabled_only=True)


def _report(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    tenants = _tenants(args, svc)
    results = _each(ctx, "assessing", tenants, lambda t: assess(t, tokens=svc.tokens, reader=svc.defender))
    summary = summary_line(results)
    if ctx.out.json_mode:
        ctx.out.json({"tenants": [r.to_json() for r in results], "summary": summary, **_counts(results)})
    else:
        ctx.out.table([_report_row(r) for r in results], REPORT_COLUMNS)
        ctx.out.line(summary)
        to_move = sum(1 for r in results if r.status == "ready")
        if to_move:
            ctx.out.line(f"{to_move} ready to move before {MDE_XDR_RETIREMENT}: defender-relay migrate --all")
        for r in results:
            if r.status in ("needs-consent", "failing"):
                ctx.out.line()
                ctx.out.line(f"{r.tenant.display_name} ({r.tenant.tenant_id}): {r.status}")
                ctx.out.line(f"  what happened: {r.message}")
                ctx.out.line(f"  what to do:    {r.action}")
    return EXIT_OK if all(r.status in ("ready", "migrated") for r in results) else EXIT_FAILED


def _migrate(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    deps = MigrationDeps(
        registry=svc.tenants,
        checkpoints=svc.checkpoints,
        tokens=svc.tokens,
        reader=svc.defender,
        owner=f"migrate/{socket.gethostname()}-{os.getpid()}",
        clock=svc.clock,
    )
    refusal = retirement_refusal(deps) if args.rollback else ""
    if refusal:  # once, not once per tenant: no tenant can go back
        ctx.out.error(f"migrate --rollback: {refusal}; the tenants stay on the Graph feeds")
        return EXIT_FAILED
    move = rollback_tenant if args.rollback else migrate_tenant
    tenants = _tenants(args, svc)
    results = _each(ctx, "migrating", tenants, lambda t: move(t, deps=deps, dry_run=args.dry_run))
    failed = [r for r in results if r.outcome == "not-moved"]
    if ctx.out.json_mode:
        ctx.out.json(
            {"dry_run": args.dry_run, "rollback": args.rollback, "tenants": [r.to_json() for r in results],
             "not_moved": len(failed)}
        )  # fmt: skip
        return EXIT_FAILED if failed else EXIT_OK
    ctx.out.table([_migrate_row(r) for r in results], MIGRATE_COLUMNS)
    ctx.out.line(_summary(results, rollback=args.rollback, dry_run=args.dry_run))
    for r in results:
        if r.stops and r.outcome in ("moved", "would-move"):
            ctx.out.line(f"{r.tenant.display_name} ({r.tenant.tenant_id}): {r.stops} (only Graph serves them)")
    for r in failed:
        ctx.out.line()
        ctx.out.line(f"{r.tenant.display_name} ({r.tenant.tenant_id}): not moved")
        ctx.out.line(f"  why:        {r.message}")
        ctx.out.line(f"  what to do: {r.action}")
    return EXIT_FAILED if failed else EXIT_OK


def _summary(results: list[MigrationResult], *, rollback: bool, dry_run: bool) -> str:
    outcomes = ("moved", "would-move", "nothing-to-do", "not-moved")
    count = {o: sum(1 for r in results if r.outcome == o) for o in outcomes}
    words = ("moved", "would move", "already on Graph")
    if rollback:
        words = ("rolled back", "would roll back", "not on Graph")
    return (
        f"{count['moved']} {words[0]}, {count['would-move']} {words[1]}, {count['nothing-to-do']} {words[2]}, "
        f"{count['not-moved']} not moved" + (" (--dry-run: nothing changed)" if dry_run else "")
    )


def _each(ctx: CliContext, what: str, tenants: list[Tenant], work: Callable[[Tenant], T]) -> list[T]:
    """``work`` for every tenant on a few threads, with progress; results in the order given."""
    lock = threading.Lock()
    with ctx.out.progress(what, len(tenants)) as bar:

        def one(tenant: Tenant) -> T:
            result = work(tenant)
            with lock:
                bar.advance(note=tenant.display_name)
            return result

        with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="migrate") as pool:
            return list(pool.map(one, tenants))


def _counts(results: list[Readiness]) -> dict[str, int]:
    statuses = ("ready", "migrated", "needs-consent", "failing")
    return {status.replace("-", "_"): sum(1 for r in results if r.status == status) for status in statuses}


def _report_row(r: Readiness) -> dict[str, object]:
    roles = "missing " + ", ".join(r.missing) if r.missing else ("ok" if r.granted else "-")
    action = r.action if r.status != "needs-consent" else "consent again (link below)"
    return {
        "tenant_id": r.tenant.tenant_id, "display_name": r.tenant.display_name,
        "feeds": ",".join(sorted(r.tenant.feeds)), "status": r.status, "roles": roles,
        "reads": "ok" if r.reads else "-", "action": action,
    }  # fmt: skip


def _migrate_row(r: MigrationResult) -> dict[str, object]:
    detail = r.message
    if r.moves:
        detail = "; ".join(
            f"{m.old} -> {m.new} from {m.cursor.isoformat(timespec='seconds') if m.cursor else 'the initial lookback'}"
            + (f" ({m.handover} delivered versions not repeated)" if m.handover and m.seeded else "")
            for m in r.moves
        )
    return {
        "tenant_id": r.tenant.tenant_id,
        "display_name": r.tenant.display_name,
        "outcome": r.outcome,
        "detail": detail,
    }
