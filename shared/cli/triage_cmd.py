"""Triage from the terminal: ``alert update|comment``, ``incident update|comment``, ``machine tag``.

Like the response actions (``shared.cli.actions_cmd``), each command is the request a SOAR tool would send,
through ``HttpApi.handle`` and the same route: the same validation (values named against their page), the
tenant's ``triage`` allow-list entry, ``Idempotency-Key`` and the audit record, with the caller
``cli:<user>@<host>``. ``alert update`` with several ids, or with ``--comment``, is one batch request: it
gets a fresh idempotency key unless ``--idempotency-key`` names one (so re-running it by hand is a new
request; give the key to make a retry replay instead).
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from shared.cli.actions_cmd import _report_problem, call
from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, Column
from shared.cli.tenants_cmd import tenant_id_arg
from shared.http.api import ApiResponse

CHANGE_COLUMNS = (Column("field", "FIELD"), Column("from", "FROM", max_width=40), Column("to", "TO", max_width=40))
RESULT_COLUMNS = (
    Column("id", "ALERT"),
    Column("outcome", "OUTCOME"),
    Column("status", "HTTP", align_right=True),
    Column("commented", "COMMENTED"),
    Column("detail", "DETAIL", max_width=70),
)
COMMENT_COLUMNS = (
    Column("createdDateTime", "TIME"),
    Column("createdByDisplayName", "AUTHOR", max_width=40),
    Column("comment", "COMMENT", max_width=80),
)


def _changes(args: argparse.Namespace, *, incident: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for option, name in (("status", "status"), ("classification", "classification"),
                         ("determination", "determination"), ("assigned_to", "assignedTo")):  # fmt: skip
        if getattr(args, option, None) is not None:
            body[name] = getattr(args, option)
    if getattr(args, "unassign", False):
        body["assignedTo"] = None
    if incident and args.tags is not None:
        body["customTags"] = [t.strip() for t in args.tags.split(",") if t.strip()]
    return body


def _params(args: argparse.Namespace, *, batch: bool = False) -> dict[str, str]:
    key = args.idempotency_key or (f"cli-{uuid.uuid4()}" if batch else None)
    return {"idempotency-key": key} if key else {}


def alert_update(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    body = _changes(args, incident=False)
    if len(args.alert_ids) > 1 or args.comment is not None:
        batch = {"alertIds": args.alert_ids, **body, **({"comment": args.comment} if args.comment else {})}
        response = call(ctx, "http_alert_batch_update", _params(args, batch=True), body=batch, tenantId=tenant_id)
        return _report_batch(ctx, response)
    response = call(ctx, "http_alert_update", _params(args), body=body, tenantId=tenant_id, alertId=args.alert_ids[0])
    return _report_update(ctx, response, "alert")


def incident_update(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    body = _changes(args, incident=True)
    response = call(
        ctx, "http_incident_update", _params(args), body=body, tenantId=tenant_id, incidentId=args.incident_id
    )
    return _report_update(ctx, response, "incident")


def alert_comment(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    body = {"comment": args.comment}
    response = call(ctx, "http_alert_comment", _params(args), body=body, tenantId=tenant_id, alertId=args.alert_id)
    return _report_comments(ctx, response)


def incident_comment(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    body = {"comment": args.comment}
    response = call(
        ctx, "http_incident_comment", _params(args), body=body, tenantId=tenant_id, incidentId=args.incident_id
    )
    return _report_comments(ctx, response)


def machine_tag(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    body = {
        "value": args.add if args.add is not None else args.remove,
        "action": "Add" if args.add is not None else "Remove",
    }
    response = call(ctx, "http_machine_tag", _params(args), body=body, tenantId=tenant_id, machine=args.machine_id)
    if response.status >= 400:
        return _report_problem(ctx, response)
    if ctx.out.json_mode:
        ctx.out.json({"status": response.status, **response.body})
        return EXIT_OK
    machine = response.body.get("machine", {})
    ctx.out.line(f"machine {machine.get('id')} ({machine.get('computerDnsName')}): "
                 f"{'updated' if response.body.get('changed') else 'unchanged'}")  # fmt: skip
    ctx.out.table(_change_rows(response.body.get("changes", {})), CHANGE_COLUMNS)
    return EXIT_OK


def _change_rows(changes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"field": name, "from": change.get("from"), "to": change.get("to")} for name, change in changes.items()]


def _report_update(ctx: CliContext, response: ApiResponse, kind: str) -> int:
    if response.status >= 400:
        return _report_problem(ctx, response)
    if ctx.out.json_mode:
        ctx.out.json({"status": response.status, **response.body})
        return EXIT_OK
    item = response.body.get(kind, {})
    verdict = "updated" if response.body.get("changed") else "unchanged (already so; nothing was written)"
    ctx.out.line(f"{kind} {item.get('id')}: {verdict}")
    ctx.out.table(_change_rows(response.body.get("changes", {})), CHANGE_COLUMNS)
    return EXIT_OK


def _report_comments(ctx: CliContext, response: ApiResponse) -> int:
    if response.status >= 400:
        return _report_problem(ctx, response)
    if ctx.out.json_mode:
        ctx.out.json({"status": response.status, **response.body})
    else:
        ctx.out.table(response.body.get("comments", []), COMMENT_COLUMNS)
    return EXIT_OK


def _report_batch(ctx: CliContext, response: ApiResponse) -> int:
    if response.status >= 400:
        return _report_problem(ctx, response)
    results = response.body.get("results", [])
    if ctx.out.json_mode:
        ctx.out.json({"status": response.status, **response.body})
    else:
        rows = [{**r, "detail": (r.get("problem") or {}).get("detail", "")} for r in results]
        ctx.out.table(rows, RESULT_COLUMNS)
        summary = response.body.get("summary", {})
        ctx.out.line(", ".join(f"{n} {outcome}" for outcome, n in summary.items()))
    return EXIT_OK if response.status == 200 else EXIT_FAILED
