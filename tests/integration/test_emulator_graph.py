"""The emulated Microsoft Graph security API over real HTTPS: the alert resource, its MDE twin, paging,
OData refusals, errors and app roles.

The oracle is Microsoft's Graph documentation: the alert resource and the alerts_v2 list example
(https://learn.microsoft.com/graph/api/resources/security-alert,
https://learn.microsoft.com/graph/api/security-list-alerts_v2) and the error shape
(https://learn.microsoft.com/graph/errors); docs/contracts.md §1.7 says what the emulator adds.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import DATETIME, call, token
from tests.integration.emulator_support import add_tenant, msal_app, verified_claims
from tests.integration.graph_support import (
    GRAPH_READ,
    GRAPH_SCOPE,
    graph_error,
    graph_get,
    graph_tenant,
    graph_token,
    read_all,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

# The JSON representation of microsoft.graph.security.alert, in its order, with the JSON type of each value.
ALERT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "@odata.type": str, "id": str, "providerAlertId": str, "incidentId": (str, type(None)), "status": str,
    "severity": str, "classification": str, "determination": str, "serviceSource": str, "detectionSource": str,
    "detectorId": str, "tenantId": str, "title": str, "description": str, "recommendedActions": str,
    "category": str, "assignedTo": (str, type(None)), "alertWebUrl": str, "incidentWebUrl": (str, type(None)),
    "actorDisplayName": (str, type(None)), "threatDisplayName": (str, type(None)),
    "threatFamilyName": (str, type(None)), "mitreTechniques": list, "createdDateTime": str,
    "lastUpdateDateTime": str, "resolvedDateTime": (str, type(None)), "firstActivityDateTime": str,
    "lastActivityDateTime": str, "comments": list, "evidence": list, "systemTags": list,
}  # fmt: skip
# "Possible values are" of the resource page, sentinel included.
STATUS = {"unknown", "new", "inProgress", "resolved", "unknownFutureValue"}
SEVERITY = {"unknown", "informational", "low", "medium", "high", "unknownFutureValue"}
CLASSIFICATION = {"unknown", "falsePositive", "truePositive", "informationalExpectedActivity", "unknownFutureValue"}


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    return graph_tenant(emulator, alerts=8)


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return graph_token(emulator, tenant)


def test_alerts_v2_items_have_the_documented_fields_types_and_enums(emulator: EmulatorInfo, bearer: str) -> None:
    # WHEN a client lists alerts_v2 on the commercial Graph host
    response = graph_get(emulator, "/v1.0/security/alerts_v2", bearer)
    # THEN the body is an OData collection of microsoft.graph.security.alert in the documented shape
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json;odata.metadata=minimal")
    body = response.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2"
    assert len(body["value"]) == 8
    for alert in body["value"]:
        assert list(alert) == list(ALERT_FIELDS)
        for name, kind in ALERT_FIELDS.items():
            assert isinstance(alert[name], kind), name
        assert alert["@odata.type"] == "#microsoft.graph.security.alert"
        assert alert["serviceSource"] == "microsoftDefenderForEndpoint"
        assert alert["id"] == alert["providerAlertId"]
        assert alert["id"].startswith("da")
        assert alert["status"] in STATUS
        assert alert["severity"] in SEVERITY
        assert alert["classification"] in CLASSIFICATION
        assert DATETIME.match(alert["lastUpdateDateTime"]), alert["lastUpdateDateTime"]
        # evidence[] keeps its types: the device first, as in the documented example
        assert alert["evidence"][0]["@odata.type"] == "#microsoft.graph.security.deviceEvidence"
        assert all(item["@odata.type"].startswith("#microsoft.graph.security.") for item in alert["evidence"])


def test_each_mde_alert_has_a_graph_twin_and_updates_show_on_both(
    emulator: EmulatorInfo, tenant: str, bearer: str
) -> None:
    # GIVEN the tenant's alerts on the MDE API
    mde = call(emulator, "GET", "/api/alerts", token(emulator, tenant)).json()["value"]
    graph = {a["providerAlertId"]: a for a in read_all(emulator, "/v1.0/security/alerts_v2", bearer)}
    # THEN every MDE alert has one Graph twin with the same update time and incident
    assert set(graph) == {a["id"] for a in mde}
    for alert in mde:
        twin = graph[alert["id"]]
        assert twin["lastUpdateDateTime"] == alert["lastUpdateTime"]
        assert twin["incidentId"] == str(alert["incidentId"])
    # WHEN an analyst resolves one alert through the MDE API
    target = mde[0]
    patched = call(
        emulator, "PATCH", f"/api/alerts/{target['id']}", token(emulator, tenant),
        json={"status": "Resolved", "classification": "TruePositive", "determination": "Malware"},
    ).json()  # fmt: skip
    # THEN Graph shows the same new version, camelCase
    twin = graph_get(emulator, f"/v1.0/security/alerts_v2/{target['id']}", bearer).json()
    assert twin["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#security/alerts_v2/$entity"
    assert (twin["status"], twin["classification"], twin["determination"]) == ("resolved", "truePositive", "malware")
    assert twin["lastUpdateDateTime"] == patched["lastUpdateTime"]
    assert twin["resolvedDateTime"] == patched["resolvedTime"]
    # AND the ground truth holds that version under the Graph id, mapped to the provider id
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["graph_alerts"]
    assert {
        "tenant_id": tenant, "id": target["id"], "providerAlertId": target["id"],
        "serviceSource": "microsoftDefenderForEndpoint", "lastUpdateDateTime": patched["lastUpdateTime"],
        "readable": True,
    } in truth  # fmt: skip


def test_next_links_name_the_real_host_and_reach_every_alert_once(emulator: EmulatorInfo, bearer: str) -> None:
    # GIVEN pages of 3 (the emulator's page size, set through the control API)
    assert emulator.control("PUT", "/graph/limits", json={"alerts_page_size": 3}).status_code == 200
    try:
        # WHEN a client follows @odata.nextLink from the first page
        first = graph_get(emulator, "/v1.0/security/alerts_v2?$count=true", bearer).json()
        assert first["@odata.count"] == 8
        assert first["@odata.nextLink"].startswith("https://graph.microsoft.com/v1.0/security/alerts_v2?")
        assert "$skiptoken=" in first["@odata.nextLink"]
        every = read_all(emulator, "/v1.0/security/alerts_v2", bearer)
        # THEN it sees every alert once, most recent first
        assert len(every) == len({a["id"] for a in every}) == 8
        created = [_when(a["createdDateTime"]) for a in every]
        assert created == sorted(created, reverse=True)
        # AND $top sets the page size: 2 per page, still linked
        two = graph_get(emulator, "/v1.0/security/alerts_v2?$top=2", bearer).json()
        assert len(two["value"]) == 2
        assert "$top=2" in two["@odata.nextLink"]
        assert len(read_all(emulator, "/v1.0/security/alerts_v2?$top=2", bearer)) == 8
    finally:
        emulator.control("PUT", "/graph/limits", json={"alerts_page_size": 2000})


def test_filter_on_last_update_and_documented_properties(emulator: EmulatorInfo, bearer: str) -> None:
    every = read_all(emulator, "/v1.0/security/alerts_v2", bearer)
    middle = sorted(a["lastUpdateDateTime"] for a in every)[4]
    newer = read_all(emulator, f"/v1.0/security/alerts_v2?$filter=lastUpdateDateTime gt {middle}", bearer)
    assert {a["id"] for a in newer} == {a["id"] for a in every if _when(a["lastUpdateDateTime"]) > _when(middle)}
    source = read_all(emulator, "/v1.0/security/alerts_v2?$filter=serviceSource eq 'microsoftDefenderForEndpoint'",
                      bearer)  # fmt: skip
    assert len(source) == len(every)
    status = read_all(emulator, "/v1.0/security/alerts_v2?$filter=status eq 'resolved'", bearer)
    assert {a["status"] for a in status} <= {"resolved"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("$orderby=lastUpdateDateTime asc", "Query option 'OrderBy' is not allowed."),
        ("$select=id", "Query option 'Select' is not allowed."),
        ("$expand=evidence", "Query option 'Expand' is not allowed."),
        ("$top=2001", "The limit of '2000' for Top query has been exceeded."),
        ("$filter=title eq 'x'", "Invalid filter clause: Could not find a property named 'title'"),
        ("$skiptoken=garbage", "The $skiptoken value is not valid."),
    ],
)
def test_undocumented_options_are_refused_with_a_graph_400(
    emulator: EmulatorInfo, bearer: str, query: str, message: str
) -> None:
    # The list page documents $count, $filter (on eight properties), $skip, $top and nextLink paging only.
    response = graph_get(emulator, f"/v1.0/security/alerts_v2?{query}", bearer)
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == "BadRequest"
    assert error["message"].startswith(message), error["message"]


def test_tokens_are_checked_the_graph_way(emulator: EmulatorInfo, tenant: str) -> None:
    # No token, and a token for the MDE API: 401 InvalidAuthenticationToken (https://learn.microsoft.com/graph/errors)
    for bearer in (None, token(emulator, tenant)):
        response = graph_get(emulator, "/v1.0/security/alerts_v2", bearer)
        assert response.status_code == 401
        assert graph_error(response)["code"] == "InvalidAuthenticationToken"
    # The client's request id comes back in innerError and the header
    echoed = graph_get(emulator, "/v1.0/security/alerts_v2", None, headers={"client-request-id": "abc-123"})
    assert graph_error(echoed)["innerError"]["client-request-id"] == "abc-123"
    assert echoed.headers["client-request-id"] == "abc-123"


def test_a_tenant_consented_before_the_graph_roles_gets_the_documented_403(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant whose consent predates the Graph roles: MDE and XDR roles only
    legacy = add_tenant(emulator, roles={"mde": ["Alert.Read.All"], "xdr": ["Incident.Read.All"]}, alerts=2)
    # WHEN it reads alerts_v2 with its Graph token (which has no roles claim)
    response = graph_get(emulator, "/v1.0/security/alerts_v2", graph_token(emulator, legacy))
    # THEN Graph refuses with 403 naming the roles it wanted
    assert response.status_code == 403
    error = graph_error(response)
    assert error["code"] == "Forbidden"
    assert error["message"] == (
        "Missing application roles. API required roles: SecurityAlert.Read.All,SecurityAlert.ReadWrite.All,"
        "SecurityIncident.Read.All,SecurityIncident.ReadWrite.All, application roles: ."
    )
    # AND once the roles are granted (the tenant consented again), a new token reads
    emulator.control("PATCH", f"/tenants/{legacy}", json={"roles": {"mde": [], "xdr": [], "graph": GRAPH_READ}})
    assert graph_get(emulator, "/v1.0/security/alerts_v2", graph_token(emulator, legacy)).status_code == 200


def test_unknown_paths_and_versions_answer_like_graph(emulator: EmulatorInfo, bearer: str) -> None:
    for path, message in [
        ("/v1.0/security/alertz", "Resource not found for the segment 'alertz'."),
        ("/v2.0/security/alerts_v2", "Invalid version: v2.0"),
    ]:
        response = graph_get(emulator, path, bearer)
        assert response.status_code == 400
        assert graph_error(response)["message"] == message
    missing = graph_get(emulator, "/v1.0/security/alerts_v2/da000_1", bearer)
    assert missing.status_code == 404
    assert graph_error(missing)["code"] == "NotFound"
    # Segments are case-insensitive: the alerts_v2 page itself writes /security/alerts_V2
    assert graph_get(emulator, "/v1.0/Security/alerts_V2", bearer).status_code == 200


def test_msal_gets_a_graph_token_with_the_graph_audience_and_roles(emulator: EmulatorInfo, tenant: str) -> None:
    # GIVEN the partner app asking for the Graph resource the way the relay does (MSAL, scope host + /.default)
    app = msal_app(emulator, tenant, emulator.apps["commercial"]["client_secret"])
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    # THEN the token names Graph as audience and carries the tenant's Graph roles only
    claims = verified_claims(emulator, tenant, result["access_token"], "https://graph.microsoft.com")
    assert sorted(claims["roles"]) == sorted(GRAPH_READ)
    assert claims["tid"] == tenant
    assert graph_get(emulator, "/v1.0/security/incidents", result["access_token"]).status_code == 200


@pytest.mark.parametrize(
    ("cloud", "host", "other_host"),
    [
        ("gcc", "graph.microsoft.com", "graph.microsoft.us"),
        ("gcc-high", "graph.microsoft.us", "dod-graph.microsoft.us"),
        ("dod", "dod-graph.microsoft.us", "graph.microsoft.com"),
    ],
)
def test_each_national_cloud_has_its_graph_host(emulator: EmulatorInfo, cloud: str, host: str, other_host: str) -> None:
    # https://learn.microsoft.com/graph/deployments: GCC keeps the global endpoint; GCC High is L4, DoD is L5
    tenant = graph_tenant(emulator, alerts=2, cloud=cloud)
    bearer = graph_token(emulator, tenant, cloud=cloud)
    served = graph_get(emulator, "/v1.0/security/alerts_v2", bearer, host=host)
    assert served.status_code == 200, served.text
    assert served.json()["@odata.context"] == f"https://{host}/v1.0/$metadata#security/alerts_v2"
    # The same token at another cloud's host has the wrong audience
    elsewhere = graph_get(emulator, "/v1.0/security/alerts_v2", bearer, host=other_host)
    assert elsewhere.status_code == 401
    assert graph_error(elsewhere)["message"] == "Access token validation failure. Invalid audience."
