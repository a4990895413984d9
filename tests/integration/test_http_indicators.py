"""The indicator routes through the registered functions (real ``func.HttpRequest`` objects), on Azurite and
the emulator: 202 + job id, the status route, Idempotency-Key, the tenant checks, bad rows refused before
anything is queued, problem+json, the signature, the request's audit record (docs/indicators.md §HTTP)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.actions.audit import TABLE as AUDIT_TABLE
from shared.actions.audit import TableAuditStore
from shared.bootstrap import Services
from shared.callers.store import caller_entry
from shared.http.indicators_api import FANOUT_PARTITION, IndicatorsApi
from shared.http.signing import SignatureVerifier, sign
from shared.platform.storage import INDICATOR_JOBS_QUEUE
from shared.triggers.http_indicators import use_indicators_api
from tests.fakes.actions import MemoryAudit, MemoryReplayGuard
from tests.fakes.entra import SOAR_APP, SOAR_OID, FakeCallers, FakeEntra
from tests.functional.http_support import call, json_body
from tests.integration.indicator_support import NOW, api_calls, hashes, indicator_services, indicator_tenant, run_jobs
from tests.integration.ingest_support import trusting

pytestmark = pytest.mark.integration
SECRET = b"a-signing-secret-for-the-test-only"


@pytest.fixture
def services(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    with trusting(emulator):
        services = indicator_services(azurite, emulator)
        use_indicators_api(services.indicators_api(verify_signatures=False))
        yield services
        use_indicators_api(None)


def queued(services: Services) -> int:
    return int(services.storage.queue(INDICATOR_JOBS_QUEUE).get_queue_properties().approximate_message_count)


def push_body(tenants: Any, count: int = 3) -> dict[str, Any]:
    return {"tenants": tenants, "indicators": [i.to_api() for i in hashes(count)]}


def test_push_answers_202_with_a_job_whose_status_shows_each_tenant(services: Services, emulator: EmulatorInfo) -> None:
    tenants = [indicator_tenant(emulator, services, roles=["Ti.ReadWrite"]) for _ in range(2)]
    response = call("POST", "indicators/push", body=push_body([t.tenant_id for t in tenants]),
                    headers={"X-Relay-Caller": "xsoar-playbook"})  # fmt: skip
    assert response.status_code == 202
    started = json_body(response)
    assert response.headers["Location"] == started["statusUrl"] == f"/api/indicators/jobs/{started['jobId']}"
    assert (started["kind"], started["size"]) == ("push", 3)
    # WHEN its status is read before the job ran THEN it is not complete
    before = json_body(call("GET", f"indicators/jobs/{started['jobId']}"))
    assert (before["complete"], before["progress"]["planned"]) == (False, None)
    run_jobs(services)
    after = json_body(call("GET", f"indicators/jobs/{started['jobId']}"))
    assert after["complete"] is True
    assert after["totals"]["created"] == 6
    assert {r["tenantId"]: r["status"] for r in after["results"]} == {t.tenant_id: "done" for t in tenants}
    # AND the request itself is audited in the _indicators partition with the caller and the job
    records = TableAuditStore(services.storage.table(AUDIT_TABLE)).list(FANOUT_PARTITION, since=NOW, limit=1000)
    mine = [r for r in records if started["jobId"] in r.detail]
    assert [(r.action, r.outcome, r.status) for r in mine] == [("indicators-push", "accepted", 202)]
    assert mine[0].caller.startswith("xsoar-playbook")
    # AND the list route shows the relay's indicators of one tenant
    listed = json_body(call("GET", f"tenants/{tenants[0].tenant_id}/indicators"))
    assert (listed["count"], listed["otherIndicators"]) == (3, 0)
    assert {i["indicatorValue"] for i in listed["indicators"]} == {i.value for i in hashes(3)}


def test_an_idempotency_key_answers_the_first_job_again(services: Services, emulator: EmulatorInfo) -> None:
    tenant = indicator_tenant(emulator, services, roles=["Ti.ReadWrite"])
    headers = {"Idempotency-Key": f"case-4711-{tenant.tenant_id}"}
    first = call("POST", "indicators/push", body=push_body([tenant.tenant_id]), headers=headers)
    again = call("POST", "indicators/push", body=push_body([tenant.tenant_id]), headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert json_body(again)["jobId"] == json_body(first)["jobId"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert queued(services) == 1  # one fan-out message: one job
    other = call("POST", "indicators/push", body=push_body([tenant.tenant_id], count=4), headers=headers)
    assert (other.status_code, json_body(other)["type"]) == (422, "urn:defender-relay:problem:idempotency-conflict")


def test_bad_rows_are_refused_whole_naming_each_row_and_nothing_is_queued(
    services: Services, emulator: EmulatorInfo
) -> None:
    tenant = indicator_tenant(emulator, services, roles=["Ti.ReadWrite"])
    body = push_body([tenant.tenant_id], count=2)
    body["indicators"] += [
        {"indicatorValue": "8.8.8.0/24", "indicatorType": "IpAddress", "action": "Block", "title": "t",
         "description": "d"},
        {"indicatorValue": "a" * 64, "indicatorType": "FileSha256", "action": "AlertAndBlock", "title": "t",
         "description": "d"},
    ]  # fmt: skip
    response = call("POST", "indicators/push", body=body)
    assert (response.status_code, response.mimetype) == (422, "application/problem+json")
    problem = json_body(response)
    assert problem["type"] == "urn:defender-relay:problem:invalid-value"
    assert [(e["where"], e["field"]) for e in problem["errors"]] == [("indicators[2]", "indicatorValue"),
                                                                      ("indicators[3]", "action")]  # fmt: skip
    assert "CIDR" in problem["errors"][0]["detail"]
    assert queued(services) == 0
    assert api_calls(emulator, tenant) == {}


@pytest.mark.parametrize(
    ("change", "status", "slug"),
    [({"allowed": ["isolate"]}, 403, "action-not-allowed"), ({"registered": False}, 404, "tenant-not-found")],
)
def test_a_named_tenant_that_cannot_take_indicators_is_refused_before_anything_is_queued(
    services: Services, emulator: EmulatorInfo, change: dict[str, Any], status: int, slug: str
) -> None:
    tenant = indicator_tenant(emulator, services, roles=["Ti.ReadWrite"], allowed=change.get("allowed"))
    if change.get("registered") is False:
        services.tenants.delete(tenant.tenant_id)
    response = call("POST", "indicators/sync", body={**push_body([tenant.tenant_id]), "dryRun": True})
    assert response.status_code == status
    assert json_body(response)["type"] == f"urn:defender-relay:problem:{slug}"
    assert queued(services) == 0


@pytest.mark.parametrize(
    ("path", "status", "slug"),
    [("indicators/jobs/" + "0" * 32, 404, "job-not-found"), ("indicators/jobs/nope", 422, "invalid-value")],
)
def test_job_status_problems(services: Services, path: str, status: int, slug: str) -> None:
    response = call("GET", path)
    assert (response.status_code, json_body(response)["type"]) == (status, f"urn:defender-relay:problem:{slug}")


def test_drift_and_remove_routes(services: Services, emulator: EmulatorInfo) -> None:
    tenant = indicator_tenant(emulator, services, roles=["Ti.ReadWrite.All"])
    call("POST", "indicators/push", body=push_body("all", count=2))
    run_jobs(services)
    drift = json_body(call("POST", "indicators/drift", body=push_body("all", count=3)))
    run_jobs(services)  # before the removal: two jobs drained together run in either order
    removal = call("POST", "indicators/remove", body={
        "tenants": "all", "values": [{"indicatorValue": hashes(1)[0].value}, {"indicatorValue": "evil.example.com"}]
    })  # fmt: skip
    assert removal.status_code == 202
    run_jobs(services)
    report = json_body(call("GET", f"indicators/jobs/{drift['jobId']}"))
    assert (report["kind"], report["dryRun"]) == ("drift", True)
    assert report["results"][0]["details"]["create"] == [f"FileSha256:{hashes(3)[2].value}"]
    removed = json_body(call("GET", f"indicators/jobs/{json_body(removal)['jobId']}"))["results"][0]
    assert (removed["tenantId"], removed["removed"], removed["absent"]) == (tenant.tenant_id, 1, 1)
    bad = call("POST", "indicators/remove", body={"tenants": "all", "values": [{"indicatorValue": "10.0.0.1"}]})
    assert (bad.status_code, json_body(bad)["field"]) == (422, "indicatorValue")


def test_with_signing_configured_an_unsigned_request_is_401_and_a_signed_one_is_accepted(
    services: Services, emulator: EmulatorInfo
) -> None:
    tenant = indicator_tenant(emulator, services, roles=["Ti.ReadWrite"])
    base = services.indicators_api(verify_signatures=False)
    signed_api = IndicatorsApi(
        directory=services.action_service(), jobs=services.indicator_jobs, sets=services.indicator_sets,
        queue=services.indicator_queue, service=services.indicator_service,
        audit=TableAuditStore(services.storage.table(AUDIT_TABLE)), idempotency=base._idempotency,
        verifier=SignatureVerifier(secrets=[SECRET], replay_guard=MemoryReplayGuard()),
    )  # fmt: skip
    use_indicators_api(signed_api)
    raw = json.dumps(push_body([tenant.tenant_id])).encode()
    unsigned = call("POST", "indicators/push", body=raw)
    assert (unsigned.status_code, json_body(unsigned)["type"]) == (401, "urn:defender-relay:problem:signature")
    stamp = str(int(time.time()))
    headers = {
        "X-Relay-Timestamp": stamp,
        "X-Relay-Signature": sign(SECRET, "POST", "/api/indicators/push", stamp, raw),
    }
    assert call("POST", "indicators/push", body=raw, headers=headers).status_code == 202


def test_when_the_audit_cannot_be_written_the_push_is_503_and_its_retry_queues_no_second_job(
    services: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN the indicator routes with an audit store that fails
    tenant = indicator_tenant(emulator, services, roles=["Ti.ReadWrite"])
    base = services.indicators_api(verify_signatures=False)
    audit = MemoryAudit()
    audit.fail = True
    failing = IndicatorsApi(
        directory=services.action_service(), jobs=services.indicator_jobs, sets=services.indicator_sets,
        queue=services.indicator_queue, service=services.indicator_service, audit=audit,
        idempotency=base._idempotency,
    )  # fmt: skip
    use_indicators_api(failing)
    headers = {"Idempotency-Key": "push-when-the-audit-fails"}
    # WHEN a push arrives THEN the caller gets 503 audit-unavailable with Retry-After, not a 202 nobody recorded
    first = call("POST", "indicators/push", body=push_body([tenant.tenant_id]), headers=headers)
    assert first.status_code == 503
    assert json_body(first)["type"] == "urn:defender-relay:problem:audit-unavailable"
    assert first.headers["Retry-After"] == "5"
    # AND once the audit works again, the retry with the same key is recorded and answers one job, queued once
    audit.fail = False
    again = call("POST", "indicators/push", body=push_body([tenant.tenant_id]), headers=headers)
    assert again.status_code == 202
    assert [(r.action, r.status) for r in audit.records] == [("indicators-push", 202)]
    assert queued(services) == 1


def test_an_entra_caller_scoped_to_a_tag_reaches_only_its_tenants_in_a_fan_out(
    services: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN an EMEA and an AMER tenant that both take indicators, and a caller with Relay.Indicators scoped to emea
    emea, amer = (indicator_tenant(emulator, services, roles=["Ti.ReadWrite"]) for _ in range(2))
    services.tenants.upsert(replace(emea, tags=frozenset({"emea"})))
    entra = FakeEntra()
    api = services.indicators_api(verify_signatures=False)
    api._authenticator = entra.authenticator(FakeCallers(caller_entry(SOAR_OID, tags=["emea"])))
    use_indicators_api(api)

    def bearer(*roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {entra.token(roles=list(roles))}"}

    # WHEN it pushes to "all" THEN the job lists exactly its tenants, and only they get indicators
    started = call("POST", "indicators/push", body=push_body("all"), headers=bearer("Relay.Indicators"))
    assert started.status_code == 202, started.get_body()
    assert json_body(started)["tenants"] == [emea.tenant_id]
    run_jobs(services)
    assert api_calls(emulator, amer) == {}
    assert json_body(call("GET", f"indicators/jobs/{json_body(started)['jobId']}", headers=bearer("Relay.Indicators")))[
        "complete"
    ]
    # AND naming the other tenant, or lacking the role, is refused before anything is queued, on the record
    named = call("POST", "indicators/push", body=push_body([amer.tenant_id]), headers=bearer("Relay.Indicators"))
    no_role = call("POST", "indicators/push", body=push_body([emea.tenant_id]), headers=bearer("Relay.Read"))
    assert (named.status_code, json_body(named)["type"]) == (403, "urn:defender-relay:problem:tenant-out-of-scope")
    assert (no_role.status_code, json_body(no_role)["requiredRole"]) == (403, "Relay.Indicators")
    assert queued(services) == 0
    records = TableAuditStore(services.storage.table(AUDIT_TABLE)).list(FANOUT_PARTITION, since=NOW, limit=1000)
    refused = [r for r in records if r.caller_app_id == SOAR_APP and r.status == 403]
    assert len(refused) == 2
    # AND a job an operator started for every tenant is not the scoped caller's to read
    use_indicators_api(services.indicators_api(verify_signatures=False))
    everyone = json_body(call("POST", "indicators/drift", body=push_body("all", count=1)))["jobId"]
    services.storage.queue(INDICATOR_JOBS_QUEUE).clear_messages()  # never run: only its record matters here
    use_indicators_api(api)
    assert call("GET", f"indicators/jobs/{everyone}", headers=bearer("Relay.Indicators")).status_code == 403
