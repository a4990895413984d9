"""The partner app's credential per cloud, and where secrets come from.

Secrets come from Key Vault through the Function App's identity (``DefaultAzureCredential``, pinned to
the user-assigned identity when one is configured). In development ``RELAY_CREDENTIALS_FROM_ENV=1``
reads ``RELAY_SECRET_<NAME>`` instead, so tests run without a vault. A credential is one of:

- ``certificate:<secret>``: PEM with certificate + private key (or a PKCS#12 bundle, base64, which is
  what Key Vault returns for a certificate imported as PFX). MSAL signs the assertion with SHA-256/PS256
  when given the public certificate (reference azure-functions §5.2).
- ``secret:<secret>``: a client secret.
- ``federated``: no secret at all: a user-assigned managed identity token for the token-exchange audience
  is the client assertion (reference azure-functions §5.4). The identity and the app must live in the
  same cloud, so the US Gov app can only use it when the relay itself runs in Azure Government.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from shared.clouds import AppFamily, is_overridden, rewrite_url
from shared.config import SECRET_ENV_PREFIX, AppSettings, Settings
from shared.errors import RelayError

# Token-exchange audiences per cloud (reference azure-functions §5.4).
FEDERATION_AUDIENCE = {
    AppFamily.COMMERCIAL: "api://AzureADTokenExchange",
    AppFamily.USGOV: "api://AzureADTokenExchangeUSGov",
}
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)
_SECRET_CACHE_SECONDS = 3600.0  # rotation is picked up within an hour without a restart

MsalCredential = str | dict[str, Any]


class SecretUnavailableError(RelayError):
    """A named secret could not be read. ``transient`` says whether retrying later may help."""

    kind = "secret-unavailable"

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class SecretReader(Protocol):
    def get_secret(self, name: str) -> str: ...


class EnvSecretReader:
    """Development: secret ``commercial-app-secret`` is env var ``RELAY_SECRET_COMMERCIAL_APP_SECRET``."""

    def __init__(self, env_secrets: Mapping[str, str]) -> None:
        self._env = dict(env_secrets)

    @staticmethod
    def variable(name: str) -> str:
        return SECRET_ENV_PREFIX + name.upper().replace("-", "_")

    def get_secret(self, name: str) -> str:
        value = self._env.get(self.variable(name))
        if not value:
            raise SecretUnavailableError(f"{self.variable(name)} is not set (RELAY_CREDENTIALS_FROM_ENV=1)")
        return value


class KeyVaultSecretReader:
    """Reads secrets with the azure-keyvault-secrets client; values are cached for an hour."""

    def __init__(self, vault_url: str, credential: TokenCredential, *, overrides: Mapping[str, str]) -> None:
        from azure.keyvault.secrets import SecretClient

        self._vault = vault_url
        # The challenge check must stay on in production; it can only pass for a real vault host, so it is
        # off only when the vault host is rewritten to a local stand-in (reference azure-functions §7).
        self._client = SecretClient(
            vault_url=rewrite_url(vault_url, overrides),
            credential=credential,
            verify_challenge_resource=not is_overridden(vault_url, overrides),
        )
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_secret(self, name: str) -> str:
        with self._lock:
            cached = self._cache.get(name)
        if cached and time.monotonic() - cached[0] < _SECRET_CACHE_SECONDS:
            return cached[1]
        value = self._read(name)
        with self._lock:
            self._cache[name] = (time.monotonic(), value)
        return value

    def _read(self, name: str) -> str:
        where = f"secret '{name}' in Key Vault {self._vault}"
        try:
            value = self._client.get_secret(name).value
        except ResourceNotFoundError:
            raise SecretUnavailableError(f"{where} does not exist") from None
        except ClientAuthenticationError as exc:
            raise SecretUnavailableError(
                f"cannot read {where}: the app identity could not sign in or lacks 'Key Vault Secrets User' "
                f"({type(exc).__name__})"
            ) from None
        except HttpResponseError as exc:
            transient = exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
            raise SecretUnavailableError(f"cannot read {where}: HTTP {exc.status_code}", transient=transient) from None
        except ServiceRequestError as exc:
            raise SecretUnavailableError(
                f"cannot reach Key Vault for {where}: {type(exc).__name__}", transient=True
            ) from None
        if not value:
            raise SecretUnavailableError(f"{where} is empty")
        return value


def default_azure_credential(settings: Settings) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)


def secret_reader_from_settings(settings: Settings, *, credential: TokenCredential | None = None) -> SecretReader:
    if settings.credentials_from_env:
        return EnvSecretReader(settings.env_secrets)
    if settings.key_vault_url is None:  # Settings.from_env guarantees it; a hand-built Settings may not
        raise SecretUnavailableError("RELAY_KEY_VAULT_URL is not set")
    return KeyVaultSecretReader(
        settings.key_vault_url, credential or default_azure_credential(settings), overrides=settings.host_overrides
    )


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
