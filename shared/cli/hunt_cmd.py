"""``hunt run|status|results`` and ``hunt schedule add|list|remove``: hunting across tenants from a terminal.

``hunt run`` starts the hunt exactly as ``POST /api/hunts`` does, then runs ``hunt-jobs`` in-process with the
worker's code (the host stand-in of ``shared.platform.queue_host``) until every tenant has an outcome, with a
progress bar per tenant, and prints the merged rows as a table, CSV or NDJSON (``--json``: the status document
and the rows). ``--no-wait`` only queues it, for the Functions host to run. The caller is ``cli:<user>@<host>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, Column
from shared.cli.services import services
from shared.domain.errors import ValidationError
from shared.hunting.hunt_queue import drain_hunts
from shared.hunting.model import FINAL_STATES, HuntSpec, hunt_state, parse_hunt_id
from shared.hunting.reader import parse_format
from shared.hunting.runner import HuntJobResult
from shared.hunting.schedules import parse_schedule_id
from shared.hunting.service import ScheduleRequest, tenants_of
from shared.hunting.status import hunt_json, summary_line
from shared.platform.queue_host import HostOptions

DRAIN_THREADS = 8  # as host.json batchSize: the concurrency a Functions instance runs hunt-jobs with
DRAIN_SECONDS = 1800.0
TABLE_ROWS = 200  # rows a terminal table shows; --format csv / ndjson writes them all
STATUS_COLUMNS = (
    Column("tenantId", "TENANT"),
    Column("tenantName", "NAME", max_width=28),
    Column("state", "STATE"),
    Column("rows", "ROWS", align_right=True),
    Column("detail", "DETAIL", max_width=80),
)


def _caller() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def _query(args: argparse.Namespace) -> str:
    if args.query_file:
        try:
            return Path(args.query_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"--query-file: cannot read {args.query_file}: {exc.strerror}") from None
    if args.query:
        return str(args.query)
    raise ValidationError("give the KQL with --query-file FILE or --query TEXT", field="query")


def _selection(args: argparse.Namespace) -> tuple[str, ...] | None:
    return None if args.all or not args.tenant_ids else tenants_of(list(args.tenant_ids))


def run(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    service = svc.hunt_service()
    spec = HuntSpec(_query(args), timespan=args.timespan, tenant_ids=_selection(args), requested_by=_caller())
    hunt = service.start(spec)
    ctx.out.info(f"hunt {hunt.hunt_id}: queued in {hunt.tenant_count} tenant(s)")
    if args.no_wait:
        if ctx.out.json_mode:
            ctx.out.json({"huntId": hunt.hunt_id, "tenants": hunt.tenant_count})
        ctx.out.line(hunt.hunt_id)
        return EXIT_OK
    lock = threading.Lock()
    with ctx.out.progress("hunting", hunt.tenant_count) as bar:

        def seen(result: HuntJobResult, _start: float, _end: float) -> None:
            if result.hunt_id == hunt.hunt_id and result.status in FINAL_STATES:
                with lock:
                    bar.advance(note=f"{result.status} {result.tenant_id[:8]}")

        def running() -> bool:  # throttled jobs wait on the queue: keep going until every tenant has an outcome
            header, runs = service.status(hunt.hunt_id)
            return hunt_state(header, runs) in ("probing", "running")

        options = HostOptions(threads=DRAIN_THREADS, idle_seconds=0.5, max_seconds=DRAIN_SECONDS)
        drain_hunts(svc.storage, svc.hunt_deps, options=options, on_result=seen, producing=running)
    return _report(ctx, svc, hunt.hunt_id, args.format)


def _report(ctx: CliContext, svc: Any, hunt_id: str, fmt: str) -> int:
    service = svc.hunt_service()
    header, runs = service.status(hunt_id)
    document = hunt_json(header, runs)
    failed = [run for run in runs if run.state == "failed"]
    if ctx.out.json_mode:
        rows = [] if header.query_error else [json.loads(line) for line in service.stream(hunt_id, fmt="ndjson")]
        ctx.out.json({"hunt": document, "rows": rows})
    else:
        if header.query_error:
            ctx.out.error(header.query_error)
        elif fmt == "table":
            _table(ctx, service, hunt_id)
        else:
            _write(service.stream(hunt_id, fmt=parse_format(fmt)), ctx.out.stdout)
        ctx.out.info(summary_line(document))
        for run in failed:
            ctx.out.warn(f"{run.tenant_name} ({run.tenant_id}): {run.error_kind}: {run.message}")
            if run.remedy:
                ctx.out.info(f"  what to do: {run.remedy}")
    return EXIT_FAILED if failed or header.query_error else EXIT_OK


def _table(ctx: CliContext, service: Any, hunt_id: str) -> None:
    rows: list[dict[str, Any]] = []
    for line in service.stream(hunt_id, fmt="ndjson"):
        rows.append(json.loads(line))
        if len(rows) > TABLE_ROWS:
            break
    names = list(dict.fromkeys(name for row in rows for name in row if name != "tenantId"))
    ctx.out.table(rows[:TABLE_ROWS], [Column(name, name, max_width=40) for name in names])
    if len(rows) > TABLE_ROWS:
        ctx.out.line(f"(first {TABLE_ROWS} rows; `hunt results {hunt_id} --format csv` writes them all)")


def _write(lines: Iterator[bytes], out: TextIO) -> None:
    for line in lines:
        out.write(line.decode("utf-8"))
    out.flush()


def status(args: argparse.Namespace, ctx: CliContext) -> int:
    header, runs = services(ctx).hunt_service().status(parse_hunt_id(args.hunt_id, field="HUNT_ID"))
    document = hunt_json(header, runs)
    if ctx.out.json_mode:
        ctx.out.json(document)
    else:
        rows = [{**row, "rows": row.get("rows"), "detail": _detail(row)} for row in document["perTenant"]]
        ctx.out.table(rows, STATUS_COLUMNS)
        ctx.out.line(summary_line(document))
        if header.query_error:
            ctx.out.line(header.query_error)
    return EXIT_FAILED if document["tenants"]["failed"] or header.query_error else EXIT_OK


def _detail(row: dict[str, Any]) -> str:
    error = row.get("error")
    if error:
        return f"{error['kind']}: {error['message']}" + (f" ({error['remedy']})" if error.get("remedy") else "")
    return row.get("limit", "") or (f"retry at {row['retryAt']}" if row.get("retryAt") else "")


def results(args: argparse.Namespace, ctx: CliContext) -> int:
    service = services(ctx).hunt_service()
    lines = service.stream(parse_hunt_id(args.hunt_id, field="HUNT_ID"), fmt=parse_format(args.format))
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            _write(lines, out)
    else:
        _write(lines, ctx.out.stdout)
    return EXIT_OK


def schedule_add(args: argparse.Namespace, ctx: CliContext) -> int:
    saved = (
        services(ctx)
        .hunt_service()
        .add_schedule(
            ScheduleRequest(
                name=args.name,
                query=_query(args),
                schedule=args.schedule,
                timespan=args.timespan,
                tenant_ids=_selection(args),
                created_by=_caller(),
            )
        )
    )
    if ctx.out.json_mode:
        ctx.out.json(saved.to_json())
    ctx.out.line(f"{saved.schedule_id}  {saved.name}  {saved.schedule}")
    return EXIT_OK


def schedule_list(args: argparse.Namespace, ctx: CliContext) -> int:
    saved = [s.to_json() for s in services(ctx).hunt_service().list_schedules()]
    if ctx.out.json_mode:
        ctx.out.json({"schedules": saved})
        return EXIT_OK
    columns = (
        Column("scheduleId", "ID"),
        Column("name", "NAME", max_width=30),
        Column("schedule", "SCHEDULE"),
        Column("timespan", "TIMESPAN"),
        Column("lastRun", "LAST RUN"),
        Column("query", "QUERY", max_width=50),
    )
    ctx.out.table(saved, columns)
    return EXIT_OK


def schedule_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    removed = services(ctx).hunt_service().remove_schedule(parse_schedule_id(args.schedule_id))
    if ctx.out.json_mode:
        ctx.out.json(removed.to_json())
    ctx.out.line(f"removed {removed.schedule_id} ({removed.name})")
    return EXIT_OK
