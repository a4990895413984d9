"""An XDR incident as the Graph ``microsoft.graph.security.incident``, and the incident routes.

Fields, order and enums follow the JSON representation of
https://learn.microsoft.com/graph/api/resources/security-incident (``id`` a string, ``status`` active /
resolved / inProgress / redirected / awaitingAction, ``customTags``); ``$expand=alerts`` adds the incident's
Graph alerts, as in example 2 of https://learn.microsoft.com/graph/api/security-list-incidents. Incident
records change in place (their alerts move them), so they are rendered per request, not cached.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import dumps
from emulator.defender.odata import Schema
from emulator.defender.store import Incident, TenantData
from emulator.graph import enums
from emulator.graph.errors import GraphError
from emulator.graph.pipeline import GraphCtx
from emulator.graph.query import ListRules, page_of, parse_entity, parse_list, select
from emulator.graph.responses import collection_bytes, entity_bytes, json_response
from emulator.graph.views import GraphViews

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


def graph_incident(data: TenantData, incident: Incident) -> dict[str, Any]:
    record = incident.record
    redirect = record["redirectIncidentId"]
    return {
        "@odata.type": "#microsoft.graph.security.incident",
        "id": str(record["incidentId"]),
        "incidentWebUrl": record["incidentUri"],
        "tenantId": data.tenant_id,
        "redirectIncidentId": None if redirect is None else str(redirect),
        "displayName": record["incidentName"],
        "createdDateTime": record["createdTime"],
        "lastUpdateDateTime": record["lastUpdateTime"],
        "assignedTo": record["assignedTo"],
        "classification": enums.camel(record["classification"], enums.CLASSIFICATION),
        "determination": enums.camel(record["determination"], enums.DETERMINATION),
        "status": enums.camel(record["status"], enums.INCIDENT_STATUS),
        "severity": enums.camel(record["severity"], enums.SEVERITY),
        "customTags": list(record["tags"]),
        "comments": [
            {"comment": c["comment"], "createdByDisplayName": c["createdBy"], "createdDateTime": c["createdTime"]}
            for c in record["comments"]
        ],
        "systemTags": [],
        "description": None,
    }


def _incident_json(ctx: GraphCtx, incident: Incident, record: dict[str, Any], expand: frozenset[str]) -> bytes:
    shown = record if ctx.include_unknown else enums.hide_evolvable(record, enums.EVOLVABLE_INCIDENT_FIELDS)
    body = dumps(shown).encode()
    if "alerts" not in expand:
        return body
    views: GraphViews = ctx.state.views
    alerts = [
        views.alert(ctx.data, ctx.data.alerts[i]).json(ctx.include_unknown)
        for i in incident.alert_ids
        if i in ctx.data.alerts
    ]
    return body[:-1] + b',"alerts":[' + b",".join(alerts) + b"]}"


def _arranged(ctx: GraphCtx, pairs: list[tuple[Incident, dict[str, Any]]]) -> list[tuple[Incident, dict[str, Any]]]:
    """Most recent incidents first ("The most recent incidents are displayed at the top of the list")."""
    if ctx.state.ordering.ignore_order:
        return ctx.state.ordering.arrange(pairs, lambda pair: pair[1]["id"])
    return sorted(pairs, key=lambda pair: (pair[1]["createdDateTime"], pair[0].incident_id), reverse=True)


async def list_incidents(ctx: GraphCtx) -> web.Response:
    settings = ctx.state.settings
    query = ctx.request.rel_url.query
    list_query = parse_list(query, INCIDENT_RULES, max_top=settings.incidents_max_top)
    pairs = [(incident, graph_incident(ctx.data, incident)) for incident in ctx.data.incidents.values()]
    chosen = _arranged(ctx, select(pairs, list_query.predicate, lambda pair: pair[1]))
    page = page_of(
        chosen, list_query, page_size=settings.incidents_page_size, next_base=ctx.list_url("incidents"), query=query
    )
    parts = [_incident_json(ctx, incident, record, list_query.expand) for incident, record in page.items]
    count = page.total if list_query.count else None
    return json_response(ctx, collection_bytes(ctx.context("security/incidents"), count, page.next_link, parts))


async def get_incident(ctx: GraphCtx) -> web.Response:
    expand = parse_entity(ctx.request.rel_url.query, INCIDENT_RULES)
    raw = ctx.args[0]
    incident = ctx.data.incidents.get(int(raw)) if raw.isdigit() else None
    if incident is None:
        raise GraphError(404, "NotFound", f"Incident {raw} was not found")
    body = _incident_json(ctx, incident, graph_incident(ctx.data, incident), expand)
    return json_response(ctx, entity_bytes(ctx.context("security/incidents/$entity"), body))
