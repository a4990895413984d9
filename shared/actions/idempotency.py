"""``Idempotency-Key`` for the HTTP API: the same key (per tenant) within 24 hours returns the stored
result and makes no second Defender call.

A key is *claimed* before the Defender call (an atomic insert into table ``idempotency``, partition = tenant
id, row = SHA-256 of the key), so two concurrent requests with one key cannot both act: the second gets
409 while the first runs. Only a successful result is stored; when the attempt fails (Defender refused,
throttled, unavailable) the claim is released, so the caller's retry with the same key runs again; a
claim that finds the key released between its insert and its read claims it again. A key reused for a
different request (other route, machine or body) is refused with 422. A claim whose request died
mid-flight (instance recycled) expires after ``STALE_CLAIM_SECONDS``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.errors import IdempotencyConflictError, ValidationError

TABLE: Final = "idempotency"
RETENTION: Final = timedelta(hours=24)
STALE_CLAIM_SECONDS: Final = 300  # longer than the longest wait=true (200 s)
_KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")
_CLAIM_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class IdempotencyStore(Protocol):
    def claim(self, tenant_id: str, key: str, fingerprint: str, *, now: datetime) -> StoredResponse | None:
        """None: the caller now owns the key and must ``complete`` or ``release`` it. A response: replay it.
        Raises ``IdempotencyConflictError`` (409 in flight, 422 other request)."""

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None: ...

    def release(self, tenant_id: str, key: str) -> None: ...


def parse_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise ValidationError("Idempotency-Key must be 1 to 255 visible ASCII characters", field="Idempotency-Key")
    return value


def fingerprint(*parts: object) -> str:
    """What makes two requests "the same": route, tenant, machine, validated body."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _row_key(key: str) -> str:
    # Keys may hold characters Table storage forbids in a RowKey (/ \ # ?); a hash has none.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class TableIdempotencyStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def claim(self, tenant_id: str, key: str, fingerprint: str, *, now: datetime) -> StoredResponse | None:
        entity = {"PartitionKey": tenant_id, "RowKey": _row_key(key), "Fingerprint": fingerprint,
                  "State": "pending", "ClaimedAt": now.isoformat()}  # fmt: skip
        # The insert says "exists", then the read or the re-claim finds the row gone: the request holding
        # the key failed and released it in between. The key is free again, so claim it again (a few
        # times: each round needs another request to claim and release the key within milliseconds).
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                return self._claim_once(entity, fingerprint, now)
            except ResourceNotFoundError:
                continue
        raise _in_flight()

    def _claim_once(self, entity: dict[str, Any], fingerprint: str, now: datetime) -> StoredResponse | None:
        try:
            # 204 instead of the entity echoed back: only the status matters (see shared.actions.audit.NO_ECHO)
            self._table.create_entity(entity, response_preference="return-no-content")
            return None
        except ResourceExistsError:
            pass
        existing = self._table.get_entity(entity["PartitionKey"], entity["RowKey"])
        claimed_at = datetime.fromisoformat(str(existing["ClaimedAt"]))
        age = (now - claimed_at).total_seconds()
        expired = age > RETENTION.total_seconds() or (existing["State"] == "pending" and age > STALE_CLAIM_SECONDS)
        if expired:
            self._reclaim(entity, existing)
            return None
        if existing["Fingerprint"] != fingerprint:
            raise IdempotencyConflictError(
                "Idempotency-Key was already used for a different request in the last 24 hours; use a new key",
                status=422,
            )
        if existing["State"] == "pending":
            raise _in_flight()
        return StoredResponse(int(existing["Status"]), json.loads(existing["Body"]), json.loads(existing["Headers"]))

    def _reclaim(self, entity: dict[str, Any], existing: Any) -> None:
        try:
            self._table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=existing.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError as exc:  # another instance re-claimed it first
            raise _in_flight() from exc

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None:
        self._table.update_entity(
            {"PartitionKey": tenant_id, "RowKey": _row_key(key), "State": "done", "Status": response.status,
             "Body": json.dumps(response.body), "Headers": json.dumps(response.headers)},
            mode=UpdateMode.MERGE,
        )  # fmt: skip

    def release(self, tenant_id: str, key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):  # already gone is what we wanted
            self._table.delete_entity(tenant_id, _row_key(key))


def _in_flight() -> IdempotencyConflictError:
    return IdempotencyConflictError(
        "a request with this Idempotency-Key is still being processed; retry shortly", status=409
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
