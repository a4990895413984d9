"""A hunt and its runs: one KQL query, one optional ``Timespan``, one run per selected tenant.

A run moves ``queued`` -> ``running`` -> one final state: ``done`` (rows stored), ``failed`` (kind, message,
remedy), ``skipped`` (the tenant left the registry or was disabled) or ``cancelled`` (the query itself was
refused before the run was tried). ``throttled`` is ``running`` handed back to the queue until ``retry_at``.
The hunt is ``probing`` until its first tenant has proven the query, then ``running``, and ``done`` when
every run is final; ``failed`` when Graph refused the query itself (docs/hunting.md "The flow").
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from shared.domain.errors import ValidationError

RunState = Literal["queued", "running", "throttled", "done", "failed", "skipped", "cancelled"]
RUN_STATES: Final[tuple[RunState, ...]] = ("queued", "running", "throttled", "done", "failed", "skipped", "cancelled")
FINAL_STATES: Final = frozenset({"done", "failed", "skipped", "cancelled"})
HuntState = Literal["probing", "running", "done", "failed"]

# A Table string property holds 64 KiB of UTF-16: 30,000 characters leave room for the rest of the entity.
MAX_QUERY_CHARS: Final = 30_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The Timespan forms of https://learn.microsoft.com/graph/api/security-security-runhuntingquery: a duration
# (P30D), date/date, duration/date, date/duration, or a single date (until now).
_DURATION = r"P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?"
_DATE = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
_TIMESPAN = re.compile(rf"(?:{_DURATION}|{_DATE})(?:/(?:{_DURATION}|{_DATE}))?")
_HUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,79}")


def parse_query(value: object) -> str:
    """The KQL text as Graph gets it; a ValidationError names ``query`` when it cannot be a query."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("query is required: the KQL text of the hunt", field="query")
    text = value.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError(f"query is {len(text)} characters; the limit is {MAX_QUERY_CHARS:,}", field="query")
    if _CONTROL.search(text):
        raise ValidationError("query must not contain control characters (tabs and newlines are fine)", field="query")
    return text


def parse_timespan(value: object) -> str | None:
    """``None`` (Graph's default: 30 days) or one of the documented ISO 8601 forms, e.g. ``P7D``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 100 or not _TIMESPAN.fullmatch(value.strip()):
        raise ValidationError(
            "timespan must be ISO 8601 as runHuntingQuery takes it: a duration (P7D, PT12H), start/end, "
            f"duration/end, start/duration or a start date (got {str(value)[:40]!r})",
            field="timespan",
        )
    return value.strip()


def parse_hunt_id(value: str, *, field: str = "huntId") -> str:
    if not isinstance(value, str) or not _HUNT_ID.fullmatch(value):
        raise ValidationError(f"{field} must be a hunt id (letters, digits, dashes; got {value[:40]!r})", field=field)
    return value


def new_hunt_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class HuntSpec:
    """What was asked: the query, its timespan, which tenants (``None``: every enabled one), and by whom."""

    query: str
    timespan: str | None = None
    tenant_ids: tuple[str, ...] | None = None
    requested_by: str = "anonymous"
    schedule_id: str | None = None  # set when the timer started it for a saved hunt
    name: str = ""


@dataclass(frozen=True)
class Hunt:
    hunt_id: str
    query: str
    timespan: str | None
    requested_by: str
    created_at: datetime
    tenant_count: int
    schedule_id: str | None = None
    name: str = ""
    fanned_out: bool = False  # every run has its job on the queue (the probe proved the query)
    query_error: str = ""  # Microsoft's message when Graph refused the query itself


@dataclass(frozen=True)
class TenantRun:
    hunt_id: str
    tenant_id: str
    tenant_name: str
    rank: int  # probe order: the healthiest tenants prove the query first
    state: RunState = "queued"
    rows: int = 0
    chunks: int = 0
    attempt: str = ""  # the attempt whose chunks hold the rows (earlier attempts' blobs are never read)
    columns: tuple[tuple[str, str], ...] = ()
    limit: str = ""  # why the rows may be incomplete (a documented limit was reached)
    error_kind: str = ""
    message: str = ""
    remedy: str = ""
    retry_at: datetime | None = None
    updated_at: datetime | None = None
    tries: int = 0
    etag: str | None = field(default=None, compare=False)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def hunt_state(hunt: Hunt, runs: list[TenantRun]) -> HuntState:
    if hunt.query_error:
        return "failed"
    if runs and all(run.final for run in runs):
        return "done"
    return "running" if hunt.fanned_out else "probing"
