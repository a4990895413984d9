"""Triage end to end: the registered HTTP functions, the real client stack (MSAL, requests, the transport's
limiter), the emulator's Graph and MDE hosts over HTTPS, audit and idempotency in Azurite, and the next
ingestion sweep.

Each test makes its own emulator tenant (a fresh id), so counters and data are its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.actions.audit import TABLE as AUDIT_TABLE
from shared.bootstrap import Services, build_http_api
from shared.domain.catalogue import DEFAULT_ALLOWED_ACTIONS, TRIAGE
from shared.domain.tenant import Tenant
from shared.ingest.drain import drain
from shared.tenants.check import check_tenant
from shared.triggers.http import use_http_api
from tests.functional.http_support import call, json_body
from tests.integration.defender_support import token
from tests.integration.graph_support import GRAPH_READ, graph_get, graph_token
from tests.integration.ingest_support import delivered_items, relay_services, sweep_now, trusting
from tests.integration.triage_support import WRITE_ROLES, triage_tenant

pytestmark = pytest.mark.integration

WITH_TRIAGE = frozenset(DEFAULT_ALLOWED_ACTIONS) | {TRIAGE}


@pytest.fixture(scope="module")
def relay(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    with trusting(emulator):
        services = relay_services(azurite, emulator)
        use_http_api(build_http_api(services))
        yield services
        use_http_api(None)


def register(emulator: EmulatorInfo, relay: Services, *, alerts: int = 6, roles: Any = None, **registry: Any) -> str:
    tenant_id = triage_tenant(emulator, alerts=alerts, roles=roles)
    fields = {"allowed_actions": WITH_TRIAGE, "feeds": frozenset({"graph-alerts"}), **registry}
    relay.tenants.upsert(Tenant(tenant_id, f"Triage {tenant_id[:8]}", **fields))
    return tenant_id


def graph_calls(emulator: EmulatorInfo, tenant_id: str) -> int:
    calls = emulator.control("GET", "/counters").json()["api_calls"]
    return sum(int(n) for key, n in calls.items() if key.startswith(f"{tenant_id}|graph-"))


def alerts(emulator: EmulatorInfo, tenant_id: str) -> list[dict[str, Any]]:
    response = graph_get(emulator, "/v1.0/security/alerts_v2", graph_token(emulator, tenant_id))
    return list(response.json()["value"])


def audit_rows(relay: Services, tenant_id: str) -> list[dict[str, Any]]:
    table = relay.storage.table(AUDIT_TABLE)
    return list(table.query_entities("PartitionKey eq @p", parameters={"p": tenant_id}))


def test_an_alert_update_is_written_audited_replayed_once_and_ingested_once(
    emulator: EmulatorInfo, relay: Services
) -> None:
    # GIVEN a tenant that opted in to triage, whose graph-alerts feed is caught up
    tenant_id = register(emulator, relay)
    sweep_now(relay)
    assert drain(relay, threads=2, idle_seconds=0.3, max_seconds=60).failures == 0
    delivered_items(relay)  # what the first sweep delivered
    target = next(a for a in alerts(emulator, tenant_id) if a["status"] != "resolved")
    # WHEN the SOAR tool closes one alert through the relay
    body = {"status": "resolved", "classification": "falsePositive", "determination": "clean"}
    headers = {"Idempotency-Key": f"close-{target['id']}", "X-Relay-Caller": "xsoar"}
    response = call("PATCH", f"tenants/{tenant_id}/alerts/{target['id']}", body=body, headers=headers)
    # THEN Graph has the new version and the answer says what changed from what
    assert response.status_code == 200, response.get_body()
    answer = json_body(response)
    assert answer["changes"]["status"] == {"from": target["status"], "to": "resolved"}
    now = next(a for a in alerts(emulator, tenant_id) if a["id"] == target["id"])
    assert (now["status"], now["determination"]) == ("resolved", "clean")
    # AND the audit record in Azurite names the caller, the alert and each change
    (row,) = [r for r in audit_rows(relay, tenant_id) if r["action"] == "alert-update"]
    assert (row["outcome"], row["target"], row["caller"]) == ("accepted", f"alert {target['id']}", "xsoar")
    assert json.loads(row["changes"])[0]["classification"] == {"from": "unknown", "to": "falsePositive"}
    # AND a replay with the same key answers the same without calling Graph
    calls = graph_calls(emulator, tenant_id)
    replay = call("PATCH", f"tenants/{tenant_id}/alerts/{target['id']}", body=body, headers=headers)
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (200, "true")
    assert json_body(replay) == answer
    assert graph_calls(emulator, tenant_id) == calls
    # WHEN the next sweeps run THEN the new version is delivered exactly once
    for _ in range(2):
        sweep_now(relay)
        assert drain(relay, threads=2, idle_seconds=0.3, max_seconds=60).failures == 0
    keys = [key for key, _ in delivered_items(relay)]
    assert keys == [f"{tenant_id}|alert|{target['id']}|{_normal(now['lastUpdateDateTime'])}"]


def _normal(stamp: str) -> str:
    from shared.domain.job import parse_time

    return parse_time(stamp).isoformat()


def test_a_bad_enum_is_refused_before_any_upstream_call_and_audited(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_id = register(emulator, relay)
    alert_id = alerts(emulator, tenant_id)[0]["id"]
    calls = graph_calls(emulator, tenant_id)
    refused = call("PATCH", f"tenants/{tenant_id}/alerts/{alert_id}", body={"status": "closed"})
    incident_only = call("PATCH", f"tenants/{tenant_id}/alerts/{alert_id}", body={"determination": "notMalicious"})
    assert (refused.status_code, json_body(refused)["field"]) == (422, "status")
    assert "new, inProgress, resolved" in json_body(refused)["detail"]
    assert "insufficientData" in json_body(incident_only)["detail"]
    assert graph_calls(emulator, tenant_id) == calls
    assert {r["outcome"] for r in audit_rows(relay, tenant_id)} == {"rejected"}


def test_a_batch_of_thirty_with_two_unknown_ids_closes_the_others(emulator: EmulatorInfo, relay: Services) -> None:
    # GIVEN 28 alerts of one tenant and 2 ids it does not have
    tenant_id = register(emulator, relay, alerts=28)
    ids = [a["id"] for a in alerts(emulator, tenant_id)]
    assert len(ids) == 28
    unknown = ["da000000000000000001_-1", "da000000000000000002_-2"]
    body = {"alertIds": ids[:14] + unknown + ids[14:], "status": "resolved", "classification": "truePositive",
            "determination": "malware", "comment": "SOAR case 4711: contained"}  # fmt: skip
    # WHEN one batch closes them
    response = call("POST", f"tenants/{tenant_id}/alerts/batch-update", body=body,
                    headers={"Idempotency-Key": "case-4711-alerts"})  # fmt: skip
    # THEN 207: the 28 are closed and commented, the 2 unknown ones are 404 each
    assert response.status_code == 207, response.get_body()
    results = json_body(response)["results"]
    assert [r["id"] for r in results] == body["alertIds"]
    assert json_body(response)["summary"] == {"updated": 28, "unchanged": 0, "failed": 2, "skipped": 0}
    assert [(r["status"], r["problem"]["type"].rsplit(":", 1)[1]) for r in results if r["id"] in unknown] == [
        (404, "not-found"), (404, "not-found"),
    ]  # fmt: skip
    after = {a["id"]: a for a in alerts(emulator, tenant_id)}
    assert {after[i]["status"] for i in ids} == {"resolved"}
    assert all(after[i]["comments"][-1]["comment"] == "SOAR case 4711: contained" for i in ids)
    # AND the audit record lists each alert; a retry of the same batch writes nothing
    (row,) = [r for r in audit_rows(relay, tenant_id) if r["action"] == "alert-batch-update"]
    assert row["target"] == "30 alert(s)"
    calls = graph_calls(emulator, tenant_id)
    again = call("POST", f"tenants/{tenant_id}/alerts/batch-update", body=body,
                 headers={"Idempotency-Key": "case-4711-alerts"})  # fmt: skip
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (207, "true")
    assert graph_calls(emulator, tenant_id) == calls


def test_a_batch_respects_the_tenants_graph_limit(
    azurite: AzuriteEndpoints, emulator: EmulatorInfo, relay: Services
) -> None:
    # GIVEN a relay allowed 12 Graph calls per tenant per minute
    with trusting(emulator):
        services = relay_services(azurite, emulator, RELAY_GRAPH_CALLS_PER_MINUTE="12")
        tenant_id = register(emulator, services, alerts=10)
        ids = [a["id"] for a in alerts(emulator, tenant_id)]
        use_http_api(build_http_api(services))
        try:
            response = call("POST", f"tenants/{tenant_id}/alerts/batch-update",
                            body={"alertIds": ids, "assignedTo": "soc2@mssp.example"},
                            headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
        finally:
            use_http_api(build_http_api(relay))
    # THEN the first alerts are written within the limit and the rest are reported, not sent
    outcomes = [r["outcome"] for r in json_body(response)["results"]]
    assert response.status_code == 207
    assert outcomes[:6] == ["updated"] * 6
    assert set(outcomes[6:]) <= {"failed", "skipped"}
    assert {r["status"] for r in json_body(response)["results"][6:]} == {429}
    assert graph_calls(emulator, tenant_id) <= 12 + 1  # the list this test read first counts too


def test_incident_update_comment_and_machine_tag(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_id = register(emulator, relay)
    incidents = graph_get(emulator, "/v1.0/security/incidents", graph_token(emulator, tenant_id)).json()["value"]
    number = incidents[0]["id"]
    updated = call("PATCH", f"tenants/{tenant_id}/incidents/{number}",
                   body={"status": "resolved", "classification": "truePositive", "determination": "multiStagedAttack",
                         "customTags": ["case-4711"]})  # fmt: skip
    assert updated.status_code == 200, updated.get_body()
    assert json_body(updated)["incident"]["customTags"] == ["case-4711"]
    commented = call("POST", f"tenants/{tenant_id}/incidents/{number}/comments", body={"comment": "closed"})
    assert json_body(commented)["comments"][-1]["comment"] == "closed"
    machine = graph_machines(emulator, tenant_id)[0]
    tagged = call("POST", f"tenants/{tenant_id}/machines/{machine['computerDnsName'].upper()}/tags",
                  body={"value": "contained", "action": "Add"})  # fmt: skip
    assert tagged.status_code == 200, tagged.get_body()
    assert json_body(tagged)["changes"]["machineTags"]["to"][-1] == "contained"
    prefix = call("POST", f"tenants/{tenant_id}/machines/{machine['computerDnsName'].split('.')[0]}/tags",
                  body={"value": "contained", "action": "Add"})  # fmt: skip
    assert prefix.status_code == 404
    targets = [r["target"] for r in audit_rows(relay, tenant_id)]
    assert targets[:3] == [f"incident {number}", f"incident {number}", f"machine {machine['id']}"]


def graph_machines(emulator: EmulatorInfo, tenant_id: str) -> list[dict[str, Any]]:
    from tests.integration.defender_support import call as mde_call

    return list(mde_call(emulator, "GET", "/api/machines", token(emulator, tenant_id)).json()["value"])


def test_missing_triage_roles_fail_triage_only(emulator: EmulatorInfo, relay: Services) -> None:
    # GIVEN a customer who consented to the read and action roles, not to the triage ones
    roles = {"mde": [r for r in WRITE_ROLES["mde"] if r != "Machine.ReadWrite.All"], "graph": GRAPH_READ}
    tenant_id = register(emulator, relay, roles=roles)
    alert_id = alerts(emulator, tenant_id)[0]["id"]
    calls = graph_calls(emulator, tenant_id)
    # WHEN triage is asked THEN it is 403 missing-permission naming the role, and Graph was not called
    refused = call("PATCH", f"tenants/{tenant_id}/alerts/{alert_id}", body={"status": "resolved"})
    assert refused.status_code == 403
    assert json_body(refused)["missingRoles"] == ["SecurityAlert.ReadWrite.All"]
    assert graph_calls(emulator, tenant_id) == calls
    # AND check says missing-roles for triage only, while the feed and an action still work
    tenant = relay.tenants.get(tenant_id)
    result = check_tenant(tenant, tokens=relay.tokens, defender=relay.defender, default_allowed=frozenset())
    assert (result.status, result.scope) == ("missing-roles", "triage")
    assert set(result.missing) == {"SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All",
                                   "Machine.ReadWrite.All"}  # fmt: skip
    sweep_now(relay)
    stats = drain(relay, threads=2, idle_seconds=0.3, max_seconds=60)
    assert stats.statuses.get("ok", 0) >= 1
    delivered_items(relay)
    machine_id = graph_machines(emulator, tenant_id)[0]["id"]
    isolated = call("POST", f"tenants/{tenant_id}/machines/{machine_id}/isolate", body={"comment": "contain"})
    assert isolated.status_code == 202, isolated.get_body()
