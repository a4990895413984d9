"""The audit trail of the HTTP API: one record per attempt to change something in a tenant (accepted,
rejected or failed), written to table ``audit`` *before* the response is sent.

Partition = tenant id (``_invalid`` when the caller sent no valid tenant id), row = UTC time + request
id, so a tenant's records read back in time order. A record names the caller (for an Entra ID caller its
app id and object id as the validated token states them, and its display name from the caller table or the
token; for a function-key caller its declared name and key fingerprint), how it was authenticated
(``auth``: ``entra``, ``function-key`` or ``operator``, ``+hmac`` when signed), the machine as given and as
resolved, the action, the comment, the outcome, the HTTP status and problem type, and Defender's action
id; for a triage write (shared/triage) what it changed (``target``) and each property's value before
and after (``changes``); for an indicator job, every indicator it changed (``indicators``, ``JobAudit``).
It never holds a token, a key or a signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, cast

from azure.data.tables import TableClient

TABLE: Final = "audit"
INVALID_TENANT_PARTITION: Final = "_invalid"
HUNTS_PARTITION: Final = "_hunts"  # who started which hunt over which tenants (POST /api/hunts)
INDICATORS_PARTITION: Final = "_indicators"  # requests for indicator jobs across tenants (POST /api/indicators/…)
# Partitions that are no tenant's: the retention purge walks them beside the registry's tenants.
SHARED_PARTITIONS: Final = (INVALID_TENANT_PARTITION, HUNTS_PARTITION, INDICATORS_PARTITION)
# Insert Entity answers 201 with the whole entity echoed back unless asked not to; the audit write sits on
# every POST's path and needs only the status, so 204 saves the service serialising the entity and us
# parsing it (Table service REST "Insert Entity": ``Prefer: return-no-content``).
NO_ECHO: Final = "return-no-content"
Outcome = Literal["accepted", "replayed", "rejected", "failed"]
_MAX_TEXT: Final = 1000
# A Table storage string property holds up to 64 KiB (32K UTF-16 characters): a batch's changes fit below it.
MAX_CHANGES_CHARS: Final = 30_000
# An entity holds 1 MiB: an indicator job's change lines go into properties ``indicators``, ``indicators2`` … of
# at most 30,000 characters, 15 of them a record.
_PROPERTY_CHARS: Final = 30_000
_PROPERTIES: Final = 15
RECORD_INDICATOR_CHARS: Final = _PROPERTY_CHARS * _PROPERTIES


def row_key_at(moment: datetime) -> str:
    """The row key prefix of a moment: rows sort by time within a tenant's partition (reads from ``since``
    and the retention purge's cut-off use the same prefix)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditRecord:
    tenant_id: str
    time: datetime
    request_id: str
    caller: str
    action: str  # allow-list name: isolate, scan, cancel, sweep, ...
    outcome: Outcome
    status: int
    machine: str = ""  # as the caller named it
    machine_id: str = ""  # as resolved
    comment: str = ""
    upstream_action_id: str = ""
    problem_type: str = ""
    detail: str = ""
    idempotency_key: str = ""
    target: str = ""  # what a triage write changed: "alert da63…", "incident 2972395", "30 alert(s)"
    changes: str = ""  # JSON list, per item: id, outcome, and each property's {"from", "to"}
    indicators: str = ""  # indicator jobs: one change per line ("create FileSha256:…"), docs/indicators.md
    caller_app_id: str = ""  # appid / azp of the caller's token (empty for key and operator callers)
    caller_object_id: str = ""  # oid of the caller's token
    auth: str = ""  # entra | function-key | operator | unauthenticated, +hmac / +hmac(previous) when signed

    @property
    def row_key(self) -> str:
        return f"{row_key_at(self.time)}-{self.request_id}"

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["time"] = self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")
        body["changes"] = _parsed(self.changes)
        return _camel(body)


def outcome_for(status: int, *, replayed: bool = False) -> Outcome:
    if status < 300:
        return "replayed" if replayed else "accepted"
    # 429 and 5xx: the request was fine, Defender or we failed; 4xx: the request was refused.
    return "failed" if status >= 500 or status == 429 else "rejected"


class AuditStore(Protocol):
    def write(self, record: AuditRecord) -> None: ...

    def list(self, tenant_id: str, *, since: datetime, limit: int) -> list[AuditRecord]: ...


class TableAuditStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def write(self, record: AuditRecord) -> None:
        entity: dict[str, Any] = {k: v for k, v in asdict(record).items() if k not in ("tenant_id", "time")}
        for name in ("comment", "detail", "machine", "caller", "target"):
            entity[name] = str(entity[name])[:_MAX_TEXT]
        entity.pop("indicators")
        for n, text in enumerate(line_groups(record.indicators.splitlines(), _PROPERTY_CHARS)[:_PROPERTIES], 1):
            entity["indicators" if n == 1 else f"indicators{n}"] = text
        entity.update(PartitionKey=record.tenant_id, RowKey=record.row_key, time=record.time.astimezone(UTC))
        self._table.create_entity(entity, response_preference=NO_ECHO)

    def list(self, tenant_id: str, *, since: datetime, limit: int) -> list[AuditRecord]:
        since_key = row_key_at(since)
        pages = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @since",
            parameters={"pk": tenant_id, "since": since_key},
            results_per_page=min(limit, 1000),
        )
        records: list[AuditRecord] = []
        for entity in pages:
            records.append(_from_entity(tenant_id, entity))
            if len(records) >= limit:
                break
        return records


class JobAudit:
    """The audit trail of background jobs (indicator pushes, syncs, removals; ``shared.indicators.ports``): per
    tenant and run that changed or failed to change something, one record naming each indicator on its own
    line (a record holds about 5,000 lines; more go into further records, request id ``<job id>-<n>``)."""

    def __init__(self, store: AuditStore, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    def record(
        self, tenant_id: str, *, job_id: str, caller: str, kind: str, outcome: str, detail: str, changes: Sequence[str]
    ) -> None:
        status = 200 if outcome == "accepted" else 502
        parts = line_groups(changes, RECORD_INDICATOR_CHARS - _PROPERTIES) or [""]
        for n, lines in enumerate(parts, start=1):
            part = f" (part {n} of {len(parts)})" if len(parts) > 1 else ""
            self._store.write(
                AuditRecord(
                    tenant_id=tenant_id, time=self._clock(), request_id=f"{job_id}-{n}",
                    caller=caller or "indicator job", action=f"indicators-{kind}", outcome=cast(Outcome, outcome),
                    status=status, comment=f"indicator job {job_id}{part}", detail=detail, indicators=lines,
                )
            )  # fmt: skip


def line_groups(lines: Sequence[str], limit: int) -> list[str]:
    """The lines joined into texts of at most ``limit`` characters (a longer single line is cut)."""
    if sum(len(line) + 1 for line in lines) <= limit and all(len(line) < _PROPERTY_CHARS for line in lines):
        return ["\n".join(lines)] if lines else []
    groups: list[str] = []
    current: list[str] = []
    size = 0
    for line in (text[: _PROPERTY_CHARS - 1] for text in lines):
        if current and size + len(line) + 1 > limit:
            groups.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        groups.append("\n".join(current))
    return groups


class HuntAuditTrail:
    """Hunting's audit port over the audit table: one record in each tenant a hunt ran in (action ``hunt``,
    ``request_id`` = the hunt id, ``comment`` = the query), so a tenant's trail shows who hunted what in it."""

    _STATUS: Final = {"accepted": 200, "rejected": 400, "failed": 502}

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def record(
        self, tenant_id: str, *, hunt_id: str, requested_by: str, query: str, outcome: str, detail: str, at: datetime
    ) -> None:
        verdict: Outcome = "accepted" if outcome == "accepted" else "rejected" if outcome == "rejected" else "failed"
        record = AuditRecord(
            tenant_id=tenant_id, time=at, request_id=hunt_id, caller=requested_by[:_MAX_TEXT], action="hunt",
            outcome=verdict, status=self._STATUS[verdict], comment=query[:_MAX_TEXT], detail=detail[:_MAX_TEXT],
        )  # fmt: skip
        self._store.write(record)


def _from_entity(tenant_id: str, entity: Any) -> AuditRecord:
    fields = {name: entity.get(name, "") for name in AuditRecord.__dataclass_fields__}
    more = (entity.get(f"indicators{n}") for n in range(2, _PROPERTIES + 1))
    fields["indicators"] = "\n".join([str(fields["indicators"]), *(m for m in more if m)]).strip("\n")
    fields.update(tenant_id=tenant_id, time=entity["time"], status=int(entity["status"]))
    return AuditRecord(**fields)


def changes_text(changes: list[dict[str, Any]]) -> str:
    """The ``changes`` column: JSON, cut at whole items to fit a Table property (the cut is marked)."""
    if not changes:
        return ""
    text = json.dumps(changes, separators=(",", ":"), default=str)
    kept = list(changes)
    while len(text) > MAX_CHANGES_CHARS and kept:
        kept = kept[: len(kept) // 2]
        text = json.dumps([*kept, {"truncated": len(changes) - len(kept)}], separators=(",", ":"), default=str)
    return text


def _parsed(text: str) -> Any:
    if not text:
        return []
    try:
        return json.loads(text)
    except ValueError:
        return text


def _camel(body: dict[str, Any]) -> dict[str, Any]:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    return {camel(k): v for k, v in body.items()}
