"""The documented MDE and XDR routes real clients call, with their documented bodies, errors and limits.

Each test quotes the page it follows (under https://learn.microsoft.com/defender-endpoint/api/ unless said).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import ALL_MDE, call, error_of, tenant_with_data, token, xdr_token

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

PROFILE_ROLES = ["File.Read.All", "Ip.Read.All", "URL.Read.All", "User.Read.All", "Vulnerability.Read.All",
                 "Software.Read.All"]  # fmt: skip
ROLES = {"mde": [*ALL_MDE, *PROFILE_ROLES], "xdr": ["Incident.Read.All", "Incident.ReadWrite.All"]}


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    return tenant_with_data(emulator, alerts=30, roles=ROLES)


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return token(emulator, tenant)


@pytest.fixture  # function scope: the trust for the emulator's CA (emulator_env) is set per test
def alerts(emulator: EmulatorInfo, bearer: str) -> list[dict[str, Any]]:
    return list(call(emulator, "GET", "/api/alerts?$expand=evidence", bearer).json()["value"])


def _get(emulator: EmulatorInfo, path: str, bearer: str) -> Any:
    response = call(emulator, "GET", path, bearer)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/machines/{m}/nothing-here"), ("POST", "/api/machines/{m}/notAnAction"),
     ("GET", "/api/alerts/{a}/evidence/more"), ("DELETE", "/api/unknown")],
)  # fmt: skip
def test_a_route_the_service_does_not_have_is_404_whatever_the_method(
    emulator: EmulatorInfo, bearer: str, alerts: list[dict[str, Any]], method: str, path: str
) -> None:
    # WHEN a path no route serves is called THEN 404: a 405 would say the route exists with another method
    url = path.format(m=alerts[0]["machineId"], a=alerts[0]["id"])
    response = call(emulator, method, url, bearer)
    assert response.status_code == 404
    assert error_of(response)["code"] == "NotFound"
    # AND a wrong method on a route that exists is still 405 with Allow (docs/microsoft-apis.md §Requests)
    wrong = call(emulator, "GET", f"/api/machines/{alerts[0]['machineId']}/isolate", bearer)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")


def test_machine_related_alerts_and_their_count(
    emulator: EmulatorInfo, bearer: str, alerts: list[dict[str, Any]]
) -> None:
    # get-machine-related-alerts: "Retrieves all Alerts related to a specific device ... If device was not found:
    # 404 Not Found"; exposed-apis-odata-samples Example 7: ".../alerts/$count?$filter=status ne 'Resolved'" -> 4
    per_machine = Counter(a["machineId"] for a in alerts)
    machine_id, expected = per_machine.most_common(1)[0]
    body = _get(emulator, f"/api/machines/{machine_id}/alerts", bearer)
    assert body["@odata.context"].endswith("/api/$metadata#Alerts")
    assert {a["machineId"] for a in body["value"]} == {machine_id}
    assert len(body["value"]) == expected
    open_count = sum(1 for a in alerts if a["machineId"] == machine_id and a["status"] != "Resolved")
    counted = call(emulator, "GET", f"/api/machines/{machine_id}/alerts/$count?$filter=status ne 'Resolved'", bearer)
    assert counted.status_code == 200
    assert counted.text.strip() == str(open_count)
    missing = call(emulator, "GET", "/api/machines/" + "0" * 40 + "/alerts", bearer)
    assert missing.status_code == 404


def test_alert_related_machine_files_ips_domains_and_user(
    emulator: EmulatorInfo, bearer: str, alerts: list[dict[str, Any]]
) -> None:
    # get-alert-related-machine-info, -files-info, -ip-info, -domain-info, -user-info
    # (a few alerts with the most evidence: six calls each stay under the route's 100 calls a minute)
    for alert in sorted(alerts, key=lambda a: -len(a["evidence"]))[:5]:
        evidence = alert["evidence"]
        machine = _get(emulator, f"/api/alerts/{alert['id']}/machine", bearer)
        assert machine["id"] == alert["machineId"]
        files = _get(emulator, f"/api/alerts/{alert['id']}/files", bearer)
        assert files["@odata.context"].endswith("#Files")
        assert {f["sha1"] for f in files["value"]} == {e["sha1"] for e in evidence if e["entityType"] == "File"}
        ips = _get(emulator, f"/api/alerts/{alert['id']}/ips", bearer)["value"]
        assert [i["id"] for i in ips] == [e["ipAddress"] for e in evidence if e["entityType"] == "Ip"]
        domains = _get(emulator, f"/api/alerts/{alert['id']}/domains", bearer)["value"]
        assert all(d["host"] in e["url"] for d, e in zip(domains, [e for e in evidence if e["url"]], strict=True))
        user = _get(emulator, f"/api/alerts/{alert['id']}/user", bearer)
        assert user["@odata.context"].endswith("#Users/$entity")
        assert user["accountName"] == alert["relatedUser"]["userName"]
    # "If alert not found - 404 Not Found"
    assert call(emulator, "GET", "/api/alerts/da000_1/files", bearer).status_code == 404


def test_file_by_sha1_or_sha256(emulator: EmulatorInfo, bearer: str, alerts: list[dict[str, Any]]) -> None:
    # get-file-information: "Retrieves a File by identifier Sha1, or Sha256 ... If file doesn't exist - 404"
    evidence = next(e for a in alerts for e in a["evidence"] if e["entityType"] == "File")
    by_sha1 = _get(emulator, f"/api/files/{evidence['sha1']}", bearer)
    by_sha256 = _get(emulator, f"/api/files/{evidence['sha256'].upper()}", bearer)
    assert by_sha1 == by_sha256
    assert by_sha1["@odata.context"].endswith("#Files/$entity")
    assert (by_sha1["sha1"], by_sha1["sha256"]) == (evidence["sha1"], evidence["sha256"])
    assert call(emulator, "GET", "/api/files/" + "ab" * 20, bearer).status_code == 404


def test_profile_routes_need_their_own_permission(emulator: EmulatorInfo, alerts: list[dict[str, Any]]) -> None:
    # GIVEN a tenant whose app has Alert.Read.All but not File.Read.All (get-alert-related-files-info Permissions)
    tenant = tenant_with_data(emulator, alerts=1)
    response = call(emulator, "GET", f"/api/files/{'ab' * 20}", token(emulator, tenant))
    assert response.status_code == 403
    assert "File.Read.All" in error_of(response)["message"]


def test_machine_software_and_vulnerabilities(
    emulator: EmulatorInfo, bearer: str, alerts: list[dict[str, Any]]
) -> None:
    machine_id = alerts[0]["machineId"]
    # get-installed-software: "200 OK with the installed software information in the body"
    software = _get(emulator, f"/api/machines/{machine_id}/software", bearer)
    assert software["@odata.context"].endswith("#Software")
    assert all({"id", "name", "vendor", "weaknesses", "exposedMachines"} <= set(s) for s in software["value"])
    # get-discovered-vulnerabilities: "a collection of discovered vulnerabilities related to a given device ID"
    vulns = _get(emulator, f"/api/machines/{machine_id}/vulnerabilities", bearer)
    assert vulns["@odata.context"].endswith("#Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)")
    assert all(v["id"].startswith("CVE-") and v["severity"] in ("Low", "Medium", "High") for v in vulns["value"])
    assert call(emulator, "GET", "/api/machines/" + "0" * 40 + "/software", bearer).status_code == 404


def test_software_vulnerabilities_export_pages_by_skiptoken(emulator: EmulatorInfo, bearer: str) -> None:
    # get-assessment-software-vulnerabilities: "pageSize (default = 50,000)"; "$top: Number of results to return
    # (doesn't return @odata.nextLink ...)"; the example's next link carries $skiptoken
    everything = _get(emulator, "/api/machines/SoftwareVulnerabilitiesByMachine", bearer)
    assert "@odata.nextLink" not in everything
    rows, url = [], "/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=3"
    for _ in range(100):
        page = _get(emulator, url, bearer)
        rows += page["value"]
        if "@odata.nextLink" not in page:
            break
        url = page["@odata.nextLink"]
        assert url.startswith("https://api.security.microsoft.com/api/machines/SoftwareVulnerabilitiesByMachine?")
        assert "$skiptoken=" in url
    assert [r["id"] for r in rows] == [r["id"] for r in everything["value"]]
    topped = _get(emulator, "/api/machines/SoftwareVulnerabilitiesByMachine?$top=2", bearer)
    assert len(topped["value"]) == 2
    assert "@odata.nextLink" not in topped
    too_big = call(emulator, "GET", "/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=200001", bearer)
    assert too_big.status_code == 400


def test_batch_update_alerts_is_all_or_nothing_and_limited_to_10_a_minute(emulator: EmulatorInfo) -> None:
    # batch-update-alerts: "If successful, this method returns 200 OK, with an empty response body."
    # "Rate limitations for this API are 10 calls per minute and 500 calls per hour."
    tenant = tenant_with_data(emulator, alerts=3, roles=ROLES)
    bearer = token(emulator, tenant)
    before = {a["id"]: a for a in _get(emulator, "/api/alerts", bearer)["value"]}
    ids = list(before)
    body = {"alertIds": ids[:2], "status": "Resolved", "assignedTo": "secop2@contoso.com", "comment": "batch"}
    done = call(emulator, "POST", "/api/alerts/batchUpdate", bearer, json=body)
    assert (done.status_code, done.content) == (200, b"")
    after = {a["id"]: a for a in _get(emulator, "/api/alerts", bearer)["value"]}
    assert [after[i]["status"] for i in ids] == ["Resolved", "Resolved", before[ids[2]]["status"]]
    assert after[ids[0]]["comments"][-1]["comment"] == "batch"
    # an unknown id changes nothing
    refused = call(
        emulator,
        "POST",
        "/api/alerts/batchUpdate",
        bearer,
        json={"alertIds": [ids[2], "da0_1"], "status": "InProgress"},
    )
    assert refused.status_code == 404
    assert _get(emulator, f"/api/alerts/{ids[2]}", bearer)["lastUpdateTime"] == after[ids[2]]["lastUpdateTime"]
    again = {"alertIds": [ids[2]], "assignedTo": "x"}
    statuses = [call(emulator, "POST", "/api/alerts/batchUpdate", bearer, json=again).status_code for _ in range(9)]
    assert statuses[:8] == [200] * 8
    assert statuses[8] == 429  # the 11th call of the minute (the refused one above counted too)


def test_update_incident_as_documented(emulator: EmulatorInfo) -> None:
    # https://learn.microsoft.com/defender-xdr/api-update-incidents: "The response body contains the incident entity
    # with updated properties"; "You can set the determination property only if classification is set to TruePositive."
    tenant = tenant_with_data(emulator, alerts=4, roles=ROLES)
    bearer = xdr_token(emulator, tenant)
    incident = _get(emulator, "/api/incidents", bearer)["value"][0]
    path = f"/api/incidents/{incident['incidentId']}"
    body = {"status": "Resolved", "assignedTo": "secop2@contoso.com", "classification": "TruePositive",
            "determination": "Malware", "tags": ["pen test"], "comment": "pen testing"}  # fmt: skip
    updated = call(emulator, "PATCH", path, bearer, json=body)
    assert updated.status_code == 200, updated.text
    entity = updated.json()
    assert entity["@odata.context"].endswith("#Incidents/$entity")
    assert (entity["status"], entity["determination"], entity["tags"]) == ("Resolved", "Malware", ["pen test"])
    assert entity["comments"][-1]["comment"] == "pen testing"
    assert entity["lastUpdateTime"] > incident["lastUpdateTime"]
    assert _get(emulator, path, bearer)["assignedTo"] == "secop2@contoso.com"
    wrong = call(emulator, "PATCH", path, bearer, json={"classification": "FalsePositive", "determination": "Malware"})
    assert wrong.status_code == 400
    assert error_of(wrong)["code"] == "InvalidRequestBody"
    assert call(emulator, "PATCH", "/api/incidents/1", bearer, json={"status": "Active"}).status_code == 404


def test_update_incident_needs_incident_readwrite(emulator: EmulatorInfo) -> None:
    # api-update-incidents Permissions: "Application | Incident.ReadWrite.All"
    tenant = tenant_with_data(emulator, alerts=1)  # Incident.Read.All only
    bearer = xdr_token(emulator, tenant)
    incident = _get(emulator, "/api/incidents", bearer)["value"][0]
    response = call(emulator, "PATCH", f"/api/incidents/{incident['incidentId']}", bearer, json={"status": "Active"})
    assert response.status_code == 403
