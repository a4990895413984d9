"""OData query options over HTTPS as each page documents them: ``$select`` and ``$count=true`` where a list
"Supports OData V4 queries" (get-alerts, get-machines under https://learn.microsoft.com/defender-endpoint/api/),
refused where the page lists its operators without them (https://learn.microsoft.com/defender-xdr/api-list-incidents:
"The API supports the following OData operators: $filter ..., $top ..., $skip"); lambda filters; next links
on the real host.
"""

from __future__ import annotations

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, error_of, tenant_with_data, token, xdr_token

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    return tenant_with_data(emulator, alerts=9, machines=5, region="us")  # its data is on the us host too


def test_select_returns_only_the_named_properties(emulator: EmulatorInfo, tenant: str) -> None:
    bearer = token(emulator, tenant)
    # WHEN a client selects two properties, in any case and order
    body = call(emulator, "GET", "/api/alerts?$select=lastUpdateTime,ID", bearer).json()
    # THEN each alert has exactly those, in the entity's order
    assert body["value"]
    assert all(list(alert) == ["id", "lastUpdateTime"] for alert in body["value"])
    machines = call(emulator, "GET", "/api/machines?$select=computerDnsName,machineTags", bearer).json()["value"]
    assert all(set(m) == {"computerDnsName", "machineTags"} for m in machines)
    # AND an unknown property is the OData error naming it
    bad = call(emulator, "GET", "/api/alerts?$select=id,nosuch", bearer)
    assert bad.status_code == 400
    assert error_of(bad)["message"].endswith("Could not find a property named 'nosuch' on type 'Alert'.")


def test_count_true_adds_the_filtered_total(emulator: EmulatorInfo, tenant: str) -> None:
    bearer = token(emulator, tenant)
    everything = call(emulator, "GET", "/api/alerts", bearer).json()["value"]
    new = sum(1 for a in everything if a["status"] == "New")
    body = call(emulator, "GET", "/api/alerts?$count=true&$top=2&$filter=status eq 'New'", bearer).json()
    # THEN @odata.count is the number the filter keeps, not the page's length
    assert list(body)[:2] == ["@odata.context", "@odata.count"]
    assert body["@odata.count"] == new
    assert len(body["value"]) == min(2, new)
    assert "@odata.count" not in call(emulator, "GET", "/api/alerts?$count=false", bearer).json()


@pytest.mark.parametrize("option", ["$select=incidentId", "$count=true"])
def test_incidents_refuse_the_options_their_page_does_not_list(
    emulator: EmulatorInfo, tenant: str, option: str
) -> None:
    response = call(emulator, "GET", f"/api/incidents?{option}", xdr_token(emulator, tenant))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "ODataError"
    assert "is not allowed" in error["message"]


def test_machine_tag_lambda_filter_of_the_samples_page(emulator: EmulatorInfo, tenant: str) -> None:
    # exposed-apis-odata-samples (earlier revision), Example 1: machineTags/any(tag: tag eq 'ExampleTag')
    bearer = token(emulator, tenant)
    machines = call(emulator, "GET", "/api/machines", bearer).json()["value"]
    tagged = call(emulator, "GET", "/api/machines?$filter=machineTags/any(tag: tag eq 'ExampleTag')", bearer)
    assert tagged.status_code == 200, tagged.text
    expected = [m["id"] for m in machines if "ExampleTag" in m["machineTags"]]
    assert expected, "the scenario gives some machines the tag"
    assert [m["id"] for m in tagged.json()["value"]] == expected


def test_next_link_names_the_real_host_of_the_request(emulator: EmulatorInfo, tenant: str) -> None:
    bearer = token(emulator, tenant)
    assert emulator.control("PUT", "/limits", json={"alerts_page_size": 4}).status_code == 200
    try:
        for host in ("api.security.microsoft.com", "api.securitycenter.microsoft.com", "us.api.security.microsoft.com"):
            body = call(emulator, "GET", "/api/alerts?$filter=status ne 'x'", bearer, host=host).json()
            # THEN the link is on the host the client named (context and link agree), with $skip added
            assert body["@odata.context"] == f"https://{host}/api/$metadata#Alerts"
            assert body["@odata.nextLink"].startswith(f"https://{host}/api/alerts?")
            assert "$skip=4" in body["@odata.nextLink"]
            assert "$filter=status%20ne%20'x'" in body["@odata.nextLink"]
    finally:
        emulator.control("PUT", "/limits", json={"alerts_page_size": 10_000})
