"""TokenProvider against the emulated Entra ID, Key Vault and managed identity (real MSAL, azure-identity)."""

from __future__ import annotations

import uuid

import pytest

from localdev.emulator_process import EmulatorInfo
from shared.auth.tokens import TokenProvider
from shared.domain.errors import (
    CredentialError,
    MissingRolesError,
    NotConsentedError,
    UnknownTenantError,
    WrongCloudError,
)
from shared.domain.tenant import Tenant
from tests.integration.emulator_support import token_requests
from tests.integration.relay_settings import relay_settings, scenario_tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def provider(emulator_env: EmulatorInfo) -> TokenProvider:
    return TokenProvider(relay_settings(emulator_env))


def test_certificate_from_key_vault_gets_a_token_and_msal_cache_serves_the_next(provider, emulator_env):
    # GIVEN the production credential path (MI -> Key Vault -> certificate) and a consented tenant
    contoso = scenario_tenant(emulator_env, "Contoso")
    first = provider.get_token(contoso, "mde", required_roles=["Alert.Read.All"])
    before = token_requests(emulator_env, contoso.tenant_id)
    # WHEN asked again (another resource too) THEN the MDE token comes from MSAL's cache, no new request
    second = provider.get_token(contoso, "mde", required_roles=["Machine.Isolate"])
    assert (first.source, second.source) == ("identity_provider", "cache")
    assert token_requests(emulator_env, contoso.tenant_id) == before
    xdr = provider.get_token(contoso, "xdr", required_roles=["Incident.Read.All"])
    assert xdr.roles == {"Incident.Read.All"}
    assert provider.apps_built == 1


@pytest.mark.parametrize("name", ["Coho Winery", "Relecloud", "Woodgrove Bank", "Fabrikam"])
def test_every_cloud_gets_its_token_from_its_own_login_host_and_app(provider, emulator_env, name):
    tenant = scenario_tenant(emulator_env, name)
    token = provider.get_token(tenant, "mde", required_roles=["Alert.Read.All"])
    assert token.source == "identity_provider"
    assert "Alert.Read.All" in token.roles


def test_never_consented_tenant_gets_the_consent_link(provider, emulator_env):
    with pytest.raises(NotConsentedError, match="AADSTS700016") as info:
        provider.get_token(scenario_tenant(emulator_env, "Alpine Ski House"), "mde")
    assert emulator_env.apps["commercial"]["client_id"] in info.value.remedy
    assert "login.microsoftonline.com/common/oauth2/authorize?prompt=consent" in info.value.remedy


def test_consent_without_roles_is_reported_as_missing_consent(provider, emulator_env):
    with pytest.raises(NotConsentedError, match="admin consent not granted"):
        provider.get_token(scenario_tenant(emulator_env, "Trey Research"), "mde", required_roles=["Alert.Read.All"])


def test_partial_consent_names_the_missing_roles(provider, emulator_env):
    proseware = scenario_tenant(emulator_env, "Proseware")
    assert provider.get_token(proseware, "mde", required_roles=["Alert.Read.All"]).roles
    with pytest.raises(MissingRolesError) as info:
        provider.get_token(proseware, "mde", required_roles=["Machine.Isolate", "Machine.Read.All"])
    assert info.value.missing == ["Machine.Isolate"]


def test_unknown_tenant(provider):
    stranger = Tenant(tenant_id=str(uuid.uuid4()), display_name="Nobody")
    with pytest.raises(UnknownTenantError, match="was not found"):
        provider.get_token(stranger, "mde")


@pytest.mark.parametrize(("name", "registered_as"), [("Coho Winery", "commercial"), ("Woodgrove Bank", "gcc-high")])
def test_tenant_registered_in_the_wrong_cloud(provider, emulator_env, name, registered_as):
    tenant = scenario_tenant(emulator_env, name, cloud=registered_as)
    with pytest.raises(WrongCloudError, match="AADSTS900382") as info:
        provider.get_token(tenant, "mde")
    assert "cloud" in info.value.remedy


def test_expired_secret_is_a_credential_error_without_the_secret(emulator_env):
    expired = emulator_env.apps["commercial"]["expired_client_secret"]
    settings = relay_settings(
        emulator_env,
        RELAY_COMMERCIAL_CREDENTIAL="secret:commercial-app-secret",
        RELAY_CREDENTIALS_FROM_ENV="1",
        RELAY_SECRET_COMMERCIAL_APP_SECRET=expired,
    )
    with pytest.raises(CredentialError, match="7000222") as info:
        TokenProvider(settings).get_token(scenario_tenant(emulator_env, "Contoso"), "mde")
    assert expired not in str(info.value) + info.value.remedy
    assert "RELAY_COMMERCIAL_CREDENTIAL" in info.value.remedy


def test_federated_credential_needs_no_secret(emulator_env):
    provider = TokenProvider(relay_settings(emulator_env, RELAY_COMMERCIAL_CREDENTIAL="federated"))
    token = provider.get_token(scenario_tenant(emulator_env, "Contoso"), "mde", required_roles=["Alert.Read.All"])
    assert token.source == "identity_provider"
