"""The emulated Graph ``incidents`` list over real HTTPS: the incident resource, its XDR twin, ``$expand=alerts``
and the incident roles.

The oracle is https://learn.microsoft.com/graph/api/resources/security-incident and the two examples of
https://learn.microsoft.com/graph/api/security-list-incidents (docs/contracts.md §1.7).
"""

from __future__ import annotations

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, xdr_token
from tests.integration.emulator_support import add_tenant
from tests.integration.graph_support import graph_error, graph_get, graph_tenant, graph_token, read_all

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

INCIDENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "@odata.type": str, "id": str, "incidentWebUrl": str, "tenantId": str, "redirectIncidentId": (str, type(None)),
    "displayName": str, "createdDateTime": str, "lastUpdateDateTime": str, "assignedTo": (str, type(None)),
    "classification": str, "determination": str, "status": str, "severity": str, "customTags": list,
    "comments": list, "systemTags": list, "description": (str, type(None)),
}  # fmt: skip
INCIDENT_STATUS = {"active", "resolved", "inProgress", "redirected", "unknownFutureValue"}


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    return graph_tenant(emulator, alerts=10)


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return graph_token(emulator, tenant)


def test_incidents_have_the_documented_shape_and_match_their_xdr_twins(
    emulator: EmulatorInfo, tenant: str, bearer: str
) -> None:
    # GIVEN the tenant's incidents on the XDR API
    xdr = call(emulator, "GET", "/api/incidents", xdr_token(emulator, tenant)).json()["value"]
    # WHEN a client lists Graph incidents
    response = graph_get(emulator, "/v1.0/security/incidents", bearer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#security/incidents"
    # THEN each is a microsoft.graph.security.incident with a string id, the XDR incident's times and status
    graph = {i["id"]: i for i in body["value"]}
    assert set(graph) == {str(i["incidentId"]) for i in xdr}
    for incident in xdr:
        twin = graph[str(incident["incidentId"])]
        assert list(twin) == list(INCIDENT_FIELDS)
        for name, kind in INCIDENT_FIELDS.items():
            assert isinstance(twin[name], kind), name
        assert twin["lastUpdateDateTime"] == incident["lastUpdateTime"]
        assert twin["createdDateTime"] == incident["createdTime"]
        assert twin["status"] in INCIDENT_STATUS
        assert twin["status"] == incident["status"][:1].lower() + incident["status"][1:]
        assert "alerts" not in twin  # only with $expand=alerts
    # AND the ground truth lists the current version of each under its Graph id
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["graph_incidents"]
    versions = {(v["id"], v["lastUpdateDateTime"]) for v in truth}
    assert {(i["id"], i["lastUpdateDateTime"]) for i in graph.values()} <= versions


def test_expand_alerts_nests_the_graph_alerts_of_each_incident(emulator: EmulatorInfo, bearer: str) -> None:
    # WHEN a client asks for incidents with their alerts (example 2 of the list page)
    incidents = read_all(emulator, "/v1.0/security/incidents?$expand=alerts", bearer)
    alerts = {a["id"]: a for a in read_all(emulator, "/v1.0/security/alerts_v2", bearer)}
    # THEN every alert appears under its incident, equal to its alerts_v2 rendering
    nested = [alert for incident in incidents for alert in incident["alerts"]]
    assert sorted(a["id"] for a in nested) == sorted(alerts)
    for incident in incidents:
        for alert in incident["alerts"]:
            assert alert["incidentId"] == incident["id"]
            assert alert == alerts[alert["id"]]
    # AND one incident by id, expanded the same way
    first = incidents[0]
    one = graph_get(emulator, f"/v1.0/security/incidents/{first['id']}?$expand=alerts", bearer).json()
    assert one["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#security/incidents/$entity"
    assert one["alerts"] == first["alerts"]


def test_incident_options_and_refusals(emulator: EmulatorInfo, bearer: str) -> None:
    # $top over the emulator's maximum (50, not documented), an unknown expansion, a missing incident
    for path, status, message in [
        ("/v1.0/security/incidents?$top=51", 400, "The limit of '50' for Top query has been exceeded."),
        ("/v1.0/security/incidents?$expand=evidence", 400, "Could not find a property named 'evidence'"),
        ("/v1.0/security/incidents?$filter=serviceSource eq 'x'", 400, "Invalid filter clause"),
        ("/v1.0/security/incidents/999999999", 404, "Incident 999999999 was not found"),
    ]:
        response = graph_get(emulator, path, bearer)
        assert response.status_code == status, path
        assert graph_error(response)["message"].startswith(message), path
    active = read_all(emulator, "/v1.0/security/incidents?$filter=status eq 'active'&$count=true", bearer)
    assert {i["status"] for i in active} <= {"active"}


def test_incidents_need_an_incident_role(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant that granted the alert role only
    alerts_only = add_tenant(emulator, roles={"graph": ["SecurityAlert.Read.All"]}, alerts=2)
    bearer = graph_token(emulator, alerts_only)
    # THEN alerts_v2 reads and incidents answer 403 naming the incident roles
    assert graph_get(emulator, "/v1.0/security/alerts_v2", bearer).status_code == 200
    response = graph_get(emulator, "/v1.0/security/incidents", bearer)
    assert response.status_code == 403
    assert graph_error(response)["message"] == (
        "Missing application roles. API required roles: SecurityIncident.Read.All,SecurityIncident.ReadWrite.All, "
        "application roles: SecurityAlert.Read.All."
    )
