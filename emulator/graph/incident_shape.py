"""An XDR incident as the Graph ``microsoft.graph.security.incident`` (its twin, rendered per request).

Fields, order and enums follow the JSON representation of
https://learn.microsoft.com/graph/api/resources/security-incident: ``id`` a string, camelCase ``status``
(active / resolved / inProgress / redirected), ``customTags`` from the XDR ``tags``. Incident records change in
place (their alerts move them), so they are rendered per request, not cached.
"""

from __future__ import annotations

from typing import Any

from emulator.defender.store import Incident, TenantData
from emulator.graph import enums
from emulator.graph.alerts import graph_comments


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
        "comments": graph_comments(record["comments"]),
        "systemTags": [],
        "description": None,
    }
