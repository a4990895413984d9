"""Indicators as Defender lists them (whoever made them), and the outcome of one indicator of an import.

Read leniently: an indicator made in the portal may hold what the relay refuses to send (a legacy action,
a private IP, a past expiration); it is kept as listed, and the relay never changes it unless it made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from shared.domain.indicator import Indicator, parse_time
from shared.domain.indicator_values import INDICATOR_TYPES, IndicatorType, InvalidValue, Key, normalise_value


@dataclass(frozen=True)
class ExistingIndicator:
    """An indicator as the list API returns it: its id, its key, who made it, and the record itself."""

    id: str
    key: Key
    created_by: str  # the app id or user that submitted it (ti-indicator: createdBy)
    created_by_source: str  # its display name (createdBySource / source)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def differences(self, wanted: Indicator) -> list[str]:
        """The API fields of ``wanted`` this indicator does not hold (``Indicator.settings``), read straight
        from the record: a re-push compares 500 records per tenant, so no object is built for each."""
        return [name for name, value in wanted.settings().items() if _setting(self.raw, name) != value]


def _setting(raw: Mapping[str, Any], name: str) -> object:
    """One setting of a listed record, written as ``Indicator`` holds it (defaults filled, times in UTC)."""
    return _READERS.get(name, _or_none)(raw.get(name))


def _or_none(value: Any) -> object:
    return value or None  # action (as listed), recommendedActions


def _groups(value: Any) -> object:
    return tuple(sorted(str(g) for g in value)) if isinstance(value, list) and value else ()


def _expiration(value: Any) -> object:
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        return value  # unreadable: differs from anything the relay sends, so it is brought in line


_READERS: Final[Mapping[str, Callable[[Any], object]]] = {
    "severity": lambda v: v or "Informational",
    "title": lambda v: v or "",
    "description": lambda v: v or "",
    "generateAlert": lambda v: v is True or str(v).lower() == "true",
    "rbacGroupNames": _groups,
    "expirationTime": _expiration,
}


def existing_from_api(raw: Mapping[str, Any]) -> ExistingIndicator | None:
    """Lenient: anything with an id, a known type and a value is kept (None otherwise).

    An indicator made in the portal may hold what the relay refuses (a legacy action, a private IP, a past
    expiration): it is listed as it is, and compared field by field (``differences``) only when it is the
    relay's own.
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
        raw=raw,
    )


@dataclass(frozen=True)
class ImportOutcome:
    """One indicator of an import call: its id when it was written, or why Defender refused it."""

    value: str
    id: str | None
    failed: bool
    reason: str = ""
