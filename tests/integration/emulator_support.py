"""Helpers shared by the emulator integration tests: test tenants, token requests, claim decoding."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import msal
import requests

from localdev.emulator_process import EmulatorInfo

MDE_SCOPE = "https://api.securitycenter.microsoft.com/.default"
XDR_SCOPE = "https://api.security.microsoft.com/.default"
GOV_MDE_SCOPE = "https://api-gov.securitycenter.microsoft.us/.default"
FULL_MDE = ["Alert.Read.All", "Machine.Read.All", "Machine.Isolate", "Machine.Scan"]
PARTIAL_MDE = ["Alert.Read.All", "Machine.Read.All"]


def add_tenant(emulator: EmulatorInfo, **fields: Any) -> str:
    """Create a tenant through the control API (a fresh id, so tests never share one); return its id."""
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": f"Test {tenant_id[:8]}", **fields}
    response = emulator.control("POST", "/tenants", json=body)
    assert response.status_code == 201, response.text
    return tenant_id


def msal_app(emulator: EmulatorInfo, tenant_id: str, credential: Any, *, cloud: str = "commercial") -> Any:
    family = "usgov" if cloud in ("gcc-high", "dod") else "commercial"
    return msal.ConfidentialClientApplication(
        emulator.apps[family]["client_id"],
        authority=f"{emulator.login_url(cloud)}/{tenant_id}",
        client_credential=credential,
        instance_discovery=False,
        verify=emulator.ca_bundle,
    )


def post_token(
    emulator: EmulatorInfo, tenant_id: str, form: dict[str, str], *, cloud: str = "commercial", v1: bool = False
) -> requests.Response:
    path = "oauth2/token" if v1 else "oauth2/v2.0/token"
    url = f"{emulator.login_url(cloud)}/{tenant_id}/{path}"
    return requests.post(url, data=form, verify=emulator.ca_bundle, timeout=10)


def secret_form(emulator: EmulatorInfo, *, family: str = "commercial", scope: str = MDE_SCOPE) -> dict[str, str]:
    app = emulator.apps[family]
    return {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "scope": scope,
    }


def verified_claims(emulator: EmulatorInfo, tenant_id: str, token: str, audience: str) -> dict[str, Any]:
    """Verify the token the way an API would: the JWKS named by the tenant's OIDC discovery document."""
    discovery = requests.get(
        f"{emulator.login_url()}/{tenant_id}/v2.0/.well-known/openid-configuration",
        verify=emulator.ca_bundle,
        timeout=10,
    ).json()
    jwks = requests.get(discovery["jwks_uri"], verify=emulator.ca_bundle, timeout=10).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k).key for k in jwks["keys"] if k["kid"] == kid)
    return dict(jwt.decode(token, key, algorithms=["RS256"], audience=audience))


def token_requests(emulator: EmulatorInfo, tenant_id: str) -> int:
    return int(emulator.control("GET", "/counters").json()["token_requests"].get(tenant_id, 0))
