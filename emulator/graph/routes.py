"""The Graph security routes: ``alerts_v2`` (list, get) and ``incidents`` (list, get, ``$expand=alerts``).

https://learn.microsoft.com/graph/api/security-list-alerts_v2, security-alert-get, security-list-incidents,
security-incident-get. Lists come most recent first ("The most recent alerts are displayed at the top of the
list", same pages), by ``createdDateTime``; in the order-ignoring mode in a seeded arbitrary order instead.
"""

from __future__ import annotations

from aiohttp import web

from emulator.defender.odata import Schema
from emulator.graph.auth import ALERT_READ_ROLES, INCIDENT_READ_ROLES
from emulator.graph.errors import GraphError
from emulator.graph.incidents import get_incident, list_incidents
from emulator.graph.lookup import alert_json
from emulator.graph.pipeline import GraphCtx, GraphRoute
from emulator.graph.query import ListRules, page_of, parse_entity, parse_list, select
from emulator.graph.responses import collection_bytes, entity_bytes, json_response
from emulator.graph.views import Rendered

_ENUM_AND_TEXT = ("assignedTo", "classification", "determination", "severity", "status")
ALERT_RULES = ListRules(
    "alerts_v2",
    Schema(
        "microsoft.graph.security.alert",
        {
            **dict.fromkeys(("createdDateTime", "lastUpdateDateTime"), "datetime"),
            **dict.fromkeys((*_ENUM_AND_TEXT, "serviceSource"), "string"),
        },
    ),
    frozenset({"$count", "$filter", "$skip", "$top", "$skiptoken"}),
)


def arranged(ctx: GraphCtx, items: list[Rendered]) -> list[Rendered]:
    """Most recent first (ties by id, descending), or the seeded arbitrary order of the order-ignoring mode."""
    ordering = ctx.state.ordering
    if ordering.ignore_order:
        return ordering.arrange(items, lambda item: item.record["id"])
    items.sort(key=lambda item: (item.record["createdDateTime"], item.record["id"]), reverse=True)
    return items


async def list_alerts(ctx: GraphCtx) -> web.Response:
    settings = ctx.state.settings
    query = ctx.request.rel_url.query
    list_query = parse_list(query, ALERT_RULES, max_top=settings.alerts_max_top)
    rendered = [ctx.state.views.alert(ctx.data, alert) for alert in ctx.data.alerts.values()]
    rendered += ctx.state.other.data(ctx.data.tenant_id).alerts.values()
    chosen = arranged(ctx, select(rendered, list_query.predicate, lambda item: item.record))
    page = page_of(
        chosen, list_query, page_size=settings.alerts_page_size, next_base=ctx.list_url("alerts_v2"), query=query
    )
    parts = [item.json(ctx.include_unknown) for item in page.items]
    count = page.total if list_query.count else None
    return json_response(ctx, collection_bytes(ctx.context("security/alerts_v2"), count, page.next_link, parts))


async def get_alert(ctx: GraphCtx) -> web.Response:
    parse_entity(ctx.request.rel_url.query, ALERT_RULES)
    entity = alert_json(ctx, ctx.args[0])
    if entity is None:
        raise GraphError(404, "NotFound", f"Alert {ctx.args[0]} was not found")
    return json_response(ctx, entity_bytes(ctx.context("security/alerts_v2/$entity"), entity))


ROUTES: dict[tuple[str, ...], GraphRoute] = {
    ("alerts_v2",): GraphRoute("graph-alerts", ALERT_READ_ROLES, {"GET": list_alerts}),
    ("alerts_v2", "*"): GraphRoute("graph-alerts", ALERT_READ_ROLES, {"GET": get_alert}),
    ("incidents",): GraphRoute("graph-incidents", INCIDENT_READ_ROLES, {"GET": list_incidents}),
    ("incidents", "*"): GraphRoute("graph-incidents", INCIDENT_READ_ROLES, {"GET": get_incident}),
}
