"""``tenants add|list|remove|enable|disable|import|export`` and ``consent-link``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from shared.cli.context import CliContext
from shared.cli.output import EXIT_OK, Column
from shared.cli.services import app_client_ids, tenant_store
from shared.cli.tenant_file import read_tenant_file
from shared.domain import clouds
from shared.domain.catalogue import MDE_XDR_RETIREMENT, retiring
from shared.domain.clouds import AppFamily, family_for, parse_cloud
from shared.domain.errors import ConfigError, ValidationError
from shared.domain.tenant import Tenant, TenantHealth, is_guid, parse_tenant, tenant_to_json
from shared.platform.sessions import TimeoutSession
from shared.platform.setting_checks import Problems
from shared.platform.settings import parse_host_overrides, setting
from shared.tenants.readiness import retirement_warnings

TENANT_COLUMNS = (
    Column("tenant_id", "TENANT"),
    Column("display_name", "NAME", max_width=30),
    Column("cloud", "CLOUD"),
    Column("region", "REGION"),
    Column("enabled", "ENABLED"),
    Column("feeds", "FEEDS"),
    Column("health", "HEALTH"),
    Column("last_check", "LAST CHECK"),
)


def tenant_id_arg(value: str, *, flag: str = "tenant_id") -> str:
    """A tenant id from the command line, or a ValidationError naming the argument."""
    text = (value or "").strip().lower()
    if not is_guid(text):
        raise ValidationError(f"{flag}: '{value}' is not a tenant id (GUID)", field=flag)
    return text


_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ISSUER_TENANT = re.compile(r"^https://[^/]+/([0-9a-f-]{36})/v2\.0$")


def resolve_tenant_arg(value: str, cloud: str, environ: Mapping[str, str]) -> str:
    """A tenant id, or a verified domain (``contoso.onmicrosoft.com``) resolved once to the tenant id.

    Entra accepts a tenant "in GUID or domain-name format", but the registry keys tenants by id, and the
    token's ``tid`` claim (the id) is what every call is checked against; a domain can also be moved to
    another tenant later. So a domain is resolved here, at onboarding, through the cloud's OIDC discovery
    document, whose ``issuer`` names the tenant id
    (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri).
    """
    text = (value or "").strip().lower()
    if is_guid(text):
        return text
    if not _DOMAIN.match(text):
        message = f"tenant_id: '{value}' is neither a tenant id (GUID) nor a domain name"
        raise ValidationError(message, field="tenant_id")
    problems = Problems()
    overrides = parse_host_overrides("RELAY_HOST_OVERRIDES", setting(environ, "RELAY_HOST_OVERRIDES"), problems)
    if problems:
        raise ConfigError(problems.lines)
    login_base = clouds.endpoints_for(cloud).login_base
    url = f"{login_base}/{text}/v2.0/.well-known/openid-configuration"
    # The login host answers for tenants of the other cloud too; cloud_instance_name says where the tenant is.
    instance = login_base.removeprefix("https://login.")
    tenant_id = _discovered_tenant_id(clouds.rewrite_url(url, overrides), instance)
    if tenant_id is None:
        raise ValidationError(
            f"tenant_id: '{value}' is not a tenant id (GUID), and the {cloud} cloud's OIDC discovery knows no "
            f"tenant with that domain; give the tenant id (GUID) from the customer's Entra admin center",
            field="tenant_id",
        )
    return tenant_id


def _discovered_tenant_id(url: str, instance: str) -> str | None:
    try:
        with TimeoutSession(timeout=(5.0, 15.0)) as session:
            response = session.get(url)
        document = response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return None
    if not isinstance(document, dict) or document.get("cloud_instance_name", instance) != instance:
        return None
    match = _ISSUER_TENANT.match(str(document.get("issuer", "")))
    return match.group(1) if match and is_guid(match.group(1)) else None


def health_word(health: TenantHealth) -> str:
    """One word for a tenant's state: ok, unknown (never checked) or the kind of the last failure."""
    if health.consecutive_failures > 0:
        return health.last_error_kind or "failing"
    return "ok" if health.last_success is not None else "unknown"


def tenant_row(tenant: Tenant, health: TenantHealth | None = None) -> dict[str, Any]:
    row = tenant_to_json(tenant)
    row["retiring_feeds"] = [spec.name for spec in retiring(tenant.feeds)]
    if health is not None:
        row["health"] = health_word(health)
        row["last_check"] = health.last_check.isoformat(timespec="seconds") if health.last_check else None
        row["last_success"] = health.last_success.isoformat(timespec="seconds") if health.last_success else None
        row["consecutive_failures"] = health.consecutive_failures
        row["last_error"] = health.last_error_message if health.consecutive_failures else None
        row["remedy"] = health.last_error_remedy if health.consecutive_failures else None
    return row


def add(args: argparse.Namespace, ctx: CliContext) -> int:
    clouds.parse_cloud(args.cloud)  # a bad --cloud is named before any lookup
    tenant_id = resolve_tenant_arg(args.tenant_id, args.cloud, ctx.environ)
    raw: dict[str, Any] = {"tenant_id": tenant_id, "cloud": args.cloud, "region": args.region}
    raw["display_name"] = args.display_name if args.display_name is not None else args.tenant_id
    raw["enabled"] = not args.disabled
    if args.feeds is not None:
        raw["feeds"] = args.feeds
    if args.actions is not None:
        raw["allowed_actions"] = args.actions
    raw["expand_incident_alerts"] = bool(args.expand_incident_alerts)
    if args.service_sources is not None:
        raw["service_sources"] = args.service_sources
    tenant = parse_tenant(raw, where="tenant")
    store = tenant_store(ctx)
    existed = tenant.tenant_id in {t.tenant_id for t in store.list()}
    store.upsert(tenant)
    verb = "updated" if existed else "added"
    if ctx.out.json_mode:
        ctx.out.json({"result": verb, "tenant": tenant_to_json(tenant)})
    else:
        feeds = ", ".join(sorted(tenant.feeds))
        ctx.out.line(
            f"{verb} {tenant.display_name} ({tenant.tenant_id}), {tenant.cloud}/{tenant.region}, feeds {feeds}"
        )
        for warning in retirement_warnings(tenant):
            ctx.out.line(f"warning: {warning}")
        ctx.out.line(f"next: `defender-relay check --tenant {tenant.tenant_id}` once the customer has consented")
    return EXIT_OK


def list_(args: argparse.Namespace, ctx: CliContext) -> int:
    pairs = tenant_store(ctx).list_with_health()
    rows = [tenant_row(t, h) for t, h in pairs if t.enabled or not args.enabled_only]
    if ctx.out.json_mode:
        ctx.out.json({"tenants": rows})
    else:
        ctx.out.table(rows, TENANT_COLUMNS)
        failing = sum(1 for r in rows if r["health"] not in ("ok", "unknown"))
        ctx.out.line(f"{len(rows)} tenant(s), {failing} failing")
        retiring = sum(1 for r in rows if r["retiring_feeds"])
        if retiring:
            ctx.out.line(
                f"{retiring} tenant(s) on feeds that stop working on {MDE_XDR_RETIREMENT}: "
                "`defender-relay migrate --report` says who is ready to move"
            )
    return EXIT_OK


def remove(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_id = tenant_id_arg(args.tenant_id)
    tenant_store(ctx).delete(tenant_id)
    return _done(ctx, "removed", tenant_id)


def enable(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_store(ctx).enable(tenant_id_arg(args.tenant_id))
    return _done(ctx, "enabled", args.tenant_id.lower())


def disable(args: argparse.Namespace, ctx: CliContext) -> int:
    tenant_store(ctx).disable(tenant_id_arg(args.tenant_id))
    return _done(ctx, "disabled", args.tenant_id.lower())


def _done(ctx: CliContext, verb: str, tenant_id: str) -> int:
    if ctx.out.json_mode:
        ctx.out.json({"result": verb, "tenant_id": tenant_id})
    else:
        ctx.out.line(f"{verb} {tenant_id}")
    return EXIT_OK


def import_(args: argparse.Namespace, ctx: CliContext) -> int:
    # Validate the whole file before writing anything: a half-imported list is harder to reason about.
    tenants = read_tenant_file(args.file)
    if args.dry_run:
        return _import_result(ctx, tenants, written=0, dry_run=True)
    store = tenant_store(ctx)
    with ctx.out.progress("importing", len(tenants)) as bar:
        for tenant in tenants:
            store.upsert(tenant)
            bar.advance(note=tenant.display_name)
    return _import_result(ctx, tenants, written=len(tenants), dry_run=False)


def _import_result(ctx: CliContext, tenants: list[Tenant], *, written: int, dry_run: bool) -> int:
    if ctx.out.json_mode:
        ctx.out.json({"valid": len(tenants), "written": written, "dry_run": dry_run})
    elif dry_run:
        ctx.out.line(f"{len(tenants)} tenant(s) valid; nothing written (--dry-run)")
    else:
        ctx.out.line(f"imported {written} tenant(s) (added or updated; health kept)")
    return EXIT_OK


def export(args: argparse.Namespace, ctx: CliContext) -> int:
    document = {"tenants": [tenant_to_json(t) for t in tenant_store(ctx).list()]}
    text = json.dumps(document, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        ctx.out.info(f"wrote {len(document['tenants'])} tenant(s) to {args.output}")
    else:
        # The export *is* JSON whatever --json says: it is meant to be re-imported.
        (ctx.out.stdout or sys.stdout).write(text)
    return EXIT_OK


def consent_link(args: argparse.Namespace, ctx: CliContext) -> int:
    ids = app_client_ids(ctx)
    families = [family_for(parse_cloud(args.cloud))] if args.cloud else list(ids)
    rows = []
    for family in families:
        client_id = ids.get(family)
        if client_id is None:
            setting = "RELAY_USGOV_CLIENT_ID" if family is AppFamily.USGOV else "RELAY_COMMERCIAL_CLIENT_ID"
            raise ValidationError(f"--cloud {args.cloud}: no {family} app is configured ({setting} is unset)")
        served = "gcc-high, dod" if family is AppFamily.USGOV else "commercial, gcc"
        url = clouds.consent_link(family, client_id)
        rows.append({"app": str(family), "clouds": served, "client_id": client_id, "url": url})
    if ctx.out.json_mode:
        ctx.out.json({"links": rows})
        return EXIT_OK
    for row in rows:
        ctx.out.heading(f"{row['app']} app ({row['clouds']} tenants), client id {row['client_id']}")
        ctx.out.line(f"  {row['url']}")
    ctx.out.line()
    ctx.out.line("Send the link to a Global Administrator of the customer's tenant. After they accept, ask")
    ctx.out.line("for their tenant id, then: defender-relay tenants add <tenant-id> --name ... && defender-relay check")
    return EXIT_OK
