"""Indicators as Defender lists them (whoever made them), and the outcome of one indicator of an import.

Read leniently: an indicator made in the portal may hold what the relay refuses to send (a legacy action,
a private IP, a past expiration), so its settings are parsed without those checks, and a shape the relay
cannot read is kept with ``indicator=None`` (the relay never changes such an indicator unless it made it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from shared.domain.indicator import ACTIONS, SEVERITIES, Action, Indicator, Severity, parse_time
from shared.domain.indicator_values import INDICATOR_TYPES, IndicatorType, InvalidValue, Key, normalise_value


@dataclass(frozen=True)
class ExistingIndicator:
    """An indicator as the list API returns it: its id, who made it, and its settings when they parse."""

    id: str
    key: Key
    created_by: str  # the app id or user that submitted it (ti-indicator: createdBy)
    created_by_source: str  # its display name (createdBySource / source)
    indicator: Indicator | None = None  # None: a shape the relay does not manage (it never changes those)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def existing_from_api(raw: Mapping[str, Any]) -> ExistingIndicator | None:
    """Lenient: anything with an id, a known type and a value is kept (None otherwise), parsed as far as it goes.

    An indicator made in the portal may hold what the relay refuses (a legacy action, a private IP, a past
    expiration), so its settings are read without the checks that guard what the relay sends.
    """
    kind, value, ident = raw.get("indicatorType"), raw.get("indicatorValue"), raw.get("id")
    if kind not in INDICATOR_TYPES or not isinstance(value, str) or ident is None:
        return None
    indicator_type = cast(IndicatorType, kind)
    try:
        normalised = normalise_value(indicator_type, value)
    except InvalidValue:
        normalised = value.strip().lower() if indicator_type != "Url" else value.strip()
    return ExistingIndicator(
        id=str(ident),
        key=(indicator_type, normalised),
        created_by=str(raw.get("createdBy") or ""),
        created_by_source=str(raw.get("createdBySource") or raw.get("source") or raw.get("createdBy") or ""),
        indicator=_settings_of(indicator_type, normalised, raw),
        raw=raw,
    )


def _settings_of(kind: IndicatorType, value: str, raw: Mapping[str, Any]) -> Indicator | None:
    action, severity = raw.get("action"), raw.get("severity") or "Informational"
    if action not in ACTIONS or severity not in SEVERITIES:
        return None
    try:
        expiration = parse_time(str(raw["expirationTime"])) if raw.get("expirationTime") else None
    except ValueError:
        return None
    groups = raw.get("rbacGroupNames") or []
    return Indicator(
        indicator_type=kind, value=value, action=cast(Action, action), title=str(raw.get("title") or ""),
        description=str(raw.get("description") or ""), severity=cast(Severity, severity), expiration_time=expiration,
        rbac_group_names=tuple(sorted(str(g) for g in groups)) if isinstance(groups, list) else (),
        generate_alert=raw.get("generateAlert") is True or str(raw.get("generateAlert")).lower() == "true",
        application=raw.get("application") or None, recommended_actions=raw.get("recommendedActions") or None,
    )  # fmt: skip


@dataclass(frozen=True)
class ImportOutcome:
    """One indicator of an import call: its id when it was written, or why Defender refused it."""

    value: str
    id: str | None
    failed: bool
    reason: str = ""
