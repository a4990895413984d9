"""Response actions from the terminal: ``isolate``, ``scan``, ..., ``cancel``, ``action-status``, ``audit``.

Each command becomes the same ``ApiRequest`` a SOAR tool would send and goes through ``HttpApi.handle``
with the same route table entry, so validation, the allow-list, ``Idempotency-Key`` handling and the
audit record are the HTTP API's own, not a copy. The caller recorded in the audit table is
``cli:<user>@<host>``. Request signing is not applied: it authenticates remote callers, and an operator
running this already holds the storage and Key Vault access the signature would stand in for.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
from typing import Any
from urllib.parse import quote, urlencode

from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Column
from shared.cli.services import http_api, services
from shared.cli.tenants_cmd import tenant_id_arg
from shared.http.api import ApiRequest, ApiResponse
from shared.http.routes import ROUTE_PREFIX, ROUTES_BY_FUNCTION

ACTION_COLUMNS = (
    Column("id", "ACTION ID"),
    Column("type", "TYPE"),
    Column("status", "STATUS"),
    Column("computerDnsName", "MACHINE"),
    Column("lastUpdateDateTimeUtc", "UPDATED"),
)
AUDIT_COLUMNS = (
    Column("time", "TIME"),
    Column("tenantId", "TENANT"),
    Column("action", "ACTION"),
    Column("outcome", "OUTCOME"),
    Column("status", "HTTP", align_right=True),
    Column("machine", "MACHINE", max_width=30),
    Column("target", "TARGET", max_width=30),
    Column("caller", "CALLER", max_width=40),
)
_USAGE_STATUSES = {400, 404, 405, 413, 415, 422}


def call(ctx: CliContext, function: str, params: dict[str, str], *, body: Any = None, **route: str) -> ApiResponse:
    """One request through the HTTP API's handler (route parameters fill the route template)."""
    spec = ROUTES_BY_FUNCTION[function]
    path = "/" + ROUTE_PREFIX + "/" + spec.template.format(**{k: quote(v, safe="") for k, v in route.items()})
    headers = {"x-relay-caller": f"cli:{_who()}"}
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode("utf-8")
        headers["content-type"] = "application/json"
    if params.get("idempotency-key"):
        headers["idempotency-key"] = params.pop("idempotency-key")
    target = path + ("?" + urlencode(params) if params else "")
    request = ApiRequest(spec.method, target, dict(route), params, headers, raw)
    return http_api(ctx).handle(spec, request)


def machine_action(args: argparse.Namespace, ctx: CliContext) -> int:
    body: dict[str, Any] = {"comment": args.comment}
    for option, name in (("isolation_type", "isolationType"), ("scan_type", "scanType"), ("sha1", "sha1")):
        if getattr(args, option, None) is not None:
            body[name] = getattr(args, option)
    params = {"wait": "true", "waitSeconds": "200"} if args.wait else {}
    if args.idempotency_key:
        params["idempotency-key"] = args.idempotency_key
    function = "http_" + args.action.replace("-", "_")
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    response = call(ctx, function, params, body=body, tenantId=tenant_id, machine=args.machine_id)
    return _report_action(ctx, response)


def cancel(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    response = call(
        ctx, "http_action_cancel", {}, body={"comment": args.comment}, tenantId=tenant_id, actionId=args.action_id
    )
    return _report_action(ctx, response)


def action_status(args: argparse.Namespace, ctx: CliContext) -> int:
    params = {"wait": "true", "waitSeconds": str(max(1, min(int(args.timeout), 200)))} if args.wait else {}
    tenant_id = tenant_id_arg(args.tenant_id, flag="--tenant")
    return _report_action(ctx, call(ctx, "http_action_status", params, tenantId=tenant_id, actionId=args.action_id))


def audit(args: argparse.Namespace, ctx: CliContext) -> int:
    limit = str(max(1, min(args.limit, 1000)))
    if args.tenant_id:
        tenant_ids = [tenant_id_arg(args.tenant_id, flag="--tenant")]
    else:
        tenant_ids = [t.tenant_id for t in services(ctx).tenants.list(enabled_only=True)]
    records: list[dict[str, Any]] = []
    for tenant_id in tenant_ids:
        response = call(ctx, "http_audit", {"limit": limit}, tenantId=tenant_id)
        if response.status >= 400:
            return _report_problem(ctx, response)
        records += [{**r, "tenantId": tenant_id} for r in response.body.get("records", [])]
    records.sort(key=lambda r: str(r.get("time", "")), reverse=True)
    records = records[: args.limit]
    if ctx.out.json_mode:
        ctx.out.json({"records": records})
    else:
        ctx.out.table(records, AUDIT_COLUMNS)
    return EXIT_OK


def _report_action(ctx: CliContext, response: ApiResponse) -> int:
    if response.status >= 400:
        return _report_problem(ctx, response)
    body = response.body
    action = body.get("action", {})
    if ctx.out.json_mode:
        ctx.out.json({"status": response.status, **body})
        return EXIT_OK
    ctx.out.table([action], ACTION_COLUMNS)
    if not body.get("final"):
        tenant = body.get("statusUrl", "").split("/")[3] if body.get("statusUrl") else "<tenant>"
        follow = f"defender-relay action-status --tenant {tenant} --action-id {action.get('id')} --wait"
        ctx.out.line(f"not final yet; follow it: {follow}")
    return EXIT_OK if action.get("status") not in ("Failed", "TimeOut") else EXIT_FAILED


def _report_problem(ctx: CliContext, response: ApiResponse) -> int:
    body = response.body if isinstance(response.body, dict) else {}
    if ctx.out.json_mode:
        ctx.out.json({"status": response.status, "problem": body})
    ctx.out.error(f"{body.get('title', 'error')} ({response.status}): {body.get('detail', '')}")
    return EXIT_USAGE if response.status in _USAGE_STATUSES else EXIT_FAILED


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:120]
