"""What a triage write may say, from the page each write goes to. Every value is checked here before any call;
an error names the field and the allowed values. The sets differ between the pages, so each write is checked
against its own:

- Alert (https://learn.microsoft.com/graph/api/security-alert-update, "Request body"): ``status`` new,
  inProgress, resolved; ``classification`` unknown, falsePositive, truePositive, informationalExpectedActivity;
  ``determination`` unknown, apt, malware, securityPersonnel, securityTesting, unwantedSoftware, other,
  multiStagedAttack, compromisedUser, phishing, maliciousUserActivity, clean, insufficientData,
  confirmedUserActivity, lineOfBusinessApplication; ``assignedTo`` a string, or null for no owner.
- Incident (https://learn.microsoft.com/graph/api/security-incident-update): ``status`` active, resolved,
  redirected (the resource page also lists inProgress and awaitingAction; the update page does not, and
  awaitingAction "only Microsoft 365 Defender experts can set"); ``classification`` as for alerts;
  ``determination`` with notMalicious and notEnoughDataToValidate where the alert page has clean and
  insufficientData; ``assignedTo``; ``customTags`` a string collection (it replaces the incident's tags).
- ``unknownFutureValue`` ends every one of those lists: it is the evolvable-enum sentinel, "Don't use"
  (https://learn.microsoft.com/graph/api/resources/security-incident, incidentStatus values), so it is refused.
- Machine tag (https://learn.microsoft.com/defender-endpoint/api/add-or-remove-machine-tags): ``Value`` the tag
  name, ``Action`` Add or Remove.

Lengths the pages do not give (owner, tag, number of tags, alerts per batch) are bounded here so one request
stays small; docs/soar-integration.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from shared.domain.catalogue import ItemKind
from shared.domain.errors import ValidationError, clip


def _clip(value: object) -> str:
    return clip(value, 48)  # enum names and ids are short: a shorter quote than the HTTP inputs'


ALERT_STATUSES: Final = ("new", "inProgress", "resolved")
CLASSIFICATIONS: Final = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
_DETERMINATIONS_HEAD: Final = (
    "unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
    "multiStagedAttack", "compromisedUser", "phishing", "maliciousUserActivity",
)  # fmt: skip
ALERT_DETERMINATIONS: Final = (
    *_DETERMINATIONS_HEAD, "clean", "insufficientData", "confirmedUserActivity", "lineOfBusinessApplication",
)  # fmt: skip
INCIDENT_STATUSES: Final = ("active", "resolved", "redirected")
INCIDENT_DETERMINATIONS: Final = (
    *_DETERMINATIONS_HEAD, "notMalicious", "notEnoughDataToValidate", "confirmedUserActivity",
    "lineOfBusinessApplication",
)  # fmt: skip
TAG_ACTIONS: Final = ("Add", "Remove")

MAX_OWNER_CHARS: Final = 256  # an owner is "free editable text"; a UPN is at most 113 characters
MAX_TAG_CHARS: Final = 128
MAX_CUSTOM_TAGS: Final = 50
MAX_BATCH: Final = 100  # alerts per batch: 3 Graph calls each stay within a few minutes of the 150/min limit

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
# Alert ids as Graph writes them: "da637551227677560813_-961444813", "fa" + 32 hex, GUIDs. Anything else
# (slashes, quotes, spaces) is refused before it reaches a URL.
_ALERT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_INCIDENT_ID: Final = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class Changes:
    """The properties one PATCH sets, in Graph's names and order (``values``: name, value)."""

    values: tuple[tuple[str, Any], ...]

    def as_body(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self.values}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.values)


@dataclass(frozen=True)
class TagChange:
    value: str
    action: Literal["Add", "Remove"]


@dataclass(frozen=True)
class _Enum:
    name: str
    allowed: tuple[str, ...]


ALERT_ENUMS: Final = (
    _Enum("status", ALERT_STATUSES),
    _Enum("classification", CLASSIFICATIONS),
    _Enum("determination", ALERT_DETERMINATIONS),
)
INCIDENT_ENUMS: Final = (
    _Enum("status", INCIDENT_STATUSES),
    _Enum("classification", CLASSIFICATIONS),
    _Enum("determination", INCIDENT_DETERMINATIONS),
)
ALERT_FIELDS: Final = ("status", "classification", "determination", "assignedTo")
INCIDENT_FIELDS: Final = (*ALERT_FIELDS, "customTags")


def _enum(spec: _Enum, value: object, kind: ItemKind) -> str:
    if not isinstance(value, str) or value not in spec.allowed:
        raise ValidationError(
            f"{spec.name} {_clip(value)} is not a documented {kind} {spec.name}; use one of: {', '.join(spec.allowed)}",
            field=spec.name,
        )
    return value


def _text(value: object, *, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string (got {type(value).__name__})", field=field)
    text = value.strip()
    if not 1 <= len(text) <= limit:
        raise ValidationError(f"{field} must be 1 to {limit} characters (got {len(text)})", field=field)
    if _CONTROL.search(text):
        raise ValidationError(f"{field} must not contain control characters", field=field)
    return text


def _owner(value: object) -> str | None:
    return None if value is None else _text(value, field="assignedTo", limit=MAX_OWNER_CHARS)


def _custom_tags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValidationError(f"customTags must be a list of strings (got {type(value).__name__})", field="customTags")
    if len(value) > MAX_CUSTOM_TAGS:
        raise ValidationError(f"customTags holds at most {MAX_CUSTOM_TAGS} tags (got {len(value)})", field="customTags")
    tags = tuple(_text(tag, field="customTags", limit=MAX_TAG_CHARS) for tag in value)
    if len(set(tags)) != len(tags):
        raise ValidationError("customTags must not repeat a tag", field="customTags")
    return tags


def _changes(body: Mapping[str, Any], kind: ItemKind, enums: tuple[_Enum, ...], names: tuple[str, ...]) -> Changes:
    values: list[tuple[str, Any]] = []
    for spec in enums:
        if spec.name in body:
            values.append((spec.name, _enum(spec, body[spec.name], kind)))
    if "assignedTo" in body:
        values.append(("assignedTo", _owner(body["assignedTo"])))
    if "customTags" in body and "customTags" in names:
        values.append(("customTags", _custom_tags(body["customTags"])))
    if not values:
        raise ValidationError(f"nothing to change: give at least one of {', '.join(names)}", field="body")
    order = {name: index for index, name in enumerate(names)}
    return Changes(tuple(sorted(values, key=lambda item: order[item[0]])))


def alert_changes(body: Mapping[str, Any]) -> Changes:
    """The alert properties a body sets (unknown fields are refused by the caller before this)."""
    return _changes(body, "alert", ALERT_ENUMS, ALERT_FIELDS)


def incident_changes(body: Mapping[str, Any]) -> Changes:
    return _changes(body, "incident", INCIDENT_ENUMS, INCIDENT_FIELDS)


def parse_alert_id(value: object, *, field: str = "alertId") -> str:
    if not isinstance(value, str) or not _ALERT_ID.fullmatch(value):
        raise ValidationError(
            f"{field} must be a Graph alert id (letters, digits, '_', '-', '.'; up to 128) (got {_clip(value)})",
            field=field,
        )
    return value


def parse_incident_id(value: object) -> str:
    if not isinstance(value, str) or not _INCIDENT_ID.fullmatch(value):
        raise ValidationError(
            f"incidentId must be a Graph incident id (digits) (got {_clip(value)})", field="incidentId"
        )
    return value


def parse_alert_ids(value: object) -> tuple[str, ...]:
    """The ``alertIds`` of a batch: 1 to ``MAX_BATCH`` distinct alert ids."""
    if not isinstance(value, list) or not value:
        raise ValidationError(f"alertIds must be a list of 1 to {MAX_BATCH} alert ids", field="alertIds")
    if len(value) > MAX_BATCH:
        raise ValidationError(
            f"alertIds holds at most {MAX_BATCH} alerts (got {len(value)}); split the batch", field="alertIds"
        )
    ids = tuple(parse_alert_id(item, field="alertIds") for item in value)
    repeated = next((i for n, i in enumerate(ids) if i in ids[:n]), None)
    if repeated is not None:
        raise ValidationError(f"alertIds names {_clip(repeated)} twice", field="alertIds")
    return ids


def parse_tag(body: Mapping[str, Any]) -> TagChange:
    """``{"value": tag, "action": "Add"|"Remove"}`` (the page's ``Value`` and ``Action``)."""
    if "value" not in body:
        raise ValidationError(f"value is required (the tag, 1 to {MAX_TAG_CHARS} characters)", field="value")
    tag = _text(body["value"], field="value", limit=MAX_TAG_CHARS)
    action = body.get("action")
    if action not in TAG_ACTIONS:
        raise ValidationError(f"action must be one of: {', '.join(TAG_ACTIONS)} (got {_clip(action)})", field="action")
    return TagChange(tag, "Add" if action == "Add" else "Remove")
