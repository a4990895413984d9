"""The argument parser: every command, its options and its ``--help`` text.

Handlers are named by dotted path inside ``shared.cli`` and imported only when their command runs, so
``--help`` is instant and a broken optional service never stops the rest of the CLI from working.

Commands from outside the product (``serve-local``, from the local-development tools) are plugins
declared in the package metadata, entry-point group ``defender_relay.cli`` (see pyproject.toml): the
product never imports ``localdev``, and where it is not installed the command simply is not there.
Each plugin is a function ``register(add_command)`` that adds its sub-command with ``add_command``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import entry_points

from shared.triage import fields

PLUGIN_GROUP = "defender_relay.cli"
HANDLER_PACKAGE = "shared.cli."

CLOUDS = ("commercial", "gcc", "gcc-high", "dod")

EPILOG = """\
Settings come from the environment (the same app settings as the Function App), optionally overlaid
with the "Values" of a local.settings.json given by --settings. Exit status: 0 ok, 1 something checked
or attempted failed, 2 bad arguments or input, 3 bad configuration.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with our formatter everywhere, so every sub-command gets the same ``--help`` layout."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _common(p: argparse.ArgumentParser) -> None:
    # Accepted after the sub-command too (`defender-relay check --all --json`): scripts write it either way.
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    p.add_argument("--settings", metavar="FILE", default=argparse.SUPPRESS, help="local.settings.json to read")


def _command(sub: argparse._SubParsersAction[_Parser], name: str, handler: str, help_text: str) -> _Parser:
    if not handler.startswith(HANDLER_PACKAGE):
        raise ValueError(f"a built-in command's handler lives in {HANDLER_PACKAGE}*, not {handler}")
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(handler=handler)
    _common(p)
    return p


def build_parser() -> _Parser:
    parser = _Parser(
        prog="defender-relay",
        description="Operate defender-relay across customer tenants: registry, consent, health, sweeps, actions.",
        epilog=EPILOG,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document (for scripts)")
    parser.add_argument("--settings", metavar="FILE", help="local.settings.json whose Values overlay the environment")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=_Parser)
    _add_tenant_commands(sub)
    _add_caller_commands(sub)
    _add_health_commands(sub)
    _add_sweep_commands(sub)
    _add_migrate_command(sub)
    _add_action_commands(sub)
    _add_triage_commands(sub)
    _add_indicator_commands(sub)
    _add_hunt_commands(sub)
    for plugin in entry_points(group=PLUGIN_GROUP):
        register: Callable[[AddCommand], None] = plugin.load()
        register(lambda name, handler, help_text: _plugin_command(sub, name, handler, help_text))
    return parser


# ``add_command(name, handler, help_text)`` as a plugin sees it; ``handler`` is the function itself.
AddCommand = Callable[[str, Callable[..., int], str], argparse.ArgumentParser]


def _plugin_command(
    sub: argparse._SubParsersAction[_Parser], name: str, handler: Callable[..., int], help_text: str
) -> _Parser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(handler=handler)
    _common(p)
    return p


def _add_tenant_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    tenants = sub.add_parser("tenants", help="the tenant registry", description="Manage the tenant registry.")
    _common(tenants)
    tsub = tenants.add_subparsers(title="tenant commands", metavar="ACTION", required=True, parser_class=_Parser)
    mod = "shared.cli.tenants_cmd"
    p = _command(tsub, "add", f"{mod}:add", "register a customer tenant (or update it)")
    p.add_argument("tenant_id", help="the customer's tenant id (GUID), or a domain of it (looked up once)")
    p.add_argument("--name", dest="display_name", help="display name (default: the tenant id)")
    p.add_argument("--cloud", default="commercial", help="commercial | gcc | gcc-high | dod")
    p.add_argument("--region", default="auto", help="auto | us | eu | uk | au | swa | ina (commercial only)")
    p.add_argument(
        "--feeds",
        help="comma list of graph-alerts, graph-incidents (the default: both), mde-alerts, xdr-incidents "
        "(these two stop working on 2027-02-01)",
    )
    p.add_argument(
        "--expand-incident-alerts",
        action="store_true",
        help="graph-incidents: ask for $expand=alerts (off by default: large tenants have seen 500s with it)",
    )
    p.add_argument(
        "--service-sources",
        help="graph-alerts: only these serviceSource values, comma list (default: all), "
        "e.g. microsoftDefenderForEndpoint,microsoftDefenderForOffice365",
    )
    p.add_argument("--actions", help="comma list of allowed response actions (default: the app setting)")
    p.add_argument(
        "--tag",
        dest="tags",
        action="append",
        metavar="TAG",
        help="a group callers' scopes name (repeatable): emea, gold",
    )
    p.add_argument("--disabled", action="store_true", help="register it disabled")
    p = _command(tsub, "list", f"{mod}:list_", "list registered tenants with their health")
    p.add_argument("--enabled-only", action="store_true", help="hide disabled tenants")
    for name, verb in (("remove", "remove from the registry"), ("enable", "enable"), ("disable", "disable")):
        p = _command(tsub, name, f"{mod}:{name}", f"{verb} a tenant")
        p.add_argument("tenant_id", help="tenant id (GUID)")
    p = _command(tsub, "import", f"{mod}:import_", "add or update tenants from a JSON file (all-or-nothing)")
    p.add_argument("file", help='JSON file: a list of tenants, or {"tenants": [...]} ("-" for stdin)')
    p.add_argument("--dry-run", action="store_true", help="validate only")
    p = _command(tsub, "export", f"{mod}:export", "print the registry as an importable JSON file")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")

    p = _command(sub, "consent-link", "shared.cli.tenants_cmd:consent_link", "admin-consent URL(s) for customers")
    p.add_argument("--cloud", choices=CLOUDS, help="only this cloud's app (default: every configured app)")
    p = _command(sub, "permissions", "shared.cli.permissions_cmd:permissions", "least-privilege roles, and per tenant")
    p.add_argument("--tenant", dest="tenant_id", help="only this tenant")
    p.add_argument("--no-tokens", action="store_true", help="list what is needed without asking for tokens")


def _add_caller_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    callers = sub.add_parser(
        "callers",
        help="Entra ID callers of the HTTP API and their tenant scopes",
        description="Manage which tenants each Entra ID caller (app id or object id of its token) may reach.",
    )
    _common(callers)
    csub = callers.add_subparsers(title="caller commands", metavar="ACTION", required=True, parser_class=_Parser)
    mod = "shared.cli.callers_cmd"
    p = _command(csub, "add", f"{mod}:add", "grant a caller its tenant scope (replaces the caller's entry)")
    p.add_argument("caller_id", help="the caller's app id (appid/azp) or object id (oid), a GUID")
    p.add_argument("--name", dest="display_name", default="", help="what the audit trail calls it")
    p.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG", help="tenants with this tag")
    p.add_argument("--tenant", dest="tenant_ids", action="append", default=[], metavar="ID", help="this tenant")
    p.add_argument("--all-tenants", action="store_true", help="every tenant (use sparingly)")
    _command(csub, "list", f"{mod}:list_", "list callers and their scopes")
    p = _command(csub, "remove", f"{mod}:remove", "remove a caller's entry (it then reaches no tenant)")
    p.add_argument("caller_id", help="app id or object id (GUID)")


def _add_health_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _command(sub, "check", "shared.cli.check_cmd:check", "token, claims and one call per feed and action")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--tenant", dest="tenant_id", help="check one tenant")
    group.add_argument("--all", action="store_true", help="check every enabled tenant")


MIGRATE_HELP = """\
Microsoft retires the MDE and XDR APIs on 2027-02-01 (MC1220762): mde-alerts and xdr-incidents stop then.
migrate moves a tenant to graph-alerts / graph-incidents, starting where the old feeds stand, so nothing
is lost or repeated across the switch. A tenant whose Graph token lacks SecurityAlert.Read.All /
SecurityIncident.Read.All is not moved: its admin must consent again (--report says who, with the link).
--rollback moves graph-alerts / graph-incidents back the same way (until 2027-02-01); alerts only Graph
serves (Defender products other than Endpoint) stop reaching the sinks then.
"""


def _add_migrate_command(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _command(
        sub, "migrate", "shared.cli.migrate_cmd:migrate", "move tenants from the retiring MDE/XDR feeds to Graph"
    )
    p.epilog = MIGRATE_HELP
    p.add_argument("--report", action="store_true", help="readiness of every enabled tenant; changes nothing")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--tenant", dest="tenant_id", help="only this tenant")
    group.add_argument("--all", action="store_true", help="every enabled tenant that is ready")
    p.add_argument("--dry-run", action="store_true", help="check and show what would move; change nothing")
    p.add_argument(
        "--rollback",
        action="store_true",
        help="move Graph feeds back to mde-alerts / xdr-incidents (until 2027-02-01); stops other products' alerts",
    )


def _add_sweep_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _command(sub, "sweep", "shared.cli.sweep_cmd:sweep", "run one sweep in-process (enqueue, then drain)")
    p.add_argument("--once", action="store_true", required=True, help="one sweep, then exit (required)")
    p.add_argument("--tenant", dest="tenant_id", help="only this tenant")
    p = _command(sub, "backfill", "shared.cli.sweep_cmd:backfill", "re-read a tenant's feeds over a time range")
    p.add_argument("--tenant", dest="tenant_id", required=True, help="tenant id (GUID)")
    p.add_argument("--since", required=True, help="start (ISO date or date-time, UTC)")
    p.add_argument("--until", help="end (ISO date or date-time, UTC; default: now)")
    p.add_argument("--feed", help="only this feed (graph-alerts | graph-incidents | mde-alerts | xdr-incidents)")


ACTION_HELP = {
    "isolate": "isolate a machine from the network",
    "unisolate": "release a machine from isolation",
    "scan": "run an antivirus scan",
    "restrict": "restrict app execution",
    "unrestrict": "remove the app execution restriction",
    "collect-package": "collect an investigation package",
    "stop-and-quarantine": "stop a file and quarantine it",
}


def _add_action_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    mod = "shared.cli.actions_cmd"
    for name, text in ACTION_HELP.items():
        p = _command(sub, name, f"{mod}:machine_action", text)
        p.set_defaults(action=name)
        p.add_argument("--tenant", dest="tenant_id", required=True, help="tenant id (GUID)")
        p.add_argument("--machine", dest="machine_id", required=True, help="Defender machine id")
        p.add_argument("--comment", required=True, help="why (recorded in Defender and the audit log)")
        p.add_argument("--idempotency-key", help="repeat-safe key (same key + same request = same action)")
        p.add_argument("--wait", action="store_true", help="follow the action until it reaches a final state")
        if name == "isolate":
            p.add_argument("--type", dest="isolation_type", default="Full", help="Full | Selective | UnManagedDevice")
        if name == "scan":
            p.add_argument("--scan-type", default="Quick", help="Quick | Full")
        if name == "stop-and-quarantine":
            p.add_argument("--sha1", required=True, help="SHA-1 of the file")
    p = _command(sub, "cancel", f"{mod}:cancel", "cancel a machine action that is not final yet")
    p.add_argument("--tenant", dest="tenant_id", required=True, help="tenant id (GUID)")
    p.add_argument("--action-id", required=True, help="machine action id")
    p.add_argument("--comment", required=True, help="why")
    p = _command(sub, "action-status", f"{mod}:action_status", "show a machine action's status")
    p.add_argument("--tenant", dest="tenant_id", required=True, help="tenant id (GUID)")
    p.add_argument("--action-id", required=True, help="machine action id")
    p.add_argument("--wait", action="store_true", help="follow it until it reaches a final state")
    p.add_argument("--timeout", type=float, default=120.0, help="give up following after N seconds")
    p = _command(sub, "audit", f"{mod}:audit", "recent response-action audit records")
    p.add_argument("--tenant", dest="tenant_id", help="only this tenant")
    p.add_argument("--limit", type=int, default=50, help="at most N records (newest first)")


def _add_indicator_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``indicators push|sync|drift|remove|list|status`` (shared/cli/indicators_cmd.py, docs/indicators.md)."""
    from shared.domain.indicator_values import INDICATOR_TYPES

    text = "custom indicators across tenants: push, sync (with a dry run), drift, remove"
    group = sub.add_parser("indicators", help=text, description=text)
    _common(group)
    isub = group.add_subparsers(title="indicator commands", metavar="ACTION", required=True, parser_class=_Parser)
    mod = "shared.cli.indicators_cmd"

    def targets(p: argparse.ArgumentParser) -> None:
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="every enabled tenant whose allow-list names indicators")
        which.add_argument("--tenant", dest="tenant_id", action="append", help="this tenant (repeat for more)")
        p.add_argument("--idempotency-key", help="repeat-safe key (same key + same request = the same job)")
        p.add_argument("--no-wait", action="store_true", help="queue the job and print its id (the app runs it)")

    p = _command(isub, "push", f"{mod}:push", "add or update indicators from a file in the chosen tenants")
    p.add_argument("--file", required=True, help="CSV or JSON file of indicators (docs/indicators.md)")
    targets(p)
    p = _command(isub, "sync", f"{mod}:sync", "make a baseline file the relay's indicators in each tenant")
    p.add_argument("--baseline", required=True, help="CSV or JSON file: the wanted indicators")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan per tenant (add/update/remove), change nothing"
    )
    targets(p)
    p = _command(isub, "drift", f"{mod}:drift", "per tenant, how the relay's indicators differ from a baseline")
    p.add_argument("--baseline", required=True, help="CSV or JSON file: the wanted indicators")
    targets(p)
    p = _command(isub, "remove", f"{mod}:remove", "remove indicators by value (only ones the relay created)")
    p.add_argument("--value", action="append", required=True, help="indicator value (repeat for more)")
    p.add_argument("--type", choices=INDICATOR_TYPES, help="only indicators of this type (default: any type)")
    targets(p)
    p = _command(isub, "list", f"{mod}:list_", "the indicators the relay created in one tenant")
    p.add_argument("--tenant", dest="tenant_id", required=True, help="tenant id (GUID)")
    p = _command(isub, "status", f"{mod}:status", "an indicator job's progress and per-tenant outcomes")
    p.add_argument("--job", dest="job_id", required=True, help="job id (from push, sync, drift or remove)")


TRIAGE_HELP = """\
Triage writes to Microsoft Graph (alerts, incidents) and Defender for Endpoint (machine tags) for tenants
whose allow-list names `triage`. Values are Graph's (camelCase) and checked against each write's page:
alert status new | inProgress | resolved; incident status active | resolved | redirected; determinations
differ between alerts (clean, insufficientData) and incidents (notMalicious, notEnoughDataToValidate).
"""


def _group(sub: argparse._SubParsersAction[_Parser], name: str, text: str) -> argparse._SubParsersAction[_Parser]:
    group = sub.add_parser(name, help=text, description=text, epilog=TRIAGE_HELP)
    _common(group)
    return group.add_subparsers(title=f"{name} commands", metavar="ACTION", required=True, parser_class=_Parser)


def _triage_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", dest="tenant_id", required=True, help="tenant id (GUID)")
    p.add_argument("--idempotency-key", help="repeat-safe key (same key + same request = the first answer)")


def _changes(p: argparse.ArgumentParser, statuses: tuple[str, ...], determinations: tuple[str, ...]) -> None:
    p.add_argument("--status", help=" | ".join(statuses))
    p.add_argument("--classification", help=" | ".join(fields.CLASSIFICATIONS))
    p.add_argument("--determination", help=" | ".join(determinations))
    owner = p.add_mutually_exclusive_group()
    owner.add_argument("--assigned-to", help="the owner (free text, e.g. a UPN)")
    owner.add_argument("--unassign", action="store_true", help="clear the owner")


def _item_command(group: argparse._SubParsersAction[_Parser], name: str, handler: str, text: str, item: str) -> _Parser:
    p = _command(group, name, handler, text)
    p.add_argument(f"{item}_id", metavar=f"{item.upper()}_ID")
    _triage_common(p)
    if name == "comment":
        p.add_argument("--comment", required=True, help="the comment (1 to 1,000 characters)")
    return p


def _add_triage_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    mod = "shared.cli.triage_cmd"
    alerts = _group(sub, "alert", "triage alerts (Microsoft Graph alerts_v2)")
    p = _command(alerts, "update", f"{mod}:alert_update", "update one alert, or many in one batch")
    p.add_argument("alert_ids", nargs="+", metavar="ALERT_ID", help="one or more alert ids (more: one batch request)")
    _triage_common(p)
    _changes(p, fields.ALERT_STATUSES, fields.ALERT_DETERMINATIONS)
    p.add_argument("--comment", help="also add this comment to each alert (sent as a batch)")
    _item_command(alerts, "comment", f"{mod}:alert_comment", "add a comment to an alert", "alert")
    incidents = _group(sub, "incident", "triage incidents (Microsoft Graph security incidents)")
    p = _item_command(incidents, "update", f"{mod}:incident_update", "update an incident", "incident")
    _changes(p, fields.INCIDENT_STATUSES, fields.INCIDENT_DETERMINATIONS)
    p.add_argument("--tags", help="comma list that replaces the incident's custom tags ('' clears them)")
    _item_command(incidents, "comment", f"{mod}:incident_comment", "add a comment to an incident", "incident")
    machines = _group(sub, "machine", "machine tags (Defender for Endpoint)")
    p = _command(machines, "tag", f"{mod}:machine_tag", "add or remove a machine tag")
    _triage_common(p)
    p.add_argument("--machine", dest="machine_id", required=True, help="machine id, exact DNS name or IP")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--add", metavar="TAG", help="add this tag")
    which.add_argument("--remove", metavar="TAG", help="remove this tag")


HUNT_HELP = """\
A hunt runs one KQL query (Microsoft Graph runHuntingQuery) in every enabled tenant, or in the ones named,
and merges their rows with tenantId and tenantName in front. The first tenant proves the query before the
others are asked, so a syntax error costs one call. Needs RELAY_HUNTING_ENABLED=1 and ThreatHunting.Read.All
consented in each tenant (docs/hunting.md).
"""


def _hunt_source(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--query-file", metavar="FILE", help="the KQL, from a file (e.g. q.kql)")
    source.add_argument("--query", metavar="KQL", help="the KQL, inline")
    p.add_argument("--timespan", help="ISO 8601, e.g. P7D or 2026-11-01T00:00:00Z/P1D (default: Graph's 30 days)")
    selection = p.add_mutually_exclusive_group()
    selection.add_argument("--all", action="store_true", help="every enabled tenant (the default)")
    selection.add_argument(
        "--tenant", dest="tenant_ids", action="append", metavar="ID", help="only this tenant (repeat for more)"
    )


def _add_hunt_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    hunt = sub.add_parser("hunt", help="hunt across tenants (Graph advanced hunting)", description=HUNT_HELP)
    _common(hunt)
    hsub = hunt.add_subparsers(title="hunt commands", metavar="ACTION", required=True, parser_class=_Parser)
    mod = "shared.cli.hunt_cmd"
    p = _command(hsub, "run", f"{mod}:run", "run one query in many tenants and print the merged rows")
    p.epilog = HUNT_HELP
    _hunt_source(p)
    p.add_argument("--format", choices=("table", "csv", "ndjson"), default="table", help="how rows are printed")
    p.add_argument("--no-wait", action="store_true", help="only queue it (the Functions host runs it); print its id")
    p = _command(hsub, "status", f"{mod}:status", "a hunt's state and each tenant's outcome")
    p.add_argument("hunt_id", metavar="HUNT_ID")
    p = _command(hsub, "results", f"{mod}:results", "a hunt's merged rows (all of them)")
    p.add_argument("hunt_id", metavar="HUNT_ID")
    p.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    schedule = hsub.add_parser("schedule", help="saved hunts on an NCRONTAB schedule", description="Saved hunts.")
    _common(schedule)
    ssub = schedule.add_subparsers(title="schedule commands", metavar="ACTION", required=True, parser_class=_Parser)
    p = _command(ssub, "add", f"{mod}:schedule_add", "save a hunt; its new rows reach the sinks as hunt-row events")
    p.add_argument("--name", required=True, help="what the SOC calls it")
    p.add_argument("--schedule", required=True, help="NCRONTAB, 6 fields, UTC, e.g. '0 0 * * * *' (hourly)")
    _hunt_source(p)
    _command(ssub, "list", f"{mod}:schedule_list", "list the saved hunts")
    p = _command(ssub, "remove", f"{mod}:schedule_remove", "remove a saved hunt")
    p.add_argument("schedule_id", metavar="SCHEDULE_ID")
