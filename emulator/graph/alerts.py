"""An MDE alert as its Graph twin (``microsoft.graph.security.alert``), from the same world record.

Field names, order and types follow the JSON representation and the list example of
https://learn.microsoft.com/graph/api/resources/security-alert and
https://learn.microsoft.com/graph/api/security-list-alerts_v2: for an MDE alert both ``id`` and
``providerAlertId`` are the MDE alert id (``da…``), ``incidentId`` is a string, enums are camelCase and
``evidence[]`` items are typed by ``@odata.type``. Twins are derived, never stored: an update of the MDE
alert is a new Graph version with the same ``lastUpdateDateTime``.
"""

from __future__ import annotations

from typing import Any

from emulator.defender.store import Alert, Machine, TenantData
from emulator.graph import enums

SERVICE_SOURCE_MDE = "microsoftDefenderForEndpoint"
_PORTAL = "https://security.microsoft.com"
_RECOMMENDED = (
    "Review the device timeline for related activity, collect the files involved and isolate the device "
    "if the activity is confirmed."
)


def _web_url(kind: str, key: object, tenant_id: str) -> str:
    return f"{_PORTAL}/{kind}/{key}?tid={tenant_id}"


def graph_comments(defender_comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Defender's ``{comment, createdBy, createdTime}`` as Graph's ``alertComment`` (comment,
    createdByDisplayName, createdDateTime): alerts and incidents alike."""
    return [
        {"comment": c["comment"], "createdByDisplayName": c["createdBy"], "createdDateTime": c["createdTime"]}
        for c in defender_comments
    ]


def graph_alert(data: TenantData, alert: Alert) -> dict[str, Any]:
    """The Graph alert for one MDE alert version (date-times stay ``datetime`` for filters and jsonfmt)."""
    incident = alert["incidentId"]
    return {
        "@odata.type": "#microsoft.graph.security.alert",
        "id": alert["id"],
        "providerAlertId": alert["id"],
        "incidentId": None if incident is None else str(incident),
        "status": enums.camel(alert["status"], enums.ALERT_STATUS),
        "severity": enums.camel(alert["severity"], enums.SEVERITY),
        "classification": enums.camel(alert["classification"], enums.CLASSIFICATION),
        "determination": enums.camel(alert["determination"], enums.DETERMINATION),
        "serviceSource": SERVICE_SOURCE_MDE,
        "detectionSource": enums.DETECTION_SOURCES.get(alert["detectionSource"], "unknown"),
        "detectorId": alert["detectorId"],
        "tenantId": data.tenant_id,
        "title": alert["title"],
        "description": alert["description"],
        "recommendedActions": _RECOMMENDED,
        "category": alert["category"],
        "assignedTo": alert["assignedTo"],
        "alertWebUrl": _web_url("alerts", alert["id"], data.tenant_id),
        "incidentWebUrl": None if incident is None else _web_url("incidents", incident, data.tenant_id),
        "actorDisplayName": None,
        "threatDisplayName": alert["threatName"],
        "threatFamilyName": alert["threatFamilyName"],
        "mitreTechniques": list(alert["mitreTechniques"]),
        "createdDateTime": alert["alertCreationTime"],
        "lastUpdateDateTime": alert["lastUpdateTime"],
        "resolvedDateTime": alert["resolvedTime"],
        "firstActivityDateTime": alert["firstEventTime"],
        "lastActivityDateTime": alert["lastEventTime"],
        "comments": graph_comments(alert["comments"]),
        "evidence": evidence(data, alert),
        "systemTags": [],
    }


def _base(odata_type: str, created: object) -> dict[str, Any]:
    return {
        "@odata.type": f"#microsoft.graph.security.{odata_type}",
        "createdDateTime": created,
        "verdict": "suspicious",
        "remediationStatus": "none",
        "remediationStatusDetails": None,
    }


def _device(machine: Machine, created: object) -> dict[str, Any]:
    """``deviceEvidence`` as in the alerts_v2 list example (the machine the MDE alert is about)."""
    return {
        **_base("deviceEvidence", created),
        "firstSeenDateTime": machine["firstSeen"],
        "mdeDeviceId": machine["id"],
        "azureAdDeviceId": machine["aadDeviceId"],
        "deviceDnsName": machine["computerDnsName"],
        "osPlatform": machine["osPlatform"],
        "osBuild": machine["osBuild"],
        "version": machine["version"],
        "healthStatus": enums.camel(machine["healthStatus"], ("active", "inactive", "impairedCommunication")),
        "riskScore": enums.camel(machine["riskScore"], ("none", "informational", "low", "medium", "high")),
        "rbacGroupId": machine["rbacGroupId"],
        "rbacGroupName": machine["rbacGroupName"],
        "onboardingStatus": enums.camel(machine["onboardingStatus"], ("onboarded", "canBeOnboarded")),
        "defenderAvStatus": enums.camel(machine["defenderAvStatus"], ("updated", "notUpdated", "disabled")),
        "ipInterfaces": [address["ipAddress"] for address in machine["ipAddresses"]],
        "loggedOnUsers": [],
        "roles": ["compromised"],
        "detailedRoles": ["Main device"],
        "tags": list(machine["machineTags"]),
        "vmMetadata": machine["vmMetadata"],
    }


def _from_mde(item: dict[str, Any], machine_id: str) -> dict[str, Any] | None:
    """One MDE evidence object (entityType File / User / Ip) as the Graph evidence type."""
    kind, created = item["entityType"], item["evidenceCreationTime"]
    tail: dict[str, list[str]] = {"roles": [], "detailedRoles": [], "tags": []}
    if kind == "File":
        details = {name: item[name] for name in ("sha1", "sha256", "fileName", "filePath")}
        details.update(fileSize=None, filePublisher=None, signer=None, issuer=None)
        status = enums.camel(item["detectionStatus"], ("detected", "blocked", "prevented"))
        return {**_base("fileEvidence", created), "detectionStatus": status, "mdeDeviceId": machine_id,
                **tail, "fileDetails": details}  # fmt: skip
    if kind == "User":
        account = {
            "accountName": item["accountName"], "domainName": item["domainName"], "userSid": item["userSid"],
            "azureAdUserId": item["aadUserId"], "userPrincipalName": item["userPrincipalName"],
            "displayName": item["accountName"],
        }  # fmt: skip
        return {**_base("userEvidence", created), **tail, "userAccount": account}
    if kind == "Ip":
        return {**_base("ipEvidence", created), **tail, "ipAddress": item["ipAddress"], "countryLetterCode": None}
    return None


def evidence(data: TenantData, alert: Alert) -> list[dict[str, Any]]:
    """The device first (as in the documented example), then the MDE alert's own evidence, types kept whole."""
    items: list[dict[str, Any]] = []
    machine = data.machine(alert["machineId"])
    if machine is not None:
        items.append(_device(machine, alert["alertCreationTime"]))
    for item in alert["evidence"]:
        converted = _from_mde(item, alert["machineId"])
        if converted is not None:
            items.append(converted)
    return items
