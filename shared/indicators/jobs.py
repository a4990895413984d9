"""Indicator jobs: the job record, the tenant selection, and the messages on queue ``indicator-jobs``.

A push, sync or removal across tenants is one job. Its request stores the job record and the indicator
set (a blob: 500 indicators are far over a queue message's 64 KB) and puts one *fan-out* message on the
queue; the fan-out message becomes one *tenant* message per selected tenant, so the work scales out
over the Functions instances and each tenant is retried on its own (docs/indicators.md)::

    {"v": 1, "kind": "fanout", "job_id": "..."}
    {"v": 1, "kind": "tenant", "job_id": "...", "tenant_id": "GUID"}

Base64 of UTF-8 JSON, like ``tenant-jobs`` (the queue trigger's encoding).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast

from shared.domain.errors import ValidationError
from shared.domain.tenant import is_guid
from shared.indicators.service import JOB_KINDS, JobKind

MESSAGE_VERSION: Final = 1
_JOB_ID: Final = re.compile(r"[0-9a-f]{32}")
MessageKind = Literal["fanout", "tenant"]


@dataclass(frozen=True)
class Selection:
    """Which tenants: every enabled tenant that allows indicators, or the ones named."""

    all: bool = False
    tenant_ids: tuple[str, ...] = ()

    def to_json(self) -> Any:
        return "all" if self.all else list(self.tenant_ids)

    @classmethod
    def from_json(cls, value: Any, *, field: str = "tenants") -> Selection:
        if value == "all":
            return cls(all=True)
        if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
            raise ValidationError(f'{field} must be "all" or a non-empty list of tenant ids', field=field)
        ids: list[str] = []
        for raw in value:
            tenant_id = raw.strip().lower()
            if not is_guid(tenant_id):
                raise ValidationError(f"{field}: {raw[:64]!r} is not a tenant id (GUID)", field=field)
            if tenant_id not in ids:
                ids.append(tenant_id)
        return cls(tenant_ids=tuple(ids))

    def describe(self) -> str:
        return "all enabled tenants that allow indicators" if self.all else f"{len(self.tenant_ids)} tenant(s)"


@dataclass(frozen=True)
class IndicatorJob:
    job_id: str
    kind: JobKind
    dry_run: bool
    selection: Selection
    set_name: str  # the blob holding the indicators (push, sync) or the values (remove)
    size: int  # indicators, or values to remove
    created_at: datetime
    requested_by: str
    planned: int | None = None  # tenants the fan-out found (None: not fanned out yet)
    fanned_out: bool = False

    @property
    def label(self) -> str:
        """What an operator calls it: push, sync, drift (a sync's dry run), remove."""
        return "drift" if self.kind == "sync" and self.dry_run else self.kind


def new_job_id() -> str:
    return uuid.uuid4().hex


def check_job_id(value: str) -> str:
    text = value.strip().lower()
    if not _JOB_ID.fullmatch(text):
        raise ValidationError(f"jobId must be 32 hexadecimal characters (got {value[:40]!r})", field="jobId")
    return text


def check_kind(value: str) -> JobKind:
    if value not in JOB_KINDS:
        raise ValidationError(f"job kind must be one of {', '.join(JOB_KINDS)}", field="kind")
    return value


@dataclass(frozen=True)
class JobMessage:
    kind: MessageKind
    job_id: str
    tenant_id: str | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"v": MESSAGE_VERSION, "kind": self.kind, "job_id": self.job_id}
        if self.tenant_id is not None:
            body["tenant_id"] = self.tenant_id
        return json.dumps(body, separators=(",", ":"))


def parse_message(body: str | bytes) -> JobMessage:
    """A queue message, or ``ValidationError`` naming the field (retried by the host, then poison)."""
    try:
        raw = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError("indicator job message is not UTF-8 JSON", field="body") from exc
    if not isinstance(raw, dict) or raw.get("v") != MESSAGE_VERSION:
        raise ValidationError(f"indicator job message must be a v{MESSAGE_VERSION} JSON object", field="v")
    kind = raw.get("kind")
    job_id = raw.get("job_id")
    if kind not in ("fanout", "tenant") or not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValidationError("indicator job message needs kind fanout|tenant and a job_id", field="kind")
    tenant_id = raw.get("tenant_id")
    if kind == "tenant" and (not isinstance(tenant_id, str) or not is_guid(tenant_id)):
        raise ValidationError("a tenant message needs a tenant_id (GUID)", field="tenant_id")
    return JobMessage(cast(MessageKind, kind), job_id, tenant_id if kind == "tenant" else None)


def tenant_messages(job_id: str, tenant_ids: Sequence[str]) -> list[JobMessage]:
    return [JobMessage("tenant", job_id, t) for t in tenant_ids]
