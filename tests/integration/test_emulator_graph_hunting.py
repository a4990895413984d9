"""The emulated ``POST /v1.0/security/runHuntingQuery`` over real HTTPS: the documented request and answer, the
role, the KQL subset's refusals as Graph 400s, the documented limits, and the per-tenant test switches.

Oracle: https://learn.microsoft.com/graph/api/security-security-runhuntingquery (request, answer, permission),
https://learn.microsoft.com/defender-xdr/api-advanced-hunting (limits), docs/contracts.md §1.7.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import DATETIME
from tests.integration.graph_support import GRAPH, GRAPH_READ, graph_error, graph_tenant, graph_token

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]
HUNTING = [*GRAPH_READ, "ThreatHunting.Read.All"]
PATH = "/v1.0/security/runHuntingQuery"


def hunt(emulator: EmulatorInfo, bearer: str, body: Any, *, method: str = "POST") -> requests.Response:
    return requests.request(
        method, emulator.hosts[GRAPH] + PATH, json=body, headers={"Authorization": f"Bearer {bearer}"}, timeout=15
    )


@pytest.fixture(scope="module", autouse=True)
def default_settings(emulator: EmulatorInfo) -> Iterator[None]:
    yield
    emulator.control("PUT", "/graph/hunting", json={"latency_ms": 0, "per_minute": 45, "row_cap": 100_000})


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    from tests.integration.defender_support import ALL_ROLES

    return graph_tenant(emulator, alerts=6, roles={**ALL_ROLES, "graph": HUNTING})


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return graph_token(emulator, tenant)


def test_the_documented_example_query_answers_with_schema_and_results(emulator: EmulatorInfo, bearer: str) -> None:
    # GIVEN the first example of the runHuntingQuery page, verbatim
    query = (
        'DeviceProcessEvents | where InitiatingProcessFileName =~ "powershell.exe" '
        "| project Timestamp, FileName, InitiatingProcessFileName | order by Timestamp desc | limit 2"
    )
    response = hunt(emulator, bearer, {"Query": query})
    # THEN 200 with @odata.context, the schema as name/type pairs and at most two rows in that shape
    assert response.status_code == 200, response.text
    body = response.json()
    assert (
        body["@odata.context"]
        == "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults"
    )
    assert body["schema"] == [
        {"name": "Timestamp", "type": "DateTime"},
        {"name": "FileName", "type": "String"},
        {"name": "InitiatingProcessFileName", "type": "String"},
    ]
    assert 1 <= len(body["results"]) <= 2
    for row in body["results"]:
        assert set(row) == {"Timestamp", "FileName", "InitiatingProcessFileName"}
        assert row["InitiatingProcessFileName"].lower() == "powershell.exe"
        assert DATETIME.match(row["Timestamp"])
    stamps = [row["Timestamp"] for row in body["results"]]
    assert stamps == sorted(stamps, reverse=True)


def test_tables_derive_from_the_world_and_the_timespan_narrows_them(emulator: EmulatorInfo, bearer: str) -> None:
    alerts = hunt(emulator, bearer, {"Query": "AlertInfo | summarize count()"}).json()["results"]
    assert alerts == [{"count_": 6}]
    devices = hunt(emulator, bearer, {"Query": "DeviceInfo | project DeviceName"}).json()["results"]
    assert len(devices) == 4
    week = hunt(emulator, bearer, {"Query": "DeviceProcessEvents | summarize count()", "Timespan": "P8D"})
    hour = hunt(emulator, bearer, {"query": "DeviceProcessEvents | summarize count()", "timespan": "PT1S"})
    assert week.json()["results"][0]["count_"] > 0
    assert hour.json()["results"] == [{"count_": 0}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Query": "DeviceProcessEvents | wher x"}, "The 'wher' operator is not in the subset"),
        ({"Query": "DeviceProcessEvents | where Nope == 1"}, "Failed to resolve scalar expression named 'Nope'"),
        ({"Query": "DeviceProcessEvents | join kind=inner (AlertInfo) on DeviceId"}, "'join' operator"),
        ({"Query": ""}, "The parameter 'Query' is required"),
        ({"Query": "AlertInfo", "Top": 5}, "The parameter 'Top' in the request payload is not a valid parameter"),
        ({"Query": "AlertInfo", "Timespan": "a week"}, "The Timespan 'a week' is not a valid ISO 8601"),
    ],
)
def test_queries_outside_the_subset_and_bad_requests_are_graph_400s(
    emulator: EmulatorInfo, bearer: str, body: dict[str, Any], message: str
) -> None:
    response = hunt(emulator, bearer, body)
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == "BadRequest"
    assert message in error["message"]


def test_only_post_is_served_and_the_role_is_required(emulator: EmulatorInfo, bearer: str) -> None:
    assert hunt(emulator, bearer, None, method="GET").status_code == 405
    # GIVEN a tenant with the Graph read roles but not ThreatHunting.Read.All
    reader = graph_tenant(emulator, alerts=1)
    response = hunt(emulator, graph_token(emulator, reader), {"Query": "AlertInfo"})
    assert response.status_code == 403
    assert "API required roles: ThreatHunting.Read.All" in graph_error(response)["message"]


def test_the_test_switches_refuse_like_the_documented_limits(emulator: EmulatorInfo) -> None:
    from tests.integration.defender_support import ALL_ROLES

    roles = {**ALL_ROLES, "graph": HUNTING}
    unlicensed, slow, large, busy = (graph_tenant(emulator, alerts=1, roles=roles) for _ in range(4))
    settings = {"unlicensed": [unlicensed], "timeouts": [slow], "oversize": [large], "cpu_exhausted": {busy: 300}}
    assert emulator.control("PUT", "/graph/hunting", json=settings).status_code == 200
    try:
        refused = {
            tid: hunt(emulator, graph_token(emulator, tid), {"Query": "AlertInfo"}) for tid in settings_ids(settings)
        }
    finally:
        emulator.control(
            "PUT", "/graph/hunting", json={"unlicensed": [], "timeouts": [], "oversize": [], "cpu_exhausted": {}}
        )
    assert refused[unlicensed].status_code == 403
    assert refused[slow].status_code == 400
    assert graph_error(refused[slow])["message"] == "Query exceeded the timeout period."
    assert "Result size limit exceeded" in graph_error(refused[large])["message"]
    assert refused[busy].status_code == 429
    assert refused[busy].headers["Retry-After"] == "300"
    assert "You can run queries again in 00:05:00." in graph_error(refused[busy])["message"]


def settings_ids(settings: dict[str, Any]) -> list[str]:
    return [*settings["unlicensed"], *settings["timeouts"], *settings["oversize"], *settings["cpu_exhausted"]]


def test_rows_are_cut_at_the_row_cap_and_calls_limited_per_tenant_and_minute(
    emulator: EmulatorInfo, bearer: str
) -> None:
    assert emulator.control("PUT", "/graph/hunting", json={"row_cap": 3, "per_minute": 4}).status_code == 200
    answers = [hunt(emulator, bearer, {"Query": "DeviceProcessEvents"}) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert len(answers[0].json()["results"]) == 3
    assert int(answers[4].headers["Retry-After"]) >= 1


def test_bad_control_input_changes_nothing(emulator: EmulatorInfo) -> None:
    before = emulator.control("GET", "/graph/hunting").json()
    for body in ({"latency": 5}, {"row_cap": -1}, {"unlicensed": "x"}, {"cpu_exhausted": {"t": 0}}):
        response = emulator.control("PUT", "/graph/hunting", json=body)
        assert response.status_code == 400
        assert "graph hunting:" in response.json()["error"]
    after = emulator.control("GET", "/graph/hunting").json()
    assert {k: v for k, v in after.items() if k != "queries"} == {k: v for k, v in before.items() if k != "queries"}
