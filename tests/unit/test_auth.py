"""TokenProvider with real MSAL over a fake HTTP client (no network, no patching)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from shared.auth.credentials import certificate_credential
from shared.auth.tokens import TokenProvider
from shared.domain.clouds import Cloud
from shared.domain.errors import (
    AuthError,
    CredentialError,
    MissingRolesError,
    NotConsentedError,
    TokenServiceError,
    UnknownTenantError,
    WrongCloudError,
)
from shared.domain.tenant import Tenant
from shared.platform.secrets import EnvSecretReader
from shared.platform.settings import Settings

APP = "11111111-2222-3333-4444-555555555555"
GOV_APP = "99999999-2222-3333-4444-555555555555"
SECRET = "s3cr3t-value-never-logged"
T_OK = "00000000-0000-0000-0000-00000000000a"
MDE_AUD = "https://api.securitycenter.microsoft.com"


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


@dataclass
class FakeResponse:
    status_code: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.HTTPError(f"{self.status_code}")


@dataclass
class FakeEntra:
    """Enough of Entra ID for MSAL: OIDC discovery + the token endpoint, per-tenant behaviour."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # tenant -> claims override or {"error": ...}
    unknown: set[str] = field(default_factory=set)
    token_requests: int = 0
    discovery_requests: int = 0
    down: bool = False
    last_form: dict[str, list[str]] = field(default_factory=dict)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> FakeResponse:
        if "/discovery/instance" in url:  # MSAL's instance discovery for a known Microsoft login host
            host = url.split("://", 1)[1].split("/", maxsplit=1)[0]
            return FakeResponse(200, json.dumps({"metadata": [{"preferred_network": host, "aliases": [host]}]}))
        self.discovery_requests += 1
        host_tenant = url.split("://", 1)[1].split("/")
        tenant = host_tenant[1]
        if self.down:
            raise requests.ConnectionError("connection refused")
        if tenant in self.unknown:
            return FakeResponse(400, json.dumps({"error": "invalid_tenant", "error_codes": [90002]}))
        base = f"https://{host_tenant[0]}/{tenant}"
        body = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{base}/v2.0",
        }
        return FakeResponse(200, json.dumps(body))

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> FakeResponse:
        self.token_requests += 1
        if self.down:
            raise requests.ConnectionError("connection refused")
        form = parse_qs(data) if isinstance(data, str) else {k: [v] for k, v in (data or {}).items()}
        self.last_form = form
        tenant = url.split("/")[3]
        spec = self.tokens.get(tenant, {})
        if "error" in spec:
            return FakeResponse(spec.get("status", 400), json.dumps(spec))
        resource = form["scope"][0].removesuffix("/.default")
        claims = {"tid": tenant, "aud": resource, "roles": ["Alert.Read.All", "Machine.Read.All"]}
        claims.update({"exp": int(time.time()) + 3600, **spec})
        claims = {k: v for k, v in claims.items() if v is not None}
        body = {"access_token": jwt(claims), "token_type": "Bearer", "expires_in": 3599}
        return FakeResponse(200, json.dumps(body))


def settings(**extra: str) -> Settings:
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "RELAY_COMMERCIAL_CLIENT_ID": APP,
        "RELAY_COMMERCIAL_CREDENTIAL": "secret:commercial-app-secret",
        "RELAY_CREDENTIALS_FROM_ENV": "1",
        "RELAY_SECRET_COMMERCIAL_APP_SECRET": SECRET,
        **extra,
    }
    return Settings.from_env(env)


def tenant(tid: str = T_OK, cloud: Cloud = Cloud.COMMERCIAL) -> Tenant:
    return Tenant(tenant_id=tid, display_name="Contoso", cloud=cloud)


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
def provider(entra: FakeEntra) -> TokenProvider:
    return TokenProvider(settings(), http_client=entra)


def test_first_token_comes_from_entra_then_from_msal_cache(provider: TokenProvider, entra: FakeEntra):
    # GIVEN a consented tenant WHEN two tokens are asked for THEN Entra is asked once, MSAL's cache serves the second
    first = provider.get_token(tenant(), "mde", required_roles=["Alert.Read.All"])
    second = provider.get_token(tenant(), "mde", required_roles=["Machine.Read.All"])
    assert (first.source, second.source) == ("identity_provider", "cache")
    assert first.token == second.token
    assert first.roles == {"Alert.Read.All", "Machine.Read.All"}
    assert entra.token_requests == 1
    assert entra.last_form["scope"] == [MDE_AUD + "/.default"]
    assert entra.last_form["client_id"] == [APP]
    assert provider.apps_built == 1
    assert SECRET not in repr(first)
    assert first.token not in repr(first)


def test_invalidate_forces_one_new_token(provider: TokenProvider, entra: FakeEntra):
    provider.get_token(tenant(), "mde")
    provider.invalidate(tenant(), "mde")
    assert provider.get_token(tenant(), "mde").source == "identity_provider"
    assert entra.token_requests == 2
    assert provider.apps_built == 1  # the app (and its discovery) is kept


def test_xdr_uses_its_own_scope_and_gov_tenants_their_own_app(entra: FakeEntra):
    provider = TokenProvider(
        settings(
            RELAY_USGOV_CLIENT_ID=GOV_APP,
            RELAY_USGOV_CREDENTIAL="secret:usgov-app-secret",
            RELAY_SECRET_USGOV_APP_SECRET="gov-secret",
        ),
        http_client=entra,
    )
    entra.tokens[T_OK] = {"roles": ["Incident.Read.All"]}
    provider.get_token(tenant(), "xdr", required_roles=["Incident.Read.All"])
    assert entra.last_form["scope"] == ["https://api.security.microsoft.com/.default"]
    gov = "00000000-0000-0000-0000-0000000000d0"
    provider.get_token(tenant(gov, Cloud.DOD), "mde")
    assert entra.last_form["client_id"] == [GOV_APP]
    assert entra.last_form["scope"] == ["https://api-gov.securitycenter.microsoft.us/.default"]


def test_gov_tenant_without_a_gov_app_names_the_settings(provider: TokenProvider):
    with pytest.raises(CredentialError) as info:
        provider.get_token(tenant(cloud=Cloud.GCC_HIGH), "mde")
    assert "RELAY_USGOV_CLIENT_ID" in info.value.remedy


@pytest.mark.parametrize(
    ("reply", "error_type", "expected"),
    [
        ({"error": "unauthorized_client", "error_codes": [700016]}, NotConsentedError, ("700016", "prompt=consent")),
        ({"error": "invalid_request", "error_codes": [90002]}, UnknownTenantError, ("not found", "tenant id")),
        ({"error": "invalid_request", "error_codes": [900382]}, WrongCloudError, ("900382", "cloud")),
        ({"error": "invalid_client", "error_codes": [7000222], "status": 401}, CredentialError, ("7000222", "renew")),
        (
            {"error": "invalid_client", "error_codes": [7000215], "status": 401},
            CredentialError,
            ("COMMERCIAL", "renew"),
        ),
        ({"error": "invalid_resource", "error_codes": [500011]}, NotConsentedError, ("not provisioned", "licensed")),
        ({"error": "temporarily_unavailable", "status": 503}, TokenServiceError, ("unavailable", "retried")),
        ({"error": "invalid_grant", "error_codes": [53003]}, AuthError, ("AADSTS53003", "AADSTS")),
    ],
)
def test_entra_errors_become_typed_errors_naming_tenant_and_remedy(entra, provider, reply, error_type, expected):
    in_message, in_remedy = expected
    entra.tokens[T_OK] = reply
    with pytest.raises(error_type) as info:
        provider.get_token(tenant(), "mde")
    assert type(info.value) is error_type
    assert T_OK in str(info.value)
    assert in_message in str(info.value)
    assert in_remedy in info.value.remedy
    assert SECRET not in str(info.value) + info.value.remedy


def test_token_without_roles_means_consent_missing(entra, provider):
    entra.tokens[T_OK] = {"roles": None}
    with pytest.raises(NotConsentedError, match="admin consent not granted") as info:
        provider.get_token(tenant(), "mde")
    assert f"client_id={APP}" in info.value.remedy


def test_missing_roles_are_named(entra, provider):
    with pytest.raises(MissingRolesError) as info:
        provider.get_token(tenant(), "mde", required_roles=["Alert.Read.All", "Machine.Isolate", "Machine.Scan"])
    assert info.value.missing == ["Machine.Isolate", "Machine.Scan"]
    assert "Machine.Isolate, Machine.Scan" in info.value.remedy


@pytest.mark.parametrize(
    ("claims", "text"),
    [({"tid": "00000000-0000-0000-0000-0000000000ff"}, "for tenant"), ({"aud": "https://x"}, "audience")],
)
def test_token_for_another_tenant_or_audience_is_refused(entra, provider, claims, text):
    entra.tokens[T_OK] = claims
    with pytest.raises(AuthError, match=text):
        provider.get_token(tenant(), "mde")


def test_unknown_tenant_at_discovery_and_unreachable_entra(entra, provider):
    entra.unknown.add(T_OK)
    with pytest.raises(UnknownTenantError, match=T_OK):
        provider.get_token(tenant(), "mde")
    entra.unknown.clear()
    entra.down = True
    with pytest.raises(TokenServiceError, match="could not be reached"):
        provider.get_token(tenant(), "mde")
    entra.down = False
    assert provider.get_token(tenant(), "mde").source == "identity_provider"  # a failed build is not kept


def test_missing_dev_secret_is_a_credential_error_naming_the_variable(entra):
    provider = TokenProvider(settings(RELAY_SECRET_COMMERCIAL_APP_SECRET=""), http_client=entra)
    with pytest.raises(CredentialError, match="RELAY_SECRET_COMMERCIAL_APP_SECRET is not set"):
        provider.get_token(tenant(), "mde")


def test_federated_credential_sends_the_identity_token_as_assertion(entra):
    s = settings(RELAY_COMMERCIAL_CREDENTIAL="federated", RELAY_MANAGED_IDENTITY_CLIENT_ID=APP)
    audiences: list[str] = []

    def factory(audience: str):
        audiences.append(audience)
        return lambda: "mi-token-for-" + audience

    provider = TokenProvider(s, http_client=entra, assertion_factory=factory)
    provider.get_token(tenant(), "mde")
    assert audiences == ["api://AzureADTokenExchange"]
    assert entra.last_form["client_assertion"] == ["mi-token-for-api://AzureADTokenExchange"]


def test_certificate_secret_is_split_into_msal_fields():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay")])
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + __import__("datetime").timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode() + key_pem.decode()
    cred = certificate_credential(pem, secret_name="c")
    assert cred["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert cred["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    from shared.platform.secrets import SecretUnavailableError

    with pytest.raises(SecretUnavailableError, match="secret 'c' is neither PEM") as info:
        certificate_credential("not a pem", secret_name="c")
    assert "not a pem" not in str(info.value)
    assert EnvSecretReader.variable("usgov-app-certificate") == "RELAY_SECRET_USGOV_APP_CERTIFICATE"
