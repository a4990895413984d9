"""Tenant scopes: which tenants a caller reaches, by id or tag, alone or across a fan-out, and where a
scope comes from (the caller table, scope roles in the token)."""

from __future__ import annotations

import pytest

from shared.callers.authenticator import EntraAuthenticator, KeyAuthenticator
from shared.callers.scope import (
    EVERY_TENANT,
    NO_TENANT,
    CallerScope,
    check_scope,
    filter_in_scope,
    scope_from_roles,
)
from shared.callers.store import caller_entry
from shared.domain.errors import (
    CallerAuthenticationError,
    OutOfScopeError,
    RoleRequiredError,
    TenantNotFoundError,
    ValidationError,
)
from shared.domain.tenant import Tenant, parse_tenant
from tests.fakes.entra import SOAR_APP, SOAR_OID, FakeCallers, FakeEntra

EMEA = Tenant("11111111-1111-1111-1111-111111111111", "Contoso EU", tags=frozenset({"emea", "gold"}))
AMER = Tenant("22222222-2222-2222-2222-222222222222", "Fabrikam US", tags=frozenset({"amer"}))
BARE = Tenant("33333333-3333-3333-3333-333333333333", "Untagged")
REGISTRY = {t.tenant_id: t for t in (EMEA, AMER, BARE)}


def lookup(tenant_id: str) -> Tenant:
    if tenant_id not in REGISTRY:
        raise TenantNotFoundError(tenant_id)
    return REGISTRY[tenant_id]


def test_a_tag_scope_reaches_the_tagged_tenants_only() -> None:
    scope = CallerScope(tags=frozenset({"emea"}))
    check_scope(scope, EMEA.tenant_id, lookup)
    for other in (AMER, BARE):
        with pytest.raises(OutOfScopeError) as refused:
            check_scope(scope, other.tenant_id, lookup)
        assert refused.value.tenant_id == other.tenant_id
        assert "tags emea" in refused.value.message


def test_a_listed_tenant_id_needs_no_registry_read_and_an_unknown_one_is_out_of_scope_not_missing() -> None:
    def no_reads(tenant_id: str) -> Tenant:
        raise AssertionError("the registry was read")

    check_scope(
        CallerScope(tenant_ids=frozenset({"44444444-4444-4444-4444-444444444444"})),
        "44444444-4444-4444-4444-444444444444",
        no_reads,
    )
    # A tenant the caller may not reach is refused alike whether or not it is registered: no existence oracle.
    with pytest.raises(OutOfScopeError):
        check_scope(CallerScope(tags=frozenset({"emea"})), "55555555-5555-5555-5555-555555555555", lookup)
    with pytest.raises(OutOfScopeError):
        check_scope(NO_TENANT, EMEA.tenant_id, no_reads)


def test_a_fan_out_keeps_only_tenants_in_scope_in_their_order() -> None:
    tenants = [AMER, EMEA, BARE]
    assert filter_in_scope(CallerScope(tags=frozenset({"emea", "amer"})), tenants) == [AMER, EMEA]
    assert filter_in_scope(CallerScope(tenant_ids=frozenset({BARE.tenant_id})), tenants) == [BARE]
    assert filter_in_scope(EVERY_TENANT, tenants) == tenants
    assert filter_in_scope(NO_TENANT, tenants) == []


def test_scope_roles_grant_tags_tenants_or_everything_and_typos_are_ignored() -> None:
    scope = scope_from_roles(
        ["Relay.Respond", "Relay.Scope.Tag.EMEA", f"Relay.Scope.Tenant.{AMER.tenant_id}", "Relay.Scope.Tag.bad tag"]
    )
    assert scope == CallerScope(tenant_ids=frozenset({AMER.tenant_id}), tags=frozenset({"emea"}))
    assert scope_from_roles(["Relay.Scope.All"]).all_tenants


def test_tenant_tags_are_lowercased_checked_and_stored_as_a_list() -> None:
    tenant = parse_tenant({"tenant_id": EMEA.tenant_id, "tags": "EMEA, gold"}, where="t")
    assert tenant.tags == {"emea", "gold"}
    with pytest.raises(ValidationError, match="not a tag"):
        parse_tenant({"tenant_id": EMEA.tenant_id, "tags": ["emea north"]}, where="t")


def test_the_caller_table_entry_of_the_object_wins_over_the_app_and_names_the_caller() -> None:
    entra = FakeEntra()
    callers = FakeCallers(
        caller_entry(SOAR_APP, display_name="every SOAR instance", tags=["amer"]),
        caller_entry(SOAR_OID, display_name="SOAR EMEA instance", tags=["emea"]),
    )
    caller = entra.authenticator(callers).authenticate(
        {"authorization": f"Bearer {entra.token(roles=['Relay.Respond'])}"}, {}
    )
    assert (caller.name, caller.app_id, caller.object_id, caller.auth) == (
        "SOAR EMEA instance",
        SOAR_APP,
        SOAR_OID,
        "entra",
    )
    assert caller.scope.tags == {"emea"}


def test_a_caller_without_an_entry_or_scope_role_reaches_no_tenant_and_only_known_roles_count() -> None:
    entra = FakeEntra()
    token = entra.token(roles=["Relay.Read", "Relay.Bogus"])
    caller = entra.authenticator().authenticate({"authorization": f"Bearer {token}"}, {})
    assert caller.scope == NO_TENANT
    assert caller.roles == {"Relay.Read"}
    assert caller.name == "SOAR EMEA"  # the token's app display name
    with pytest.raises(RoleRequiredError, match=r"Relay\.Respond"):
        caller.require("Relay.Respond")


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer    "])
def test_entra_mode_needs_a_bearer_token(header: str | None) -> None:
    headers = {"x-functions-key": "k"} if header is None else {"authorization": header}
    with pytest.raises(CallerAuthenticationError):
        FakeEntra().authenticator().authenticate(headers, {})


def test_either_mode_falls_back_to_the_key_only_without_a_token_never_after_a_bad_one() -> None:
    entra = FakeEntra()
    authenticator = entra.authenticator(allow_keys=True)
    caller = authenticator.authenticate({"x-functions-key": "k", "x-relay-caller": "legacy-tool"}, {})
    assert caller.auth == "function-key"
    assert caller.name.startswith("legacy-tool (key ")
    assert caller.scope == EVERY_TENANT
    with pytest.raises(CallerAuthenticationError):
        authenticator.authenticate({"x-functions-key": "k", "authorization": "Bearer e30.e30.forged"}, {})


def test_key_callers_keep_every_role_and_tenant() -> None:
    caller = KeyAuthenticator().authenticate({}, {"code": "secret-key"})
    assert caller.name.startswith("anonymous (key ")
    caller.require("Relay.Admin")
    check_scope(caller.scope, AMER.tenant_id, lookup)
    assert isinstance(FakeEntra().authenticator(), EntraAuthenticator)
