"""The relay's own API in the partner tenant: its app registration, its callers, the tokens Entra issues.

An MSSP registers an API app for the relay (App ID URI ``api://{client id}``, app roles ``Relay.*``) and
assigns app roles to each caller: an app registration using client credentials (a SOAR tool) or a
managed identity (a Logic App). Their tokens come from the partner tenant's token endpoint and the
identity endpoint, in the version the API's ``accessTokenAcceptedVersion`` asks for, from either endpoint
version (https://learn.microsoft.com/entra/identity-platform/access-tokens#token-formats):

- v1.0: ``iss`` ``https://sts.windows.net/{tid}/``, ``aud`` the resource as requested (App ID URI or client
  id), ``appid`` / ``appidacr``, ``ver`` ``1.0``;
- v2.0: ``iss`` ``https://login.microsoftonline.com/{tid}/v2.0``, ``aud`` always the API's client id,
  ``azp`` / ``azpacr``, ``ver`` ``2.0``;

both with ``oid``/``sub`` (the caller's principal), ``tid``, ``idtyp`` ``app`` and the assigned ``roles``
(claims: https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).

Control routes (loopback, docs/contracts.md §1.5): ``GET|PATCH /_emulator/relay-api`` (``token_version``),
``POST /_emulator/relay-api/callers`` (``display_name``, ``roles``, ``kind`` app | managed-identity), ``PATCH
/_emulator/relay-api/callers/{client_id}`` (``roles``), and ``POST /_emulator/entra/signing-keys/rotate``.
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import secrets
import time
import uuid
from typing import Any

from aiohttp import web

from emulator.entra import errors
from emulator.entra.tokens import BACKDATE_SECONDS, TOKEN_LIFETIME_SECONDS, IssuedToken, TokenService
from emulator.world import ApiCaller, RelayApi, World

APP_ROLES = ["Relay.Read", "Relay.Respond", "Relay.Triage", "Relay.Hunt", "Relay.Indicators", "Relay.Admin"]
_NO_CACHE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def create_relay_api(world: World) -> RelayApi:
    """Register the relay API in the partner tenant (ids seeded by ``--seed``, like the partner apps)."""
    rng = random.Random(f"relay-api-{world.seed}")
    client_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    world.relay_api = RelayApi(client_id=client_id, app_id_uri=f"api://{client_id}", app_roles=list(APP_ROLES))
    return world.relay_api


def relay_api_json(api: RelayApi) -> dict[str, Any]:
    """The ``relay_api`` section of emulator.json (no caller secrets: callers are made by the tests)."""
    return {
        "client_id": api.client_id,
        "app_id_uri": api.app_id_uri,
        "app_roles": list(api.app_roles),
        "token_version": api.token_version,
    }


def caller_json(caller: ApiCaller) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": caller.kind, "client_id": caller.client_id, "object_id": caller.object_id,
        "display_name": caller.display_name, "roles": list(caller.roles),
    }  # fmt: skip
    if caller.kind == "app":
        body["client_secret"] = caller.secret
    else:
        body["identity_header"] = caller.identity_header
    return body


def issue(world: World, tokens: TokenService, caller: ApiCaller, *, audience: str, acr: str) -> IssuedToken:
    """A token for the relay API in the partner tenant, in the API's accepted version."""
    api = world.relay_api
    assert api is not None
    tenant = world.partner_tenant_id
    now = int(time.time())  # real time, as for every other token (emulator/entra/tokens.py)
    iat = now - BACKDATE_SECONDS
    exp = iat + TOKEN_LIFETIME_SECONDS
    claims: dict[str, Any] = {
        "iat": iat, "nbf": iat, "exp": exp, "tid": tenant, "oid": caller.object_id, "sub": caller.object_id,
        "idtyp": "app", "uti": base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode(),
    }  # fmt: skip
    if api.token_version == 2:
        claims.update(
            aud=api.client_id, iss=f"https://login.microsoftonline.com/{tenant}/v2.0", azp=caller.client_id,
            azpacr=acr, ver="2.0",
        )  # fmt: skip
    else:
        claims.update(
            aud=audience, iss=f"https://sts.windows.net/{tenant}/", appid=caller.client_id, appidacr=acr,
            app_displayname=caller.display_name, ver="1.0",
        )  # fmt: skip
    if caller.roles:
        claims["roles"] = list(caller.roles)
    return IssuedToken(access_token=tokens.sign(claims), expires_in=exp - now, iat=iat, nbf=iat, exp=exp)


def _audience(api: RelayApi, requested: str) -> str | None:
    """The resource as requested, if it names the relay API (its App ID URI or its client id)."""
    resource = requested.strip().rstrip("/")
    return resource if resource in (api.app_id_uri, api.client_id, f"api://{api.client_id}") else None


def grant(
    world: World, tokens: TokenService, form: dict[str, str], tenant_id: str, *, v2: bool
) -> dict[str, Any] | None:
    """The token body for a caller app's client-credentials request, or None when the client is not one."""
    api = world.relay_api
    caller = api.callers.get(form.get("client_id", "").lower()) if api is not None else None
    if api is None or caller is None or caller.kind != "app" or tenant_id != world.partner_tenant_id:
        return None
    secret = form.get("client_secret")
    if not secret:
        raise errors.missing_credential()
    if not hmac.compare_digest(secret.encode(), caller.secret.encode()):
        raise errors.wrong_secret(caller.client_id)
    if v2:
        scope = form.get("scope", "").strip()
        if not scope.endswith("/.default") or " " in scope:
            raise errors.scope_not_default(scope)
        requested = scope[: -len("/.default")]
    else:
        requested = form.get("resource", "")
    audience = _audience(api, requested)
    if audience is None:
        raise errors.unknown_resource(requested, tenant_id)
    issued = issue(world, tokens, caller, audience=audience, acr="1")
    body: dict[str, Any] = {"token_type": "Bearer", "access_token": issued.access_token}
    if v2:
        return {**body, "expires_in": issued.expires_in, "ext_expires_in": issued.expires_in}
    return {**body, "expires_in": str(issued.expires_in), "expires_on": str(issued.exp), "resource": audience}


def identity_token(world: World, tokens: TokenService, request: web.Request) -> web.Response | None:
    """A caller managed identity's token at the identity endpoint, or None when the request is not one's."""
    api = world.relay_api
    caller = api.callers.get(request.query.get("client_id", "").lower()) if api is not None else None
    if api is None or caller is None or caller.kind != "managed-identity":
        return None
    presented = request.headers.get("X-IDENTITY-HEADER", "")
    if not hmac.compare_digest(presented.encode(), caller.identity_header.encode()):
        return _identity_error(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
    audience = _audience(api, request.query.get("resource", "").removesuffix("/.default"))
    if audience is None:
        return _identity_error(400, "The resource is not the relay API (its App ID URI or client id).")
    issued = issue(world, tokens, caller, audience=audience, acr="2")
    world.counters.managed_identity_tokens += 1
    return web.json_response(
        {
            "access_token": issued.access_token,
            "expires_on": str(issued.exp),
            "resource": audience,
            "token_type": "Bearer",
            "client_id": caller.client_id,
        }
    )


def _identity_error(status: int, message: str) -> web.Response:
    body = json.dumps({"statusCode": status, "message": message, "correlationId": "emulator"})
    return web.Response(status=status, text=body, content_type="application/json")


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _roles(api: RelayApi, body: dict[str, Any]) -> list[str] | str:
    """The roles of a request body, or the error message naming what is wrong."""
    roles = body.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return "roles must be a list of app role values"
    unknown = [r for r in roles if r not in api.app_roles and not r.startswith("Relay.Scope.")]
    return f"roles {unknown} are not app roles of the relay API {api.app_roles}" if unknown else list(roles)


def control_routes(world: World, tokens: TokenService) -> list[web.RouteDef]:
    async def describe(request: web.Request) -> web.Response:
        assert world.relay_api is not None
        body = relay_api_json(world.relay_api)
        body["callers"] = [caller_json(c) for c in world.relay_api.callers.values()]
        return web.json_response(body)

    async def patch(request: web.Request) -> web.Response:
        api, body = world.relay_api, await _body(request)
        assert api is not None
        version = body.get("token_version")
        if version not in (1, 2):
            return _bad(f"token_version must be 1 or 2, got {version!r}")
        api.token_version = int(version)
        return web.json_response(relay_api_json(api))

    async def add_caller(request: web.Request) -> web.Response:
        api, body = world.relay_api, await _body(request)
        assert api is not None
        kind, name, roles = body.get("kind", "app"), body.get("display_name"), _roles(api, body)
        if kind not in ("app", "managed-identity"):
            return _bad(f"kind must be app or managed-identity, got {kind!r}")
        if not isinstance(name, str) or not name.strip():
            return _bad("display_name is required")
        if isinstance(roles, str):
            return _bad(roles)
        caller = ApiCaller(
            kind=kind, client_id=str(uuid.uuid4()), object_id=str(uuid.uuid4()), display_name=name.strip(),
            roles=roles, secret=_client_secret() if kind == "app" else "",
            identity_header=secrets.token_hex(16) if kind == "managed-identity" else "",
        )  # fmt: skip
        api.callers[caller.client_id] = caller
        return web.json_response(caller_json(caller), status=201)

    async def patch_caller(request: web.Request) -> web.Response:
        api, body = world.relay_api, await _body(request)
        assert api is not None
        caller = api.callers.get(request.match_info["client_id"].lower())
        if caller is None:
            return web.json_response({"error": "no such caller of the relay API"}, status=404)
        roles = _roles(api, body)
        if isinstance(roles, str):
            return _bad(roles)
        caller.roles = roles
        return web.json_response(caller_json(caller))

    async def rotate(request: web.Request) -> web.Response:
        previous = tokens.kid
        return web.json_response({"kid": tokens.rotate_signing_key(), "previous_kid": previous})

    prefix = "/_emulator"
    return [
        web.get(f"{prefix}/relay-api", describe),
        web.patch(f"{prefix}/relay-api", patch),
        web.post(f"{prefix}/relay-api/callers", add_caller),
        web.patch(f"{prefix}/relay-api/callers/{{client_id}}", patch_caller),
        web.post(f"{prefix}/entra/signing-keys/rotate", rotate),
    ]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body must be a JSON object"}), content_type="application/json"
        )
    return body


def _client_secret() -> str:
    # The shape of an Entra client secret (see emulator/partner.py): random per caller, never a constant.
    return secrets.token_urlsafe(6)[:3] + "8Q~" + secrets.token_urlsafe(27)[:34]


def token_response(body: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(body), content_type="application/json", headers=_NO_CACHE)
