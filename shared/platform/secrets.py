"""Where secrets come from: Key Vault through the Function App's identity (cached for an hour), or
``RELAY_SECRET_<NAME>`` variables in development (``RELAY_CREDENTIALS_FROM_ENV=1``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Final, Protocol

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from shared.domain.clouds import is_overridden, rewrite_url
from shared.domain.errors import RelayError
from shared.platform.settings import SECRET_ENV_PREFIX, Settings

_SECRET_CACHE_SECONDS = 3600.0  # rotation is picked up within an hour without a restart


class SecretUnavailableError(RelayError):
    """A named secret could not be read. ``transient`` says whether retrying later may help; ``remedy``, when
    set, is what to check (the caller otherwise points at the secret's name)."""

    kind = "secret-unavailable"

    def __init__(self, message: str, *, transient: bool = False, remedy: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.remedy = remedy


# What stands between this process and the vault when it cannot be reached (or refuses to sign us in):
# the vault's address, the TLS trust of its certificate, and the identity that gets the vault token.
UNREACHABLE_REMEDY: Final = (
    "check that RELAY_KEY_VAULT_URL is the vault's URL and reachable from here (DNS, network, firewall or "
    "private endpoint); that its TLS certificate is trusted (REQUESTS_CA_BUNDLE; locally the emulator's "
    "ca-bundle.pem, which `--settings local.settings.json` applies); and that the app identity can get a "
    "token (managed identity: IDENTITY_ENDPOINT / IDENTITY_HEADER and RELAY_MANAGED_IDENTITY_CLIENT_ID)"
)
SIGN_IN_REMEDY: Final = (
    "give the app identity (RELAY_MANAGED_IDENTITY_CLIENT_ID) the 'Key Vault Secrets User' role on the vault, "
    "and check that it can get a token (IDENTITY_ENDPOINT / IDENTITY_HEADER; locally the emulator's "
    "managed identity endpoint, which `--settings local.settings.json` applies)"
)


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
        # off only when the vault host is rewritten to a local stand-in
        # (docs/microsoft-apis.md §Key Vault secrets client).
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
                f"({type(exc).__name__})",
                remedy=SIGN_IN_REMEDY,
            ) from None
        except HttpResponseError as exc:
            transient = exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
            raise SecretUnavailableError(f"cannot read {where}: HTTP {exc.status_code}", transient=transient) from None
        except ServiceRequestError as exc:
            tls = " (TLS: the vault's certificate is not trusted)" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else ""
            raise SecretUnavailableError(
                f"cannot reach Key Vault for {where}: {type(exc).__name__}{tls}",
                transient=True,
                remedy=UNREACHABLE_REMEDY,
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
