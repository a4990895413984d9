"""HMAC-SHA256 request signatures for the HTTP API (on top of the function key), with a replay window.

A caller holding the signing secret sends two headers, and optionally a third::

    X-Relay-Timestamp: 1767225600                 (Unix seconds, UTC)
    X-Relay-Nonce: 3f9a1c0e4b7d4e21               (optional: 1-128 of A-Z a-z 0-9 . _ ~ -)
    X-Relay-Signature: v1=<hex HMAC-SHA256(secret, canonical)>

    canonical = "v1" LF METHOD LF PATH_AND_QUERY LF TIMESTAMP LF BODY                 (no nonce)
    canonical = "v1" LF METHOD LF PATH_AND_QUERY LF TIMESTAMP LF NONCE LF BODY        (with a nonce)

``PATH_AND_QUERY`` is the request target exactly as sent (``/api/tenants/…/isolate?wait=true``), BODY
the raw body bytes (empty for GET). The request is refused (401) when a header is missing, the
timestamp is more than 5 minutes from our clock, the signature does not match (compared in constant
time), or the same signature was already accepted once (a replay: retries must sign again). Without a
nonce, two identical requests signed in the same second have the same signature, so the second is a
replay; a fresh nonce per attempt lets a client send them. The nonce is optional so that clients
signing without one keep working. Two secrets may be configured at once, the current one and the previous
one (``RELAY_HTTP_SIGNING_SECRET_NAME``, ``RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME``), so a SOAR tool can
switch to a new secret without downtime; ``verify`` says which one matched, and the audit trail records it,
so an operator can see when no caller signs with the previous secret any more (runbook: docs/operations.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient

from shared.actions.retention import LEGACY_REPLAY_PARTITION, replay_partition
from shared.domain.errors import SignatureError

SIGNATURE_HEADER: Final = "x-relay-signature"
TIMESTAMP_HEADER: Final = "x-relay-timestamp"
NONCE_HEADER: Final = "x-relay-nonce"
REPLAY_WINDOW_SECONDS: Final = 300
_SIGNATURE: Final = re.compile(r"v1=([0-9a-f]{64})")
_NONCE: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
SecretUsed = Literal["current", "previous"]


class ReplayGuard(Protocol):
    def first_use(self, signature: str, *, expires_at: datetime) -> bool:
        """True the first time a signature is presented, False on every later presentation."""


def canonical_bytes(
    method: str, path_and_query: str, timestamp: str, body: bytes, *, nonce: str | None = None
) -> bytes:
    lines = ("v1", method.upper(), path_and_query, timestamp) + ((nonce,) if nonce is not None else ())
    return "\n".join(lines).encode("utf-8") + b"\n" + body


def sign(
    secret: bytes, method: str, path_and_query: str, timestamp: str, body: bytes, *, nonce: str | None = None
) -> str:
    """The ``X-Relay-Signature`` value for a request (for callers, tests and the benchmark)."""
    canonical = canonical_bytes(method, path_and_query, timestamp, body, nonce=nonce)
    return "v1=" + hmac.new(secret, canonical, hashlib.sha256).hexdigest()


class SignatureVerifier:
    def __init__(
        self,
        *,
        secrets: Sequence[bytes],
        replay_guard: ReplayGuard,
        clock: Callable[[], float] = time.time,
        window_seconds: int = REPLAY_WINDOW_SECONDS,
    ) -> None:
        if not secrets or any(not s for s in secrets):
            raise ValueError("at least one non-empty signing secret is needed")
        self._secrets = tuple(secrets)
        self._replay_guard = replay_guard
        self._clock = clock
        self._window = window_seconds

    def verify(self, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes) -> SecretUsed:
        """Raise ``SignatureError`` with a precise reason, or say which secret signed the authentic, fresh request."""
        timestamp = headers.get(TIMESTAMP_HEADER)
        presented = headers.get(SIGNATURE_HEADER)
        if not timestamp or not presented:
            missing = TIMESTAMP_HEADER if not timestamp else SIGNATURE_HEADER
            raise SignatureError(f"request signature required: header {_title(missing)} is missing")
        if not re.fullmatch(r"\d{1,12}", timestamp.strip()):
            raise SignatureError(f"{_title(TIMESTAMP_HEADER)} must be Unix seconds")
        skew = abs(self._clock() - int(timestamp))
        if skew > self._window:
            raise SignatureError(
                f"{_title(TIMESTAMP_HEADER)} is {int(skew)} s away from the server clock; the window is "
                f"{self._window} s (sign each request, including retries, with the current time)"
            )
        match = _SIGNATURE.fullmatch(presented.strip().lower())
        if match is None:
            raise SignatureError(f"{_title(SIGNATURE_HEADER)} must be 'v1=' followed by 64 hex digits")
        nonce = headers.get(NONCE_HEADER)
        if nonce is not None and not _NONCE.fullmatch(nonce):
            raise SignatureError(f"{_title(NONCE_HEADER)} must be 1 to 128 of the characters A-Z a-z 0-9 . _ ~ -")
        # Every secret is compared (no early exit), so the time taken says nothing about which one matched.
        matched = [
            _matches(match.group(1), sign(s, method, path_and_query, timestamp.strip(), body, nonce=nonce))
            for s in self._secrets
        ]
        if not any(matched):
            raise SignatureError("request signature does not match (method, path, timestamp or body differ)")
        expires_at = datetime.fromtimestamp(int(timestamp), UTC) + timedelta(seconds=self._window)
        if not self._replay_guard.first_use(match.group(1), expires_at=expires_at):
            raise SignatureError(
                "request signature was already used (replay); sign each attempt anew, with a new timestamp or "
                f"a new {_title(NONCE_HEADER)}"
            )
        return "current" if matched[0] else "previous"


def _matches(presented: str, expected_header: str) -> bool:
    return hmac.compare_digest(expected_header[3:].encode("ascii"), presented.encode("ascii"))


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


class TableReplayGuard:
    """Accepted signatures in Table storage (table ``idempotency``, partition ``hmac-replay-<UTC hour>``).

    Inserting the signature is atomic across every instance of the app: the insert that loses the race
    gets ``ResourceExistsError``, so a replay is caught even when it reaches another instance. A signature
    always lands in the bucket of the hour it expires in (its timestamp is signed), so a replay meets its
    first use there, and the retention purge drops whole buckets (``shared.actions.retention``).

    Signatures accepted before the buckets existed sit in the single partition ``hmac-replay``; for the
    replay window after this process started, a signature that could have been accepted then is looked up
    there too, so an upgrade opens no replay gap.
    """

    def __init__(self, table: TableClient, *, started: datetime | None = None) -> None:
        self._table = table
        self._legacy_until = (started or datetime.now(UTC)) + timedelta(seconds=REPLAY_WINDOW_SECONDS)

    def first_use(self, signature: str, *, expires_at: datetime) -> bool:
        if expires_at <= self._legacy_until and self._used_before_buckets(signature):
            return False
        try:
            self._table.create_entity(
                {
                    "PartitionKey": replay_partition(expires_at),
                    "RowKey": signature,
                    "ExpiresAt": expires_at.isoformat(),
                },
                response_preference="return-no-content",
            )
        except ResourceExistsError:
            return False
        return True

    def _used_before_buckets(self, signature: str) -> bool:
        try:
            self._table.get_entity(LEGACY_REPLAY_PARTITION, signature)
        except ResourceNotFoundError:
            return False
        return True
