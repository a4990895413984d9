"""The emulated Entra ID, driven by the real MSAL and requests over real HTTPS (docs/contracts.md §1.3-§1.4)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import NamedTuple

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.emulator_process import EmulatorInfo
from tests.integration.emulator_support import (
    FULL_MDE,
    GOV_MDE_SCOPE,
    MDE_SCOPE,
    PARTIAL_MDE,
    XDR_SCOPE,
    add_tenant,
    msal_app,
    post_token,
    secret_form,
    token_requests,
    verified_claims,
)

# MSAL's requests session would ignore verify= while REQUESTS_CA_BUNDLE is set (requests prefers the
# environment), so the tests run with the emulator's client environment, as the application does.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


@pytest.fixture(scope="module")
def tenants(emulator: EmulatorInfo) -> dict[str, str]:
    full_roles = {"mde": FULL_MDE, "xdr": ["Incident.Read.All"]}
    return {
        "full": add_tenant(emulator, consent="full", roles=full_roles),
        "partial": add_tenant(emulator, consent="partial", roles={"mde": PARTIAL_MDE}),
        "no-roles": add_tenant(emulator, consent="partial", roles={}),
        "never": add_tenant(emulator, consent="none"),
        "gcc-high": add_tenant(emulator, cloud="gcc-high", roles={"mde": PARTIAL_MDE}),
    }


def test_secret_credential_token_has_documented_v1_claims_and_verifies_against_jwks(
    emulator: EmulatorInfo, tenants: dict[str, str]
) -> None:
    # GIVEN a fully consented tenant and MSAL with the partner app's client secret
    tid = tenants["full"]
    app = msal_app(emulator, tid, emulator.apps["commercial"]["client_secret"])
    # WHEN it asks for an MDE token
    result = app.acquire_token_for_client(scopes=[MDE_SCOPE])
    # THEN the token is signed by a key of the tenant's JWKS and has the real v1.0 app-only shape
    assert "access_token" in result, result
    claims = verified_claims(emulator, tid, result["access_token"], "https://api.securitycenter.microsoft.com")
    assert claims["iss"] == f"https://sts.windows.net/{tid}/"
    assert claims["tid"] == tid
    assert claims["appid"] == emulator.apps["commercial"]["client_id"]
    assert claims["appidacr"] == "1"
    assert claims["ver"] == "1.0"
    assert sorted(claims["roles"]) == sorted(FULL_MDE)
    assert claims["oid"]
    assert claims["exp"] - claims["iat"] == 3900
    assert claims["nbf"] == claims["iat"]
    assert jwt.get_unverified_header(result["access_token"])["x5t"]


def test_xdr_token_holds_only_the_xdr_roles(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    app = msal_app(emulator, tenants["full"], emulator.apps["commercial"]["client_secret"])
    result = app.acquire_token_for_client(scopes=[XDR_SCOPE])
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://api.security.microsoft.com"
    assert claims["roles"] == ["Incident.Read.All"]


@pytest.mark.parametrize("style", ["thumbprint", "public_certificate"])
def test_certificate_credential_gives_appidacr_2(emulator: EmulatorInfo, tenants: dict[str, str], style: str) -> None:
    # GIVEN the partner app certificate, presented by SHA-1 thumbprint (RS256, x5t) or with the public
    # certificate (MSAL then signs PS256 with x5t#S256)
    pem = Path(emulator.apps["commercial"]["certificate_pem"]).read_text()
    credential = {"private_key": pem}
    if style == "thumbprint":
        credential["thumbprint"] = emulator.apps["commercial"]["thumbprint"]
    else:
        credential["public_certificate"] = pem
    # WHEN MSAL asks for a token
    result = msal_app(emulator, tenants["full"], credential).acquire_token_for_client(scopes=[MDE_SCOPE])
    # THEN the token says a certificate was used
    assert "access_token" in result, result
    assert jwt.decode(result["access_token"], options={"verify_signature": False})["appidacr"] == "2"


def test_partial_consent_gets_only_the_granted_roles(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    result = msal_app(
        emulator, tenants["partial"], emulator.apps["commercial"]["client_secret"]
    ).acquire_token_for_client(scopes=[MDE_SCOPE])
    roles = jwt.decode(result["access_token"], options={"verify_signature": False})["roles"]
    assert sorted(roles) == sorted(PARTIAL_MDE)
    assert "Machine.Isolate" not in roles


def test_consent_without_roles_gives_a_token_with_no_roles_claim(
    emulator: EmulatorInfo, tenants: dict[str, str]
) -> None:
    app = msal_app(emulator, tenants["no-roles"], emulator.apps["commercial"]["client_secret"])
    result = app.acquire_token_for_client(scopes=[MDE_SCOPE])
    assert "access_token" in result, result
    assert "roles" not in jwt.decode(result["access_token"], options={"verify_signature": False})


def test_gov_tenant_gets_a_token_from_the_us_government_authority(
    emulator: EmulatorInfo, tenants: dict[str, str]
) -> None:
    app = msal_app(emulator, tenants["gcc-high"], emulator.apps["usgov"]["client_secret"], cloud="gcc-high")
    result = app.acquire_token_for_client(scopes=[GOV_MDE_SCOPE])
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://api-gov.securitycenter.microsoft.us"
    assert sorted(claims["roles"]) == sorted(PARTIAL_MDE)


def test_second_msal_call_is_served_from_its_cache(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    # GIVEN one long-lived MSAL app that already has a token
    tid = tenants["partial"]
    app = msal_app(emulator, tid, emulator.apps["commercial"]["client_secret"])
    first = app.acquire_token_for_client(scopes=[MDE_SCOPE])
    before = token_requests(emulator, tid)
    # WHEN it asks again
    second = app.acquire_token_for_client(scopes=[MDE_SCOPE])
    # THEN no request reached the token endpoint
    assert second["access_token"] == first["access_token"]
    assert second["token_source"] == "cache"
    assert token_requests(emulator, tid) == before


def test_v1_endpoint_answers_strings_with_expires_on_not_before_and_resource(
    emulator: EmulatorInfo, tenants: dict[str, str]
) -> None:
    form = secret_form(emulator)
    del form["scope"]
    form["resource"] = "https://api.securitycenter.microsoft.com"
    response = post_token(emulator, tenants["full"], form, v1=True)
    assert response.status_code == 200, response.text
    body = response.json()
    for name in ("expires_in", "expires_on", "not_before"):
        assert isinstance(body[name], str)
        assert body[name].isdigit()
    assert body["resource"] == "https://api.securitycenter.microsoft.com"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3900


def test_v2_endpoint_answers_integers(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    body = post_token(emulator, tenants["full"], secret_form(emulator)).json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)
    assert 3500 < body["expires_in"] <= 3600
    assert "expires_on" not in body


def _forged_assertion(emulator: EmulatorInfo, tenant_id: str) -> str:
    """Right thumbprint header, wrong key: what a stolen thumbprint without the private key gives."""
    client_id = emulator.apps["commercial"]["client_id"]
    x5t = base64.urlsafe_b64encode(bytes.fromhex(emulator.apps["commercial"]["thumbprint"])).rstrip(b"=").decode()
    claims = {"aud": f"{emulator.login_url()}/{tenant_id}/oauth2/v2.0/token", "iss": client_id, "sub": client_id}
    claims |= {"exp": 4_000_000_000, "jti": str(uuid.uuid4())}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"x5t": x5t})


class ErrorRow(NamedTuple):
    case: str
    tenant: str  # key of the ``tenants`` fixture, or "random" for a tenant that exists nowhere
    cloud: str
    changes: dict[str, str]  # form changes; "family" picks the app; EXPIRED / FORGED are placeholders
    status: int
    error: str
    code: int


MDE_RESOURCE = "https://api.securitycenter.microsoft.com"
ERROR_ROWS = [
    ErrorRow("unknown tenant", "random", "commercial", {}, 400, "invalid_request", 90002),
    ErrorRow("tenant of the other cloud", "full", "dod", {"family": "usgov"}, 400, "invalid_request", 900382),
    ErrorRow("never consented", "never", "commercial", {}, 400, "unauthorized_client", 700016),
    ErrorRow("commercial app, US Gov authority", "gcc-high", "gcc-high", {}, 400, "unauthorized_client", 700016),
    ErrorRow("wrong secret", "full", "commercial", {"client_secret": "nope"}, 401, "invalid_client", 7000215),
    ErrorRow("expired secret", "full", "commercial", {"client_secret": "EXPIRED"}, 401, "invalid_client", 7000222),
    ErrorRow("bad assertion", "full", "commercial", {"client_secret": "FORGED"}, 401, "invalid_client", 700027),
    ErrorRow("no /.default", "full", "commercial", {"scope": MDE_RESOURCE}, 400, "invalid_scope", 1002012),
    ErrorRow("unknown resource", "full", "commercial", {"scope": "https://x.test/.default"}, 400, "invalid_resource",
             500011),
]  # fmt: skip


@pytest.mark.parametrize("row", ERROR_ROWS, ids=[row.case for row in ERROR_ROWS])
def test_token_endpoint_error_matrix(emulator: EmulatorInfo, tenants: dict[str, str], row: ErrorRow) -> None:
    # GIVEN a token request that is wrong in one way
    tid = str(uuid.uuid4()) if row.tenant == "random" else tenants[row.tenant]
    changes = dict(row.changes)
    form = secret_form(emulator, family=changes.pop("family", "commercial"))
    form.update(changes)
    if form["client_secret"] == "EXPIRED":
        form["client_secret"] = emulator.apps["commercial"]["expired_client_secret"]
    if form["client_secret"] == "FORGED":
        del form["client_secret"]
        form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        form["client_assertion"] = _forged_assertion(emulator, tid)
    # WHEN it reaches the token endpoint
    response = post_token(emulator, tid, form, cloud=row.cloud)
    # THEN Entra's documented status and error body come back
    assert response.status_code == row.status
    body = response.json()
    assert body["error"] == row.error
    assert body["error_codes"] == [row.code]
    assert body["error_description"].startswith(f"AADSTS{row.code}: ")
    assert f"\r\nTrace ID: {body['trace_id']}\r\nCorrelation ID: {body['correlation_id']}" in body["error_description"]
    assert emulator.apps["commercial"]["client_secret"] not in response.text


def test_msal_reports_a_wrong_secret_as_invalid_client(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    result = msal_app(emulator, tenants["full"], "not-the-secret").acquire_token_for_client(scopes=[MDE_SCOPE])
    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


def test_discovery_of_an_unknown_tenant_fails_so_msal_cannot_start(emulator: EmulatorInfo) -> None:
    app_credential = emulator.apps["commercial"]["client_secret"]
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal_app(emulator, str(uuid.uuid4()), app_credential)


def test_v1_discovery_names_the_v1_token_endpoint(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    tid = tenants["full"]
    url = f"{emulator.login_url()}/{tid}/.well-known/openid-configuration"
    doc = requests.get(url, verify=emulator.ca_bundle, timeout=10).json()
    assert doc["token_endpoint"] == f"{emulator.login_url()}/{tid}/oauth2/token"
    assert doc["issuer"] == f"https://sts.windows.net/{tid}/"


def test_injected_token_fault_answers_503_then_recovers(emulator: EmulatorInfo, tenants: dict[str, str]) -> None:
    # GIVEN one injected 503 on the token endpoint of one tenant
    tid = tenants["partial"]
    rule = {"route": "token", "tenant_id": tid, "p503": 1.0, "count": 1, "retry_after": 2}
    assert emulator.control("PUT", "/faults", json={"rules": [rule]}).status_code == 200
    try:
        # WHEN the tenant asks for a token twice
        first = post_token(emulator, tid, secret_form(emulator))
        second = post_token(emulator, tid, secret_form(emulator))
    finally:
        emulator.control("DELETE", "/faults")
    # THEN the first answer is Entra's "temporarily_unavailable" with Retry-After, the second a token
    assert first.status_code == 503
    assert first.json()["error"] == "temporarily_unavailable"
    assert first.headers["Retry-After"] == "2"
    assert second.status_code == 200
