"""The Graph triage writes: ``PATCH /security/alerts_v2/{id}``, ``PATCH /security/incidents/{id}`` and
``POST …/comments`` on both.

Bodies, values and answers follow https://learn.microsoft.com/graph/api/security-alert-update,
security-incident-update, security-alert-post-comments and security-incident-post-comments:

- PATCH takes only the properties of its page's "Request body" table (alert: status, classification,
  determination, assignedTo; incident: the same and customTags) with the values that table lists, which
  differ between the two pages (incident determination notMalicious / notEnoughDataToValidate, incident
  status active / resolved / redirected). It answers 200 with the updated entity. A property of the type
  that the table does not list is refused as read-only, a name the type does not have as unknown
  (OData's words), a value off the list naming its enum type: 400 ``BadRequest``
  (https://learn.microsoft.com/graph/errors). The exact texts of those refusals are the emulator's (INF:
  no page quotes them); ``unknownFutureValue`` is refused, being the sentinel "Don't use".
- A comment is ``{"@odata.type": "microsoft.graph.security.alertComment", "comment": …}``; it answers 200
  with every comment of the item (``comment``, ``createdByDisplayName`` = the calling app's name,
  ``createdDateTime``).
- Writes need ``SecurityAlert.ReadWrite.All`` / ``SecurityIncident.ReadWrite.All`` (the pages' permission
  tables; the alert comment's in the beta page security-alert-addcomment), else 403; an unknown id is 404.
- A write that changes something is a new version: ``lastUpdateDateTime`` moves to the emulated now. An MDE
  alert and its Graph twin are one record (``activity.update_alert``), so the MDE API shows the same new
  version; an XDR incident and its twin likewise. A PATCH that changes nothing makes no version (INF).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import dumps
from emulator.graph import triage_records as records
from emulator.graph.auth import require_roles
from emulator.graph.errors import GraphError
from emulator.graph.incidents import incident_entity
from emulator.graph.lookup import alert_json
from emulator.graph.pipeline import GraphCtx, GraphRoute
from emulator.graph.responses import entity_bytes, json_response

ALERT_WRITE_ROLES = ("SecurityAlert.ReadWrite.All",)
INCIDENT_WRITE_ROLES = ("SecurityIncident.ReadWrite.All",)
COMMENT_TYPE = "microsoft.graph.security.alertComment"
_DETERMINATIONS_HEAD = (
    "unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
    "multiStagedAttack", "compromisedUser", "phishing", "maliciousUserActivity",
)  # fmt: skip
# The "Request body" tables: property -> (OData enum type, values); None: a string (assignedTo) / collection.
ALERT_BODY: dict[str, tuple[str, tuple[str, ...]] | None] = {
    "status": ("alertStatus", ("new", "inProgress", "resolved")),
    "classification": ("alertClassification", ("unknown", "falsePositive", "truePositive",
                                               "informationalExpectedActivity")),
    "determination": ("alertDetermination", (*_DETERMINATIONS_HEAD, "clean", "insufficientData",
                                             "confirmedUserActivity", "lineOfBusinessApplication")),
    "assignedTo": None,
}  # fmt: skip
INCIDENT_BODY: dict[str, tuple[str, tuple[str, ...]] | None] = {
    **ALERT_BODY,
    "status": ("incidentStatus", ("active", "resolved", "redirected")),
    "determination": ("alertDetermination", (*_DETERMINATIONS_HEAD, "notMalicious", "notEnoughDataToValidate",
                                             "confirmedUserActivity", "lineOfBusinessApplication")),
    "customTags": None,
}  # fmt: skip
# The other properties of each type (security-alert and security-incident resource pages): present, not updatable.
_ALERT_READ_ONLY = frozenset({
    "id", "providerAlertId", "incidentId", "severity", "serviceSource", "detectionSource", "detectorId", "tenantId",
    "title", "description", "recommendedActions", "category", "alertWebUrl", "incidentWebUrl", "actorDisplayName",
    "threatDisplayName", "threatFamilyName", "mitreTechniques", "createdDateTime", "lastUpdateDateTime",
    "resolvedDateTime", "firstActivityDateTime", "lastActivityDateTime", "comments", "evidence", "systemTags",
})  # fmt: skip
_INCIDENT_READ_ONLY = frozenset({
    "id", "incidentWebUrl", "tenantId", "redirectIncidentId", "displayName", "createdDateTime", "lastUpdateDateTime",
    "severity", "comments", "systemTags", "description", "alerts",
})  # fmt: skip


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


async def _body(ctx: GraphCtx) -> dict[str, Any]:
    raw = await ctx.request.read()
    media = ctx.request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    try:
        body = json.loads(raw) if raw and media == "application/json" else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise _bad("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
                   "valid JSON format.")  # fmt: skip
    return body


def _checked(body: dict[str, Any], table: Mapping[str, Any], read_only: frozenset[str], entity: str) -> dict[str, Any]:
    for name, value in body.items():
        if name in read_only:
            raise _bad(f"The property '{name}' is read-only on type 'microsoft.graph.security.{entity}'.")
        if name not in table:
            raise _bad(
                f"The property '{name}' does not exist on type 'microsoft.graph.security.{entity}'. Make sure "
                "to only use property names that are defined by the type or mark the type as open type."
            )
        _check_value(name, value, table[name])
    return body


def _check_value(name: str, value: Any, spec: tuple[str, tuple[str, ...]] | None) -> None:
    if name == "customTags":
        if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
            raise _bad("Cannot convert the value of 'customTags' to the expected type 'Collection(Edm.String)'.")
    elif spec is None:
        if value is not None and not isinstance(value, str):
            raise _bad(f"Cannot convert the value of '{name}' to the expected type 'Edm.String'.")
    elif not isinstance(value, str) or value not in spec[1]:
        raise _bad(f"Cannot convert the literal '{value}' to the expected type "
                   f"'microsoft.graph.security.{spec[0]}'.")  # fmt: skip


async def patch_alert(ctx: GraphCtx) -> web.Response:
    require_roles(ctx.caller, ALERT_WRITE_ROLES)
    alert_id = ctx.args[0]
    if not records.has_alert(ctx, alert_id):
        raise GraphError(404, "NotFound", f"Alert {alert_id} was not found")
    changes = _checked(await _body(ctx), ALERT_BODY, _ALERT_READ_ONLY, "alert")
    records.update_alert(ctx, alert_id, changes)
    return _alert_entity(ctx, alert_id)


async def patch_incident(ctx: GraphCtx) -> web.Response:
    require_roles(ctx.caller, INCIDENT_WRITE_ROLES)
    number = records.incident_number(ctx, ctx.args[0])
    changes = _checked(await _body(ctx), INCIDENT_BODY, _INCIDENT_READ_ONLY, "incident")
    records.update_incident(ctx, number, changes)
    return json_response(ctx, incident_entity(ctx, number))


def _comment_of(body: dict[str, Any]) -> str:
    kind = body.get("@odata.type", COMMENT_TYPE)
    if str(kind).lstrip("#") != COMMENT_TYPE:
        raise _bad(f"A resource of type '{kind}' was found, but the expected type is "
                   f"'microsoft.graph.security.alertComment'.")  # fmt: skip
    unknown = sorted(set(body) - {"@odata.type", "comment"})
    if unknown:
        raise _bad(f"The property '{unknown[0]}' does not exist on type 'microsoft.graph.security.alertComment'.")
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise _bad("The comment property is required and must be a non-empty string.")
    return comment


async def comment_alert(ctx: GraphCtx) -> web.Response:
    alert_id = ctx.args[0]
    if not records.has_alert(ctx, alert_id):
        raise GraphError(404, "NotFound", f"Alert {alert_id} was not found")
    comments = records.comment_alert(ctx, alert_id, _comment_of(await _body(ctx)))
    return _comments(ctx, f"security/alerts_v2('{alert_id}')/comments", comments)


async def comment_incident(ctx: GraphCtx) -> web.Response:
    number = records.incident_number(ctx, ctx.args[0])
    comments = records.comment_incident(ctx, number, _comment_of(await _body(ctx)))
    return _comments(ctx, f"security/incidents('{number}')/comments", comments)


def _comments(ctx: GraphCtx, context: str, comments: list[dict[str, Any]]) -> web.Response:
    return json_response(ctx, dumps({"@odata.context": ctx.context(context), "value": comments}).encode())


def _alert_entity(ctx: GraphCtx, alert_id: str) -> web.Response:
    entity = alert_json(ctx, alert_id)
    assert entity is not None  # it was found before the write
    return json_response(ctx, entity_bytes(ctx.context("security/alerts_v2/$entity"), entity))


def with_writes(routes: Mapping[tuple[str, ...], GraphRoute]) -> dict[tuple[str, ...], GraphRoute]:
    """The read routes plus the writes: PATCH on the entity routes, the comment routes beside them."""
    table = dict(routes)
    for key, handler in ((("alerts_v2", "*"), patch_alert), (("incidents", "*"), patch_incident)):
        table[key] = replace(table[key], methods={**table[key].methods, "PATCH": handler})
    table[("alerts_v2", "*", "comments")] = GraphRoute("graph-alerts", ALERT_WRITE_ROLES, {"POST": comment_alert})
    table[("incidents", "*", "comments")] = GraphRoute(
        "graph-incidents", INCIDENT_WRITE_ROLES, {"POST": comment_incident}
    )
    return table
