"""Signed access tokens: what the emulated Entra ID issues and the emulated APIs verify.

RS256 with one RSA key per emulator run, published in the JWKS of every tenant as Entra publishes its
keys: ``kid`` and ``x5t`` are the base64url SHA-1 thumbprint of the key's certificate and ``x5c`` holds that
certificate (https://learn.microsoft.com/entra/identity-platform/signing-key-rollover; the keys of
https://login.microsoftonline.com/common/discovery/v2.0/keys have this shape). Claims are the
v1.0 app-only shape that decoded real Defender tokens show, including the ``x5t`` header. The claims:
https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference; why a v1.0 token comes
from the v2 endpoint: https://learn.microsoft.com/entra/identity-platform/access-tokens#token-formats.
Verification results are cached by token string: the same token is presented many times, and the
throughput target (2,000 authenticated requests/s) leaves no room to re-verify RSA signatures on every call.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulator.world import Clock

TOKEN_LIFETIME_SECONDS = 3900  # exp - iat seen on real MDE app tokens
BACKDATE_SECONDS = 300  # Entra backdates iat/nbf about five minutes


class TokenInvalidError(Exception):
    """The bearer token is missing, malformed, badly signed, not yet valid or expired."""


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    """A DER certificate for the signing key, as Entra's JWKS carries one per key (``x5c``)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
    start = datetime.now(UTC) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 2))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    iat: int
    nbf: int
    exp: int


class TokenService:
    def __init__(self, clock: Clock, *, key_size: int = 2048) -> None:
        self._clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        self._public = self._key.public_key()
        self._certificate = _self_signed(self._key)
        thumbprint = hashlib.sha1(self._certificate, usedforsecurity=False).digest()
        self.kid = base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode()
        self._verified: dict[str, dict[str, Any]] = {}

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "x5t": self.kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                    "x5c": [base64.b64encode(self._certificate).decode()],
                }
            ]
        }

    def issue(
        self,
        *,
        tenant_id: str,
        audience: str,
        app_id: str,
        app_display_name: str,
        roles: list[str],
        appidacr: str,
        service_principal_id: str,
    ) -> IssuedToken:
        # Token lifetimes use the real clock: MSAL and the APIs judge expiry by wall time, and the
        # emulated clock only moves the Defender data forward.
        now = int(time.time())
        iat = now - BACKDATE_SECONDS
        exp = iat + TOKEN_LIFETIME_SECONDS
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "aio": base64.b64encode(uuid.uuid4().bytes).decode(),
            "app_displayname": app_display_name,
            "appid": app_id,
            "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{tenant_id}/",
            "oid": service_principal_id,
            "sub": service_principal_id,
            "tid": tenant_id,
            "uti": base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode(),
            "ver": "1.0",
        }
        # No consented roles -> no roles claim at all ("app-only tokens can be issued without a roles claim",
        # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
        if roles:
            claims["roles"] = list(roles)
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})
        # Entra answers expires_in 3599 for an hour's token (the example of the client-credentials page): the
        # second it spent issuing is already gone.
        return IssuedToken(access_token=token, expires_in=exp - now - 1, iat=iat, nbf=iat, exp=exp)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a token this emulator signed; raise TokenInvalidError otherwise."""
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token,
                    self._public,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
                )
            except jwt.PyJWTError as exc:
                raise TokenInvalidError(f"invalid token: {exc}") from exc
            if len(self._verified) > 50_000:
                self._verified.clear()
            self._verified[token] = claims
        now = time.time()
        if now >= float(claims["exp"]):
            raise TokenInvalidError("token expired")
        if now < float(claims["nbf"]) - 60:
            raise TokenInvalidError("token not yet valid")
        return claims

    def private_key_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
