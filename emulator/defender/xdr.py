"""Defender XDR incident handlers (https://learn.microsoft.com/defender-xdr/api-list-incidents, api-get-incident,
api-update-incidents)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.defender import activity
from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.mde import read_json
from emulator.defender.odata import Record, Schema
from emulator.defender.paging import CollectionRules, envelope, query
from emulator.defender.pipeline import Ctx
from emulator.defender.store import Alert, Incident, Machine, TenantData

INCIDENT_SCHEMA = Schema(
    "Incident",
    {
        **dict.fromkeys(("lastUpdateTime", "createdTime"), "datetime"),
        "incidentId": "int",
        **dict.fromkeys(("status", "assignedTo", "classification", "determination"), "string"),
    },
)
# "$top max 100", most recent first (https://learn.microsoft.com/defender-xdr/api-list-incidents); a larger $top is
# refused with BadRequest (https://github.com/demisto/content/pull/12434).
# The page lists its OData operators ($filter, $top, $skip): $select and $count are refused.
_INCIDENT_RULES = CollectionRules(
    INCIDENT_SCHEMA,
    max_top=100,
    top_error_code="BadRequest",
    default_order=(("lastUpdateTime", True),),
    key_field="incidentId",
    count=False,
)
# The update page's request body (https://learn.microsoft.com/defender-xdr/api-update-incidents).
_STATUSES = ("Active", "Resolved", "InProgress", "Redirected")
_CLASSIFICATIONS = ("TruePositive", "InformationalExpectedActivity", "FalsePositive")
_DETERMINATIONS = (
    "MultiStagedAttack", "MaliciousUserActivity", "CompromisedAccount", "Malware", "Phishing", "UnwantedSoftware",
    "Other", "SecurityTesting", "LineOfBusinessApplication", "ConfirmedActivity", "Clean", "NoEnoughDataToValidate",
)  # fmt: skip
_UPDATABLE = ("status", "assignedTo", "classification", "determination", "tags", "comment")


def _device(machine: Machine) -> dict[str, Any]:
    return {
        "mdatpDeviceId": machine["id"],
        "aadDeviceId": machine["aadDeviceId"],
        "deviceDnsName": machine["computerDnsName"],
        "osPlatform": machine["osPlatform"],
        "version": machine["version"],
        "osProcessor": machine["osProcessor"],
        "osBuild": machine["osBuild"],
        "healthStatus": machine["healthStatus"],
        "riskScore": machine["riskScore"],
        "rbacGroupName": machine["rbacGroupName"],
        "rbacGroupId": machine["rbacGroupId"],
        "firstSeen": machine["firstSeen"],
        "tags": [],
        "defenderAvStatus": machine["defenderAvStatus"],
        "onboardingStatus": machine["onboardingStatus"],
        "vmMetadata": None,
        "loggedOnUsers": [],
    }


def _entities(alert: Alert) -> list[dict[str, Any]]:
    """A real 2023 response omits null entity fields and adds verdict / remediationStatus.

    Seen in captured responses, not documented: github.com/swimlane/techpubs-knowledgecenter,
    docs/Connectors/t_microsoft_defender-main/Actions/get_incidents_list.md.
    """
    entities = []
    for evidence in alert["evidence"]:
        entity = {k: v for k, v in evidence.items() if v is not None}
        entity.update(verdict="Suspicious", remediationStatus="None")
        entities.append(entity)
    return entities


def _incident_alert(data: TenantData, alert: Alert) -> dict[str, Any]:
    machine = data.machine(alert["machineId"])
    return {
        "alertId": alert["id"],
        "providerAlertId": alert["id"],
        "incidentId": alert["incidentId"],
        "serviceSource": "MicrosoftDefenderForEndpoint",
        "creationTime": alert["alertCreationTime"],
        "lastUpdatedTime": alert["lastUpdateTime"],
        "resolvedTime": alert["resolvedTime"],
        "firstActivity": alert["firstEventTime"],
        "lastActivity": alert["lastEventTime"],
        "title": alert["title"],
        "description": alert["description"],
        "category": alert["category"],
        "status": alert["status"],
        "severity": alert["severity"],
        "investigationId": alert["investigationId"],
        "investigationState": alert["investigationState"],
        "classification": alert["classification"],
        "determination": alert["determination"],
        "detectionSource": alert["detectionSource"],
        "detectorId": alert["detectorId"],
        "assignedTo": alert["assignedTo"],
        "actorName": None,
        "threatFamilyName": alert["threatFamilyName"],
        "mitreTechniques": alert["mitreTechniques"],
        "devices": [_device(machine)] if machine else [],
        "entities": _entities(alert),
    }


def render_incident(data: TenantData, incident: Incident) -> dict[str, Any]:
    alerts = [data.alerts[i] for i in incident.alert_ids if i in data.alerts]
    return {**incident.record, "alerts": [_incident_alert(data, alert) for alert in alerts]}


async def list_incidents(ctx: Ctx) -> web.Response:
    by_record = {id(inc.record): inc for inc in ctx.data.incidents.values()}
    records = [inc.record for inc in ctx.data.incidents.values()]
    size = ctx.state.settings.incidents_page_size
    page = query(ctx.request, records, _INCIDENT_RULES, size, host=ctx.config.host, ordering=ctx.state.ordering)

    def render(record: Record) -> Any:
        return render_incident(ctx.data, by_record[id(record)])

    return json_response(envelope(ctx.context("Incidents"), page.items, page.next_link, render))


def _incident(ctx: Ctx) -> Incident:
    raw = ctx.args[0]
    incident = ctx.data.incidents.get(int(raw)) if raw.isdigit() else None
    if incident is None:
        raise ApiError(404, "ResourceNotFound", f"Incident {raw} was not found")
    return incident


async def get_incident(ctx: Ctx) -> web.Response:
    incident = _incident(ctx)
    return json_response({"@odata.context": ctx.context("Incidents/$entity"), **render_incident(ctx.data, incident)})


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidRequestBody", f"Request body is incorrect: {message}")


def _check_update(body: Any, incident: Incident) -> dict[str, Any]:
    if not isinstance(body, dict) or not body:
        raise _invalid("expected a JSON object with changes")
    for name, value in body.items():
        if name not in _UPDATABLE:
            raise _invalid(f"unknown property '{name}' (names are case-sensitive; expected {', '.join(_UPDATABLE)})")
        allowed = {"status": _STATUSES, "classification": _CLASSIFICATIONS, "determination": _DETERMINATIONS}.get(name)
        if name == "tags":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise _invalid("tags must be a list of strings")
        elif not (isinstance(value, str) or (value is None and name == "assignedTo")):
            raise _invalid(f"{name} must be a string")
        elif allowed is not None and value not in allowed:
            raise _invalid(f"{name} must be one of {', '.join(allowed)}")
    # "You can set the determination property only if classification is set to TruePositive."
    classification = body.get("classification", incident.record["classification"])
    if "determination" in body and classification != "TruePositive":
        raise _invalid("determination can be set only when classification is TruePositive")
    return body


async def update_incident(ctx: Ctx) -> web.Response:
    """``PATCH /api/incidents/{id}``: "The response body contains the incident entity with updated properties"."""
    incident = _incident(ctx)
    changes = _check_update(await read_json(ctx), incident)
    activity.update_incident(ctx.state.store, ctx.data, incident, changes, ctx.caller.app_name)
    return json_response({"@odata.context": ctx.context("Incidents/$entity"), **render_incident(ctx.data, incident)})
