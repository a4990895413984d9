"""Client authentication at the emulated token endpoint: secret, certificate assertion, federated assertion.

Returns the ``appidacr`` the token will carry: ``"1"`` for a client secret, ``"2"`` for a client
assertion (certificate or federated credential); see
https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Collection, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from emulator.entra import errors
from emulator.entra.tokens import TokenInvalidError, TokenService
from emulator.world import AppRegistration

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
_ASSERTION_ALGORITHMS = ["RS256", "PS256"]  # MSAL signs PS256 with x5t#S256, RS256 with x5t


def authenticate_client(
    form: Mapping[str, str],
    app: AppRegistration,
    *,
    token_urls: Collection[str],
    tokens: TokenService,
) -> str:
    """Check the credential in the token request form; return appidacr or raise EntraError."""
    secret = form.get("client_secret")
    if secret:
        return _check_secret(secret, app)
    assertion = form.get("client_assertion")
    if not assertion:
        raise errors.missing_credential()
    if form.get("client_assertion_type") != JWT_BEARER:
        raise errors.missing_parameter("client_assertion_type")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise errors.bad_assertion("The assertion is not a JWT.") from exc
    if tokens.signs_with(header.get("kid")):
        _check_federated(assertion, app, tokens)
    else:
        _check_certificate(assertion, header, app, token_urls)
    return "2"


def _check_secret(secret: str, app: AppRegistration) -> str:
    if hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        return "1"
    if hmac.compare_digest(secret.encode(), app.expired_client_secret.encode()):
        raise errors.expired_secret(app.client_id)
    raise errors.wrong_secret(app.client_id)


def _b64url_thumbprint(hex_thumbprint: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_thumbprint)).rstrip(b"=").decode()


def _check_certificate(
    assertion: str, header: Mapping[str, Any], app: AppRegistration, token_urls: Collection[str]
) -> None:
    # MSAL keeps the base64 "=" padding, the JOSE spec drops it: compare without.
    x5t, x5t_s256 = (str(header.get(name) or "").rstrip("=") for name in ("x5t", "x5t#S256"))
    known = (x5t and x5t == _b64url_thumbprint(app.thumbprint)) or (
        x5t_s256 and x5t_s256 == _b64url_thumbprint(app.thumbprint_sha256)
    )
    if not known:
        raise errors.bad_assertion(
            f"No certificate with the presented thumbprint is registered on app '{app.client_id}'."
        )
    try:
        claims = jwt.decode(
            assertion,
            load_pem_public_key(app.public_key_pem),  # type: ignore[arg-type]
            algorithms=_ASSERTION_ALGORITHMS,
            audience=list(token_urls),
            options={"require": ["exp", "aud", "iss", "sub"]},
            leeway=300,
        )
    except jwt.InvalidAudienceError as exc:
        raise errors.bad_assertion("The assertion audience is not this token endpoint.") from exc
    except jwt.ExpiredSignatureError as exc:
        raise errors.bad_assertion("The assertion has expired.") from exc
    except jwt.PyJWTError as exc:
        raise errors.bad_assertion("The signature does not match the registered certificate.") from exc
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise errors.bad_assertion("The assertion iss and sub must be the client id.")


def _check_federated(assertion: str, app: AppRegistration, tokens: TokenService) -> None:
    """A managed identity token (audience api://AzureADTokenExchange) used as the app's credential."""
    try:
        claims = tokens.verify(assertion)
    except TokenInvalidError as exc:
        raise errors.bad_assertion("The federated assertion is not valid.") from exc
    subject, audience = str(claims.get("oid", "")), str(claims.get("aud", ""))
    if (
        audience != FEDERATION_AUDIENCE
        or claims.get("tid") != app.home_tenant_id
        or subject not in app.federated_subjects
    ):
        raise errors.no_federated_match(subject, audience)
