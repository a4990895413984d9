"""What a Graph triage write changes in the world (``emulator/graph/writes.py`` validates it first).

An MDE alert's Graph twin and an XDR incident's twin are derived from the Defender records, so a write changes
the Defender record, spelt the Defender way (``inProgress`` -> ``InProgress``, an ``unknown`` classification
-> null; an incident's ``notMalicious`` -> ``Clean`` and ``notEnoughDataToValidate`` ->
``NoEnoughDataToValidate``, the words of https://learn.microsoft.com/defender-xdr/api-update-incidents, which
Graph reads back as the alertDetermination members ``clean`` and ``insufficientData``). The alerts and
incidents only Graph serves are changed in their Graph shape. Either way a change is a new version with the
emulated now as its ``lastUpdateDateTime`` (ground truth holds it once), and a comment is kept with the calling
app's name and the time.
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.defender import activity
from emulator.graph.alerts import graph_comments
from emulator.graph.errors import GraphError
from emulator.graph.pipeline import GraphCtx

_MDE_STATUS = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}
_XDR_STATUS = {"active": "Active", "resolved": "Resolved", "redirected": "Redirected"}
_XDR_DETERMINATION = {"notMalicious": "Clean", "notEnoughDataToValidate": "NoEnoughDataToValidate"}


def _pascal(value: str) -> str:
    return value[:1].upper() + value[1:]


def _mde_alert_changes(changes: dict[str, Any]) -> dict[str, Any]:
    mde: dict[str, Any] = {}
    if "status" in changes:
        mde["status"] = _MDE_STATUS[changes["status"]]
    for name in ("classification", "determination"):
        if name in changes:
            mde[name] = None if changes[name] == "unknown" else _pascal(changes[name])
    if "assignedTo" in changes:
        mde["assignedTo"] = changes["assignedTo"]
    return mde


def _xdr_incident_changes(changes: dict[str, Any]) -> dict[str, Any]:
    xdr: dict[str, Any] = {}
    if "status" in changes:
        xdr["status"] = _XDR_STATUS[changes["status"]]
    if "classification" in changes:
        xdr["classification"] = _pascal(changes["classification"])
    if "determination" in changes:
        value = changes["determination"]
        xdr["determination"] = "NotAvailable" if value == "unknown" else _XDR_DETERMINATION.get(value, _pascal(value))
    if "assignedTo" in changes:
        xdr["assignedTo"] = changes["assignedTo"]
    if "customTags" in changes:
        xdr["tags"] = list(changes["customTags"])
    return xdr


def has_alert(ctx: GraphCtx, alert_id: str) -> bool:
    return alert_id in ctx.data.alerts or alert_id in ctx.state.other.data(ctx.data.tenant_id).alerts


def _comment(ctx: GraphCtx, text: str) -> dict[str, Any]:
    return {"comment": text, "createdByDisplayName": ctx.caller.app_name, "createdDateTime": ctx.now}


def _apply(record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of ``record`` with ``changes``, or None when nothing would change."""
    if all(record.get(name) == value for name, value in changes.items()):
        return None
    changed = copy.deepcopy(record)
    changed.update(copy.deepcopy(changes))
    return changed


def update_alert(ctx: GraphCtx, alert_id: str, changes: dict[str, Any]) -> None:
    store, data = ctx.state.store, ctx.data
    alert = data.alerts.get(alert_id)
    if alert is not None:
        mde = _mde_alert_changes(changes)
        if _apply(alert, mde) is not None:
            activity.update_alert(store, data, alert, mde, ctx.caller.app_name)
        return
    record = _apply(ctx.state.other.data(data.tenant_id).alerts[alert_id].record, changes)
    if record is not None:
        if record["status"] == "resolved" and record["resolvedDateTime"] is None:
            record["resolvedDateTime"] = ctx.now
        record["lastUpdateDateTime"] = ctx.now
        ctx.state.other.record_alert_change(data, record, ctx.now)


def comment_alert(ctx: GraphCtx, alert_id: str, text: str) -> list[dict[str, Any]]:
    store, data = ctx.state.store, ctx.data
    alert = data.alerts.get(alert_id)
    if alert is not None:
        updated = activity.update_alert(store, data, alert, {"comment": text}, ctx.caller.app_name)
        return graph_comments(updated["comments"])
    record = copy.deepcopy(ctx.state.other.data(data.tenant_id).alerts[alert_id].record)
    record["comments"].append(_comment(ctx, text))
    record["lastUpdateDateTime"] = ctx.now
    ctx.state.other.record_alert_change(data, record, ctx.now)
    return list(record["comments"])


def incident_number(ctx: GraphCtx, raw_id: str) -> int:
    """The incident's number if this tenant has it (an XDR twin or an incident only Graph serves), else 404."""
    number = int(raw_id) if raw_id.isdigit() else -1
    if number in ctx.data.incidents or number in ctx.state.other.data(ctx.data.tenant_id).incidents:
        return number
    raise GraphError(404, "NotFound", f"Incident {raw_id} was not found")


def update_incident(ctx: GraphCtx, number: int, changes: dict[str, Any]) -> None:
    twin = ctx.data.incidents.get(number)
    if twin is not None:
        xdr = _xdr_incident_changes(changes)
        if _apply(twin.record, xdr) is not None:
            activity.update_incident(ctx.state.store, ctx.data, twin, xdr, ctx.caller.app_name)
        return
    other = ctx.state.other.data(ctx.data.tenant_id).incidents[number]
    changed = _apply(other.record, changes)
    if changed is not None:
        changed["lastUpdateDateTime"] = ctx.now
        ctx.state.other.record_incident_change(ctx.data, number, changed)


def comment_incident(ctx: GraphCtx, number: int, text: str) -> list[dict[str, Any]]:
    twin = ctx.data.incidents.get(number)
    if twin is not None:
        updated = activity.update_incident(ctx.state.store, ctx.data, twin, {"comment": text}, ctx.caller.app_name)
        return graph_comments(updated.record["comments"])
    other = ctx.state.other.data(ctx.data.tenant_id).incidents[number]
    changed = copy.deepcopy(other.record)
    changed["comments"].append(_comment(ctx, text))
    changed["lastUpdateDateTime"] = ctx.now
    ctx.state.other.record_incident_change(ctx.data, number, changed)
    return list(changed["comments"])
