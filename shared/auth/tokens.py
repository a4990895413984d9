"""App-only tokens for customer tenants: one MSAL app per (app family, tenant), checked claims, typed errors.

- One ``ConfidentialClientApplication`` per (family, tenant) authority, built lazily (its constructor
  does OIDC discovery over the network) and reused for the life of the worker: MSAL's own cache serves
  repeat calls (``token_source == "cache"``); there is no hand-made token cache (docs/microsoft-apis.md §MSAL).
- The authority is the customer's tenant on its cloud's login host, never ``/common``
  (docs/microsoft-apis.md §Token requests, §MSAL).
- Every token fresh from Entra ID is checked: ``tid`` is the tenant, ``aud`` the expected resource, and
  ``roles`` present (no roles claim = admin consent missing, docs/microsoft-apis.md §Access-token claims).
  Required roles are checked on every call, cache hits included, because callers need different roles from
  the same token.
- MSAL error dicts become the typed errors of ``shared.domain.errors``
  (docs/microsoft-apis.md §Token errors and AADSTS codes; docs/contracts.md §1.4).
- The token is decoded without verifying its signature: it is the Defender API's token, not ours, and
  we only read what Entra granted; the API verifies it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msal
import requests
from msal.exceptions import MsalServiceError

from shared.auth.credentials import MsalCredential, managed_identity_assertions, msal_credential
from shared.auth.entra_errors import (
    auth_error_from_result,
    credential_error,
    missing_roles_error,
    no_roles_error,
    unknown_tenant_error,
)
from shared.domain.catalogue import API_NAMES, ApiResource, missing_roles
from shared.domain.clouds import AppFamily, CloudEndpoints, endpoints_for, is_overridden, rewrite_url
from shared.domain.errors import AuthError, CredentialError, TokenServiceError
from shared.domain.tenant import Tenant
from shared.platform.secrets import SecretReader, SecretUnavailableError, secret_reader_from_settings
from shared.platform.settings import AppSettings, Settings

Resource = ApiResource  # mde, xdr or graph: one token (and one audience) each
_HTTP_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds for MSAL's own session


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)
    expires_on: int
    roles: frozenset[str]
    source: Literal["cache", "identity_provider"]


class TokenProvider:
    """Tokens per (tenant, resource). Thread-safe; share one per worker process."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: Any = None,
        secret_reader: SecretReader | None = None,
        assertion_factory: Callable[[str], Callable[[], str]] | None = None,
    ) -> None:
        self._settings = settings
        self._http_client = http_client
        self._secret_reader = secret_reader
        self._assertion_factory = assertion_factory
        self._apps: dict[tuple[AppFamily, str], msal.ConfidentialClientApplication] = {}
        self._credentials: dict[AppFamily, MsalCredential] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[AppFamily, str], threading.Lock] = {}
        self.apps_built = 0  # observable: how many MSAL apps this provider built

    def get_token(self, tenant: Tenant, resource: Resource, *, required_roles: Iterable[str] = ()) -> AccessToken:
        endpoints = endpoints_for(tenant.cloud, tenant.region)
        app_settings = self._app_settings(tenant, endpoints)
        app = self._app(tenant, endpoints, app_settings)
        try:
            result = app.acquire_token_for_client(scopes=[endpoints.scope(resource)])
        except (requests.RequestException, MsalServiceError) as exc:  # MSAL raises for 5xx answers
            raise _unreachable(tenant, exc) from exc
        if not result or "access_token" not in result:
            raise auth_error_from_result(result or {}, tenant=tenant, app=app_settings, endpoints=endpoints)
        claims = _claims(result["access_token"])
        source: Literal["cache", "identity_provider"] = (
            "cache" if result.get("token_source") == "cache" else "identity_provider"
        )
        if source == "identity_provider":
            _check_new_token(claims, tenant, resource, endpoints.audiences(resource), app_settings)
        roles = frozenset(claims.get("roles") or ())
        missing = missing_roles(required_roles, roles)  # a broader role (Ti.ReadWrite.All) counts too
        if missing:
            raise missing_roles_error(tenant, resource, sorted(missing), app_settings)
        expires_on = int(claims.get("exp") or time.time() + int(result.get("expires_in", 0)))
        return AccessToken(token=result["access_token"], expires_on=expires_on, roles=roles, source=source)

    def invalidate(self, tenant: Tenant, resource: Resource) -> None:
        """Drop the cached access token so the next get_token asks Entra ID again (after an API 401).

        MSAL 1.39 rejects ``force_refresh`` for client credentials, so the token is removed from that
        tenant's own app cache (each app has its own in-memory cache); the app, its discovery result
        and its credential are kept.
        """
        endpoints = endpoints_for(tenant.cloud, tenant.region)
        with self._lock:
            app = self._apps.get((endpoints.family, tenant.tenant_id))
        if app is None:
            return
        cache = app.token_cache
        scope = [endpoints.scope(resource)]
        entries = list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=scope))
        for entry in entries:
            cache.remove_at(entry)

    def _app_settings(self, tenant: Tenant, endpoints: CloudEndpoints) -> AppSettings:
        app = self._settings.app(endpoints.family)
        if app is None:
            raise CredentialError(
                f"tenant {tenant.tenant_id} ({tenant.display_name}) is in the {tenant.cloud} cloud, which needs the "
                f"{endpoints.family} partner app, but it is not configured",
                tenant_id=tenant.tenant_id,
                remedy="set RELAY_USGOV_CLIENT_ID and RELAY_USGOV_CREDENTIAL "
                "(an app registered in the US Government cloud)",
            )
        return app

    def _app(
        self, tenant: Tenant, endpoints: CloudEndpoints, settings: AppSettings
    ) -> msal.ConfidentialClientApplication:
        key = (endpoints.family, tenant.tenant_id)
        with self._lock:
            app = self._apps.get(key)
            if app is not None:
                return app
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one build per tenant; other tenants are not held up by this one's discovery
            with self._lock:
                app = self._apps.get(key)
            if app is None:
                app = self._build_app(tenant, endpoints, settings)
                with self._lock:
                    self._apps[key] = app
                    self.apps_built += 1
            return app

    def _build_app(
        self, tenant: Tenant, endpoints: CloudEndpoints, settings: AppSettings
    ) -> msal.ConfidentialClientApplication:
        overrides = self._settings.host_overrides
        authority = rewrite_url(endpoints.authority(tenant.tenant_id), overrides)
        kwargs: dict[str, Any] = {"authority": authority, "client_credential": self._credential(tenant, settings)}
        if is_overridden(endpoints.login_base, overrides):
            kwargs["instance_discovery"] = False  # a local stand-in is not a known Microsoft authority
        if self._http_client is not None:
            kwargs["http_client"] = self._http_client
        else:
            kwargs["timeout"] = _HTTP_TIMEOUT
        try:
            return msal.ConfidentialClientApplication(settings.client_id, **kwargs)
        except (requests.RequestException, MsalServiceError, RuntimeError) as exc:
            raise _unreachable(tenant, exc) from exc
        except ValueError as exc:  # OIDC discovery answered 4xx: no such tenant on this login host
            raise _discovery_error(tenant, endpoints, settings, str(exc)) from None

    def _credential(self, tenant: Tenant, settings: AppSettings) -> MsalCredential:
        with self._lock:
            cached = self._credentials.get(settings.family)
        if cached is not None:
            return cached
        try:
            credential = msal_credential(settings, self._secrets(), assertion_factory=self._assertions())
        except SecretUnavailableError as exc:
            error_type = TokenServiceError if exc.transient else CredentialError
            raise error_type(
                f"tenant {tenant.tenant_id}: the {settings.family} partner app credential "
                f"({settings.setting_prefix}_CREDENTIAL) "
                f"could not be loaded: {exc.message}",
                tenant_id=tenant.tenant_id,
                remedy=exc.remedy
                or f"fix the secret named by {settings.setting_prefix}_CREDENTIAL or the vault access",
            ) from None
        with self._lock:
            self._credentials[settings.family] = credential
        return credential

    def _secrets(self) -> SecretReader:
        if self._secret_reader is None:
            self._secret_reader = secret_reader_from_settings(self._settings)
        return self._secret_reader

    def _assertions(self) -> Callable[[str], Callable[[], str]]:
        if self._assertion_factory is None:
            self._assertion_factory = managed_identity_assertions(self._settings.managed_identity_client_id)
        return self._assertion_factory


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _check_new_token(
    claims: dict[str, Any], tenant: Tenant, resource: Resource, audiences: frozenset[str], app: AppSettings
) -> None:
    tid = str(claims.get("tid", "")).lower()
    if tid != tenant.tenant_id:
        raise AuthError(
            f"tenant {tenant.tenant_id}: Entra ID issued a token for tenant '{tid or '?'}'",
            tenant_id=tenant.tenant_id,
            remedy="check the tenant id in the registry",
        )
    if claims.get("aud") not in audiences:
        raise AuthError(
            f"tenant {tenant.tenant_id}: token audience '{claims.get('aud')}' is not the {API_NAMES[resource]} API",
            tenant_id=tenant.tenant_id,
            remedy="check the tenant's cloud and region",
        )
    if not claims.get("roles"):
        raise no_roles_error(tenant, app, resource)


def _unreachable(tenant: Tenant, exc: Exception) -> TokenServiceError:
    return TokenServiceError(
        f"tenant {tenant.tenant_id}: Entra ID is unavailable or could not be reached ({type(exc).__name__})",
        tenant_id=tenant.tenant_id,
        remedy="transient: the job is retried",
    )


def _discovery_error(tenant: Tenant, endpoints: CloudEndpoints, app: AppSettings, detail: str) -> AuthError:
    """MSAL turns a 4xx OIDC discovery into ValueError("Unable to get authority configuration ...").

    The answer's body is not kept, so an unknown tenant and a tenant of the other cloud look the same
    here; the remedy names both.
    """
    if "authority configuration" not in detail and "OIDC" not in detail:
        return credential_error(tenant, app, "MSAL rejected the credential")  # other constructor ValueErrors
    return unknown_tenant_error(tenant, endpoints)
