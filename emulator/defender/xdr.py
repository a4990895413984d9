"""Defender XDR incident handlers (https://learn.microsoft.com/defender-xdr/api-list-incidents, api-get-incident)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.odata import Record, Schema
from emulator.defender.paging import CollectionRules, envelope, select
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
_INCIDENT_RULES = CollectionRules(
    INCIDENT_SCHEMA,
    max_top=100,
    top_error_code="BadRequest",
    default_order=(("lastUpdateTime", True),),
    key_field="incidentId",
)


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
    page, next_link = select(
        ctx.request, records, _INCIDENT_RULES, ctx.state.settings.incidents_page_size, ordering=ctx.state.ordering
    )

    def render(record: Record) -> Any:
        return render_incident(ctx.data, by_record[id(record)])

    return json_response(envelope(ctx.context("Incidents"), page, next_link, render))


async def get_incident(ctx: Ctx) -> web.Response:
    raw = ctx.args[0]
    incident = ctx.data.incidents.get(int(raw)) if raw.isdigit() else None
    if incident is None:
        raise ApiError(404, "ResourceNotFound", f"Incident {raw} was not found")
    return json_response({"@odata.context": ctx.context("Incidents/$entity"), **render_incident(ctx.data, incident)})
