"""``permissions``: the least-privilege application permissions the partner app needs, and per tenant
which of them its token carries (one token per API, from MSAL's cache when it has one).

A tenant still on a retiring feed also gets a Microsoft Graph row "for the move": the Graph roles its
successor feeds need (``SecurityAlert.Read.All``, ``SecurityIncident.Read.All``), whether its Graph token
has them, and the consent link when not (docs/onboarding.md "Re-consent for Microsoft Graph"). Those rows
do not fail the command: the tenant's feeds work today.
"""

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
from shared.tenants.permissions import required_roles, triage_only_roles, union_roles
from shared.tenants.readiness import migration_roles

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
    hunting = svc.settings.hunting_enabled  # ThreatHunting.Read.All only when hunting is on
    needed = {t.tenant_id: required_roles(t, default, hunting=hunting) for t in tenants}
    moving = {t.tenant_id: migration_roles(t) for t in tenants}
    for_moves: list[dict[Resource, frozenset[str]]] = [{"graph": roles} for roles in moving.values() if roles]
    app_roles = union_roles([*needed.values(), *for_moves])
    rows: list[dict[str, Any]] = []
    if not args.no_tokens:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="permissions") as pool:
            for tenant, tenant_rows in zip(
                tenants,
                pool.map(lambda t: _rows(svc.tokens, t, needed[t.tenant_id], moving[t.tenant_id]), tenants),
                strict=True,
            ):
                rows += _scoped(tenant_rows, triage_only_roles(tenant, default))
    failing = [r for r in rows if r["status"] != "ok" and not r.get("for_migration")]
    if ctx.out.json_mode:
        apps = {API_NAMES[r]: roles for r, roles in app_roles.items()}
        ctx.out.json({"application_permissions": apps, "tenants": rows, "failing": len(failing)})
    else:
        _print(ctx, app_roles, rows, args.no_tokens)
    return EXIT_FAILED if failing else EXIT_OK


def _rows(
    tokens: Any, tenant: Tenant, needed: dict[Resource, frozenset[str]], moving: frozenset[str]
) -> list[dict[str, Any]]:
    rows = [_row(tokens, tenant, resource, roles) for resource, roles in sorted(needed.items())]
    if moving and "graph" not in needed:
        rows.append(
            {**_row(tokens, tenant, "graph", moving), "api": "Microsoft Graph (for the move)", "for_migration": True}
        )
    return rows


def _scoped(rows: list[dict[str, Any]], triage_only: frozenset[str]) -> list[dict[str, Any]]:
    """Mark rows whose missing roles only triage needs: the tenant's feeds and actions work without them."""
    for row in rows:
        if row.get("missing") and set(row["missing"]) <= triage_only and row["status"] == "missing-roles":
            row["scope"] = "triage"
            row["status"] = "missing-roles (triage only)"
    return rows


def _row(tokens: Any, tenant: Tenant, resource: Resource, roles: frozenset[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"tenant_id": tenant.tenant_id, "display_name": tenant.display_name,
                           "api": API_NAMES[resource], "needed": sorted(roles)}  # fmt: skip
    try:
        granted = set(tokens.get_token(tenant, resource).roles)
    except RelayError as exc:
        remedy = str(getattr(exc, "remedy", "") or "")
        return {**row, "granted": [], "missing": sorted(roles), "status": exc.kind, "error": exc.message,
                "remedy": remedy}  # fmt: skip
    missing = sorted(missing_roles(roles, granted))  # Ti.ReadWrite.All counts for Ti.ReadWrite
    marked = [f"{r}*" if r in roles else r for r in sorted(granted)]
    row.update(granted=marked, missing=missing, status="missing-roles" if missing else "ok")
    if missing:  # ask with the requirement (a cache hit): the error names what to do, with the consent link
        try:
            tokens.get_token(tenant, resource, required_roles=roles)
        except RelayError as exc:
            row["remedy"] = str(getattr(exc, "remedy", "") or "")
    return row


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
    links = sorted({r["remedy"] for r in rows if r.get("remedy") and r["status"] != "ok"})
    if links:
        ctx.out.line()
        ctx.out.heading("What to do:")
        for remedy in links:
            ctx.out.line(f"  {remedy}")
