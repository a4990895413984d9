"""Entra ID callers end to end: tokens the emulated Entra ID issues for the relay's own API (MSAL client
credentials, a Logic App's managed identity through azure-identity, v1.0 and v2.0 tokens), validated by the
relay against the emulator's OpenID metadata and JWKS, with app roles, tenant scopes from the caller table
and from scope roles, the audit naming the token's app, and a signing-key rollover followed.

The relay runs as in Azure with ``RELAY_HTTP_AUTH=entra``: registered functions called with real
``func.HttpRequest`` objects, Azurite for the registry, caller table and audit, the emulator for Defender.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import msal
import pytest
import requests
from azure.identity import ManagedIdentityCredential

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.actions.audit import TABLE as AUDIT_TABLE
from shared.bootstrap import Services, build_caller_authenticator, build_http_api, build_tenants_api
from shared.callers.store import caller_entry
from shared.domain.tenant import Tenant
from shared.http.signing import sign
from shared.platform.settings import Settings
from shared.triggers.http import use_http_api
from shared.triggers.http_tenants import use_tenants_api
from tests.functional.http_support import call, json_body
from tests.integration.ingest_support import relay_env, relay_services
from tests.log_guard import LogGuard

pytestmark = pytest.mark.integration
ROLES = ["Alert.Read.All", "Machine.Read.All", "Machine.Isolate", "Machine.Scan", "Machine.CollectForensics"]


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """This module rotates the emulator's signing keys, so it gets an emulator of its own."""
    return private_emulator


@pytest.fixture(scope="module")
def relay(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    saved = {k: os.environ.get(k) for k in emulator.env()}
    os.environ.update(emulator.env())
    api = emulator.data["relay_api"]
    services = relay_services(
        azurite, emulator, RELAY_HTTP_AUTH="entra", RELAY_PARTNER_TENANT_ID=emulator.partner_tenant_id,
        RELAY_API_APP_ID_URI=api["app_id_uri"], RELAY_API_CLIENT_ID=api["client_id"],
    )  # fmt: skip
    use_http_api(build_http_api(services))
    use_tenants_api(build_tenants_api(services))
    yield services
    use_http_api(None)
    use_tenants_api(None)
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def tenant(emulator: EmulatorInfo, relay: Services, *tags: str) -> str:
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": f"Callers {tenant_id[:8]}", "consent": "full", "machines": 2,
            "roles": {"mde": ROLES}}  # fmt: skip
    assert emulator.control("POST", "/tenants", json=body).status_code == 201
    relay.tenants.upsert(Tenant(tenant_id, body["display_name"], tags=frozenset(tags)))
    return tenant_id


def caller_app(emulator: EmulatorInfo, name: str, *roles: str, kind: str = "app") -> dict[str, Any]:
    body = {"display_name": name, "roles": list(roles), "kind": kind}
    response = emulator.control("POST", "/relay-api/callers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def msal_token(emulator: EmulatorInfo, app: dict[str, Any], log_guard: LogGuard) -> str:
    """Client credentials in the partner tenant through MSAL, as a SOAR tool's SDK would ask."""
    client = msal.ConfidentialClientApplication(
        app["client_id"], authority=f"{emulator.login_url()}/{emulator.partner_tenant_id}",
        client_credential=app["client_secret"], instance_discovery=False, verify=emulator.ca_bundle,
    )  # fmt: skip
    result = client.acquire_token_for_client(scopes=[f"{emulator.data['relay_api']['app_id_uri']}/.default"])
    assert "access_token" in result, result
    log_guard.remember(app["client_secret"], result["access_token"])
    return str(result["access_token"])


def fresh_token(emulator: EmulatorInfo, app: dict[str, Any], log_guard: LogGuard) -> str:
    """A new token straight from the v1 endpoint (MSAL would serve its cached one)."""
    form = {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"],
            "resource": emulator.data["relay_api"]["app_id_uri"]}  # fmt: skip
    url = f"{emulator.login_url()}/{emulator.partner_tenant_id}/oauth2/token"
    response = requests.post(url, data=form, verify=emulator.ca_bundle, timeout=10)
    assert response.status_code == 200, response.text
    log_guard.remember(response.json()["access_token"])
    return str(response.json()["access_token"])


def machine_of(relay: Services, tenant_id: str) -> str:
    page = next(relay.defender.iter_pages(relay.tenants.get(tenant_id), "mde", "/api/machines", page_size=10))
    return str(page[0]["id"])


def isolate(tenant_id: str, machine: str, token: str) -> func.HttpResponse:
    return call("POST", f"tenants/{tenant_id}/machines/{machine}/isolate", body={"comment": "callers"},
                headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def action_calls(emulator: EmulatorInfo, tenant_id: str) -> int:
    return int(emulator.control("GET", "/counters").json()["api_calls"].get(f"{tenant_id}|machineactions", 0))


def audit(relay: Services, tenant_id: str) -> list[dict[str, Any]]:
    rows = relay.storage.table(AUDIT_TABLE).query_entities("PartitionKey eq @p", parameters={"p": tenant_id})
    return [dict(r) for r in rows]


def test_a_respond_caller_scoped_to_emea_isolates_in_emea_and_gets_403_elsewhere(
    emulator: EmulatorInfo, relay: Services, log_guard: LogGuard
) -> None:
    # GIVEN an EMEA and an AMER tenant, and a SOAR app with Relay.Respond whose caller-table scope is "emea"
    emea, amer = tenant(emulator, relay, "emea"), tenant(emulator, relay, "amer")
    app = caller_app(emulator, "SOAR EMEA", "Relay.Respond")
    relay.caller_store.upsert(caller_entry(app["client_id"], tags=["emea"]))
    token = msal_token(emulator, app, log_guard)
    # WHEN it isolates a machine in each
    accepted = isolate(emea, machine_of(relay, emea), token)
    refused = isolate(amer, machine_of(relay, amer), token)
    # THEN EMEA is isolated, and the audit names the token's app, not a header
    assert accepted.status_code == 202, accepted.get_body()
    [record] = audit(relay, emea)
    assert (record["caller"], record["caller_app_id"], record["auth"]) == ("SOAR EMEA", app["client_id"], "entra")
    assert record["caller_object_id"] == app["object_id"]
    # AND AMER is refused before Defender is called, on the record
    assert refused.status_code == 403
    assert json_body(refused)["type"] == "urn:defender-relay:problem:tenant-out-of-scope"
    assert action_calls(emulator, amer) == 0
    [denied] = audit(relay, amer)
    assert (denied["outcome"], denied["caller_app_id"]) == ("rejected", app["client_id"])


def test_a_read_caller_cannot_isolate_but_reads_its_tenants(
    emulator: EmulatorInfo, relay: Services, log_guard: LogGuard
) -> None:
    emea, amer = tenant(emulator, relay, "emea"), tenant(emulator, relay, "amer")
    app = caller_app(emulator, "Dashboard", "Relay.Read")
    relay.caller_store.upsert(caller_entry(app["client_id"], display_name="Read-only dashboard", tags=["emea"]))
    token = msal_token(emulator, app, log_guard)
    refused = isolate(emea, machine_of(relay, emea), token)
    assert refused.status_code == 403
    assert json_body(refused)["requiredRole"] == "Relay.Respond"
    assert action_calls(emulator, emea) == 0
    assert audit(relay, emea)[0]["caller"] == "Read-only dashboard"  # the caller table's name wins
    listing = json_body(call("GET", "tenants", headers={"Authorization": f"Bearer {token}"}))
    assert {t["tenantId"] for t in listing["tenants"]} >= {emea}
    assert amer not in {t["tenantId"] for t in listing["tenants"]}


def test_a_logic_app_managed_identity_with_a_scope_role_isolates_in_its_tenant(
    emulator: EmulatorInfo, relay: Services, log_guard: LogGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Logic App's managed identity granted Relay.Respond and the scope role Relay.Scope.Tag.nordics
    nordics = tenant(emulator, relay, "nordics")
    identity = caller_app(emulator, "la-nordics", "Relay.Respond", "Relay.Scope.Tag.nordics", kind="managed-identity")
    # WHEN it gets its token the way a Logic App does (its own IDENTITY_HEADER at the identity endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", identity["identity_header"])
    resource = emulator.data["relay_api"]["app_id_uri"]
    token = ManagedIdentityCredential(client_id=identity["client_id"]).get_token(f"{resource}/.default").token
    log_guard.remember(identity["identity_header"], token)
    # THEN its token alone (no caller-table entry) lets it isolate there
    response = isolate(nordics, machine_of(relay, nordics), token)
    assert response.status_code == 202, response.get_body()
    assert audit(relay, nordics)[0]["caller_app_id"] == identity["client_id"]


def test_v2_tokens_and_a_signing_key_rollover_are_followed_with_one_key_fetch(
    emulator: EmulatorInfo, relay: Services, log_guard: LogGuard
) -> None:
    # GIVEN an authenticator whose last key fetch was ten minutes ago, and an API issuing v2.0 tokens
    now = [0.0]
    authenticator = build_caller_authenticator(relay.settings, relay.caller_store, monotonic=lambda: now[0])
    api = build_http_api(relay)
    api._authenticator = authenticator  # the one part replaced: the clock that paces key refreshes
    use_http_api(api)
    emea = tenant(emulator, relay, "emea")
    app = caller_app(emulator, "SOAR rollover", "Relay.Respond", "Relay.Scope.Tag.emea")
    machine = machine_of(relay, emea)
    keys = authenticator.validator.keys  # type: ignore[attr-defined]
    try:
        assert emulator.control("PATCH", "/relay-api", json={"token_version": 2}).status_code == 200
        assert isolate(emea, machine, fresh_token(emulator, app, log_guard)).status_code == 202
        fetched = keys.fetches
        now[0] += 600
        # WHEN Entra rolls its signing key over and tokens signed with the new key arrive
        rotated = emulator.control("POST", "/entra/signing-keys/rotate").json()
        statuses = [isolate(emea, machine, fresh_token(emulator, app, log_guard)).status_code for _ in range(3)]
    finally:
        emulator.control("PATCH", "/relay-api", json={"token_version": 1})
        use_http_api(build_http_api(relay))
    # THEN each is accepted and the keys were fetched once for the new kid, not per request
    assert rotated["kid"] != rotated["previous_kid"]
    assert all(s in (200, 202, 409) for s in statuses), statuses  # 409: the isolation is still pending
    assert keys.fetches == fetched + 1


def test_during_a_rotation_both_hmac_secrets_are_accepted_and_the_audit_says_which_signed(
    azurite: AzuriteEndpoints, emulator: EmulatorInfo, relay: Services, log_guard: LogGuard
) -> None:
    # GIVEN a relay (function keys) whose signing secret is being rotated: current and previous in Key Vault
    current, previous = (f"rotation-{uuid.uuid4().hex}" for _ in range(2))
    log_guard.remember(current, previous)
    env = relay_env(
        azurite, emulator, RELAY_HTTP_SIGNING_SECRET_NAME="http-signing-secret-2",
        RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME="http-signing-secret",
        RELAY_SECRET_HTTP_SIGNING_SECRET_2=current, RELAY_SECRET_HTTP_SIGNING_SECRET=previous,
    )  # fmt: skip
    signed = Services(Settings.from_env(env), storage=relay.storage, clock=relay.clock)
    signed.__dict__["defender"] = relay.defender
    tenant_id = tenant(emulator, relay)
    machine = machine_of(relay, tenant_id)
    use_http_api(build_http_api(signed))
    try:
        # WHEN a tool that switched, one that did not yet, and one with a wrong secret each sign a request
        statuses = {
            who: signed_post(f"tenants/{tenant_id}/machines/{machine}/{action}", secret)
            for who, action, secret in (
                ("switched", "scan", current), ("not yet", "collect-package", previous), ("wrong", "isolate", "nope")
            )
        }  # fmt: skip
    finally:
        use_http_api(build_http_api(relay))
    # THEN both secrets are accepted, a wrong one is refused, and the audit says which secret signed
    assert statuses == {"switched": 202, "not yet": 202, "wrong": 401}
    auths = {r["action"]: r["auth"] for r in audit(relay, tenant_id)}
    assert auths == {"scan": "function-key+hmac", "collect-package": "function-key+hmac(previous)",
                     "isolate": "function-key"}  # fmt: skip
    assert action_calls(emulator, tenant_id) == 2


def signed_post(path: str, secret: str) -> int:
    ts, body = str(int(time.time())), b'{"comment":"rotation"}'
    signature = sign(secret.encode(), "POST", f"/api/{path}", ts, body)
    headers = {"Content-Type": "application/json", "X-Relay-Timestamp": ts, "X-Relay-Signature": signature}
    return int(call("POST", path, body=body, headers=headers).status_code)
