"""The emulator as an outside tester drives it, through the control API and emulator.json only (issue 13):
time travel that a relay on real time can follow, Retry-After ranges, tenants in emulator.json, readable
ground truth (docs/contracts.md §1.5).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, machines, tenant_with_data, token

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """This module advances the clock (which ages every tenant's data): it has an emulator of its own."""
    return private_emulator


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_advancing_time_ages_the_data_so_a_relay_on_real_time_sees_what_comes_next(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant with history and a pending action
    tenant = tenant_with_data(emulator, alerts=5)
    bearer = token(emulator, tenant)
    before = {a["id"]: a["lastUpdateTime"] for a in call(emulator, "GET", "/api/alerts", bearer).json()["value"]}
    machine = machines(emulator, tenant, bearer)[0]
    action = call(emulator, "POST", f"/api/machines/{machine['id']}/isolate", bearer, json={"Comment": "x"}).json()
    assert action["status"] == "Pending"
    # WHEN the tester advances the clock by an hour, then the emulator produces new alerts
    assert emulator.control("POST", "/time/advance", json={"seconds": 3600}).status_code == 200
    emulator.control("POST", "/generate", json={"tenant_id": tenant, "new_alerts": 3, "incidents": False})
    now = datetime.now(UTC)
    after = {a["id"]: a["lastUpdateTime"] for a in call(emulator, "GET", "/api/alerts", bearer).json()["value"]}
    # THEN the old alerts are an hour older, the new ones are stamped in real time (not in the future), so a
    # relay reading up to its own now sees them; and the action moved on as if the hour had passed
    assert all(_when(after[i]) == _when(before[i]) - timedelta(hours=1) for i in before)
    new = [_when(stamp) for alert_id, stamp in after.items() if alert_id not in before]
    assert len(new) == 3
    assert all(now - timedelta(minutes=1) < stamp <= now for stamp in new)
    status = call(emulator, "GET", f"/api/machineactions/{action['id']}", bearer).json()["status"]
    assert status == "Succeeded"
    clock = emulator.control("GET", "/time").json()
    assert clock["offset_seconds"] == 0
    assert clock["advanced_seconds"] >= 3600


def test_a_fault_rule_draws_retry_after_from_a_range(emulator: EmulatorInfo) -> None:
    tenant = tenant_with_data(emulator, alerts=1)
    bearer = token(emulator, tenant)
    rule = {"route": "alerts", "tenant_id": tenant, "p429": 1.0, "retry_after": [2, 5], "count": 30}
    configured = emulator.control("PUT", "/faults", json={"rules": [rule], "seed": 3})
    assert configured.status_code == 200, configured.text
    assert configured.json()["rules"][0]["retry_after"] == [2, 5]
    try:
        waits = [int(call(emulator, "GET", "/api/alerts", bearer).headers["Retry-After"]) for _ in range(30)]
    finally:
        emulator.control("DELETE", "/faults")
    assert set(waits) <= {2, 3, 4, 5}
    assert len(set(waits)) > 1
    bad = emulator.control("PUT", "/faults", json={"rules": [{"retry_after": [5, 2]}]})
    assert bad.status_code == 400
    assert "rules[0].retry_after" in bad.json()["error"]


def test_tenants_added_through_the_control_api_are_in_emulator_json(emulator: EmulatorInfo) -> None:
    tenant = tenant_with_data(emulator, alerts=0)
    emulator.control("PATCH", f"/tenants/{tenant}", json={"note": "patched"})
    listed = {t["tenant_id"]: t for t in json.loads(emulator.path.read_text())["tenants"]}
    assert listed[tenant]["note"] == "patched"


def test_ground_truth_marks_the_versions_nobody_could_read(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant created with history: some alerts were worked on in the same instant they were written
    tenant = tenant_with_data(emulator, alerts=40)
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["alerts"]
    per_alert = Counter(v["id"] for v in truth)
    # THEN a version replaced before any request was never readable; every alert's current version is
    unreadable = [v for v in truth if not v["readable"]]
    assert unreadable
    assert len(truth) - len(unreadable) >= len(per_alert)
    current = {
        a["id"]: a["lastUpdateTime"]
        for a in call(emulator, "GET", "/api/alerts", token(emulator, tenant)).json()["value"]
    }
    readable = {(v["id"], v["lastUpdateTime"]) for v in truth if v["readable"]}
    assert set(current.items()) <= readable
    # AND once a request has been served, a later change leaves the version it could see readable
    emulator.control("POST", "/generate", json={"tenant_id": tenant, "updates": 5})
    again = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["alerts"]
    assert all(v["readable"] for v in again if (v["id"], v["lastUpdateTime"]) in set(current.items()))
