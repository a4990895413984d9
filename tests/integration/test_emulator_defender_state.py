"""The emulated Defender APIs over time: rate limits, injected faults, ground truth with ties and late
writes, the machine-action state machine, and XDR incidents."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import (
    action_timing,
    call,
    error_of,
    machines,
    tenant_with_data,
    token,
    xdr_token,
)
from tests.integration.emulator_support import add_tenant

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """This module moves the emulated clock forward, so it gets an emulator of its own (see conftest)."""
    return private_emulator


SHA1 = "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _advance(emulator: EmulatorInfo, seconds: float) -> None:
    assert emulator.control("POST", "/time/advance", json={"seconds": seconds}).status_code == 200


@pytest.fixture
def faults(emulator: EmulatorInfo) -> Iterator[None]:
    yield
    emulator.control("DELETE", "/faults")


def test_rate_limit_answers_429_with_retry_after_and_the_observed_body(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant whose client has made the 100 calls a minute allows
    tenant = tenant_with_data(emulator, alerts=1)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token(emulator, tenant)}"
    url = emulator.hosts["api.security.microsoft.com"] + "/api/machines"
    assert [session.get(url, timeout=10).status_code for _ in range(100)] == [200] * 100
    # WHEN it makes one more
    refused = session.get(url, timeout=10)
    # THEN the API refuses it the way real traffic shows, naming the tenant
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert error_of(refused) == {
        "code": "429",
        "message": "API calls quota exceeded! maximum allowed 100 per 00:01:00",
        "target": tenant,
    }
    # AND other routes have their own window, and the window frees once a minute has passed
    assert session.get(url.replace("machines", "alerts"), timeout=10).status_code == 200
    _advance(emulator, 61)
    assert session.get(url, timeout=10).status_code == 200
    assert emulator.control("GET", "/counters").json()["throttled"][tenant] >= 1


@pytest.mark.usefixtures("faults")
def test_injected_faults_hit_only_the_chosen_tenant_and_count(emulator: EmulatorInfo) -> None:
    chosen, other = tenant_with_data(emulator, alerts=1), tenant_with_data(emulator, alerts=1)
    chosen_token, other_token = token(emulator, chosen), token(emulator, other)
    rules = [
        {"route": "alerts", "tenant_id": chosen, "p503": 1.0, "count": 1},
        {"route": "alerts", "tenant_id": chosen, "p429": 1.0, "retry_after": 7, "count": 1},
    ]
    assert emulator.control("PUT", "/faults", json={"rules": rules}).status_code == 200
    assert call(emulator, "GET", "/api/alerts", other_token).status_code == 200
    unavailable = call(emulator, "GET", "/api/alerts", chosen_token)
    assert unavailable.status_code == 503
    assert error_of(unavailable)["code"] == "ServiceUnavailable"
    throttled = call(emulator, "GET", "/api/alerts", chosen_token)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "7")
    assert call(emulator, "GET", "/api/alerts", chosen_token).status_code == 200  # counts used up
    faults_seen = emulator.control("GET", "/counters").json()["faults"]
    assert faults_seen["503|alerts"] >= 1
    assert faults_seen["429|alerts"] >= 1


@pytest.mark.usefixtures("faults")
def test_injected_reset_slow_answer_and_latency(emulator: EmulatorInfo) -> None:
    tenant = tenant_with_data(emulator, alerts=1)
    bearer = token(emulator, tenant)
    rules = [{"route": "machines", "tenant_id": tenant, "preset": 1.0, "count": 1}]
    emulator.control("PUT", "/faults", json={"rules": rules})
    with pytest.raises(requests.ConnectionError):
        call(emulator, "GET", "/api/machines", bearer)
    rules = [{"route": "machines", "tenant_id": tenant, "pslow": 1.0, "slow_seconds": 0.4, "count": 1}]
    emulator.control("PUT", "/faults", json={"rules": rules, "latency_ms": 100})
    started = time.monotonic()
    assert call(emulator, "GET", "/api/machines", bearer).status_code == 200
    assert time.monotonic() - started >= 0.5
    bad = emulator.control("PUT", "/faults", json={"rules": [{"route": "alerts", "p429": 2}]})
    assert bad.status_code == 400
    assert "rules[0].p429" in bad.json()["error"]


def test_ground_truth_matches_the_api_with_ties_and_late_writes(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant with history, and a client that has read everything up to the emulated now
    tenant = tenant_with_data(emulator, alerts=5)
    bearer = token(emulator, tenant)
    before = _ids(emulator, bearer, "id ne 'none'")
    cursor = _when(emulator.control("GET", "/time").json()["now"])
    # WHEN new alerts, updates, ties and late writes arrive
    body = {"tenant_id": tenant, "new_alerts": 6, "updates": 3, "ties": 4, "late": 2, "late_seconds": 180}
    generated = emulator.control("POST", "/generate", json=body).json()[tenant]
    assert generated["alerts_created"] == 8
    assert generated["alerts_updated"] == 3
    # THEN the API holds exactly the newest version of every alert the ground truth lists
    current = {a["id"]: a["lastUpdateTime"] for a in call(emulator, "GET", "/api/alerts", bearer).json()["value"]}
    newest: dict[str, str] = {}
    for version in emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["alerts"]:
        if version["id"] not in newest or _when(version["lastUpdateTime"]) > _when(newest[version["id"]]):
            newest[version["id"]] = version["lastUpdateTime"]
    assert current == newest
    # AND four of them share one exact lastUpdateTime
    assert Counter(current.values()).most_common(1)[0][1] >= 4
    # AND the two late writes are stamped behind the cursor: "gt cursor" misses them, an overlap finds them
    late = {i for i in set(current) - before if _when(current[i]) <= cursor - timedelta(seconds=60)}
    assert len(late) == 2
    assert late.isdisjoint(_ids(emulator, bearer, f"lastUpdateTime gt {_odata(cursor)}"))
    assert late <= _ids(emulator, bearer, f"lastUpdateTime gt {_odata(cursor - timedelta(seconds=600))}")


def _odata(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ids(emulator: EmulatorInfo, bearer: str, query: str) -> set[str]:
    response = call(emulator, "GET", "/api/alerts", bearer, params={"$filter": query})
    assert response.status_code == 200, response.text
    return {a["id"] for a in response.json()["value"]}


@pytest.fixture
def quick_actions(emulator: EmulatorInfo) -> Iterator[None]:
    with action_timing(emulator, pending_seconds=2, in_progress_seconds=2):
        yield


@pytest.mark.usefixtures("quick_actions")
def test_isolate_walks_to_succeeded_and_blocks_duplicates_meanwhile(emulator: EmulatorInfo) -> None:
    tenant = tenant_with_data(emulator, alerts=1)
    bearer = token(emulator, tenant)
    machine = machines(emulator, tenant, bearer)[0]
    path = f"/api/machines/{machine['id']}/isolate"
    created = call(emulator, "POST", path, bearer, json={"Comment": "alert 1234", "IsolationType": "Selective"})
    assert created.status_code == 201, created.text
    action = created.json()
    assert action["@odata.context"].endswith("#MachineActions/$entity")
    assert (action["type"], action["status"], action["scope"]) == ("Isolate", "Pending", "Selective")
    assert action["requestor"] == "defender-relay (emulated partner app)"
    duplicate = call(emulator, "POST", path, bearer, json={"Comment": "again"})
    assert duplicate.status_code == 400
    assert error_of(duplicate)["code"] == "ActiveRequestAlreadyExists"
    statuses = []
    for _ in range(2):
        _advance(emulator, 2.1)
        statuses.append(call(emulator, "GET", f"/api/machineactions/{action['id']}", bearer).json()["status"])
    assert statuses == ["InProgress", "Succeeded"]
    assert call(emulator, "POST", path, bearer, json={"Comment": "isolate again"}).status_code == 201
    listed = call(emulator, "GET", "/api/machineactions", bearer, params={"$filter": "type eq 'Isolate'"}).json()
    assert len(listed["value"]) == 2


@pytest.mark.usefixtures("quick_actions")
def test_cancel_and_the_other_actions(emulator: EmulatorInfo) -> None:
    tenant = tenant_with_data(emulator, alerts=1)
    bearer = token(emulator, tenant)
    machine_id = machines(emulator, tenant, bearer)[1]["id"]
    scan = call(emulator, "POST", f"/api/machines/{machine_id}/runAntiVirusScan", bearer,
                json={"Comment": "scan", "ScanType": "Quick"}).json()  # fmt: skip
    cancelled = call(emulator, "POST", f"/api/machineactions/{scan['id']}/cancel", bearer, json={"Comment": "no"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "Cancelled"
    again = call(emulator, "POST", f"/api/machineactions/{scan['id']}/cancel", bearer, json={"Comment": "no"})
    assert again.status_code == 400
    quarantine = call(emulator, "POST", f"/api/machines/{machine_id}/stopandquarantinefile", bearer,
                      json={"Comment": "stop it", "Sha1": SHA1})  # fmt: skip
    assert quarantine.status_code == 201
    assert quarantine.json()["relatedFileInfo"] == {"fileIdentifier": SHA1, "fileIdentifierType": "Sha1"}
    offboard = call(emulator, "POST", f"/api/machines/{machine_id}/offboard", bearer, json={"Comment": "bye"})
    assert offboard.status_code == 201  # the doc says "200 - Created"; 201 like the others
    wrong_case = call(emulator, "POST", f"/api/machines/{machine_id}/unisolate", bearer, json={"comment": "x"})
    assert error_of(wrong_case)["code"] == "InvalidRequestBody"
    unknown = call(emulator, "POST", "/api/machines/123123123/unisolate", bearer, json={"Comment": "x"})
    assert (unknown.status_code, error_of(unknown)["code"]) == (404, "ResourceNotFound")


def test_action_without_its_permission_is_403(emulator: EmulatorInfo) -> None:
    read_only = add_tenant(emulator, roles={"mde": ["Machine.Read.All"]}, machines=1)
    bearer = token(emulator, read_only)
    machine_id = machines(emulator, read_only, bearer)[0]["id"]
    response = call(emulator, "POST", f"/api/machines/{machine_id}/isolate", bearer, json={"Comment": "x"})
    assert response.status_code == 403
    assert "(Machine.Isolate)" in error_of(response)["message"]


def test_incidents_group_the_tenants_alerts(emulator: EmulatorInfo) -> None:
    tenant = tenant_with_data(emulator, alerts=8)
    bearer = xdr_token(emulator, tenant)
    body = call(emulator, "GET", "/api/incidents", bearer).json()
    assert body["@odata.context"] == "https://api.security.microsoft.com/api/$metadata#Incidents"
    incidents = body["value"]
    stamps = [_when(i["lastUpdateTime"]) for i in incidents]
    assert stamps == sorted(stamps, reverse=True)  # most recent first
    alert_ids = {a["alertId"] for i in incidents for a in i["alerts"]}
    api_alerts = call(emulator, "GET", "/api/alerts", token(emulator, tenant)).json()["value"]
    assert alert_ids == {a["id"] for a in api_alerts}
    one = call(emulator, "GET", f"/api/incidents/{incidents[0]['incidentId']}", bearer).json()
    assert one["incidentId"] == incidents[0]["incidentId"]
    assert all(a["incidentId"] == one["incidentId"] for a in one["alerts"])
    too_many = call(emulator, "GET", "/api/incidents?$top=101", bearer)
    assert (too_many.status_code, error_of(too_many)["code"]) == (400, "BadRequest")
    mde_host = call(emulator, "GET", "/api/incidents", bearer, host="api.securitycenter.microsoft.com")
    assert mde_host.status_code == 404


def test_control_api_rejects_bad_input_by_field(emulator: EmulatorInfo) -> None:
    bad = emulator.control("POST", "/generate", json={"tenant_id": "*", "new_alerts": -1})
    assert bad.status_code == 400
    assert "new_alerts" in bad.json()["error"]
    unknown = emulator.control("POST", "/generate", json={"tenant_id": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == 404
    assert emulator.control("PUT", "/actions/timing", json={"outcome": "Done"}).status_code == 400
    log = emulator.control("GET", "/requests?limit=5").json()["requests"]
    assert len(log) <= 5
    assert all({"method", "host", "path", "query", "tenant", "status"} <= set(entry) for entry in log)
