"""``defender-relay hunt ...`` against Azurite and the emulator: run (table, CSV, JSON), status, results, the failing
tenant named with its remedy, a refused query, saved hunts, and hunting switched off."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest

from tests.integration.cli_support import Relay, module_azurite, relay  # noqa: F401 - fixtures
from tests.integration.hunting_support import HUNT_ROLES

pytestmark = pytest.mark.integration
ON = {"RELAY_HUNTING_ENABLED": "1"}


def _tenant(relay: Relay, name: str, roles: dict[str, list[str]]) -> str:  # noqa: F811
    assert relay.emulator is not None
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": name, "machines": 2, "roles": roles}
    assert relay.emulator.control("POST", "/tenants", json=body).status_code == 201
    assert relay.run("tenants", "add", tenant_id, "--name", name, "--feeds", "graph-alerts").code == 0
    return tenant_id


@pytest.fixture(scope="module")
def tenants(relay: Relay) -> dict[str, str]:  # noqa: F811
    return {
        "Contoso": _tenant(relay, "Contoso", HUNT_ROLES),
        "Fabrikam": _tenant(relay, "Fabrikam", HUNT_ROLES),
        "No Role Ltd": _tenant(relay, "No Role Ltd", {"graph": ["SecurityAlert.Read.All"]}),
    }


def test_hunt_run_prints_every_row_with_its_tenant_and_names_the_failing_tenant(
    relay: Relay,  # noqa: F811
    tenants: dict[str, str],
) -> None:
    # WHEN a hunt runs in every enabled tenant, printed as one JSON document
    result = relay.run("--json", "hunt", "run", "--query", "DeviceInfo | project DeviceName, OSPlatform", **ON)
    # THEN it exits 1 (a tenant failed), holds the two machines of each healthy tenant, and names the failure
    assert result.code == 1, result.err
    document = result.json()
    assert document["hunt"]["state"] == "done"
    assert document["hunt"]["tenants"] == {**document["hunt"]["tenants"], "done": 2, "failed": 1}
    assert sorted(row["tenantName"] for row in document["rows"]) == ["Contoso", "Contoso", "Fabrikam", "Fabrikam"]
    assert all(list(row)[:2] == ["tenantId", "tenantName"] for row in document["rows"])
    failing = next(t for t in document["hunt"]["perTenant"] if t["state"] == "failed")
    assert failing["tenantName"] == "No Role Ltd"
    assert failing["error"]["kind"] == "missing-roles"
    assert "ThreatHunting.Read.All" in failing["error"]["remedy"]
    # AND status and results read the same hunt back
    hunt_id = document["hunt"]["huntId"]
    status = relay.run("hunt", "status", hunt_id, **ON)
    assert status.code == 1
    assert "No Role Ltd" in status.out
    assert "missing-roles" in status.out
    results = relay.run("hunt", "results", hunt_id, **ON)
    assert results.code == 0
    assert len([json.loads(line) for line in results.out.splitlines()]) == 4


def test_hunt_run_in_one_tenant_from_a_query_file_as_csv(
    relay: Relay,  # noqa: F811
    tenants: dict[str, str],
    tmp_path: Path,
) -> None:
    query = tmp_path / "q.kql"
    query.write_text("DeviceInfo\n| project DeviceName\n", encoding="utf-8")
    result = relay.run(
        "hunt", "run", "--query-file", str(query), "--tenant", tenants["Fabrikam"], "--format", "csv", **ON
    )
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == ["tenantId", "tenantName", "DeviceName"]
    assert {row[1] for row in rows[1:]} == {"Fabrikam"}
    assert len(rows) == 3
    assert "done: 1 done; 2 rows" in result.err


def test_a_refused_query_is_reported_once_with_microsofts_message(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    result = relay.run("hunt", "run", "--query", "DeviceInfo | distinct DeviceName", **ON)
    assert result.code == 1
    assert "Microsoft Graph refused the query: The 'distinct' operator is not in the subset" in result.err
    assert result.out == ""


def test_saved_hunts_are_added_listed_and_removed(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    added = relay.run(
        "--json", "hunt", "schedule", "add", "--name", "devices", "--schedule", "0 0 6 * * *",
        "--query", "DeviceInfo | project DeviceName", "--tenant", tenants["Contoso"], **ON,
    )  # fmt: skip
    assert added.code == 0, added.err
    schedule_id = added.json()["scheduleId"]
    listed = relay.run("hunt", "schedule", "list", **ON)
    assert schedule_id in listed.out
    assert "0 0 6 * * *" in listed.out
    assert relay.run("hunt", "schedule", "remove", schedule_id, **ON).code == 0
    assert schedule_id not in relay.run("hunt", "schedule", "list", **ON).out
    bad = relay.run("hunt", "schedule", "add", "--name", "x", "--schedule", "daily", "--query", "AlertInfo", **ON)
    assert bad.code == 2
    assert "schedule: 'daily' must have 6 fields" in bad.err


def test_with_hunting_off_the_cli_says_which_setting_turns_it_on(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    result = relay.run("hunt", "run", "--query", "DeviceInfo")
    assert result.code == 1
    assert "RELAY_HUNTING_ENABLED=1" in result.err
    assert "Traceback" not in result.err
