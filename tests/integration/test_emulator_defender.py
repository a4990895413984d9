"""The emulated Defender for Endpoint API over real HTTPS: shapes, auth, OData and paging.

Tokens come from the emulator's Entra ID (plain requests and MSAL); the documented examples
(docs/microsoft-apis.md §Alerts, §Machines, §MachineAction and its states, §Defender XDR incidents) are the
oracle for field names and types.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import (
    DATETIME,
    ODATA_JSON,
    call,
    error_of,
    machines,
    tenant_with_data,
    token,
    xdr_token,
)
from tests.integration.emulator_support import MDE_SCOPE, add_tenant, msal_app

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

# The list example of https://learn.microsoft.com/en-us/defender-endpoint/api/get-alerts
# (docs/microsoft-apis.md §Alerts): every key and its JSON type.
ALERT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "incidentId": (int, type(None)), "investigationId": (int, type(None)), "assignedTo": (str, type(None)),
    "severity": str, "status": str, "classification": (str, type(None)), "determination": (str, type(None)),
    "investigationState": str, "detectionSource": str, "detectorId": str, "category": str,
    "threatFamilyName": (str, type(None)), "title": str, "description": str, "alertCreationTime": str,
    "firstEventTime": str, "lastEventTime": str, "lastUpdateTime": str, "resolvedTime": (str, type(None)),
    "machineId": str, "computerDnsName": str, "rbacGroupName": (str, type(None)), "aadTenantId": str,
    "threatName": (str, type(None)), "mitreTechniques": list, "relatedUser": (dict, type(None)), "comments": list,
    "evidence": list,
}  # fmt: skip
MACHINE_KEYS = {
    "id", "mergedIntoMachineId", "isPotentialDuplication", "isExcluded", "exclusionReason", "computerDnsName",
    "firstSeen", "lastSeen", "osPlatform", "osVersion", "osProcessor", "version", "lastIpAddress",
    "lastExternalIpAddress", "agentVersion", "osBuild", "healthStatus", "deviceValue", "rbacGroupId", "rbacGroupName",
    "riskScore", "exposureLevel", "isAadJoined", "aadDeviceId", "machineTags", "defenderAvStatus", "onboardingStatus",
    "osArchitecture", "managedBy", "managedByStatus", "ipAddresses", "vmMetadata",
}  # fmt: skip


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    return tenant_with_data(emulator, alerts=12)


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return token(emulator, tenant)


def test_alert_list_has_the_real_headers_and_fields(emulator: EmulatorInfo, tenant: str) -> None:
    # GIVEN a token from MSAL, the way the relay gets one
    result = msal_app(emulator, tenant, emulator.apps["commercial"]["client_secret"]).acquire_token_for_client(
        scopes=[MDE_SCOPE]
    )
    # WHEN it lists alerts
    response = call(emulator, "GET", "/api/alerts", result["access_token"])
    # THEN headers, context and every alert field match the documented example
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ODATA_JSON
    assert response.headers["OData-Version"] == "4.0"
    body = response.json()
    assert body["@odata.context"] == "https://api.security.microsoft.com/api/$metadata#Alerts"
    assert "@odata.nextLink" not in body
    assert len(body["value"]) == 12
    for alert in body["value"]:
        assert list(alert) == list(ALERT_FIELDS)
        for name, kind in ALERT_FIELDS.items():
            assert isinstance(alert[name], kind), name
        assert DATETIME.match(alert["lastUpdateTime"]), alert["lastUpdateTime"]
        assert alert["id"].startswith("da")
        assert alert["aadTenantId"] == tenant
        assert alert["evidence"] == []  # only with $expand=evidence


def test_get_alert_carries_evidence_and_entity_context(emulator: EmulatorInfo, bearer: str) -> None:
    first = call(emulator, "GET", "/api/alerts?$top=1&$expand=evidence", bearer).json()["value"][0]
    assert first["evidence"]
    response = call(emulator, "GET", f"/api/v1.0/alerts/{first['id']}", bearer)
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/api/$metadata#Alerts/$entity")
    assert body["evidence"] == first["evidence"]
    missing = call(emulator, "GET", "/api/alerts/da000_1", bearer)
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "ResourceNotFound"


def test_patch_alert_makes_a_new_version_with_the_comment(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    alert = call(emulator, "GET", "/api/alerts?$top=1", bearer).json()["value"][0]
    body = {"status": "Resolved", "classification": "FalsePositive", "comment": "closed by the SOC"}
    response = call(emulator, "PATCH", f"/api/alerts/{alert['id']}", bearer, json=body)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["status"], updated["classification"]) == ("Resolved", "FalsePositive")
    assert updated["comments"][-1]["comment"] == "closed by the SOC"
    assert _when(updated["lastUpdateTime"]) > _when(alert["lastUpdateTime"])
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["alerts"]
    version = {"tenant_id": tenant, "id": alert["id"], "lastUpdateTime": updated["lastUpdateTime"], "readable": True}
    assert version in truth
    # Body names are case-sensitive (docs/microsoft-apis.md §Requests and responses)
    wrong_case = call(emulator, "PATCH", f"/api/alerts/{alert['id']}", bearer, json={"Status": "New"})
    assert wrong_case.status_code == 400
    assert error_of(wrong_case)["code"] == "InvalidRequestBody"


def test_machine_filters_tell_apart_names_sharing_a_prefix(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    every = machines(emulator, tenant, bearer)
    assert all(set(m) == MACHINE_KEYS for m in every)
    web01, backup = every[0], every[1]
    assert backup["computerDnsName"].startswith(web01["computerDnsName"].split(".")[0])

    def names(query: str) -> list[str]:
        response = call(emulator, "GET", "/api/machines", bearer, params={"$filter": query})
        assert response.status_code == 200, response.text
        return [m["computerDnsName"] for m in response.json()["value"]]

    assert names("startswith(computerDnsName,'web01')") == [web01["computerDnsName"], backup["computerDnsName"]]
    assert names(f"computerDnsName eq '{web01['computerDnsName']}'") == [web01["computerDnsName"]]
    assert names(f"lastIpAddress eq '{backup['lastIpAddress']}'") == [backup["computerDnsName"]]
    assert names(f"id eq '{backup['id']}'") == [backup["computerDnsName"]]


def test_a_quote_in_a_filter_value_cannot_break_out(emulator: EmulatorInfo, bearer: str) -> None:
    # GIVEN a value that would widen the filter if it were spliced in unescaped
    hostile = "nope' or startswith(computerDnsName,'"
    # WHEN a client escapes it the OData way (doubling quotes)
    escaped = hostile.replace("'", "''")
    response = call(emulator, "GET", "/api/machines", bearer, params={"$filter": f"computerDnsName eq '{escaped}'"})
    # THEN it stays one literal: no machine matches
    assert response.status_code == 200
    assert response.json()["value"] == []
    # AND sent unescaped it is a syntax error, never a wider match
    raw = call(emulator, "GET", "/api/machines", bearer, params={"$filter": f"computerDnsName eq '{hostile}'"})
    assert raw.status_code == 400
    assert error_of(raw)["code"] == "ODataError"


def test_get_machine_by_id_or_name_and_404(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    machine = machines(emulator, tenant, bearer)[2]
    by_id = call(emulator, "GET", f"/api/machines/{machine['id']}", bearer).json()
    assert by_id["@odata.context"].endswith("#Machines/$entity")
    by_name = call(emulator, "GET", f"/api/machines/{machine['computerDnsName']}", bearer).json()
    assert by_name["id"] == by_id["id"] == machine["id"]
    missing = call(emulator, "GET", "/api/machines/123123123", bearer)
    assert missing.status_code == 404
    assert error_of(missing) | {"target": "x"} == {
        "code": "ResourceNotFound",
        "message": "Machine 123123123 was not found",
        "target": "x",
    }


def test_date_filters_ordering_and_top(emulator: EmulatorInfo, bearer: str) -> None:
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"$filter": f"lastUpdateTime ge {since} and status ne 'Resolved'", "$orderby": "lastUpdateTime desc"}
    response = call(emulator, "GET", "/api/alerts", bearer, params=params)
    assert response.status_code == 200, response.text
    stamps = [a["lastUpdateTime"] for a in response.json()["value"]]
    parsed = [_when(s) for s in stamps]
    assert parsed == sorted(parsed, reverse=True)
    assert all(p >= _when(since) for p in parsed)
    unknown = call(emulator, "GET", "/api/alerts", bearer, params={"$filter": "nosuchfield eq 'x'"})
    assert unknown.status_code == 400
    assert "nosuchfield" in error_of(unknown)["message"]


def test_top_over_ten_thousand_is_an_odata_error(emulator: EmulatorInfo, bearer: str) -> None:
    response = call(emulator, "GET", "/api/alerts?$top=10001", bearer)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "ODataError"
    assert "10000" in error["message"]


def test_paging_links_only_without_top(emulator: EmulatorInfo, bearer: str) -> None:
    # GIVEN a small default page so the 12 alerts need several pages
    assert emulator.control("PUT", "/limits", json={"alerts_page_size": 5}).status_code == 200
    try:
        # WHEN a client follows @odata.nextLink
        seen: list[str] = []
        url: str | None = "/api/alerts"
        for _ in range(10):
            if url is None:
                break
            body = call(emulator, "GET", url, bearer).json()
            seen += [a["id"] for a in body["value"]]
            url = body.get("@odata.nextLink")
            # the link names the real host, as @odata.context does (the client's host override maps it)
            assert url is None or url.startswith("https://api.security.microsoft.com/api/alerts?")
        # THEN it gets every alert once, and an explicit $top never gets a link
        assert len(seen) == len(set(seen)) == 12
        with_top = call(emulator, "GET", "/api/alerts?$top=5", bearer).json()
        assert len(with_top["value"]) == 5
        assert "@odata.nextLink" not in with_top
        assert [a["id"] for a in call(emulator, "GET", "/api/alerts?$top=5&$skip=5", bearer).json()["value"]] == seen[
            5:10
        ]
    finally:
        emulator.control("PUT", "/limits", json={"alerts_page_size": 10_000})


def test_missing_bad_or_expired_token_is_401(emulator: EmulatorInfo) -> None:
    for bearer in (None, "not-a-jwt"):
        response = call(emulator, "GET", "/api/alerts", bearer)
        assert response.status_code == 401
        assert error_of(response)["code"] == "Unauthorized"


def test_token_for_another_resource_is_403(emulator: EmulatorInfo, tenant: str) -> None:
    response = call(emulator, "GET", "/api/alerts", xdr_token(emulator, tenant))
    assert response.status_code == 403
    assert error_of(response)["code"] == "Forbidden"


def test_consent_without_roles_is_403_naming_the_permissions(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant that consented without granting any role (the token has no roles claim)
    bare = add_tenant(emulator, consent="partial", roles={}, machines=1)
    response = call(emulator, "GET", "/api/machines", token(emulator, bare))
    # THEN the API names the permissions it wanted
    assert response.status_code == 403
    assert error_of(response)["message"] == (
        "The application does not have any of the required application permissions "
        "(Machine.Read.All, Machine.ReadWrite.All) to access the resource"
    )


def test_hosts_serve_only_their_cloud_and_region(emulator: EmulatorInfo) -> None:
    eu = tenant_with_data(emulator, alerts=1, region="eu")
    bearer = token(emulator, eu)
    assert call(emulator, "GET", "/api/alerts", bearer, host="eu.api.security.microsoft.com").status_code == 200
    assert call(emulator, "GET", "/api/alerts", bearer, host="api.securitycenter.microsoft.com").status_code == 200
    wrong_region = call(emulator, "GET", "/api/alerts", bearer, host="us.api.security.microsoft.com")
    assert wrong_region.status_code == 403
    assert "is not provisioned in this environment" in error_of(wrong_region)["message"]
    gcc = tenant_with_data(emulator, alerts=1, cloud="gcc")
    gcc_token = token(emulator, gcc, scope="https://api-gcc.securitycenter.microsoft.us/.default")
    assert (
        call(emulator, "GET", "/api/alerts", gcc_token, host="api-gcc.securitycenter.microsoft.us").status_code == 200
    )


def test_wrong_method_is_an_empty_405_with_allow(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    machine = machines(emulator, tenant, bearer)[0]
    response = call(emulator, "GET", f"/api/machines/{machine['id']}/isolate", bearer)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.content == b""


def test_unknown_path_is_404(emulator: EmulatorInfo, bearer: str) -> None:
    response = requests.get(emulator.hosts["api.security.microsoft.com"] + "/api/nothing", timeout=10)
    assert response.status_code == 404
    assert error_of(response)["code"] == "NotFound"
