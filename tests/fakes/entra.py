"""An in-memory Entra ID for the relay's caller tokens: the partner tenant's OpenID metadata and JWKS,
signing keys that can roll over, and tokens of either version signed with them (or forged).

``FakeEntra.fetch`` is the ``JsonFetcher`` the relay's ``SigningKeys`` reads through; it counts every
document served, so tests can assert how often the keys were fetched.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.callers.authenticator import EntraAuthenticator
from shared.callers.keys import SigningKeys
from shared.callers.store import CallerEntry
from shared.callers.tokens import TokenValidator

PARTNER = "99999999-8888-4777-8666-555555555555"
APP_ID_URI = "api://relay-test"
API_CLIENT_ID = "77777777-6666-4555-8444-333333333333"
LOGIN = "https://login.microsoftonline.com"
SOAR_APP = "12121212-3434-4565-8787-909090909090"
SOAR_OID = "abababab-cdcd-4efe-8f0f-121212121212"


def _b64(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class FakeEntra:
    def __init__(self) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self.kid = ""
        self.rotate()
        self.served: Counter[str] = Counter()  # "metadata-v1", "metadata-v2", "jwks"
        self.down = False
        self.issued: list[str] = []  # every token made, for the log guard

    def rotate(self) -> str:
        self.kid = uuid.uuid4().hex[:27]
        self._keys[self.kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.kid

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return self._keys[self.kid]

    def fetch(self, url: str) -> Mapping[str, Any]:
        if self.down:
            raise OSError("connection refused")
        if url == f"{LOGIN}/{PARTNER}/v2.0/.well-known/openid-configuration":
            self.served["metadata-v2"] += 1
            return {"issuer": f"{LOGIN}/{PARTNER}/v2.0", "jwks_uri": f"{LOGIN}/{PARTNER}/discovery/v2.0/keys"}
        if url == f"{LOGIN}/{PARTNER}/.well-known/openid-configuration":
            self.served["metadata-v1"] += 1
            return {"issuer": f"https://sts.windows.net/{PARTNER}/", "jwks_uri": f"{LOGIN}/{PARTNER}/discovery/keys"}
        if url.endswith("/keys"):
            self.served["jwks"] += 1
            return {"keys": [self._jwk(kid, key) for kid, key in self._keys.items()]}
        raise OSError(f"404 for {url}")

    @staticmethod
    def _jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, str]:
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": _b64(numbers.n), "e": _b64(numbers.e)}

    def claims(self, *, version: str = "1.0", roles: list[str] | None = None, **change: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {"iat": now - 300, "nbf": now - 300, "exp": now + 3600, "tid": PARTNER,
                                "oid": SOAR_OID, "sub": SOAR_OID, "idtyp": "app", "ver": version,
                                "uti": uuid.uuid4().hex}  # fmt: skip
        if version == "2.0":
            base.update(aud=API_CLIENT_ID, iss=f"{LOGIN}/{PARTNER}/v2.0", azp=SOAR_APP, azpacr="1")
        else:
            base.update(aud=APP_ID_URI, iss=f"https://sts.windows.net/{PARTNER}/", appid=SOAR_APP, appidacr="1",
                        app_displayname="SOAR EMEA")  # fmt: skip
        if roles is not None:
            base["roles"] = roles
        base.update(change)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self, *, kid: str | None = None, key: Any = None, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        raw = jwt.encode(
            self.claims(**claims), key or self._keys[kid or self.kid], algorithm="RS256",
            headers={"kid": kid or self.kid, **(header or {})},
        )  # fmt: skip
        self.issued.append(raw)
        return raw

    def unsigned(self, header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
        """A token with any header (alg none, HS256...) and an arbitrary signature part."""

        def part(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        raw = ".".join((part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)))
        self.issued.append(raw)
        return raw

    def signing_keys(self, **kw: Any) -> SigningKeys:
        return SigningKeys(tenant_id=PARTNER, login_base=LOGIN, fetch=self.fetch, **kw)

    def validator(self, **kw: Any) -> TokenValidator:
        return TokenValidator(tenant_id=PARTNER, audiences=[APP_ID_URI, API_CLIENT_ID], keys=self.signing_keys(**kw))

    def authenticator(self, callers: FakeCallers | None = None, *, allow_keys: bool = False) -> EntraAuthenticator:
        return EntraAuthenticator(validator=self.validator(), callers=callers or FakeCallers(), allow_keys=allow_keys)


class FakeCallers:
    """The caller table in memory, counting lookups."""

    def __init__(self, *entries: CallerEntry) -> None:
        self.entries = {e.caller_id: e for e in entries}
        self.lookups = 0

    def find(self, *caller_ids: str) -> CallerEntry | None:
        self.lookups += 1
        return next((self.entries[c] for c in caller_ids if c in self.entries), None)
