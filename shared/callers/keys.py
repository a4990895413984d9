"""The partner tenant's token-signing keys: OpenID metadata and JWKS, cached, following key rollover.

Entra ID signs tokens with one of several published keys and rolls them periodically or, in an
emergency, at once (https://learn.microsoft.com/entra/identity-platform/signing-key-rollover). A v1.0
token is checked against the v1.0 metadata (``{login}/{tenant}/.well-known/openid-configuration``,
issuer ``https://sts.windows.net/{tenant}/``), a v2.0 token against the v2.0 metadata
(``{login}/{tenant}/v2.0/.well-known/openid-configuration``, issuer
``https://login.microsoftonline.com/{tenant}/v2.0``); each names its ``jwks_uri``
(https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens).

- A key set is kept for ``max_age`` (24 hours, the check frequency Entra suggests) and then fetched again
  on next use; if that fetch fails the old set stays in use and the failure is logged.
- A token whose ``kid`` is not in the set makes the set be fetched once more, at most once per
  ``refresh_interval`` (5 minutes): the first request after a rollover is served, and tokens with made-up
  key ids cannot make the relay call Entra ID on every request.
- Known keys are read without a lock; only a fetch takes it, so a slow fetch never stalls requests whose
  keys are cached.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import PyJWTError

from shared.domain.errors import SigningKeysUnavailableError

logger = logging.getLogger("defender_relay.callers")

TokenVersion = Literal["1.0", "2.0"]
JsonFetcher = Callable[[str], Mapping[str, Any]]
MAX_AGE_SECONDS: Final = 24 * 3600
REFRESH_INTERVAL_SECONDS: Final = 300
_MAX_KEYS: Final = 32  # Entra publishes a handful; a longer document is not one to trust wholesale


@dataclass(frozen=True)
class KeySet:
    issuer: str
    keys: Mapping[str, Any]  # kid -> RSA public key
    fetched_at: float


class SigningKeys:
    """The key sets of one tenant (one per token version), shared by every request of the process."""

    def __init__(
        self,
        *,
        tenant_id: str,
        login_base: str,
        fetch: JsonFetcher,
        max_age_seconds: float = MAX_AGE_SECONDS,
        refresh_interval_seconds: float = REFRESH_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tenant_id = tenant_id
        self._base = login_base.rstrip("/")
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._interval = refresh_interval_seconds
        self._monotonic = monotonic
        self._sets: dict[TokenVersion, KeySet] = {}
        self._last_attempt: dict[TokenVersion, float] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # observable: how many key sets were fetched (tests, the benchmark)

    def metadata_url(self, version: TokenVersion) -> str:
        middle = "/v2.0" if version == "2.0" else ""
        return f"{self._base}/{self._tenant_id}{middle}/.well-known/openid-configuration"

    def issuer(self, version: TokenVersion) -> str:
        return self._current(version).issuer

    def key(self, version: TokenVersion, kid: str) -> Any | None:
        """The public key named ``kid``, fetching the set again once if it is unknown (rate limited)."""
        key_set = self._current(version)
        found = key_set.keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            key_set = self._sets.get(version, key_set)
            if kid not in key_set.keys and self._may_fetch(version):
                key_set = self._refresh(version)
        return key_set.keys.get(kid)

    def _current(self, version: TokenVersion) -> KeySet:
        key_set = self._sets.get(version)
        if key_set is not None and self._monotonic() - key_set.fetched_at < self._max_age:
            return key_set
        with self._lock:
            key_set = self._sets.get(version)
            if key_set is not None and self._monotonic() - key_set.fetched_at < self._max_age:
                return key_set  # another thread fetched it while this one waited
            if key_set is not None and not self._may_fetch(version):
                return key_set  # stale, and the last attempt failed a moment ago: keep serving it
            try:
                return self._refresh(version)
            except SigningKeysUnavailableError:
                if key_set is None:
                    raise
                logger.warning(
                    "signing keys of tenant %s could not be refreshed; using the cached set", self._tenant_id
                )
                return key_set

    def _may_fetch(self, version: TokenVersion) -> bool:
        last = self._last_attempt.get(version)
        return last is None or self._monotonic() - last >= self._interval

    def _refresh(self, version: TokenVersion) -> KeySet:
        """Fetch metadata and keys (caller holds the lock)."""
        self._last_attempt[version] = self._monotonic()
        self.fetches += 1
        try:
            metadata = self._fetch(self.metadata_url(version))
            issuer, jwks_uri = metadata.get("issuer"), metadata.get("jwks_uri")
            if not isinstance(issuer, str) or self._tenant_id not in issuer or not isinstance(jwks_uri, str):
                raise ValueError("the metadata has no issuer naming the partner tenant, or no jwks_uri")
            keys = _public_keys(self._fetch(jwks_uri))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:  # requests' errors are OSErrors
            logger.warning("signing keys of tenant %s unavailable: %s", self._tenant_id, type(exc).__name__)
            raise SigningKeysUnavailableError(
                "the partner tenant's signing keys could not be fetched from Entra ID, so the token cannot be "
                "checked now; retry shortly"
            ) from exc
        key_set = KeySet(issuer=issuer, keys=keys, fetched_at=self._monotonic())
        self._sets[version] = key_set
        logger.info("signing keys of tenant %s (v%s): %d key(s) fetched", self._tenant_id, version, len(keys))
        return key_set


def _public_keys(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """RSA signing keys by kid; keys of another type or use, or that do not parse, are skipped."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("the JWKS document has no keys list")
    keys: dict[str, Any] = {}
    for entry in entries[:_MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = RSAAlgorithm.from_jwk(json.dumps(entry))
        except (PyJWTError, ValueError, TypeError, KeyError):
            continue
    return keys


def json_fetcher(session: Any, *, rewrite: Callable[[str], str] = lambda url: url) -> JsonFetcher:
    """GET a JSON object over ``session`` (a ``requests.Session``); ``rewrite`` sends a real host to a stand-in."""

    def fetch(url: str) -> Mapping[str, Any]:
        response = session.get(rewrite(url), timeout=(5.0, 10.0))
        response.raise_for_status()  # requests.HTTPError is an OSError, handled like a network failure
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body

    return fetch
