"""Custom indicators (IoCs): the validated model, every field checked before any call.

Facts and sources in docs/microsoft-apis.md §Indicators:

- types ``FileSha1`` ``FileSha256`` ``FileMd5`` ``CertificateThumbprint`` ``IpAddress`` ``DomainName`` ``Url``
  (https://learn.microsoft.com/defender-endpoint/api/ti-indicator);
- actions ``Allowed`` ``Audit`` ``Warn`` ``Block`` ``BlockAndRemediate``; ``Alert`` and ``AlertAndBlock`` are
  legacy (supported until January 2022) and refused here with their replacement named; which action each
  type takes (https://learn.microsoft.com/defender-endpoint/indicators-overview);
- ``title`` and ``description`` required, ``generateAlert`` must be true with ``Audit``
  (https://learn.microsoft.com/defender-endpoint/api/post-ti-indicator);
- each type's values: ``shared.domain.indicator_values``; indicators as Defender lists them:
  ``shared.domain.indicator_remote``.

``parse_indicators`` checks a whole set and raises one ``IndicatorSetError`` naming every bad row (its line
or index) and field, so nothing is sent for a set with a bad row. Values are normalised so two spellings of
one indicator compare equal: hashes, thumbprints and domains lower-case, IPv6 in 8 segments, times in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast, get_args

from shared.domain.errors import ValidationError
from shared.domain.indicator_values import (
    CONTROL,
    INDICATOR_TYPES,
    IndicatorType,
    InvalidValue,
    Key,
    clip,
    normalise_value,
)

Action = Literal["Allowed", "Audit", "Warn", "Block", "BlockAndRemediate"]
Severity = Literal["Informational", "Low", "Medium", "High"]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
LEGACY_ACTIONS: Final[Mapping[str, str]] = {
    "Alert": "Audit with generateAlert true",
    "AlertAndBlock": "BlockAndRemediate (files) or Block with generateAlert true",
}
_FILE_ACTIONS: Final[frozenset[Action]] = frozenset(ACTIONS)
_NETWORK_ACTIONS: Final[frozenset[Action]] = frozenset({"Allowed", "Audit", "Warn", "Block"})
ACTIONS_BY_TYPE: Final[Mapping[IndicatorType, frozenset[Action]]] = {
    "FileSha1": _FILE_ACTIONS,
    "FileSha256": _FILE_ACTIONS,
    "FileMd5": _FILE_ACTIONS,
    "CertificateThumbprint": frozenset({"Allowed", "BlockAndRemediate"}),
    "IpAddress": _NETWORK_ACTIONS,
    "DomainName": _NETWORK_ACTIONS,
    "Url": _NETWORK_ACTIONS,
}
# The documented body fields (post-ti-indicator), in the API's own camelCase.
FIELDS: Final = (
    "indicatorValue", "indicatorType", "action", "title", "description", "severity", "expirationTime",
    "rbacGroupNames", "generateAlert", "application", "recommendedActions",
)  # fmt: skip
# The relay's own bounds (the docs give none): they keep one set inside a queue job's blob and a log line.
MAX_TITLE, MAX_TEXT, MAX_NAME, MAX_GROUPS = 1000, 10_000, 256, 100
MAX_PROBLEMS_LISTED: Final = 50


@dataclass(frozen=True)
class Indicator:
    indicator_type: IndicatorType
    value: str  # normalised
    action: Action
    title: str
    description: str
    severity: Severity = "Informational"
    expiration_time: datetime | None = None  # UTC, whole seconds
    rbac_group_names: tuple[str, ...] = ()  # sorted: the order carries no meaning
    generate_alert: bool = False
    application: str | None = None
    recommended_actions: str | None = None

    @property
    def key(self) -> Key:
        return (self.indicator_type, self.value)

    def to_api(self) -> dict[str, Any]:
        """The body Defender takes (post-ti-indicator / import-ti-indicators), also the baseline JSON format."""
        body: dict[str, Any] = {
            "indicatorValue": self.value, "indicatorType": self.indicator_type, "action": self.action,
            "title": self.title, "description": self.description, "severity": self.severity,
            "generateAlert": self.generate_alert, "rbacGroupNames": list(self.rbac_group_names),
        }  # fmt: skip
        if self.expiration_time is not None:
            body["expirationTime"] = format_time(self.expiration_time)
        if self.application is not None:
            body["application"] = self.application
        if self.recommended_actions is not None:
            body["recommendedActions"] = self.recommended_actions
        return body

    def settings(self) -> dict[str, object]:
        """What an update can change, by API field name, for drift. ``application`` is left out: Defender sets it
        only when the indicator is created (post-ti-indicator), so a different one could never be brought in line."""
        return {
            "action": self.action, "title": self.title, "description": self.description, "severity": self.severity,
            "expirationTime": self.expiration_time, "rbacGroupNames": self.rbac_group_names,
            "generateAlert": self.generate_alert, "recommendedActions": self.recommended_actions,
        }  # fmt: skip


@dataclass(frozen=True)
class RowProblem:
    where: str  # "line 7" (a file) or "indicators[3]" (a request body)
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class IndicatorSetError(ValidationError):
    """A set of indicators with bad rows; ``problems`` names each one's row and field. Nothing is sent."""

    def __init__(self, problems: Sequence[RowProblem], *, total: int | None = None) -> None:
        self.problems = list(problems)
        count = total if total is not None else len(self.problems)
        shown = "; ".join(str(p) for p in self.problems[:MAX_PROBLEMS_LISTED])
        more = f" (and {count - MAX_PROBLEMS_LISTED} more)" if count > MAX_PROBLEMS_LISTED else ""
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{count} {noun} in the indicators; nothing was sent: {shown}{more}",
            field=self.problems[0].field if self.problems else None,
        )


def parse_indicators(rows: Iterable[tuple[str, Mapping[str, Any]]], *, now: datetime) -> list[Indicator]:
    """Every row checked; duplicates refused; one ``IndicatorSetError`` listing all the bad rows."""
    indicators: list[Indicator] = []
    problems: list[RowProblem] = []
    first_seen: dict[Key, str] = {}
    for where, raw in rows:
        try:
            indicator = parse_indicator(raw, now=now)
        except InvalidValue as bad:
            problems.append(RowProblem(where, bad.field, bad.message))
            continue
        if indicator.key in first_seen:
            problems.append(RowProblem(where, "indicatorValue", f"duplicate of {first_seen[indicator.key]}"))
            continue
        first_seen[indicator.key] = where
        indicators.append(indicator)
    if problems:
        raise IndicatorSetError(problems)
    return indicators


def parse_indicator(raw: Mapping[str, Any], *, now: datetime) -> Indicator:
    """One row; raises ``InvalidValue`` (field, message) for the first problem found."""
    if not isinstance(raw, Mapping):
        raise InvalidValue("row", "must be an object of indicator fields")
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        raise InvalidValue(unknown[0][:64], f"unknown field (the fields are {', '.join(FIELDS)})")
    kind = _indicator_type(raw.get("indicatorType"))
    value = normalise_value(kind, raw.get("indicatorValue"))
    action = _action(kind, raw.get("action"))
    generate_alert = _bool(raw.get("generateAlert"), "generateAlert")
    if action == "Audit" and not generate_alert:
        raise InvalidValue("generateAlert", "must be true when action is Audit")
    return Indicator(
        indicator_type=kind,
        value=value,
        action=action,
        title=_text(raw.get("title"), "title", MAX_TITLE, required=True) or "",
        description=_text(raw.get("description"), "description", MAX_TEXT, required=True) or "",
        severity=_severity(raw.get("severity")),
        expiration_time=_expiration(raw.get("expirationTime"), now),
        rbac_group_names=_groups(raw.get("rbacGroupNames")),
        generate_alert=generate_alert,
        application=_text(raw.get("application"), "application", MAX_NAME),
        recommended_actions=_text(raw.get("recommendedActions"), "recommendedActions", MAX_TEXT),
    )


def _indicator_type(value: Any) -> IndicatorType:
    if value is None or value == "":
        raise InvalidValue("indicatorType", f"is required ({', '.join(INDICATOR_TYPES)})")
    if value not in INDICATOR_TYPES:
        raise InvalidValue("indicatorType", f"must be one of {', '.join(INDICATOR_TYPES)} (got {clip(value)})")
    return cast(IndicatorType, value)


def _action(kind: IndicatorType, value: Any) -> Action:
    if value in LEGACY_ACTIONS:
        raise InvalidValue(
            "action", f"{value} is a legacy action (supported until January 2022); use {LEGACY_ACTIONS[value]}"
        )
    if value not in ACTIONS:
        raise InvalidValue("action", f"must be one of {', '.join(ACTIONS)} (got {clip(value)})")
    allowed = ACTIONS_BY_TYPE[kind]
    if value not in allowed:
        raise InvalidValue(
            "action", f"a {kind} indicator takes {', '.join(a for a in ACTIONS if a in allowed)} (got {value})"
        )
    return cast(Action, value)


def _severity(value: Any) -> Severity:
    if value is None or value == "":
        return "Informational"
    if value not in SEVERITIES:
        raise InvalidValue("severity", f"must be one of {', '.join(SEVERITIES)} (got {clip(value)})")
    return cast(Severity, value)


def _bool(value: Any, name: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValue(name, f"must be true or false (got {clip(value)})")


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidValue(name, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidValue(name, f"must be text (got {type(value).__name__})")
    text = value.strip()
    if len(text) > limit:
        raise InvalidValue(name, f"must be at most {limit:,} characters (got {len(text):,})")
    if CONTROL.search(text.replace("\n", " ").replace("\t", " ")):
        raise InvalidValue(name, "must not contain control characters")
    return text


def _expiration(value: Any, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValue("expirationTime", "must be an ISO 8601 time such as 2027-01-31T00:00:00Z")
    try:
        moment = parse_time(value)
    except ValueError:
        raise InvalidValue("expirationTime", f"must be an ISO 8601 time with a zone (got {clip(value)})") from None
    if moment <= now:
        raise InvalidValue("expirationTime", f"must be in the future (got {format_time(moment)})")
    return moment


def _groups(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    names = [v.strip() for v in value.split(";")] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidValue("rbacGroupNames", "must be a list of device group names")
    cleaned = sorted({n.strip() for n in names if n.strip()})
    if len(cleaned) > MAX_GROUPS or any(len(n) > MAX_NAME or CONTROL.search(n) for n in cleaned):
        raise InvalidValue("rbacGroupNames", f"at most {MAX_GROUPS} names of at most {MAX_NAME} characters each")
    return tuple(cleaned)


def parse_time(value: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset, to UTC whole seconds (Defender's 7 fractional digits are dropped)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = re.sub(r"\.\d+", "", text, count=1)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("time zone missing")
    return moment.astimezone(UTC).replace(microsecond=0)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
