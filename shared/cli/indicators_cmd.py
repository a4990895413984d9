"""``indicators push|sync|drift|remove|list|status``: custom indicators across tenants (docs/indicators.md).

A file is read and every row checked first (a bad row names its line and field; nothing is queued). The
request then goes through the HTTP API's own handler (``IndicatorsApi``), so the tenant checks, the audit
record and ``--idempotency-key`` are the API's, and becomes one job; unless ``--no-wait``, the job's
queue is drained in-process with the worker's code (as ``sweep --once`` does) and the per-tenant outcome
is printed with a summary. ``--dry-run`` (sync) and ``drift`` write nothing to any tenant.

Exit status: 0 done; 1 a tenant failed or is still pending (throttled, retrying), or ``drift`` found drift;
2 bad arguments or a bad file; 3 bad configuration.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from shared.cli.actions_cmd import _report_problem as _problem
from shared.cli.actions_cmd import _who
from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, Column
from shared.cli.services import services
from shared.cli.tenants_cmd import tenant_id_arg
from shared.domain.indicator_values import removal_keys
from shared.http.api import ApiRequest, ApiResponse
from shared.http.indicators_api import IndicatorsApi
from shared.http.routes import ROUTE_PREFIX, ROUTES_BY_FUNCTION
from shared.indicators.baseline import load_indicator_file
from shared.ingest.drain import drain
from shared.platform.storage import INDICATOR_JOBS_QUEUE

DRAIN_THREADS = 8
DRAIN_DEADLINE_SECONDS = 900.0
COLUMNS = (
    Column("tenantId", "TENANT"),
    Column("name", "NAME", max_width=24),
    Column("status", "STATUS"),
    Column("created", "CREATE", align_right=True),
    Column("updated", "UPDATE", align_right=True),
    Column("removed", "REMOVE", align_right=True),
    Column("unchanged", "UNCHANGED", align_right=True),
    Column("conflicts", "NOT OURS", align_right=True),
    Column("failed", "FAILED", align_right=True),
    Column("message", "DETAIL", max_width=60),
)
LIST_COLUMNS = (
    Column("id", "ID"),
    Column("indicatorType", "TYPE"),
    Column("indicatorValue", "VALUE", max_width=66),
    Column("action", "ACTION"),
    Column("title", "TITLE", max_width=30),
    Column("expirationTime", "EXPIRES"),
)


def push(args: argparse.Namespace, ctx: CliContext) -> int:
    body = {"tenants": _tenants(args), "indicators": _file(args.file, ctx)}
    return _start(ctx, args, "http_indicators_push", body)


def sync(args: argparse.Namespace, ctx: CliContext) -> int:
    body = {"tenants": _tenants(args), "indicators": _file(args.baseline, ctx), "dryRun": bool(args.dry_run)}
    return _start(ctx, args, "http_indicators_sync", body)


def drift(args: argparse.Namespace, ctx: CliContext) -> int:
    body = {"tenants": _tenants(args), "indicators": _file(args.baseline, ctx)}
    return _start(ctx, args, "http_indicators_drift", body)


def remove(args: argparse.Namespace, ctx: CliContext) -> int:
    values = []
    for value in args.value:
        removal_keys(value, args.type, where=f"--value {value[:40]!r}")  # refuse a bad value before any call
        values.append({"indicatorValue": value, **({"indicatorType": args.type} if args.type else {})})
    return _start(ctx, args, "http_indicators_remove", {"tenants": _tenants(args), "values": values})


def list_(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    response = _call(ctx, "http_indicators_list", tenantId=tenant_id)
    if response.status >= 400:
        return _problem(ctx, response)
    if ctx.out.json_mode:
        ctx.out.json(response.body)
        return EXIT_OK
    ctx.out.table(response.body["indicators"], LIST_COLUMNS)
    others = response.body["otherIndicators"]
    ctx.out.line(f"{response.body['count']} indicator(s) created by the relay; {others} other(s) visible to it")
    return EXIT_OK


def status(args: argparse.Namespace, ctx: CliContext) -> int:
    response = _call(ctx, "http_indicators_job", jobId=args.job_id)
    if response.status >= 400:
        return _problem(ctx, response)
    return _report(ctx, response.body, response.body["kind"])


def _tenants(args: argparse.Namespace) -> Any:
    if args.all:
        return "all"
    return [tenant_id_arg(t, flag="--tenant") for t in args.tenant_id]


def _file(path: str, ctx: CliContext) -> list[dict[str, Any]]:
    indicators = load_indicator_file(path, now=services(ctx).clock())
    ctx.out.info(f"{path}: {len(indicators)} indicator(s), every row valid")
    return [i.to_api() for i in indicators]


def _start(ctx: CliContext, args: argparse.Namespace, function: str, body: dict[str, Any]) -> int:
    response = _call(ctx, function, body=body, key=args.idempotency_key)
    if response.status >= 400:
        return _problem(ctx, response)
    job_id = response.body["jobId"]
    ctx.out.info(f"indicator job {job_id} ({response.body['kind']}) queued for {_describe(body['tenants'])}")
    if args.no_wait:
        if ctx.out.json_mode:
            ctx.out.json(response.body)
        ctx.out.line(f"follow it: defender-relay indicators status --job {job_id}")
        return EXIT_OK
    svc = services(ctx)
    # Failed runs come back after 1 s and are retried here; a throttled tenant (back on the queue with
    # Defender's Retry-After) stays for the Functions host or a later run, and the report says so.
    drain(svc, queue_name=INDICATOR_JOBS_QUEUE, handle=svc.indicator_worker.handle, threads=DRAIN_THREADS,
          idle_seconds=2.0, max_seconds=DRAIN_DEADLINE_SECONDS, retry_delay=1, wait_for_hidden=False)  # fmt: skip
    done = _call(ctx, "http_indicators_job", jobId=job_id)
    command = "sync (dry run)" if function == "http_indicators_sync" and body.get("dryRun") else response.body["kind"]
    return _report(ctx, done.body, command) if done.status < 400 else _problem(ctx, done)


def _report(ctx: CliContext, document: dict[str, Any], command: str) -> int:
    """The table, a dry run's plans, one summary line; the exit status (a drift report: 1 when it found drift)."""
    names = {t.tenant_id: t.display_name for t in services(ctx).tenants.list()}
    rows = [{**r, "name": names.get(r["tenantId"], ""), "message": _detail(r)} for r in document["results"]]
    progress, totals = document["progress"], document["totals"]
    failed = sum(1 for r in rows if r["status"] in ("failed", "retrying"))
    drifted = sum(1 for r in rows if r["status"] == "planned" and (r["created"] or r["updated"] or r["removed"]))
    if ctx.out.json_mode:
        ctx.out.json({**document, "failed": failed, "drifted": drifted})
    else:
        ctx.out.table(rows, COLUMNS)
        _print_plans(ctx, document, rows)
        ctx.out.line(_summary(command, document, totals, failed, drifted))
    if failed or progress["pending"]:
        return EXIT_FAILED
    return EXIT_FAILED if command == "drift" and drifted else EXIT_OK


def _print_plans(ctx: CliContext, document: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """A dry run or drift report lists what differs, per tenant (the first 200 of each kind)."""
    if not document["dryRun"]:
        return
    words = {"create": "missing (add)", "update": "different (update)", "remove": "extra (remove)",
             "conflict": "same value, not the relay's (left alone)", "absent": "not found"}  # fmt: skip
    for row in rows:
        lines = [(words[k], v) for k, v in row["details"].items() if v and k in words]
        if lines:
            ctx.out.line()
            ctx.out.heading(f"{row['name'] or row['tenantId']} ({row['tenantId']})")
            for word, entries in lines:
                ctx.out.line(f"  {word}:")
                for entry in entries:
                    ctx.out.line(f"    {entry}")


def _summary(command: str, document: dict[str, Any], totals: dict[str, int], failed: int, drifted: int) -> str:
    progress = document["progress"]
    verb = "would " if document["dryRun"] else ""
    text = (f"{command} job {document['jobId']}: {progress['finished']} of {progress['planned']} tenant(s) "
            f"finished, {failed} failing; {verb}create {totals['created']}, {verb}update {totals['updated']}, "
            f"{verb}remove {totals['removed']}, unchanged {totals['unchanged']}, "
            f"not the relay's {totals['conflicts']}, refused by Defender {totals['failed']}")  # fmt: skip
    if command == "drift":
        text += f"; {drifted} tenant(s) drifted"
    if progress["pending"]:
        text += f"; {progress['pending']} pending: defender-relay indicators status --job {document['jobId']}"
    return text


def _detail(row: dict[str, Any]) -> str:
    if row["message"]:
        return str(row["message"]) + (f" (remedy: {row['remedy']})" if row["remedy"] else "")
    failures = row["details"].get("failed") or []
    return "; ".join(failures[:2])


def _describe(tenants: Any) -> str:
    return "every enabled tenant that allows indicators" if tenants == "all" else f"{len(tenants)} tenant(s)"


def _call(ctx: CliContext, function: str, *, body: Any = None, key: str | None = None, **route: str) -> ApiResponse:
    """One request through the indicator routes' own handler (unsigned: see ``Services.http_api``)."""
    spec = ROUTES_BY_FUNCTION[function]
    api: IndicatorsApi = ctx.cached("indicators_api", lambda: services(ctx).indicators_api(verify_signatures=False))
    headers = {"x-relay-caller": f"cli:{_who()}"}
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode("utf-8")
        headers["content-type"] = "application/json"
    if key:
        headers["idempotency-key"] = key
    path = "/" + ROUTE_PREFIX + "/" + spec.template.format(**route)
    return api.handle(spec, ApiRequest(spec.method, path, dict(route), {}, headers, raw))
