"""The HTTP API end to end: registered functions called with real ``func.HttpRequest`` objects, the real
``DefenderClient`` / MSAL / azure-data-tables stack, the emulator over HTTPS and Azurite.

Each test makes its own emulator tenants (fresh ids), so counters and machines are its own.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.actions.audit import TABLE as AUDIT_TABLE
from shared.bootstrap import Services, build_http_api
from shared.cli import main
from shared.defender.client import DefenderClient
from shared.defender.transport import DefenderTransport
from shared.domain.tenant import Tenant
from shared.http.signing import sign
from shared.platform.settings import Settings
from shared.platform.storage import JOBS_QUEUE
from shared.triggers.http import use_http_api
from tests.functional.http_support import call, functions, json_body
from tests.integration.ingest_support import relay_env, relay_services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """This module moves the emulated clock forward, so it gets an emulator of its own (see conftest)."""
    return private_emulator


ALL_MACHINE_ROLES = [
    "Alert.Read.All", "Machine.Read.All", "Machine.Isolate", "Machine.Scan", "Machine.RestrictExecution",
    "Machine.CollectForensics", "Machine.StopAndQuarantine",
]  # fmt: skip
SIGNING_SECRET = "integration-http-signing-secret"


@pytest.fixture(scope="module")
def relay(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    """Services against Azurite + the emulator; the process trusts the emulator's CA for the module."""
    saved = {k: os.environ.get(k) for k in emulator.env()}
    os.environ.update(emulator.env())
    services = relay_services(azurite, emulator)
    # The client without real sleeps: 5xx retries and backoff stay bounded but instant.
    services.__dict__["defender"] = DefenderClient(
        transport=DefenderTransport(
            tokens=services.tokens, host_overrides=services.settings.host_overrides, sleep=lambda _s: None
        )
    )
    use_http_api(build_http_api(services))
    emulator.control("PUT", "/actions/timing", json={"pending_seconds": 2, "in_progress_seconds": 3})
    yield services
    use_http_api(None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def new_tenant(emulator: EmulatorInfo, relay: Services, *, roles: list[str] | None = None, **registry: Any) -> str:
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": f"Http {tenant_id[:8]}", "consent": "full", "machines": 6,
            "roles": {"mde": roles or ALL_MACHINE_ROLES, "xdr": ["Incident.Read.All"]}}  # fmt: skip
    assert emulator.control("POST", "/tenants", json=body).status_code == 201
    relay.tenants.upsert(Tenant(tenant_id, body["display_name"], **registry))
    return tenant_id


def machines(relay: Services, tenant_id: str) -> list[dict[str, Any]]:
    tenant = relay.tenants.get(tenant_id)
    return [m for page in relay.defender.iter_pages(tenant, "mde", "/api/machines", page_size=100) for m in page]


def action_calls(emulator: EmulatorInfo, tenant_id: str) -> int:
    return int(emulator.control("GET", "/counters").json()["api_calls"].get(f"{tenant_id}|machineactions", 0))


def isolate(tenant_id: str, machine: str, **kw: Any) -> func.HttpResponse:
    return call("POST", f"tenants/{tenant_id}/machines/{machine}/isolate", body={"comment": "integration"}, **kw)


def test_isolate_by_exact_name_to_succeeded_then_release(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_id = new_tenant(emulator, relay)
    web01 = next(m for m in machines(relay, tenant_id) if m["computerDnsName"].startswith("web01."))
    created = isolate(tenant_id, web01["computerDnsName"].upper())
    assert created.status_code == 202, created.get_body()
    action = json_body(created)["action"]
    assert (action["machineId"], action["type"], action["status"]) == (web01["id"], "Isolate", "Pending")
    emulator.control("POST", "/time/advance", json={"seconds": 10})
    status = call("GET", f"tenants/{tenant_id}/actions/{action['id']}")
    assert json_body(status)["action"]["status"] == "Succeeded"
    released = call("POST", f"tenants/{tenant_id}/machines/{web01['id']}/unisolate", body={"comment": "clean"})
    assert released.status_code == 202


def test_a_prefix_is_never_a_match_and_two_equal_names_are_409(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_id = new_tenant(emulator, relay)
    found = machines(relay, tenant_id)
    web01 = next(m for m in found if m["computerDnsName"].startswith("web01."))
    assert isolate(tenant_id, "web01").status_code == 404  # web01.<domain> and web01-backup.<domain> exist
    emulator.control("PATCH", f"/tenants/{tenant_id}/machines/3", json={"computerDnsName": web01["computerDnsName"]})
    ambiguous = isolate(tenant_id, web01["computerDnsName"])
    assert ambiguous.status_code == 409
    assert len(json_body(ambiguous)["candidates"]) == 2
    assert action_calls(emulator, tenant_id) == 0
    lookup = call("GET", f"tenants/{tenant_id}/machines", params={"ip": found[1]["lastIpAddress"]})
    assert [m["id"] for m in json_body(lookup)["machines"]] == [found[1]["id"]]


def test_idempotent_replay_makes_one_upstream_call_and_pending_is_409(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_id = new_tenant(emulator, relay)
    machine_id = machines(relay, tenant_id)[0]["id"]
    first = isolate(tenant_id, machine_id, headers={"Idempotency-Key": "run-1"})
    replay = isolate(tenant_id, machine_id, headers={"Idempotency-Key": "run-1"})
    assert json_body(replay) == json_body(first)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert action_calls(emulator, tenant_id) == 1
    pending = isolate(tenant_id, machine_id)
    assert pending.status_code == 409
    assert json_body(pending)["pendingAction"]["id"] == json_body(first)["action"]["id"]
    assert json_body(pending)["pendingAction"]["status"] in ("Pending", "InProgress")


def test_disabling_a_tenant_stops_its_actions_at_once_on_a_running_instance(
    azurite: AzuriteEndpoints, emulator: EmulatorInfo, relay: Services
) -> None:
    # GIVEN a tenant whose isolate this running instance has just served
    tenant_id = new_tenant(emulator, relay)
    first, second = (m["id"] for m in machines(relay, tenant_id)[:2])
    assert isolate(tenant_id, first).status_code == 202
    # WHEN an operator disables it from another process: `defender-relay tenants disable`
    disabled = main(["tenants", "disable", tenant_id], environ=relay_env(azurite, emulator), stdout=io.StringIO())
    assert disabled == 0
    # THEN an isolate sent right after is refused as for an unknown tenant, and Defender sees no second action
    refused = isolate(tenant_id, second)
    assert refused.status_code == 404, refused.get_body()
    assert "disabled" in json_body(refused)["detail"]
    assert action_calls(emulator, tenant_id) == 1


def test_cancel_and_tenant_isolation(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_a, tenant_b = new_tenant(emulator, relay), new_tenant(emulator, relay)
    machine_b = machines(relay, tenant_b)[0]["id"]
    assert isolate(tenant_a, machine_b).status_code == 404  # B's machine through A's token
    scan = call("POST", f"tenants/{tenant_a}/machines/{machines(relay, tenant_a)[0]['id']}/scan", body={"comment": "s"})
    action_id = json_body(scan)["action"]["id"]
    assert call("GET", f"tenants/{tenant_b}/actions/{action_id}").status_code == 404
    cancelled = call("POST", f"tenants/{tenant_a}/actions/{action_id}/cancel", body={"comment": "false positive"})
    assert json_body(cancelled)["action"]["status"] == "Cancelled"


def test_error_classes_from_defender(emulator: EmulatorInfo, relay: Services) -> None:
    limited = new_tenant(emulator, relay, roles=["Alert.Read.All", "Machine.Read.All"])
    machine_id = machines(relay, limited)[0]["id"]
    forbidden = isolate(limited, machine_id)
    assert forbidden.status_code == 403
    assert "Machine.Isolate" in json_body(forbidden)["detail"]
    tenant_id = new_tenant(emulator, relay)
    machine_id = machines(relay, tenant_id)[0]["id"]
    rule = {"route": "machineactions", "tenant_id": tenant_id, "p429": 1.0, "retry_after": 120}
    emulator.control("PUT", "/faults", json={"rules": [rule], "seed": 1})
    try:
        throttled = isolate(tenant_id, machine_id)
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 100
        emulator.control("PUT", "/faults", json={"rules": [{**rule, "p429": 0, "p503": 1.0}], "seed": 1})
        assert isolate(tenant_id, machine_id).status_code == 503
    finally:
        emulator.control("DELETE", "/faults")
    assert (
        call("POST", f"tenants/{uuid.uuid4()}/machines/{machine_id}/isolate", body={"comment": "x"}).status_code == 404
    )
    assert call("POST", f"tenants/{tenant_id}/machines/{machine_id}/offboard", body={"comment": "x"}).status_code == 403


def test_sweep_and_audit_routes(emulator: EmulatorInfo, relay: Services) -> None:
    tenant_id = new_tenant(emulator, relay)
    relay.storage.queue(JOBS_QUEUE).clear_messages()
    assert call("POST", f"tenants/{tenant_id}/sweep").status_code == 202
    jobs = [json.loads(m.content) for m in relay.storage.queue(JOBS_QUEUE).receive_messages(max_messages=32)]
    # a tenant registered without feeds reads both Graph feeds: one manual job each
    assert sorted((j["tenant_id"], j["feed"], j["mode"]) for j in jobs) == [
        (tenant_id, "graph-alerts", "manual"),
        (tenant_id, "graph-incidents", "manual"),
    ]
    isolate(tenant_id, "no-such-host.example")
    records = json_body(call("GET", f"tenants/{tenant_id}/audit"))["records"]
    assert [(r["action"], r["outcome"], r["status"]) for r in records] == [
        ("sweep", "accepted", 202),
        ("isolate", "rejected", 404),
    ]
    stored = list(relay.storage.table(AUDIT_TABLE).query_entities("PartitionKey eq @p", parameters={"p": tenant_id}))
    assert len(stored) == 2


def test_hmac_good_bad_replayed_stale(azurite: AzuriteEndpoints, emulator: EmulatorInfo, relay: Services) -> None:
    env = relay_env(azurite, emulator, RELAY_HTTP_SIGNING_SECRET_NAME="http-signing-secret",
                    RELAY_SECRET_HTTP_SIGNING_SECRET=SIGNING_SECRET)  # fmt: skip
    signed_services = Services(Settings.from_env(env), storage=relay.storage)
    signed_services.__dict__["defender"] = relay.defender  # the same instant-backoff client
    try:
        use_http_api(build_http_api(signed_services))
        tenant_id = new_tenant(emulator, relay)
        machine_id = machines(relay, tenant_id)[0]["id"]
        path = f"/api/tenants/{tenant_id}/machines/{machine_id}/collect-package"
        body = b'{"comment":"signed"}'

        def send(ts: int, secret: str = SIGNING_SECRET, *, signature: str | None = None, nonce: str = "") -> int:
            sig = signature or sign(secret.encode(), "POST", path, str(ts), body, nonce=nonce or None)
            headers = {"Content-Type": "application/json", "X-Relay-Timestamp": str(ts), "X-Relay-Signature": sig}
            headers |= {"X-Relay-Nonce": nonce} if nonce else {}
            request = func.HttpRequest("POST", "https://relay.example" + path, body=body, headers=headers,
                                       route_params={"tenantId": tenant_id, "machine": machine_id})  # fmt: skip
            return int(functions()["http_collect_package"].get_user_function()(request).status_code)

        now = int(time.time())
        good = sign(SIGNING_SECRET.encode(), "POST", path, str(now), body)
        assert send(now, signature=good) == 202
        assert send(now, signature=good) == 401  # replayed
        assert send(now - 1, "wrong-secret") == 401
        assert send(now - 400) == 401  # stale
        assert action_calls(emulator, tenant_id) == 1
        # An identical request signed in the same second with a nonce passes the signature check (Defender
        # then answers that the first collection is still pending), and its nonce cannot be replayed.
        assert send(now, nonce="retry-1") == 409
        assert send(now, nonce="retry-1") == 401
    finally:
        use_http_api(build_http_api(relay))


@pytest.fixture(scope="module")
def fuzz_tenant(emulator: EmulatorInfo, relay: Services) -> str:
    return new_tenant(emulator, relay)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    machine=st.text(max_size=40).filter(lambda s: not s.isalnum() and "/" not in s), comment=st.none() | st.integers()
)
def test_malformed_requests_never_reach_the_emulator(
    emulator: EmulatorInfo, fuzz_tenant: str, machine: str, comment: Any
) -> None:
    response = call("POST", f"tenants/{fuzz_tenant}/machines/{machine or '_'}/isolate", body={"comment": comment})
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"
    assert action_calls(emulator, fuzz_tenant) == 0


def test_no_token_or_secret_in_the_logs_of_an_action_run(
    emulator: EmulatorInfo, relay: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant_id = new_tenant(emulator, relay)
    machine_id = machines(relay, tenant_id)[0]["id"]
    isolate(
        tenant_id,
        machine_id,
        headers={"x-functions-key": "integration-function-key"},
        params={"wait": "true", "waitSeconds": "2"},
    )
    token = relay.tokens.get_token(relay.tenants.get(tenant_id), "mde").token
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "request_id=" in text
    for secret in (token, emulator.apps["commercial"]["client_secret"], "integration-function-key"):
        assert secret not in text
