"""The job message on queue ``tenant-jobs``: one tenant, one feed (docs/contracts.md §5).

Wire format: UTF-8 JSON, base64-encoded on the queue (the Functions queue trigger's default encoding)::

    {"v": 1, "tenant_id": "GUID", "feed": "graph-alerts|graph-incidents|mde-alerts|xdr-incidents", "sweep_id": "...",
     "enqueued_at": "ISO", "mode": "scheduled|manual|backfill", "since": "ISO?", "until": "ISO?",
     "after_lease": "ISO?"}

``parse_job`` turns a body into a typed ``Job`` or raises ``ValidationError`` naming the field at fault.
Unknown extra fields are ignored so a newer producer can add optional fields without breaking workers;
a different ``v`` is refused, because its meaning may have changed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast, get_args

from shared.domain.catalogue import FEEDS, Feed
from shared.domain.errors import ValidationError

JOB_VERSION: Final = 1
Mode = Literal["scheduled", "manual", "backfill"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
__all__ = ["FEEDS", "Feed", "Job", "Mode", "format_time", "new_job", "parse_job", "parse_time"]
# Storage queue messages are 64 KB after base64; a job is a few hundred bytes, anything near this is junk.
_MAX_BODY_CHARS: Final = 4096


@dataclass(frozen=True)
class Job:
    tenant_id: str
    feed: Feed
    sweep_id: str
    enqueued_at: datetime
    mode: Mode = "scheduled"
    since: datetime | None = None  # manual / backfill: read from here instead of the checkpoint
    until: datetime | None = None  # manual / backfill: stop here (never later than now - settle)
    # Set when the job was handed back to wait for another worker's lease to end (shared.ingest.worker):
    # the end of that lease. A job is handed back again only for that same lease, never for a renewed one.
    after_lease: datetime | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "v": JOB_VERSION,
            "tenant_id": self.tenant_id,
            "feed": self.feed,
            "sweep_id": self.sweep_id,
            "enqueued_at": format_time(self.enqueued_at),
            "mode": self.mode,
        }
        if self.since is not None:
            body["since"] = format_time(self.since)
        if self.until is not None:
            body["until"] = format_time(self.until)
        if self.after_lease is not None:
            body["after_lease"] = format_time(self.after_lease)
        return json.dumps(body, separators=(",", ":"))


def new_job(
    tenant_id: str,
    feed: Feed,
    *,
    sweep_id: str | None = None,
    mode: Mode = "scheduled",
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Job:
    return Job(
        tenant_id=tenant_id.lower(),
        feed=feed,
        sweep_id=sweep_id or uuid.uuid4().hex,
        enqueued_at=now or datetime.now(UTC),
        mode=mode,
        since=since,
        until=until,
    )


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset; Defender's 7 fractional digits are cut to Python's 6."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:digits][:6].ljust(6, "0") + rest[digits:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("time zone missing")
    return parsed.astimezone(UTC)


def message_object(body: str | bytes, *, what: str, max_chars: int) -> dict[str, Any]:
    """A queue message's body as a JSON object, or a ValidationError (field ``body``) saying what it is instead."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what} is not UTF-8 text", field="body") from exc
    if len(body) > max_chars:
        raise ValidationError(f"{what} is too large ({len(body)} characters)", field="body")
    try:
        raw = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{what} is not JSON: {exc.msg}", field="body") from exc
    if not isinstance(raw, dict):
        raise ValidationError(f"{what} must be a JSON object", field="body")
    return raw


def parse_job(body: str | bytes) -> Job:
    """Validate a job message body; ``ValidationError.field`` names the first field at fault."""
    raw = message_object(body, what="job message", max_chars=_MAX_BODY_CHARS)
    if raw.get("v") != JOB_VERSION:
        raise ValidationError(f"unsupported job version {raw.get('v')!r} (expected {JOB_VERSION})", field="v")
    return Job(
        tenant_id=_tenant_id(raw),
        feed=cast(Feed, _choice(raw, "feed", FEEDS)),
        sweep_id=_text(raw, "sweep_id"),
        enqueued_at=_time(raw, "enqueued_at", required=True) or datetime.now(UTC),
        mode=cast(Mode, _choice(raw, "mode", MODES, default="scheduled")),
        since=_time(raw, "since"),
        until=_time(raw, "until"),
        after_lease=_time(raw, "after_lease"),
    )


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValidationError(f"job field {name!r} must be a non-empty string", field=name)
    return value.strip()


def _tenant_id(raw: dict[str, Any]) -> str:
    value = _text(raw, "tenant_id")
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValidationError(f"job field 'tenant_id' is not a GUID: {value[:64]!r}", field="tenant_id") from exc


def _choice(raw: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = raw.get(name, default)
    if value not in allowed:
        raise ValidationError(f"job field {name!r} must be one of {', '.join(allowed)} (got {value!r})", field=name)
    return str(value)


def _time(raw: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    value = raw.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"job field {name!r} must be an ISO 8601 time", field=name)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValidationError(f"job field {name!r} is not an ISO 8601 time: {value[:64]!r}", field=name) from exc
