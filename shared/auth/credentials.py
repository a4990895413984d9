"""The partner app's credential per cloud, and where secrets come from.

Secrets come from Key Vault through the Function App's identity (``DefaultAzureCredential``, pinned to
the user-assigned identity when one is configured). In development ``RELAY_CREDENTIALS_FROM_ENV=1``
reads ``RELAY_SECRET_<NAME>`` instead, so tests run without a vault. A credential is one of:

- ``certificate:<secret>``: PEM with certificate + private key (or a PKCS#12 bundle, base64, which is
  what Key Vault returns for a certificate imported as PFX). MSAL signs the assertion with SHA-256/PS256
  when given the public certificate (docs/microsoft-apis.md §MSAL).
- ``secret:<secret>``: a client secret.
- ``federated``: no secret at all: a user-assigned managed identity token for the token-exchange audience
  is the client assertion (docs/microsoft-apis.md §Federated credential). The identity and the app must live in the
  same cloud, so the US Gov app can only use it when the relay itself runs in Azure Government.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from shared.domain.clouds import AppFamily
from shared.platform.secrets import SecretReader, SecretUnavailableError
from shared.platform.settings import AppSettings

# Token-exchange audiences per cloud (docs/microsoft-apis.md §Federated credential).
FEDERATION_AUDIENCE = {
    AppFamily.COMMERCIAL: "api://AzureADTokenExchange",
    AppFamily.USGOV: "api://AzureADTokenExchangeUSGov",
}


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


MsalCredential = str | dict[str, Any]


def msal_credential(
    app: AppSettings,
    secrets: SecretReader,
    *,
    assertion_factory: Callable[[str], Callable[[], str]],
) -> MsalCredential:
    """The ``client_credential`` MSAL takes for the app, built from its CredentialSpec."""
    spec = app.credential
    if spec.kind == "federated":
        return {"client_assertion": assertion_factory(FEDERATION_AUDIENCE[app.family])}
    assert spec.secret_name is not None  # Settings guarantees a name for certificate/secret
    value = secrets.get_secret(spec.secret_name)
    if spec.kind == "secret":
        return value
    return certificate_credential(value, secret_name=spec.secret_name)


def certificate_credential(value: str, *, secret_name: str) -> dict[str, Any]:
    """MSAL's certificate dict from PEM (cert + key) or base64 PKCS#12. Raises naming the secret, not its value."""
    blocks = {m.group(1): m.group(0) for m in _PEM_BLOCK.finditer(value)}
    key_pem = next((v for k, v in blocks.items() if k.endswith("PRIVATE KEY")), None)
    cert_pem = blocks.get("CERTIFICATE")
    if key_pem is None and cert_pem is None:
        key_pem, cert_pem = _from_pkcs12(value, secret_name)
    if key_pem is None or cert_pem is None:
        raise SecretUnavailableError(f"secret '{secret_name}' must hold both the certificate and its private key")
    try:
        serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise SecretUnavailableError(f"secret '{secret_name}' holds an unreadable or encrypted private key") from None
    return {"private_key": key_pem, "public_certificate": cert_pem}


def _from_pkcs12(value: str, secret_name: str) -> tuple[str | None, str | None]:
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(value, validate=True), None)
    except (ValueError, binascii.Error):
        raise SecretUnavailableError(
            f"secret '{secret_name}' is neither PEM (certificate + key) nor a base64 PKCS#12 bundle"
        ) from None
    if key is None or cert is None:
        return None, None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem.decode(), cert.public_bytes(serialization.Encoding.PEM).decode()


def managed_identity_assertions(client_id: str | None) -> Callable[[str], Callable[[], str]]:
    """Factory of client-assertion callables backed by the user-assigned identity (token cached by azure-identity)."""
    from azure.identity import ManagedIdentityCredential

    credential = ManagedIdentityCredential(client_id=client_id)

    def for_audience(audience: str) -> Callable[[], str]:
        def assertion() -> str:
            token: str = credential.get_token(audience + "/.default").token
            return token

        return assertion

    return for_audience
