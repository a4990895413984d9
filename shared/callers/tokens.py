"""Entra ID bearer tokens for the relay's own API, validated by the relay itself with PyJWT.

What a token must be (https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens,
docs/microsoft-apis.md §Tokens for the relay's own API):

- a compact JWT of at most 8,192 characters, header ``alg`` RS256 (nothing else: ``none`` and HS256 are
  refused before any key is looked at, so a public key can never be used as an HMAC secret) with a ``kid``;
- ``ver`` 1.0 or 2.0; signed by a key of the partner tenant's metadata for that version, and issued by
  that metadata's ``issuer`` (v1.0 ``https://sts.windows.net/{tid}/``, v2.0
  ``https://login.microsoftonline.com/{tid}/v2.0``);
- ``aud`` the relay API's App ID URI (v1.0 tokens) or its client id (v2.0 tokens always carry the client id);
- ``exp`` and ``nbf`` within ``LEEWAY_SECONDS`` of our clock; ``tid`` the partner tenant.

Every failure is a ``CallerAuthenticationError`` whose message says which check failed and never quotes
the token. A token that passed is remembered (by its exact text, up to ``ACCEPTED_CACHE`` of them) until it
expires: a caller sends the same token for its hour, and parsing and verifying it again on every request
would cost more than the rest of the request's own work; only the expiry is checked again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import jwt

from shared.callers.keys import SigningKeys, TokenVersion
from shared.domain.errors import CallerAuthenticationError

MAX_TOKEN_CHARS: Final = 8192
ALGORITHM: Final = "RS256"
LEEWAY_SECONDS: Final = 120  # clock skew allowed on exp and nbf
ACCEPTED_CACHE: Final = 4096
_COMPACT: Final = re.compile(r"[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_VERSIONS: Final[dict[str, TokenVersion]] = {"1.0": "1.0", "2.0": "2.0"}


@dataclass(frozen=True)
class CallerToken:
    """The claims of a validated token that the relay uses."""

    version: TokenVersion
    tenant_id: str
    app_id: str  # appid (v1.0) or azp (v2.0): the client application
    object_id: str  # oid: the service principal, managed identity or user
    display_name: str
    roles: frozenset[str]
    delegated: bool  # a user's token (it has scp) rather than an app-only one


class TokenValidator:
    def __init__(
        self,
        *,
        tenant_id: str,
        audiences: Sequence[str],
        keys: SigningKeys,
        clock: Callable[[], float] = time.time,  # judges exp and nbf, of fresh and remembered tokens alike
        leeway_seconds: int = LEEWAY_SECONDS,
    ) -> None:
        if not audiences:
            raise ValueError("at least one audience (the relay API's App ID URI) is needed")
        self._tenant_id = tenant_id.lower()
        self._audiences = list(audiences)
        self._keys = keys
        self._clock = clock
        self._leeway = leeway_seconds
        self._accepted: dict[str, tuple[CallerToken, float]] = {}  # token -> (claims, exp)

    @property
    def keys(self) -> SigningKeys:
        return self._keys

    def validate(self, raw: str) -> CallerToken:
        if len(raw) > MAX_TOKEN_CHARS:
            raise _refused(f"it is {len(raw):,} characters long; the limit is {MAX_TOKEN_CHARS:,}")
        hit = self._accepted.get(raw)
        if hit is not None:
            if self._clock() > hit[1] + self._leeway:
                self._accepted.pop(raw, None)
                raise _refused("it has expired (exp)")
            return hit[0]
        version, kid = self._shape(raw)
        key = self._keys.key(version, kid)
        if key is None:
            raise _refused("its signing key (kid) is not one the partner tenant publishes")
        claims = self._decode(raw, key, self._keys.issuer(version))
        tenant = claims.get("tid")
        if not isinstance(tenant, str) or tenant.lower() != self._tenant_id:
            raise _refused("it was not issued by the partner tenant (tid)")
        accepted = _caller_token(version, claims)
        if len(self._accepted) >= ACCEPTED_CACHE:
            self._accepted.clear()  # bounded; a busy minute refills it with the tokens in use
        self._accepted[raw] = (accepted, float(claims["exp"]))
        return accepted

    def _shape(self, raw: str) -> tuple[TokenVersion, str]:
        """Checks that need no key: size, form, algorithm, key id, version."""
        if not _COMPACT.fullmatch(raw):
            raise _refused("it is not a JSON Web Token (three base64url parts)")
        try:  # one parse for the header and the unverified version (PyJWT's segment parsing is not cheap)
            parts = jwt.decode_complete(raw, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _refused("its header or claims are not valid JSON") from None
        header, unverified = parts["header"], parts["payload"]
        if header.get("alg") != ALGORITHM:
            raise _refused(f"its algorithm {str(header.get('alg'))[:16]!r} is not accepted (RS256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 128:
            raise _refused("it names no signing key (kid)")
        version = _VERSIONS.get(str(unverified.get("ver")))
        if version is None:
            raise _refused(f"its version {str(unverified.get('ver'))[:16]!r} is not accepted (1.0 or 2.0)")
        return version, kid

    def _decode(self, raw: str, key: Any, issuer: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                key,
                algorithms=[ALGORITHM],
                audience=self._audiences,
                issuer=issuer,
                # The times are judged below by this validator's clock, the one remembered tokens are judged by.
                options={"require": ["exp", "nbf", "iss", "aud", "tid"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False},
            )  # fmt: skip
        except jwt.InvalidAudienceError:
            raise _refused("its audience (aud) is not this API's App ID URI or client id") from None
        except jwt.InvalidIssuerError:
            raise _refused("its issuer (iss) is not the partner tenant's for this token version") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _refused(f"it lacks the {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise _refused("its signature does not verify") from None
        except jwt.PyJWTError:
            raise _refused("it is malformed") from None
        self._check_times(claims)
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        exp, nbf = claims["exp"], claims["nbf"]
        if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in (exp, nbf)):
            raise _refused("its exp or nbf is not a number of seconds")
        now = self._clock()
        if now > exp + self._leeway:
            raise _refused("it has expired (exp)")
        if now < nbf - self._leeway:
            raise _refused("it is not valid yet (nbf)")


def _caller_token(version: TokenVersion, claims: dict[str, Any]) -> CallerToken:
    app_id = _text(claims.get("appid") if version == "1.0" else claims.get("azp")).lower()
    object_id = _text(claims.get("oid")).lower()
    roles = claims.get("roles")
    names = (claims.get(n) for n in ("app_displayname", "name", "preferred_username", "upn"))
    return CallerToken(
        version=version,
        tenant_id=_text(claims.get("tid")).lower(),
        app_id=app_id,
        object_id=object_id,
        display_name=next((_text(n) for n in names if _text(n)), "") or app_id or object_id,
        roles=frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset(),
        delegated="scp" in claims,
    )


def _text(value: object) -> str:
    return value.strip()[:256] if isinstance(value, str) else ""


def _refused(why: str) -> CallerAuthenticationError:
    return CallerAuthenticationError(f"the bearer token is not accepted: {why}", token_presented=True)
