"""``check [--tenant ID | --all]``: per-tenant health with the remedy, recorded in the registry."""

from __future__ import annotations

import argparse
import threading

from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, Column
from shared.cli.services import services
from shared.cli.tenants_cmd import tenant_id_arg
from shared.domain.catalogue import MDE_XDR_RETIREMENT
from shared.tenants.check import CheckResult, check_all
from shared.tenants.store import TenantStore

COLUMNS = (
    Column("tenant_id", "TENANT"),
    Column("display_name", "NAME", max_width=28),
    Column("cloud", "CLOUD"),
    Column("region", "REGION"),
    Column("status", "STATUS"),
    Column("detail", "DETAIL", max_width=70),
)


def check(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    store = svc.tenants
    tenants = [store.get(tenant_id_arg(args.tenant_id))] if args.tenant_id else store.list(enabled_only=True)
    lock = threading.Lock()
    with ctx.out.progress("checking", len(tenants)) as bar:

        def done(result: CheckResult) -> None:
            record_health(store, result)
            with lock:
                bar.advance(note=result.tenant.display_name)

        results = check_all(
            tenants,
            tokens=svc.tokens,
            defender=svc.defender,
            default_allowed=svc.settings.default_allowed_actions,
            on_done=done,
            hunting=svc.settings.hunting_enabled,
        )
    print_results(ctx, results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def record_health(store: TenantStore, result: CheckResult) -> None:
    if result.ok:
        store.record_success(result.tenant.tenant_id)
    else:
        store.record_failure(result.tenant.tenant_id, result.status, result.message, result.remedy, scope=result.scope)


def detail(result: CheckResult) -> str:
    if result.ok:
        return "token ok; " + ", ".join(result.probes) + " answered"
    if result.missing:
        return "missing " + ", ".join(result.missing)
    return result.message


def print_results(ctx: CliContext, results: list[CheckResult]) -> None:
    failed = [r for r in results if not r.ok]
    if ctx.out.json_mode:
        ok = len(results) - len(failed)
        ctx.out.json({"tenants": [r.to_json() for r in results], "ok": ok, "failed": len(failed)})
        return
    rows = [{**r.to_json(), "detail": detail(r)} for r in results]
    ctx.out.table(rows, COLUMNS)
    ctx.out.line(f"{len(results) - len(failed)} ok, {len(failed)} failing")
    for r in failed:
        ctx.out.line()
        ctx.out.line(f"{r.tenant.display_name} ({r.tenant.tenant_id}): {r.status}")
        ctx.out.line(f"  what happened: {r.message}")
        if r.remedy:
            ctx.out.line(f"  what to do:    {r.remedy}")
    warned = [r for r in results if r.warnings]
    for r in warned:
        ctx.out.line()
        ctx.out.line(f"{r.tenant.display_name} ({r.tenant.tenant_id}): warning")
        for warning in r.warnings:
            ctx.out.line(f"  {warning}")
    if warned:
        ready = sum(1 for r in warned if r.graph_ready)
        ctx.out.line()
        ctx.out.line(
            f"{len(warned)} tenant(s) on feeds that stop on {MDE_XDR_RETIREMENT}, {ready} of them ready for Graph: "
            "`defender-relay migrate --report` lists what each needs"
        )
