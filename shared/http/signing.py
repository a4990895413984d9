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
signing without one keep working. Several secrets may be configured at once so a secret can be
rotated without downtime.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient

from shared.domain.errors import SignatureError

SIGNATURE_HEADER: Final = "x-relay-signature"
TIMESTAMP_HEADER: Final = "x-relay-timestamp"
NONCE_HEADER: Final = "x-relay-nonce"
REPLAY_WINDOW_SECONDS: Final = 300
_SIGNATURE: Final = re.compile(r"v1=([0-9a-f]{64})")
_NONCE: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_REPLAY_PARTITION: Final = "hmac-replay"


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

    def verify(self, method: str, path_and_query: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise ``SignatureError`` with a precise reason, or return when the request is authentic and fresh."""
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
        expected = [sign(s, method, path_and_query, timestamp.strip(), body, nonce=nonce) for s in self._secrets]
        if not any(_matches(match.group(1), e) for e in expected):
            raise SignatureError("request signature does not match (method, path, timestamp or body differ)")
        expires_at = datetime.fromtimestamp(int(timestamp), UTC) + timedelta(seconds=self._window)
        if not self._replay_guard.first_use(match.group(1), expires_at=expires_at):
            raise SignatureError(
                "request signature was already used (replay); sign each attempt anew, with a new timestamp or "
                f"a new {_title(NONCE_HEADER)}"
            )


def _matches(presented: str, expected_header: str) -> bool:
    return hmac.compare_digest(expected_header[3:].encode("ascii"), presented.encode("ascii"))


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


class TableReplayGuard:
    """Accepted signatures in Table storage (table ``idempotency``, partition ``hmac-replay``).

    Inserting the signature is atomic across every instance of the app: the insert that loses the race
    gets ``ResourceExistsError``, so a replay is caught even when it reaches another instance.
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def first_use(self, signature: str, *, expires_at: datetime) -> bool:
        try:
            self._table.create_entity(
                {"PartitionKey": _REPLAY_PARTITION, "RowKey": signature, "ExpiresAt": expires_at.isoformat()}
            )
        except ResourceExistsError:
            return False
        return True
