"""Onboarding by domain: `tenants add contoso.onmicrosoft.com` registers the tenant id, found once through
the cloud's OIDC discovery (docs/onboarding.md §3), or refuses naming the argument.

Entra takes a tenant "in GUID or domain-name format"
(https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow); tokens name it by id
(``tid``), which is what the registry is keyed by and every token is checked against.
"""

from __future__ import annotations

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.cli_support import Relay, module_azurite, relay  # noqa: F401 - fixtures
from tests.integration.emulator_support import add_tenant

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def domain_tenant(emulator: EmulatorInfo) -> tuple[str, str]:
    tenant_id = add_tenant(emulator, display_name="Domain Onboarding", domains=["onboard-by-domain.onmicrosoft.com"])
    return tenant_id, "onboard-by-domain.onmicrosoft.com"


def test_adding_a_tenant_by_domain_registers_its_tenant_id(relay: Relay, domain_tenant: tuple[str, str]) -> None:  # noqa: F811
    tenant_id, domain = domain_tenant
    # WHEN the operator onboards the customer by its domain, in capitals
    result = relay.run("tenants", "add", domain.upper(), "--name", "By Domain")
    # THEN the registry holds the tenant id (the GUID), not the domain
    assert result.code == 0, result.err
    assert f"added By Domain ({tenant_id})" in result.out
    listed = relay.json("tenants", "list")[1]["tenants"]
    assert tenant_id in [t["tenant_id"] for t in listed]
    assert domain not in [t["tenant_id"] for t in listed]
    relay.run("tenants", "remove", tenant_id)


def test_a_domain_no_tenant_holds_is_refused_naming_the_argument(relay: Relay) -> None:  # noqa: F811
    # WHEN the domain is unknown to the cloud's discovery
    result = relay.run("tenants", "add", "nobody-has-this.onmicrosoft.com")
    # THEN nothing is registered and the message says what to give instead
    assert result.code == 2
    assert "tenant_id: 'nobody-has-this.onmicrosoft.com' is not a tenant id (GUID)" in result.err
    assert "give the tenant id (GUID)" in result.err
    assert "Traceback" not in result.err
    assert relay.json("tenants", "list")[1]["tenants"] == []


def test_a_domain_is_looked_up_in_the_tenant_cloud(relay: Relay, domain_tenant: tuple[str, str]) -> None:  # noqa: F811
    # GIVEN a commercial tenant's domain WHEN it is added as a GCC High tenant (US Government login host)
    result = relay.run("tenants", "add", domain_tenant[1], "--cloud", "gcc-high")
    # THEN the US Government discovery does not know it and the tenant is not registered
    assert result.code == 2
    assert "the gcc-high cloud's OIDC discovery knows no tenant with that domain" in result.err
