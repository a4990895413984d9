"""``callers add|list|remove``: the caller table of the HTTP API (``shared.callers.store``).

An entry grants one Entra ID caller — keyed by its token's object id (``oid``: one managed identity,
service principal or user) or app id (``appid``/``azp``: every principal of that app) — the tenants it may
reach, by tag and by id. Its app roles come from Entra ID (assigned on the relay API's app registration),
not from here. The app reads the table on every request, so a change holds at once on every instance.
"""

from __future__ import annotations

import argparse

from shared.callers.scope import filter_in_scope
from shared.callers.store import caller_entry
from shared.cli.context import CliContext
from shared.cli.output import EXIT_OK, Column
from shared.cli.services import caller_store, tenant_store
from shared.domain.errors import ValidationError

CALLER_COLUMNS = (
    Column("caller_id", "CALLER"),
    Column("display_name", "NAME", max_width=30),
    Column("scope", "SCOPE", max_width=70),
)


def add(args: argparse.Namespace, ctx: CliContext) -> int:
    if not (args.tags or args.tenant_ids or args.all_tenants):
        raise ValidationError("give the caller's scope: --tag TAG, --tenant ID (each repeatable) or --all-tenants")
    entry = caller_entry(
        args.caller_id, display_name=args.display_name, tenant_ids=args.tenant_ids, tags=args.tags,
        all_tenants=args.all_tenants,
    )  # fmt: skip
    store = caller_store(ctx)
    existed = store.get(entry.caller_id) is not None
    store.upsert(entry)
    tenants = tenant_store(ctx).list()
    reached = len(filter_in_scope(entry.scope, tenants))
    unused = sorted(t for t in entry.scope.tags if not any(t in tenant.tags for tenant in tenants))
    if ctx.out.json_mode:
        ctx.out.json({"result": "updated" if existed else "added", "caller": entry.to_json(), "tenants_now": reached})
        return EXIT_OK
    ctx.out.line(f"{'updated' if existed else 'added'} {entry.caller_id}: {entry.scope.describe()}")
    ctx.out.line(f"reaches {reached} registered tenant(s) now")
    if unused:
        ctx.out.info(f"note: no registered tenant has tag(s) {', '.join(unused)} yet (tenants add ID --tag TAG)")
    return EXIT_OK


def list_(args: argparse.Namespace, ctx: CliContext) -> int:
    entries = caller_store(ctx).list()
    if ctx.out.json_mode:
        ctx.out.json({"callers": [e.to_json() for e in entries]})
        return EXIT_OK
    rows = [{"caller_id": e.caller_id, "display_name": e.display_name, "scope": e.scope.describe()} for e in entries]
    ctx.out.table(rows, CALLER_COLUMNS)
    ctx.out.line(f"{len(rows)} caller(s); a caller without an entry reaches only what its scope roles grant")
    return EXIT_OK


def remove(args: argparse.Namespace, ctx: CliContext) -> int:
    caller_id = caller_entry(args.caller_id).caller_id  # checks the GUID
    removed = caller_store(ctx).delete(caller_id)
    if ctx.out.json_mode:
        ctx.out.json({"result": "removed" if removed else "absent", "caller_id": caller_id})
    else:
        ctx.out.line(f"removed {caller_id}" if removed else f"{caller_id} had no entry")
    return EXIT_OK
