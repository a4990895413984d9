"""The emulated Key Vault and managed identity, driven by azure-keyvault-secrets / azure-identity / MSAL."""

from __future__ import annotations

import jwt
import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from localdev.emulator_process import EmulatorInfo
from tests.integration.emulator_support import MDE_SCOPE, PARTIAL_MDE, add_tenant, msal_app, post_token, secret_form

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

API_VERSION = "7.5"


def _vault(emulator: EmulatorInfo, credential: object) -> SecretClient:
    # The loopback vault URL is not under vault.azure.net, so the challenge resource check is off.
    return SecretClient(emulator.key_vault_url, credential, verify_challenge_resource=False)  # type: ignore[arg-type]


def _mi_token(emulator: EmulatorInfo, resource: str) -> str:
    credential = ManagedIdentityCredential(client_id=emulator.managed_identity["client_id"])
    return credential.get_token(f"{resource}/.default").token


def test_default_azure_credential_reads_a_secret_through_the_managed_identity(emulator: EmulatorInfo) -> None:
    # GIVEN the Functions-style managed identity environment (IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_CLIENT_ID)
    client = _vault(emulator, DefaultAzureCredential())
    # WHEN the app reads its client secret from the vault
    secret = client.get_secret("commercial-app-secret")
    # THEN it gets the partner app's secret, with a Key Vault version id
    assert secret.value == emulator.apps["commercial"]["client_secret"]
    assert secret.properties.version is not None
    assert len(secret.properties.version) == 32
    again = client.get_secret("commercial-app-secret", version=secret.properties.version)
    assert again.value == secret.value


def test_unknown_secret_is_secret_not_found(emulator: EmulatorInfo) -> None:
    client = _vault(emulator, ManagedIdentityCredential(client_id=emulator.managed_identity["client_id"]))
    with pytest.raises(ResourceNotFoundError) as caught:
        client.get_secret("no-such-secret")
    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"
    assert "no-such-secret" in str(caught.value.message)


def test_request_without_token_gets_the_challenge_naming_the_emulated_login_host(emulator: EmulatorInfo) -> None:
    url = f"{emulator.key_vault_url}/secrets/commercial-app-secret?api-version={API_VERSION}"
    response = requests.get(url, verify=emulator.ca_bundle, timeout=10)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert f'authorization="{emulator.login_url()}/{emulator.partner_tenant_id}"' in challenge
    assert 'resource="https://vault.azure.net"' in challenge


def test_tampered_token_is_refused(emulator: EmulatorInfo) -> None:
    # GIVEN a valid vault token whose payload was edited (a claim changed, signature kept)
    token = _mi_token(emulator, "https://vault.azure.net")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    url = f"{emulator.key_vault_url}/secrets/commercial-app-secret?api-version={API_VERSION}"
    # WHEN it is presented
    good = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=emulator.ca_bundle, timeout=10)
    bad = requests.get(url, headers={"Authorization": f"Bearer {tampered}"}, verify=emulator.ca_bundle, timeout=10)
    # THEN only the untouched token reads the secret
    assert good.status_code == 200
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "Unauthorized"


def test_token_for_another_audience_is_refused(emulator: EmulatorInfo) -> None:
    body = post_token(emulator, emulator.partner_tenant_id, secret_form(emulator)).json()
    url = f"{emulator.key_vault_url}/secrets/commercial-app-secret?api-version={API_VERSION}"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    response = requests.get(url, headers=headers, verify=emulator.ca_bundle, timeout=10)
    assert response.status_code == 401


def test_federated_credential_gets_a_customer_tenant_token_without_any_secret(emulator: EmulatorInfo) -> None:
    # GIVEN a consented customer tenant and MSAL whose credential is a managed identity token for
    # api://AzureADTokenExchange (the secretless path of docs/microsoft-apis.md §Federated credential)
    tenant_id = add_tenant(emulator, consent="partial", roles={"mde": PARTIAL_MDE})
    assertion = {"client_assertion": lambda: _mi_token(emulator, "api://AzureADTokenExchange")}
    # WHEN it asks for an MDE token in the customer tenant
    result = msal_app(emulator, tenant_id, assertion).acquire_token_for_client(scopes=[MDE_SCOPE])
    # THEN the token is the customer tenant's, for the partner app, with the granted roles
    assert "access_token" in result, result.get("error_description")
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["tid"] == tenant_id
    assert claims["appid"] == emulator.apps["commercial"]["client_id"]
    assert claims["appidacr"] == "2"
    assert sorted(claims["roles"]) == sorted(PARTIAL_MDE)


def test_managed_identity_token_for_another_audience_is_no_federated_credential(emulator: EmulatorInfo) -> None:
    tenant_id = add_tenant(emulator, roles={"mde": PARTIAL_MDE})
    assertion = {"client_assertion": lambda: _mi_token(emulator, "https://vault.azure.net")}
    result = msal_app(emulator, tenant_id, assertion).acquire_token_for_client(scopes=[MDE_SCOPE])
    assert result["error"] == "invalid_client"
    assert 70021 in result["error_codes"]


def test_identity_endpoint_refuses_a_wrong_identity_header(emulator: EmulatorInfo) -> None:
    identity = emulator.managed_identity
    params = {"api-version": "2019-08-01", "resource": "https://vault.azure.net", "client_id": identity["client_id"]}
    headers = {"X-IDENTITY-HEADER": "wrong"}
    response = requests.get(identity["endpoint"], params=params, headers=headers, verify=emulator.ca_bundle, timeout=10)
    assert response.status_code == 401
    assert "X-IDENTITY-HEADER" in response.json()["message"]


def test_injected_vault_faults_throttle_then_reset_then_recover(emulator: EmulatorInfo) -> None:
    # GIVEN one injected 429 and then one connection reset on the vault
    token = _mi_token(emulator, "https://vault.azure.net")
    url = f"{emulator.key_vault_url}/secrets/http-signing-secret?api-version={API_VERSION}"
    rules = [
        {"route": "keyvault", "p429": 1.0, "count": 1, "retry_after": 3},
        {"route": "keyvault", "preset": 1.0, "count": 1},
    ]
    assert emulator.control("PUT", "/faults", json={"rules": rules}).status_code == 200
    try:
        # WHEN the app reads a secret three times (a fresh connection each time)
        def read() -> requests.Response:
            with requests.Session() as session:
                return session.get(
                    url, headers={"Authorization": f"Bearer {token}"}, verify=emulator.ca_bundle, timeout=10
                )

        throttled = read()
        with pytest.raises(requests.ConnectionError):
            read()
        recovered = read()
    finally:
        emulator.control("DELETE", "/faults")
    # THEN it sees Key Vault's 429 with Retry-After, a dropped connection, then the secret
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "Throttled"
    assert recovered.status_code == 200
