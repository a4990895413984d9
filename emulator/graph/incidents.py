"""The Graph incident routes: list and get, with ``$expand=alerts`` (the incident's Graph alerts, as in
example 2 of https://learn.microsoft.com/graph/api/security-list-incidents)."""

from __future__ import annotations

from aiohttp import web

from emulator.defender.jsonfmt import dumps
from emulator.defender.odata import Schema
from emulator.graph import enums, lookup
from emulator.graph.errors import GraphError
from emulator.graph.lookup import IncidentView, alert_json
from emulator.graph.pipeline import GraphCtx
from emulator.graph.query import ListRules, page_of, parse_entity, parse_list, select
from emulator.graph.responses import collection_bytes, entity_bytes, json_response

INCIDENT_RULES = ListRules(
    "incidents",
    Schema(
        "microsoft.graph.security.incident",
        {
            **dict.fromkeys(("createdDateTime", "lastUpdateDateTime"), "datetime"),
            **dict.fromkeys(("assignedTo", "classification", "determination", "severity", "status"), "string"),
        },
    ),
    frozenset({"$count", "$filter", "$skip", "$top", "$expand", "$skiptoken"}),
    expandable=frozenset({"alerts"}),
)


def _incident_json(ctx: GraphCtx, view: IncidentView, expand: frozenset[str]) -> bytes:
    record = view.record
    shown = record if ctx.include_unknown else enums.hide_evolvable(record, enums.EVOLVABLE_INCIDENT_FIELDS)
    body = dumps(shown).encode()
    if "alerts" not in expand:
        return body
    alerts = [part for part in (alert_json(ctx, alert_id) for alert_id in view.alert_ids) if part is not None]
    return body[:-1] + b',"alerts":[' + b",".join(alerts) + b"]}"


def _arranged(ctx: GraphCtx, views: list[IncidentView]) -> list[IncidentView]:
    """Most recent incidents first ("The most recent incidents are displayed at the top of the list")."""
    if ctx.state.ordering.ignore_order:
        return ctx.state.ordering.arrange(views, lambda view: view.number)
    return sorted(views, key=lambda view: (view.record["createdDateTime"], view.number), reverse=True)


async def list_incidents(ctx: GraphCtx) -> web.Response:
    settings = ctx.state.settings
    query = ctx.request.rel_url.query
    list_query = parse_list(query, INCIDENT_RULES, max_top=settings.incidents_max_top)
    chosen = _arranged(ctx, select(lookup.incidents(ctx), list_query.predicate, lambda view: view.record))
    page = page_of(
        chosen, list_query, page_size=settings.incidents_page_size, next_base=ctx.list_url("incidents"), query=query
    )
    parts = [_incident_json(ctx, view, list_query.expand) for view in page.items]
    count = page.total if list_query.count else None
    return json_response(ctx, collection_bytes(ctx.context("security/incidents"), count, page.next_link, parts))


def incident_entity(ctx: GraphCtx, number: int) -> bytes:
    """One incident as the entity body of a GET or PATCH answer (no expansion)."""
    view = lookup.incident(ctx, str(number))
    assert view is not None
    return entity_bytes(ctx.context("security/incidents/$entity"), _incident_json(ctx, view, frozenset()))


async def get_incident(ctx: GraphCtx) -> web.Response:
    expand = parse_entity(ctx.request.rel_url.query, INCIDENT_RULES)
    view = lookup.incident(ctx, ctx.args[0])
    if view is None:
        raise GraphError(404, "NotFound", f"Incident {ctx.args[0]} was not found")
    body = _incident_json(ctx, view, expand)
    return json_response(ctx, entity_bytes(ctx.context("security/incidents/$entity"), body))
