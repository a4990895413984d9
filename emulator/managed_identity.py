"""Emulated managed identity endpoint: what Azure Functions exposes as IDENTITY_ENDPOINT / IDENTITY_HEADER.

Protocol 2019-08-01 as azure-identity (through MSAL's ManagedIdentityClient) speaks it:
``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R[&client_id=C]`` with header
``X-IDENTITY-HEADER: {IDENTITY_HEADER}``; answer ``{access_token, expires_on (string epoch), resource,
token_type, client_id}``. The Function App here has one user-assigned identity and no system-assigned
one, so a request without ``client_id`` fails as it would in Azure (inferred, not documented: App
Service answers 400).
Errors use App Service's ``{"statusCode", "message"}`` shape, which MSAL reads.
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web

from emulator.entra import relay_api
from emulator.entra.tokens import TokenService
from emulator.world import ManagedIdentity, World

MI_PATH = "/msi/token"
# Resources the identity can get tokens for: Key Vault, the federated-credential exchange, storage.
MI_RESOURCES = ("https://vault.azure.net", "api://AzureADTokenExchange", "https://storage.azure.com")


def _error(status: int, message: str) -> web.Response:
    body = json.dumps({"statusCode": status, "message": message, "correlationId": "emulator"})
    return web.Response(status=status, text=body, content_type="application/json")


def _resource(request: web.Request) -> str:
    resource = request.query.get("resource", "").rstrip("/")
    return resource.removesuffix("/.default")


class ManagedIdentityService:
    def __init__(self, world: World, tokens: TokenService) -> None:
        self._world = world
        self._tokens = tokens

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(MI_PATH, self._token)
        return app

    def _refusal(self, request: web.Request, identity: ManagedIdentity) -> web.Response | None:
        presented = request.headers.get("X-IDENTITY-HEADER", "")
        if not hmac.compare_digest(presented.encode(), identity.header.encode()):
            return _error(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        if request.query.get("api-version") != "2019-08-01":
            return _error(400, "api-version must be 2019-08-01.")
        client_id = request.query.get("client_id", "")
        if not client_id:
            return _error(400, "No system-assigned identity: pass client_id of the user-assigned identity.")
        if client_id.lower() != identity.client_id:
            return _error(400, f"No user-assigned identity with client_id '{client_id}' on this app.")
        if _resource(request) not in MI_RESOURCES:
            return _error(
                400, f"The resource '{_resource(request)}' is not one this emulator issues identity tokens for."
            )
        return None

    async def _token(self, request: web.Request) -> web.Response:
        # Another app's identity on the same emulated endpoint: a Logic App calling the relay's API.
        caller = relay_api.identity_token(self._world, self._tokens, request)
        if caller is not None:
            return caller
        identity = self._world.managed_identity
        if identity is None:
            return _error(500, "No managed identity is configured in this emulator run.")
        refused = self._refusal(request, identity)
        if refused is not None:
            return refused
        resource = _resource(request)
        issued = self._tokens.issue(
            tenant_id=identity.tenant_id,
            audience=resource,
            app_id=identity.client_id,
            app_display_name=identity.display_name,
            roles=[],
            appidacr="2",
            service_principal_id=identity.principal_id,
        )
        self._world.counters.managed_identity_tokens += 1
        return web.json_response(
            {
                "access_token": issued.access_token,
                "expires_on": str(issued.exp),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            }
        )
