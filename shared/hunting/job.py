"""The job message on queue ``hunt-jobs``: one hunt, one tenant (docs/contracts.md §5).

Wire format: UTF-8 JSON, base64 on the queue like ``tenant-jobs``::

    {"v": 1, "hunt_id": "...", "tenant_id": "GUID", "probe": true, "enqueued_at": "ISO"}

``probe`` marks the run that proves the query before the others are queued (docs/hunting.md "The flow").
Unknown extra fields are ignored; another ``v`` is refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from shared.domain.errors import ValidationError
from shared.domain.job import format_time, message_object, parse_time
from shared.hunting.model import parse_hunt_id

HUNT_JOB_VERSION: Final = 1
_MAX_BODY_CHARS: Final = 2048


@dataclass(frozen=True)
class HuntJob:
    hunt_id: str
    tenant_id: str
    probe: bool = False
    enqueued_at: datetime | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"v": HUNT_JOB_VERSION, "hunt_id": self.hunt_id, "tenant_id": self.tenant_id}
        if self.probe:
            body["probe"] = True
        body["enqueued_at"] = format_time(self.enqueued_at or datetime.now(UTC))
        return json.dumps(body, separators=(",", ":"))


def parse_hunt_job(body: str | bytes) -> HuntJob:
    """Validate a ``hunt-jobs`` message; ``ValidationError.field`` names the first field at fault."""
    raw = message_object(body, what="hunt job message", max_chars=_MAX_BODY_CHARS)
    if raw.get("v") != HUNT_JOB_VERSION:
        raise ValidationError(f"unsupported hunt job version {raw.get('v')!r}", field="v")
    hunt_id = parse_hunt_id(str(raw.get("hunt_id", "")), field="hunt_id")
    try:
        tenant_id = str(uuid.UUID(str(raw.get("tenant_id", ""))))
    except ValueError as exc:
        raise ValidationError("hunt job field 'tenant_id' is not a GUID", field="tenant_id") from exc
    probe = raw.get("probe", False)
    if not isinstance(probe, bool):
        raise ValidationError("hunt job field 'probe' must be true or false", field="probe")
    enqueued = raw.get("enqueued_at")
    try:
        enqueued_at = parse_time(enqueued) if isinstance(enqueued, str) else None
    except ValueError as exc:
        raise ValidationError("hunt job field 'enqueued_at' is not an ISO 8601 time", field="enqueued_at") from exc
    return HuntJob(hunt_id=hunt_id, tenant_id=tenant_id, probe=probe, enqueued_at=enqueued_at)
