"""Emulated Entra ID login hosts: OIDC discovery (v2 and v1), JWKS, and the v2 and v1 token endpoints.

One ``LoginService`` per national cloud: ``login.microsoftonline.com`` serves commercial and GCC
tenants with the commercial app registration, ``login.microsoftonline.us`` serves GCC High and DoD
tenants with the US Government one. Asking the wrong cloud fails as it does in Azure (docs/contracts.md §1.4).
Requests and success bodies follow, for v2,
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow and, for v1,
https://learn.microsoft.com/previous-versions/azure/active-directory/azuread-dev/v1-oauth2-client-creds-grant-flow.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from aiohttp import web

from emulator.entra import errors
from emulator.entra.client_auth import authenticate_client
from emulator.entra.errors import EntraError
from emulator.entra.token_request import read_form
from emulator.entra.tokens import IssuedToken, TokenService
from emulator.platform_faults import FaultSource, injected
from emulator.world import AppFamily, AppRegistration, Resource, World, app_family

# Resource (App ID URI) -> kind, per cloud (docs/contracts.md §1.3, §1.5a). The kind picks the tenant's granted roles.
RESOURCES: dict[AppFamily, dict[str, str]] = {
    "commercial": {
        "https://api.securitycenter.microsoft.com": "mde",
        "https://securitycenter.onmicrosoft.com/windowsatpservice": "mde",
        "https://api-gcc.securitycenter.microsoft.us": "mde",
        "https://api.security.microsoft.com": "xdr",
        "https://api-gcc.security.microsoft.us": "xdr",
        "https://vault.azure.net": "other",
        "https://storage.azure.com": "other",
        "https://graph.microsoft.com": "graph",  # commercial and GCC (https://learn.microsoft.com/graph/deployments)
    },
    "usgov": {
        "https://api-gov.securitycenter.microsoft.us": "mde",
        "https://securitycenter.onmicrosoft.us/windowsatpservice": "mde",
        "https://api-gov.security.microsoft.us": "xdr",
        "https://vault.usgovcloudapi.net": "other",
        "https://graph.microsoft.us": "graph",  # GCC High (L4)
        "https://dod-graph.microsoft.us": "graph",  # DoD (L5)
    },
}
REAL_LOGIN_HOST: dict[AppFamily, str] = {
    "commercial": "login.microsoftonline.com",
    "usgov": "login.microsoftonline.us",
}
_NO_CACHE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
# Authorities that name no tenant: fine for sign-in and consent, refused for app-only tokens (AADSTS50059).
MULTI_TENANT = ("common", "organizations")


class LoginService:
    def __init__(
        self, world: World, tokens: TokenService, family: AppFamily, *, faults: FaultSource | None = None
    ) -> None:
        self._world = world
        self._tokens = tokens
        self._family = family
        self.faults = faults
        self.real_host = REAL_LOGIN_HOST[family]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery_v2)
        app.router.add_get("/{tenant}/.well-known/openid-configuration", self._discovery_v1)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self._jwks)
        app.router.add_get("/{tenant}/discovery/keys", self._jwks)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token_v2)
        app.router.add_post("/{tenant}/oauth2/token", self._token_v1)
        return app

    # --- tenants -------------------------------------------------------------------------------

    def _resolve(self, tenant: str) -> str | None:
        """The tenant id a path segment names: a tenant id, or a domain of the tenant (or of the partner)."""
        lowered = tenant.lower()
        if lowered == self._world.partner_tenant_id:
            return lowered
        spec = self._world.tenant_by_name(lowered)
        return spec.tenant_id if spec is not None else None

    def _tenant_family(self, tenant_id: str) -> AppFamily | None:
        if tenant_id == self._world.partner_tenant_id:
            return "commercial"
        spec = self._world.tenant(tenant_id)
        return app_family(spec.cloud) if spec else None

    def _require_tenant(self, tenant: str) -> str:
        if tenant.lower() in MULTI_TENANT:
            raise errors.no_tenant_identified()
        tenant_id = self._resolve(tenant)
        family = self._tenant_family(tenant_id) if tenant_id else None
        if tenant_id is None or family is None:
            raise errors.unknown_tenant(tenant)
        if family != self._family:
            raise errors.cross_cloud(tenant)
        return tenant_id

    # --- discovery -----------------------------------------------------------------------------

    def _discovery_doc(self, request: web.Request, tenant: str, *, v2: bool) -> dict[str, Any]:
        # A domain is answered with the tenant's id in every URL and in the issuer, as Entra does; a
        # multi-tenant authority keeps its name, and its issuer holds the {tenantid} placeholder.
        named = tenant if tenant.lower() in MULTI_TENANT else (self._resolve(tenant) or tenant)
        issuer_tenant = "{tenantid}" if tenant.lower() in MULTI_TENANT else named
        tenant_id = self._resolve(tenant)
        family = (self._tenant_family(tenant_id) if tenant_id else None) or self._family
        base = f"https://{request.host}/{named}"
        real = f"https://{self.real_host}/{issuer_tenant}"
        suffix = "/v2.0" if v2 else ""
        return {
            "token_endpoint": f"{base}/oauth2{suffix}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery{suffix}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            # Issuers are the real ones: tokens say where they come from, not which port served them.
            "issuer": f"{real}/v2.0" if v2 else f"https://sts.windows.net/{issuer_tenant}/",
            "authorization_endpoint": f"{base}/oauth2{suffix}/authorize",
            "device_authorization_endpoint": f"{base}/oauth2{suffix}/devicecode",
            "end_session_endpoint": f"{base}/oauth2{suffix}/logout",
            "request_uri_parameter_supported": False,
            # The tenant's own cloud, whichever login host answered: how a client tells a cross-cloud tenant.
            "tenant_region_scope": "USGov" if family == "usgov" else "NA",
            "cloud_instance_name": "microsoftonline.us" if family == "usgov" else "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.us" if self._family == "usgov" else "graph.microsoft.com",
        }

    async def _discovery(self, request: web.Request, *, v2: bool) -> web.Response:
        tenant = request.match_info["tenant"]
        # Inferred, not documented: discovery answers for a tenant of the other cloud too; the token request
        # is what fails.
        tenant_id = self._resolve(tenant)
        if tenant.lower() not in MULTI_TENANT and (tenant_id is None or self._tenant_family(tenant_id) is None):
            return errors.invalid_tenant_discovery(tenant).response(host=self.real_host)
        return web.json_response(self._discovery_doc(request, tenant, v2=v2))

    async def _discovery_v2(self, request: web.Request) -> web.Response:
        return await self._discovery(request, v2=True)

    async def _discovery_v1(self, request: web.Request) -> web.Response:
        return await self._discovery(request, v2=False)

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self._tokens.jwks())

    # --- token ---------------------------------------------------------------------------------

    async def _token_v2(self, request: web.Request) -> web.Response:
        return await self._token(request, v2=True)

    async def _token_v1(self, request: web.Request) -> web.Response:
        return await self._token(request, v2=False)

    async def _token(self, request: web.Request, *, v2: bool) -> web.Response:
        tenant = request.match_info["tenant"]
        counted = self._resolve(tenant) or tenant.lower()  # a domain counts for its tenant
        self._world.counters.token_requests[counted] += 1
        fault = await injected(self.faults, "token", counted, request, self._fault_response)
        if fault is not None:
            return fault
        try:
            form = await read_form(request)
            return self._grant(request, tenant, form, v2=v2)
        except EntraError as exc:
            return exc.response(host=self.real_host)

    def _fault_response(self, status: int, retry_after: int | None) -> web.Response:
        error = {429: "temporarily_unavailable", 503: "temporarily_unavailable"}.get(status, "server_error")
        response = EntraError(status, error, None, "Injected fault.").response(host=self.real_host)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _grant(self, request: web.Request, tenant: str, form: dict[str, str], *, v2: bool) -> web.Response:
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise errors.missing_parameter("grant_type")
        if grant_type != "client_credentials":
            raise errors.unsupported_grant(grant_type)
        tenant_id = self._require_tenant(tenant)
        client_id = form.get("client_id", "")
        if not client_id:
            raise errors.missing_parameter("client_id")
        app = self._app_in_tenant(client_id, tenant_id, tenant)
        resource, kind = self._resource(form, tenant, v2=v2)
        token_urls = self._token_urls(request, tenant) | self._token_urls(request, tenant_id)
        appidacr = authenticate_client(form, app, token_urls=token_urls, tokens=self._tokens)
        roles = self._roles(tenant_id, kind)
        issued = self._tokens.issue(
            tenant_id=tenant_id,
            audience=resource,
            app_id=app.client_id,
            app_display_name=app.display_name,
            roles=roles,
            appidacr=appidacr,
            service_principal_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{app.client_id}")),
        )
        return web.Response(
            text=json.dumps(_token_body(issued, resource, v2=v2)), content_type="application/json", headers=_NO_CACHE
        )

    def _app_in_tenant(self, client_id: str, tenant_id: str, tenant: str) -> AppRegistration:
        app = self._world.apps.get(self._family)
        if app is None or app.client_id.lower() != client_id.lower():
            raise errors.app_not_in_tenant(client_id, tenant)
        spec = self._world.tenant(tenant_id)
        if spec is not None and spec.consent == "none":
            raise errors.app_not_in_tenant(client_id, tenant)
        return app

    def _resource(self, form: dict[str, str], tenant: str, *, v2: bool) -> tuple[str, str]:
        if v2:
            scope = form.get("scope", "").strip()
            if not scope:
                raise errors.missing_parameter("scope")
            scopes = scope.split()
            if len(scopes) != 1 or not scopes[0].endswith("/.default"):
                raise errors.scope_not_default(scope)
            resource = scopes[0][: -len("/.default")]
        else:
            resource = form.get("resource", "").strip()
            if not resource:
                raise errors.missing_parameter("resource")
        kind = RESOURCES[self._family].get(resource.rstrip("/"))
        if kind is None:
            raise errors.unknown_resource(resource, tenant)
        return resource.rstrip("/"), kind

    def _token_urls(self, request: web.Request, tenant: str) -> set[str]:
        """Audiences a client assertion may name: this endpoint (as reached, or by its real host)."""
        urls = set()
        for host in (request.host, self.real_host):
            for t in (tenant, tenant.lower()):
                urls.update({f"https://{host}/{t}/oauth2/v2.0/token", f"https://{host}/{t}/oauth2/token"})
        return urls

    def _roles(self, tenant_id: str, kind: str) -> list[str]:
        spec = self._world.tenant(tenant_id)
        if spec is None:
            return []
        if kind in ("mde", "xdr", "graph"):
            return spec.granted(cast(Resource, kind))
        return []


def _token_body(issued: IssuedToken, resource: str, *, v2: bool) -> dict[str, Any]:
    """Success body: v2 has integers; v1 has strings plus expires_on / not_before / resource."""
    if v2:
        return {
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.access_token,
        }
    return {
        "token_type": "Bearer",
        "expires_in": str(issued.expires_in),
        "ext_expires_in": str(issued.expires_in),
        "expires_on": str(issued.exp),
        "not_before": str(issued.nbf),
        "resource": resource,
        "access_token": issued.access_token,
    }
