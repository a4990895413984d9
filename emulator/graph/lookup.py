"""Finding a tenant's records on Graph: an MDE alert's twin, or an alert or incident only Graph serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.graph.incident_shape import graph_incident
from emulator.graph.pipeline import GraphCtx


def alert_json(ctx: GraphCtx, alert_id: str) -> bytes | None:
    """One alert's JSON as this client sees it (evolvable members hidden unless it sent the Prefer header)."""
    alert = ctx.data.alerts.get(alert_id)
    if alert is not None:
        return ctx.state.views.alert(ctx.data, alert).json(ctx.include_unknown)
    other = ctx.state.other.data(ctx.data.tenant_id).alerts.get(alert_id)
    return None if other is None else other.json(ctx.include_unknown)


@dataclass(frozen=True)
class IncidentView:
    number: int
    record: dict[str, Any]  # Graph shape, real enum members, datetimes (what $filter compares)
    alert_ids: list[str]


def incidents(ctx: GraphCtx) -> list[IncidentView]:
    """The XDR incidents' twins, then the incidents only Graph serves."""
    views = [
        IncidentView(incident.incident_id, graph_incident(ctx.data, incident), list(incident.alert_ids))
        for incident in ctx.data.incidents.values()
    ]
    other = ctx.state.other.data(ctx.data.tenant_id).incidents
    views += [IncidentView(number, incident.record, list(incident.alert_ids)) for number, incident in other.items()]
    return views


def incident(ctx: GraphCtx, raw_id: str) -> IncidentView | None:
    if not raw_id.isdigit():
        return None
    number = int(raw_id)
    twin = ctx.data.incidents.get(number)
    if twin is not None:
        return IncidentView(number, graph_incident(ctx.data, twin), list(twin.alert_ids))
    other = ctx.state.other.data(ctx.data.tenant_id).incidents.get(number)
    return None if other is None else IncidentView(number, other.record, list(other.alert_ids))
