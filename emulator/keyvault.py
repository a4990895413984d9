"""Emulated Key Vault (secrets, read only): the bearer challenge, token checks, latest and versioned reads.

The first request of azure-keyvault-secrets carries no token: the vault answers 401 with a
``WWW-Authenticate: Bearer authorization="<login>/<tenant>", resource="https://vault.azure.net"``
challenge, and the client asks its credential for a token for that resource and tenant. The
authorization URL names the *emulated* commercial login host, so a credential that follows the
challenge asks the emulator; clients pass ``verify_challenge_resource=False`` because the vault's
loopback URL is not under ``vault.azure.net``. Access is by tenant: any token of the partner tenant for
the vault audience may read (inferred, not documented: real vaults also check RBAC roles; the relay's
identity holds "Key Vault Secrets User").
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from emulator.entra.tokens import TokenInvalidError, TokenService
from emulator.platform_faults import FaultSource, injected
from emulator.world import World

VAULT_HOST = "relay-kv.vault.azure.net"
VAULT_AUDIENCES = ("https://vault.azure.net", "https://vault.azure.net/")
_CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: a fixed, plausible creation time for every version
_NOT_FOUND_HELP = (
    "If you recently deleted this secret you may be able to recover it using the correct recovery command. "
    "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)


def version_id(name: str, index: int) -> str:
    """Key Vault versions are 32 hex characters; ours are stable per (name, index)."""
    return hashlib.sha256(f"{name}/{index}".encode()).hexdigest()[:32]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


class KeyVaultService:
    def __init__(self, world: World, tokens: TokenService, *, faults: FaultSource | None = None) -> None:
        self._world = world
        self._tokens = tokens
        self.faults = faults

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/secrets/{name}", self._get_secret)
        app.router.add_get("/secrets/{name}/", self._get_secret)
        app.router.add_get("/secrets/{name}/{version}", self._get_secret)
        return app

    def _challenge(self) -> str:
        login = self._world.hosts.get("login.microsoftonline.com", "https://login.microsoftonline.com")
        return f'Bearer authorization="{login}/{self._world.partner_tenant_id}", resource="https://vault.azure.net"'

    def _unauthorized(self, message: str) -> web.Response:
        return _error(401, "Unauthorized", message, {"WWW-Authenticate": self._challenge()})

    def _check_token(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return self._unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
        try:
            claims = self._tokens.verify(header[7:])
        except TokenInvalidError:
            return self._unauthorized("AKV10022: Invalid token: the signature or lifetime is not valid.")
        if claims.get("aud") not in VAULT_AUDIENCES:
            return self._unauthorized("AKV10022: Invalid audience.")
        if claims.get("tid") != self._world.partner_tenant_id:
            return self._unauthorized("AKV10032: Invalid issuer. Expected the vault's tenant.")
        return None

    async def _get_secret(self, request: web.Request) -> web.Response:
        if not request.query.get("api-version"):
            return _error(400, "BadParameter", "The 'api-version' query parameter is missing.")
        refused = self._check_token(request)
        if refused is not None:
            return refused
        fault = await injected(self.faults, "keyvault", None, request, self._fault_response)
        if fault is not None:
            return fault
        name = request.match_info["name"]
        version = request.match_info.get("version") or ""
        values = self._world.secrets.get(name)
        if not values:
            return self._not_found(name)
        if version:
            ids = [version_id(name, i) for i in range(len(values))]
            if version not in ids:
                return self._not_found(f"{name}/{version}")
            index = ids.index(version)
        else:
            index = len(values) - 1
        self._world.counters.keyvault_reads[name] += 1
        return web.json_response(self._bundle(name, index, values[index]))

    def _bundle(self, name: str, index: int, value: str) -> dict[str, object]:
        base = self._world.hosts.get(VAULT_HOST, f"https://{VAULT_HOST}")
        return {
            "value": value,
            "id": f"{base}/secrets/{name}/{version_id(name, index)}",
            "attributes": {
                "enabled": True,
                "created": _CREATED + index,
                "updated": _CREATED + index,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": {},
        }

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return _error(
            404, "SecretNotFound", f"A secret with (name/id) {what} was not found in this key vault. {_NOT_FOUND_HELP}"
        )

    @staticmethod
    def _fault_response(status: int, retry_after: int | None) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        if status == 429:
            return _error(
                429, "Throttled", "Request was not processed because too many requests were received.", headers
            )
        code = "ServiceUnavailable" if status == 503 else "InternalServerError"
        return _error(status, code, "The service encountered an internal error (injected fault).", headers)
