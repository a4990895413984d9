"""One tenant's custom indicators, as the MDE indicators API keeps them (data and rules, no HTTP).

Documented (pages under https://learn.microsoft.com/defender-endpoint/api/, quoted in docs/microsoft-apis.md
§Indicators): the fields of ti-indicator; required ``indicatorValue``, ``indicatorType``, ``action``, ``title``,
``description``; ``generateAlert`` true with ``Audit``; no CIDR; "submit or update"; 15,000 active indicators
per tenant; list shows "all active Indicators", and with ``Ti.ReadWrite`` only those the app created;
``application`` is set only when an indicator is created. Only external IPs
(https://learn.microsoft.com/defender-endpoint/indicator-ip-domain); which action each type takes
(https://learn.microsoft.com/defender-endpoint/indicators-overview).

Inferred (INF, docs/microsoft-apis.md §Indicators): one indicator per (type, value), compared without case
except URLs; expired indicators are not active (not listed, not counted); a write that would pass the cap,
or update an indicator the caller cannot see, is refused with a reason; ids are increasing numbers.
"""

from __future__ import annotations

import heapq
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.defender.odata import ODataError, parse_datetime

TYPES = ("FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint", "IpAddress", "DomainName", "Url")
ACTIONS = ("Warn", "Block", "Audit", "Alert", "AlertAndBlock", "BlockAndRemediate", "Allowed")
SEVERITIES = ("Informational", "Low", "Medium", "High")
_HEX = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32, "CertificateThumbprint": 40}
_NETWORK = frozenset({"Allowed", "Audit", "Warn", "Block", "Alert", "AlertAndBlock"})
_BY_TYPE = {
    **dict.fromkeys(("FileSha1", "FileSha256", "FileMd5"), frozenset(ACTIONS)),
    "CertificateThumbprint": frozenset({"Allowed", "BlockAndRemediate", "AlertAndBlock"}),
    **dict.fromkeys(("IpAddress", "DomainName", "Url"), _NETWORK),
}
_HEX_PATTERNS = {kind: re.compile(rf"[0-9a-fA-F]{{{length}}}") for kind, length in _HEX.items()}
_URL = re.compile(r"https?://[^/\s]+", re.IGNORECASE)
_DOMAIN = re.compile(r"(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{2,63}\.?")
_UPDATABLE = ("action", "title", "description", "severity", "expirationTime", "recommendedActions",
              "rbacGroupNames", "generateAlert")  # fmt: skip


class IndicatorRefused(ValueError):
    """A body the API answers 400 (or an import result with ``isFailed``) for; the message says why."""


@dataclass(frozen=True)
class Creator:
    """Who submits: an app (``createdBy`` = its app id, ``sourceType`` AadApp) or a portal user."""

    created_by: str
    name: str
    source_type: str = "AadApp"


@dataclass
class IndicatorBook:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> the API's record, in its field order
    by_key: dict[tuple[str, str], str] = field(default_factory=dict)
    next_id: int = 1
    writes: Counter[str] = field(default_factory=Counter)  # created / updated / deleted (ground truth)
    expiring: list[tuple[datetime, str]] = field(default_factory=list)  # heap of (expirationTime, id)

    def active(self, now: datetime) -> list[dict[str, Any]]:
        """Indicators not expired (expired ones are dropped: they are not active, so not listed or counted)."""
        self._expire(now)
        return list(self.records.values())

    def _expire(self, now: datetime) -> None:
        while self.expiring and self.expiring[0][0] <= now:
            moment, ident = heapq.heappop(self.expiring)
            record = self.records.get(ident)
            if record is not None and record["expirationTime"] == moment:  # not changed by an update since
                self._drop(ident)

    def _expires(self, record: dict[str, Any]) -> None:
        if record["expirationTime"] is not None:
            heapq.heappush(self.expiring, (record["expirationTime"], record["id"]))

    def visible(self, app_id: str, *, all_indicators: bool, now: datetime) -> list[dict[str, Any]]:
        return [r for r in self.active(now) if all_indicators or r["createdBy"] == app_id]

    def submit(self, body: Any, creator: Creator, *, all_indicators: bool, now: datetime, cap: int) -> dict[str, Any]:
        """Submit or update one indicator; ``IndicatorRefused`` says why not."""
        fields = validate(body, now)
        key = _key(fields["indicatorType"], fields["indicatorValue"])
        self._expire(now)
        existing = self.records.get(self.by_key.get(key, ""))
        if existing is not None:
            if not all_indicators and existing["createdBy"] != creator.created_by:
                raise IndicatorRefused(
                    f"An indicator for {fields['indicatorValue']} already exists and was created by another "
                    "identity; this application can only update indicators it created (Ti.ReadWrite)"
                )
            existing.update({name: fields[name] for name in _UPDATABLE})
            existing.update(lastUpdateTime=now, lastUpdatedBy=creator.name)
            self._expires(existing)
            self.writes["updated"] += 1
            return existing
        if len(self.records) >= cap:
            raise IndicatorRefused(
                f"The tenant has reached the limit of {cap} active indicators ({len(self.records)} active); "
                "delete indicators or let them expire before adding more"
            )
        return self._create(fields, creator, key, now)

    def _create(self, fields: dict[str, Any], creator: Creator, key: tuple[str, str], now: datetime) -> dict[str, Any]:
        ident = str(self.next_id)
        self.next_id += 1
        record = {
            "id": ident, "indicatorValue": fields["indicatorValue"], "indicatorType": fields["indicatorType"],
            "action": fields["action"], "application": fields["application"], "source": creator.name,
            "sourceType": creator.source_type, "createdBySource": creator.name, "createdBy": creator.created_by,
            "createdByDisplayName": creator.name, "title": fields["title"], "creationTimeDateTimeUtc": now,
            "expirationTime": fields["expirationTime"], "lastUpdateTime": now, "lastUpdatedBy": creator.name,
            "severity": fields["severity"], "description": fields["description"],
            "recommendedActions": fields["recommendedActions"], "rbacGroupNames": fields["rbacGroupNames"],
            "rbacGroupIds": [], "generateAlert": fields["generateAlert"],
        }  # fmt: skip
        self.records[ident] = record
        self.by_key[key] = ident
        self._expires(record)
        self.writes["created"] += 1
        return record

    def delete(self, ids: list[str], app_id: str, *, all_indicators: bool, now: datetime) -> list[str]:
        """Delete all of ``ids`` or none; returns the ids that are not found (for this caller)."""
        visible = {r["id"] for r in self.visible(app_id, all_indicators=all_indicators, now=now)}
        missing = [i for i in ids if i not in visible]
        if not missing:
            for ident in ids:
                self._drop(ident)
                self.writes["deleted"] += 1
        return missing

    def _drop(self, ident: str) -> None:
        record = self.records.pop(ident, None)
        if record is not None:
            self.by_key.pop(_key(record["indicatorType"], record["indicatorValue"]), None)


def _key(kind: str, value: str) -> tuple[str, str]:
    return (kind, value if kind == "Url" else value.lower())


def validate(body: Any, now: datetime) -> dict[str, Any]:
    """The documented checks of one indicator body; the fields with their defaults, or ``IndicatorRefused``."""
    if not isinstance(body, dict):
        raise IndicatorRefused("Request body is incorrect: an indicator must be a JSON object")
    for name in ("indicatorValue", "indicatorType", "action", "title", "description"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise IndicatorRefused(f"Request body is incorrect: {name} is required")
    kind, value, action = body["indicatorType"], body["indicatorValue"].strip(), body["action"]
    if kind not in TYPES:
        raise IndicatorRefused(f"Request body is incorrect: indicatorType must be one of {', '.join(TYPES)}")
    if action not in ACTIONS or action not in _BY_TYPE[kind]:
        raise IndicatorRefused(f"Request body is incorrect: action {action!r} is not valid for {kind}")
    _check_value(kind, value)
    generate_alert = body.get("generateAlert", False)
    if not isinstance(generate_alert, bool):
        raise IndicatorRefused("Request body is incorrect: generateAlert must be true or false")
    if action == "Audit" and not generate_alert:
        raise IndicatorRefused("Request body is incorrect: GenerateAlert must be set to TRUE with the Audit action")
    severity = body.get("severity") or "Informational"
    if severity not in SEVERITIES:
        raise IndicatorRefused(f"Request body is incorrect: severity must be one of {', '.join(SEVERITIES)}")
    return {
        "indicatorType": kind, "indicatorValue": value, "action": action, "title": body["title"],
        "description": body["description"], "severity": severity, "generateAlert": generate_alert,
        "expirationTime": _expiration(body.get("expirationTime"), now), "application": body.get("application"),
        "recommendedActions": body.get("recommendedActions"), "rbacGroupNames": _groups(body.get("rbacGroupNames")),
    }  # fmt: skip


def _check_value(kind: str, value: str) -> None:
    if kind in _HEX:
        if not _HEX_PATTERNS[kind].fullmatch(value):
            raise IndicatorRefused(f"Request body is incorrect: {value!r} is not a valid {kind}")
    elif kind == "IpAddress":
        if "/" in value:
            raise IndicatorRefused("Request body is incorrect: CIDR notation for IPs isn't supported")
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise IndicatorRefused(f"Request body is incorrect: {value!r} is not a valid IP address") from None
        if not address.is_global:
            raise IndicatorRefused(f"Request body is incorrect: {value} is an internal IP address")
    elif kind == "Url" and not _URL.match(value):
        raise IndicatorRefused(f"Request body is incorrect: {value!r} is not a valid URL")
    elif kind == "DomainName" and not _DOMAIN.fullmatch(value):
        raise IndicatorRefused(f"Request body is incorrect: {value!r} is not a valid domain name")


def _expiration(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        moment = parse_datetime(str(value))
    except ODataError:
        raise IndicatorRefused("Request body is incorrect: expirationTime is not a valid DateTimeOffset") from None
    if moment <= now:
        raise IndicatorRefused("Request body is incorrect: expirationTime must be in the future")
    return moment


def _groups(value: Any) -> list[str]:
    # The post page types it "Comma-separated list" and its example sends a list: both are accepted.
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise IndicatorRefused("Request body is incorrect: rbacGroupNames must be a list of group names")
    return [n.strip() for n in names if n.strip()]
