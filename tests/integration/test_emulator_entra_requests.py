"""The emulated token endpoint accepts the requests Entra accepts (issue 13), over real HTTPS.

Microsoft's client-credentials page (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
"tenant | Required | The directory tenant the application plans to operate against, in GUID or
domain-name format." The discovery document advertises ``client_secret_basic`` among
``token_endpoint_auth_methods_supported``; RFC 6749 §2.3.1: "The client identifier is encoded using the
application/x-www-form-urlencoded encoding algorithm ..., and the encoded value is used as the username;
the client password is encoded using the same algorithm and used as the password."
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import pytest
import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.emulator_support import FULL_MDE, MDE_SCOPE, add_tenant, msal_app, post_token, secret_form

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> dict[str, str]:
    domains = ["fabrikam-it.onmicrosoft.com", "fabrikam.example"]
    tenant_id = add_tenant(emulator, roles={"mde": FULL_MDE}, domains=domains)
    return {"id": tenant_id, "initial": "fabrikam-it.onmicrosoft.com", "custom": "fabrikam.example"}


def _discovery(emulator: EmulatorInfo, tenant: str) -> dict[str, Any]:
    url = f"{emulator.login_url()}/{tenant}/v2.0/.well-known/openid-configuration"
    return dict(requests.get(url, verify=emulator.ca_bundle, timeout=10).json())


def _tid(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    return str(jwt.decode(response.json()["access_token"], options={"verify_signature": False})["tid"])


def test_a_form_posted_without_content_type_gets_a_token(emulator: EmulatorInfo, tenant: dict[str, str]) -> None:
    # GIVEN a correct client-credentials form sent as raw bytes with no Content-Type header at all
    body = urlencode(secret_form(emulator)).encode()
    url = f"{emulator.login_url()}/{tenant['id']}/oauth2/v2.0/token"
    prepared = requests.Request("POST", url, data=body).prepare()
    prepared.headers.pop("Content-Type", None)
    # WHEN it is posted
    with requests.Session() as session:
        response = session.send(prepared, verify=emulator.ca_bundle, timeout=10)
    # THEN Entra's answer: a token for that tenant
    assert "Content-Type" not in prepared.headers
    assert _tid(response) == tenant["id"]


def test_http_basic_client_authentication_gets_a_token(emulator: EmulatorInfo, tenant: dict[str, str]) -> None:
    # GIVEN the discovery document, which advertises client_secret_basic
    discovery = _discovery(emulator, tenant["id"])
    assert "client_secret_basic" in discovery["token_endpoint_auth_methods_supported"]
    # WHEN the client id and secret travel form-urlencoded in an Authorization: Basic header, not in the body
    app = emulator.apps["commercial"]
    pair = f"{quote_plus(app['client_id'])}:{quote_plus(app['client_secret'])}"
    headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    form = {"grant_type": "client_credentials", "scope": MDE_SCOPE}
    endpoint = discovery["token_endpoint"]
    response = requests.post(endpoint, data=form, headers=headers, verify=emulator.ca_bundle, timeout=10)
    # THEN a token comes back, as for client_secret_post
    assert _tid(response) == tenant["id"]
    # AND a wrong secret in the header is the documented wrong-secret answer (AADSTS7000215)
    bad = base64.b64encode(f"{app['client_id']}:wrong".encode()).decode()
    refused = requests.post(
        discovery["token_endpoint"], data=form, headers={"Authorization": f"Basic {bad}"},
        verify=emulator.ca_bundle, timeout=10,
    )  # fmt: skip
    assert refused.status_code == 401
    assert refused.json()["error_codes"] == [7000215]


@pytest.mark.parametrize("which", ["initial", "custom"])
def test_a_tenant_named_by_domain_gets_a_token_whose_tid_is_the_guid(
    emulator: EmulatorInfo, tenant: dict[str, str], which: str
) -> None:
    # GIVEN the tenant's initial (onmicrosoft.com) or custom domain, in any case, as the authority
    domain = tenant[which].upper()
    # WHEN MSAL asks that authority for an app-only token
    result = msal_app(emulator, domain, emulator.apps["commercial"]["client_secret"]).acquire_token_for_client(
        scopes=[MDE_SCOPE]
    )
    # THEN the token names the tenant by its id: tid is the GUID, never the domain
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["tid"] == tenant["id"]
    assert claims["iss"] == f"https://sts.windows.net/{tenant['id']}/"


def test_discovery_of_a_domain_names_the_tenant_id(emulator: EmulatorInfo, tenant: dict[str, str]) -> None:
    # GIVEN a domain of the tenant WHEN its OIDC discovery document is read
    doc = _discovery(emulator, tenant["custom"])
    # THEN the issuer and the endpoints carry the tenant id (how a client resolves a domain once)
    assert doc["issuer"] == f"https://login.microsoftonline.com/{tenant['id']}/v2.0"
    assert f"/{tenant['id']}/oauth2/v2.0/token" in doc["token_endpoint"]


@pytest.mark.parametrize("authority", ["common", "organizations", "Common"])
def test_client_credentials_against_a_multi_tenant_authority_is_aadsts50059(
    emulator: EmulatorInfo, authority: str
) -> None:
    # GIVEN a correct form WHEN it is posted to /common or /organizations
    response = post_token(emulator, authority, secret_form(emulator))
    # THEN Entra's AADSTS50059 (reference-error-codes: "MissingTenantRealmAndNoUserInformationProvided -
    # Tenant-identifying information was not found in either the request or implied by any provided credentials")
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["error_codes"]) == ("invalid_request", [50059])
    assert body["error_description"].startswith("AADSTS50059: No tenant-identifying information found")


def test_an_unknown_domain_is_aadsts90002(emulator: EmulatorInfo) -> None:
    response = post_token(emulator, "nobody-here.onmicrosoft.com", secret_form(emulator))
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_domains_are_listed_and_every_tenant_has_an_initial_one(emulator: EmulatorInfo, tenant: dict[str, str]) -> None:
    # GIVEN a tenant created with no domains
    plain = add_tenant(emulator, display_name="Northwind Traders Ltd")
    state = {t["tenant_id"]: t for t in emulator.control("GET", "/state").json()["tenants"]}
    # THEN it has <name>.onmicrosoft.com, and the explicit domains are kept as given
    assert state[plain]["domains"] == ["northwindtradersltd.onmicrosoft.com"]
    assert state[tenant["id"]]["domains"] == [tenant["initial"], tenant["custom"]]
    # AND a domain has one owner: another tenant claiming it is refused naming the field
    response = emulator.control(
        "POST", "/tenants", json={"tenant_id": "0f0f0f0f-0000-4000-8000-00000000000a", "domains": [tenant["custom"]]}
    )
    assert response.status_code == 400
    assert "already belongs to tenant" in response.json()["error"]
