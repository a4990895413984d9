"""The HTTP functions with Entra ID callers (fakes behind the ``HttpApi``, tokens signed by ``FakeEntra``):
app roles per route, tenant scopes, the audit naming the token's app, and refusals that reach nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.callers.store import caller_entry
from shared.domain.errors import TenantNotFoundError
from shared.domain.tenant import Tenant, TenantHealth
from shared.http.openapi import build_document
from shared.http.routes import ROUTE_PREFIX, ROUTES
from shared.http.tenants_api import TenantsApi
from shared.triggers.http import auth_level, use_http_api
from shared.triggers.http_tenants import use_tenants_api
from tests.fakes.actions import MACHINE_A1, MACHINE_B1, TENANT_A, TENANT_B, Harness, MemoryAudit, build_harness
from tests.fakes.entra import SOAR_APP, SOAR_OID, FakeCallers, FakeEntra
from tests.fakes.ingest import FakeCheckpoints, FakeClock
from tests.functional.http_support import call, json_body

EMEA = Tenant(TENANT_A, "Contoso EU", tags=frozenset({"emea"}))
AMER = Tenant(TENANT_B, "Fabrikam US", tags=frozenset({"amer"}))
ENTRA = FakeEntra()


@pytest.fixture
def harness() -> Iterator[Harness]:
    callers = FakeCallers(caller_entry(SOAR_OID, display_name="SOAR EMEA", tags=["emea"]))
    h = build_harness(tenants=(EMEA, AMER), authenticator=ENTRA.authenticator(callers))
    use_http_api(h.api)
    yield h
    use_http_api(None)


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ENTRA.token(roles=list(roles))}"}


def isolate(tenant_id: str, machine: str, headers: dict[str, str]) -> Any:
    return call("POST", f"tenants/{tenant_id}/machines/{machine}/isolate", body={"comment": "case 7"}, headers=headers)


def test_a_respond_caller_scoped_to_emea_isolates_there_and_is_refused_elsewhere(harness: Harness) -> None:
    # GIVEN a caller with Relay.Respond whose caller-table scope is the tag emea
    headers = bearer("Relay.Respond")
    # WHEN it isolates a machine in the EMEA tenant THEN Defender is called and the audit names the app
    assert isolate(TENANT_A, MACHINE_A1, headers).status_code == 202
    accepted = harness.audit.records[-1]
    assert (accepted.caller, accepted.caller_app_id, accepted.caller_object_id) == ("SOAR EMEA", SOAR_APP, SOAR_OID)
    assert accepted.auth == "entra"
    calls = harness.defender.total_calls
    # WHEN it tries the AMER tenant THEN 403 tenant-out-of-scope, audited, and nothing reaches Defender
    refused = isolate(TENANT_B, MACHINE_B1, headers)
    assert refused.status_code == 403
    assert json_body(refused)["type"] == "urn:defender-relay:problem:tenant-out-of-scope"
    assert harness.defender.total_calls == calls
    record = harness.audit.records[-1]
    assert (record.tenant_id, record.outcome, record.caller_app_id) == (TENANT_B, "rejected", SOAR_APP)
    assert record.problem_type.endswith("tenant-out-of-scope")


def test_a_read_caller_cannot_isolate_but_can_look_up(harness: Harness) -> None:
    headers = bearer("Relay.Read")
    refused = isolate(TENANT_A, MACHINE_A1, headers)
    assert refused.status_code == 403
    assert json_body(refused)["requiredRole"] == "Relay.Respond"
    assert harness.defender.total_calls == 0
    assert harness.audit.records[-1].problem_type.endswith("role-required")
    found = call("GET", f"tenants/{TENANT_A}/machines", params={"name": "web01.contoso.com"}, headers=headers)
    assert found.status_code == 200


def test_a_refused_read_is_audited_too(harness: Harness) -> None:
    # GIVEN a read caller WHEN it looks up machines in a tenant outside its scope
    response = call("GET", f"tenants/{TENANT_B}/machines", params={"ip": "10.0.0.1"}, headers=bearer("Relay.Read"))
    # THEN 403, a record in that tenant's audit trail, and no Defender call
    assert response.status_code == 403
    assert [(r.tenant_id, r.action, r.status) for r in harness.audit.records] == [(TENANT_B, "lookup", 403)]
    assert harness.defender.total_calls == 0


def test_no_token_is_401_with_a_bearer_challenge_and_the_attempt_is_audited(harness: Harness) -> None:
    response = isolate(TENANT_A, MACHINE_A1, {"X-Relay-Caller": "claims-to-be-admin"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="defender-relay"'
    assert json_body(response)["type"] == "urn:defender-relay:problem:invalid-token"
    record = harness.audit.records[-1]
    assert (record.caller, record.auth, record.tenant_id) == ("unauthenticated", "unauthenticated", "_invalid")
    forged = isolate(TENANT_A, MACHINE_A1, {"Authorization": "Bearer " + ENTRA.token(aud="api://someone-else")})
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    assert harness.defender.total_calls == 0


def test_the_openapi_document_names_each_operations_role() -> None:
    document = build_document()
    for route in ROUTES:
        operation = document["paths"][f"/{ROUTE_PREFIX}/{route.template}"][route.method.lower()]
        assert operation["security"][0] == {"entra": [route.role]}
        assert {"functionKey": []} in operation["security"]
    assert document["components"]["securitySchemes"]["entra"]["scheme"] == "bearer"


class Registry:
    def __init__(self, *tenants: Tenant) -> None:
        self.tenants = {t.tenant_id: t for t in tenants}

    def get(self, tenant_id: str) -> Tenant:
        if tenant_id not in self.tenants:
            raise TenantNotFoundError(tenant_id)
        return self.tenants[tenant_id]

    def get_health(self, tenant_id: str) -> TenantHealth:
        return TenantHealth()

    def list_with_health(self) -> list[tuple[Tenant, TenantHealth]]:
        return [(t, TenantHealth()) for t in self.tenants.values()]


def test_the_tenant_list_shows_the_callers_tenants_only_and_another_tenants_health_is_403() -> None:
    callers = FakeCallers(caller_entry(SOAR_OID, tags=["emea"]))
    audit = MemoryAudit()
    api = TenantsApi(
        registry=Registry(EMEA, AMER), checkpoints=FakeCheckpoints(FakeClock()),
        authenticator=ENTRA.authenticator(callers), audit=audit,
    )  # fmt: skip
    use_tenants_api(api)
    try:
        listing = json_body(call("GET", "tenants", headers=bearer("Relay.Read")))
        other = call("GET", f"tenants/{TENANT_B}/health", headers=bearer("Relay.Read"))
        own = call("GET", f"tenants/{TENANT_A}/health", headers=bearer("Relay.Read"))
        no_role = call("GET", "tenants", headers=bearer("Relay.Respond"))
    finally:
        use_tenants_api(None)
    assert [t["tenantId"] for t in listing["tenants"]] == [TENANT_A]
    assert listing["tenants"][0]["tags"] == ["emea"]
    assert (other.status_code, own.status_code, no_role.status_code) == (403, 200, 403)
    assert [(r.tenant_id, r.action, r.caller_app_id) for r in audit.records] == [
        (TENANT_B, "tenant-health", SOAR_APP),
        ("_invalid", "tenants", SOAR_APP),
    ]


@pytest.mark.parametrize(("mode", "level"), [("entra", "ANONYMOUS"), (" Entra ", "ANONYMOUS"), ("either", "FUNCTION"),
                                             ("key", "FUNCTION"), ("", "FUNCTION"), ("entr", "FUNCTION")])  # fmt: skip
def test_only_entra_mode_lifts_the_hosts_key_check(monkeypatch: pytest.MonkeyPatch, mode: str, level: str) -> None:
    # GIVEN the mode the host indexes the functions with WHEN the auth level is chosen
    monkeypatch.setenv("RELAY_HTTP_AUTH", mode)
    # THEN only entra makes the routes anonymous at the host (a typo keeps the key check: fail closed)
    assert auth_level().name == level
