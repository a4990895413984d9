"""``permissions``: the least-privilege application permissions the partner app needs, and per tenant
which of them its token carries (one token per API, from MSAL's cache when it has one)."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.cli.context import CliContext
from shared.cli.output import EXIT_FAILED, EXIT_OK, Column
from shared.cli.services import services
from shared.cli.tenants_cmd import tenant_id_arg
from shared.domain.catalogue import API_NAMES, missing_roles
from shared.domain.catalogue import ApiResource as Resource
from shared.domain.errors import RelayError
from shared.domain.tenant import Tenant
from shared.tenants.permissions import required_roles, union_roles

TENANT_COLUMNS = (
    Column("tenant_id", "TENANT"),
    Column("display_name", "NAME", max_width=28),
    Column("api", "API"),
    Column("granted", "GRANTED (needed)", max_width=70),
    Column("missing", "MISSING", max_width=50),
    Column("status", "STATUS"),
)


def permissions(args: argparse.Namespace, ctx: CliContext) -> int:
    svc = services(ctx)
    default = svc.settings.default_allowed_actions
    store = svc.tenants
    tenants = [store.get(tenant_id_arg(args.tenant_id))] if args.tenant_id else store.list(enabled_only=True)
    needed = {t.tenant_id: required_roles(t, default) for t in tenants}
    app_roles = union_roles(needed.values())
    rows: list[dict[str, Any]] = []
    if not args.no_tokens:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="permissions") as pool:
            for tenant_rows in pool.map(lambda t: _tenant_rows(svc.tokens, t, needed[t.tenant_id]), tenants):
                rows += tenant_rows
    failing = [r for r in rows if r["status"] != "ok"]
    if ctx.out.json_mode:
        apps = {API_NAMES[r]: roles for r, roles in app_roles.items()}
        ctx.out.json({"application_permissions": apps, "tenants": rows, "failing": len(failing)})
    else:
        _print(ctx, app_roles, rows, args.no_tokens)
    return EXIT_FAILED if failing else EXIT_OK


def _tenant_rows(tokens: Any, tenant: Tenant, needed: dict[Resource, frozenset[str]]) -> list[dict[str, Any]]:
    rows = []
    for resource, roles in sorted(needed.items()):
        row: dict[str, Any] = {"tenant_id": tenant.tenant_id, "display_name": tenant.display_name,
                               "api": API_NAMES[resource], "needed": sorted(roles)}  # fmt: skip
        try:
            granted = set(tokens.get_token(tenant, resource).roles)
        except RelayError as exc:
            rows.append({**row, "granted": [], "missing": sorted(roles), "status": exc.kind, "error": exc.message})
            continue
        missing = sorted(missing_roles(roles, granted))
        marked = [f"{r}*" if r in roles else r for r in sorted(granted)]
        rows.append({**row, "granted": marked, "missing": missing, "status": "missing-roles" if missing else "ok"})
    return rows


def _print(ctx: CliContext, app_roles: dict[Resource, list[str]], rows: list[dict[str, Any]], no_tokens: bool) -> None:
    ctx.out.heading("Application permissions the partner app needs (least privilege, admin consent required):")
    for resource, roles in app_roles.items():
        ctx.out.line(f"  {API_NAMES[resource]}: {', '.join(roles)}")
    if not app_roles:
        ctx.out.line("  (no enabled tenants: nothing is needed yet)")
    if no_tokens:
        return
    ctx.out.line()
    ctx.out.heading("Per tenant, what its token carries (* = needed):")
    ctx.out.table(rows, TENANT_COLUMNS)
