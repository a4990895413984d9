"""From a request's headers to a ``Caller``: an Entra ID bearer token, a function key, or the operator CLI.

``RELAY_HTTP_AUTH`` picks the mode (docs/http-api.md §Authentication):

- ``key``: the Functions host checks the function key before Python runs; ``KeyAuthenticator`` names the
  caller by its declared ``X-Relay-Caller`` and a fingerprint of the key, with every role and tenant.
- ``entra``: the routes are anonymous at the host and ``EntraAuthenticator`` requires a valid bearer token.
- ``either``: the host still checks a function key (the Python worker cannot make it optional), and a
  request that also carries a bearer token is the token's caller, with the token's roles and scope. A
  token that fails validation is refused; it never falls back to the key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Final, Protocol

from shared.callers.identity import AuthKind, Caller, trusted_caller
from shared.callers.roles import ALL_ROLES
from shared.callers.scope import NO_TENANT, scope_from_roles
from shared.callers.store import CallerDirectory, CallerEntry
from shared.callers.tokens import CallerToken, TokenValidator
from shared.domain.errors import CallerAuthenticationError

CALLER_HEADER: Final = "x-relay-caller"
_DECLARED: Final = re.compile(r"[\x20-\x7e]{1,128}")
_BEARER_HINT: Final = "send Authorization: Bearer <token> issued for the relay API's App ID URI"


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str], params: Mapping[str, str]) -> Caller:
        """The caller, or ``CallerAuthenticationError`` (401). ``headers`` have lower-case names."""


def key_caller_name(headers: Mapping[str, str], params: Mapping[str, str]) -> str:
    """The caller's declared name (``X-Relay-Caller``) plus a fingerprint of the function key used.

    The Python worker does not receive the host's key-id claim (``…/claims/keyid``, a .NET-only
    ClaimsPrincipal), so the key is identified by a short SHA-256 fingerprint: enough to tell keys
    apart in the audit trail, useless to an attacker. The declared name is not proven by anything.
    """
    declared = headers.get(CALLER_HEADER, "").strip()
    name = declared if _DECLARED.fullmatch(declared) else ("invalid-caller-header" if declared else "anonymous")
    key = headers.get("x-functions-key") or params.get("code")
    if key:
        return f"{name} (key {hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]})"
    return name


class KeyAuthenticator:
    """A caller the host already let in by its function key (or the operator CLI): every role and tenant."""

    def __init__(self, auth: AuthKind = "function-key") -> None:
        self._auth: AuthKind = auth

    def authenticate(self, headers: Mapping[str, str], params: Mapping[str, str]) -> Caller:
        return trusted_caller(key_caller_name(headers, params), self._auth)


class EntraAuthenticator:
    """Bearer tokens of the partner tenant for the relay API; scopes from the caller table and scope roles."""

    def __init__(self, *, validator: TokenValidator, callers: CallerDirectory, allow_keys: bool) -> None:
        self._validator = validator
        self._callers = callers
        self._keys = KeyAuthenticator() if allow_keys else None

    @property
    def validator(self) -> TokenValidator:
        return self._validator

    def authenticate(self, headers: Mapping[str, str], params: Mapping[str, str]) -> Caller:
        header = headers.get("authorization")
        if header is None or not header.strip():
            if self._keys is not None:
                return self._keys.authenticate(headers, params)
            raise CallerAuthenticationError(f"a bearer token is required: {_BEARER_HINT}")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise CallerAuthenticationError(
                f"the Authorization header is not a bearer token: {_BEARER_HINT}", token_presented=True
            )
        claims = self._validator.validate(token.strip())
        entry = self._entry(claims)
        scope = (entry.scope if entry is not None else NO_TENANT).union(scope_from_roles(claims.roles))
        return Caller(
            name=(entry.display_name if entry is not None and entry.display_name else claims.display_name),
            auth="entra",
            roles=claims.roles & ALL_ROLES,
            scope=scope,
            app_id=claims.app_id,
            object_id=claims.object_id,
        )

    def _entry(self, claims: CallerToken) -> CallerEntry | None:
        # The object id names one principal (a managed identity, a service principal, a user), the app id
        # every principal of that app: the narrower entry wins.
        return self._callers.find(*(c for c in (claims.object_id, claims.app_id) if c))
