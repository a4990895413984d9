"""The tenant registry: which customer tenants the relay serves, in which cloud, for which feeds.

Two options shape the Graph feeds: ``expand_incident_alerts`` asks ``graph-incidents`` for
``$expand=alerts`` (off by default: large tenants have seen 500s with it), and ``service_sources`` limits
``graph-alerts`` to some ``serviceSource`` values (``None``: every Defender product's alerts).

A tenant's configuration and its health live in one Table storage entity (table ``tenants``,
PartitionKey ``tenant``, RowKey = tenant id). Health updates merge only the health columns under the
entity's ETag, so a health write never undoes a concurrent configuration change, and two workers
recording the same tenant's outcome never lose a failure count.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.domain.catalogue import ALLOW_LIST_NAMES, DEFAULT_FEEDS, FEED_SPECS, FEEDS, SERVICE_SOURCES, Feed
from shared.domain.clouds import Cloud, Region, endpoints_for, parse_cloud, parse_region
from shared.domain.errors import ValidationError


def is_guid(value: str) -> bool:
    """A GUID in its canonical hyphenated form (any case), as tenant and app ids are written."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


_FIELDS = (
    "tenant_id", "display_name", "cloud", "region", "enabled", "feeds", "allowed_actions",
    "expand_incident_alerts", "service_sources",
)  # fmt: skip
# An evolvable enum member name (camelCase): also what keeps a value from changing the OData filter.
_SERVICE_SOURCE = re.compile(r"[a-z][A-Za-z0-9]{1,63}")


@dataclass(frozen=True)
class Tenant:
    tenant_id: str  # lowercased GUID
    display_name: str
    cloud: Cloud = Cloud.COMMERCIAL
    region: Region = Region.AUTO
    enabled: bool = True
    feeds: frozenset[Feed] = DEFAULT_FEEDS
    allowed_actions: frozenset[str] | None = None  # None: RELAY_DEFAULT_ALLOWED_ACTIONS
    expand_incident_alerts: bool = False  # graph-incidents: $expand=alerts
    service_sources: frozenset[str] | None = None  # graph-alerts: serviceSource filter; None: all

    def actions_allowed(self, default: frozenset[str]) -> frozenset[str]:
        return default if self.allowed_actions is None else self.allowed_actions

    def required_roles(self, resource: str) -> frozenset[str]:
        """Roles the tenant's enabled feeds need in a token for ``resource``."""
        roles: set[str] = set()
        for feed in self.feeds:
            need = FEED_SPECS[feed]
            if need.resource == resource:
                roles |= need.roles
        return frozenset(roles)


@dataclass(frozen=True)
class TenantHealth:
    last_success: datetime | None = None
    last_error_kind: str | None = None
    last_error_message: str | None = None
    last_error_remedy: str | None = None
    consecutive_failures: int = 0
    last_check: datetime | None = None
    # "actions" / "triage" when the failure concerns response actions / triage only (the feeds read fine).
    last_error_scope: str | None = None


# What a success proves. A sweep ("feeds") proves the token and the feeds work, which heals every failure
# except one that only concerns response actions or triage (e.g. ``check`` found Machine.Isolate or
# SecurityAlert.ReadWrite.All missing): that one stays until a ``check`` ("all") passes, so a healthy sweep
# never hides it from the partner.
SuccessScope = Literal["all", "feeds"]
SWEEP_BLIND_SCOPES = ("actions", "triage")


def success_clears(last_error_scope: str | None, scope: SuccessScope) -> bool:
    return scope == "all" or last_error_scope not in SWEEP_BLIND_SCOPES


def parse_tenant(raw: Mapping[str, Any], *, where: str, ignore_unknown: bool = False) -> Tenant:
    """A Tenant from JSON-like input; errors name ``where`` (e.g. "tenants[3]") and the field."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: must be an object", field=where)
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown and not ignore_unknown:
        raise _invalid(where, unknown[0], f"unknown field (allowed: {', '.join(_FIELDS)})")
    tenant_id = raw.get("tenant_id")
    if not isinstance(tenant_id, str) or not is_guid(tenant_id.strip()):
        raise _invalid(where, "tenant_id", f"'{tenant_id}' is not a tenant id (GUID)")
    name = raw.get("display_name", tenant_id)
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise _invalid(where, "display_name", "must be a non-empty string of at most 256 characters")
    try:
        cloud = parse_cloud(str(raw.get("cloud", "commercial")))
        region = parse_region(str(raw.get("region", "auto")))
        endpoints_for(cloud, region)
    except ValidationError as exc:
        raise _invalid(where, exc.field or "cloud", exc.message) from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _invalid(where, "enabled", "must be true or false")
    feeds = _names(raw.get("feeds", sorted(DEFAULT_FEEDS)), set(FEEDS), where, "feeds")
    if not feeds:
        raise _invalid(where, "feeds", f"must name at least one of {', '.join(FEEDS)}")
    actions = raw.get("allowed_actions")
    allowed = None if actions is None else _names(actions, ALLOW_LIST_NAMES, where, "allowed_actions")
    expand = raw.get("expand_incident_alerts", False)
    if not isinstance(expand, bool):
        raise _invalid(where, "expand_incident_alerts", "must be true or false")
    return Tenant(
        tenant_id=row_key(tenant_id),
        display_name=name.strip(),
        cloud=cloud,
        region=region,
        enabled=enabled,
        feeds=frozenset(feeds),  # type: ignore[arg-type]  # checked against FEEDS above
        allowed_actions=frozenset(allowed) if allowed is not None else None,
        expand_incident_alerts=expand,
        service_sources=_service_sources(raw.get("service_sources"), where),
    )


def _service_sources(value: Any, where: str) -> frozenset[str] | None:
    """``None`` / ``"all"`` / ``[]``: every source; else camelCase serviceSource names (an evolvable enum: the
    names are checked for their form, not against a closed list)."""
    if value is None or value == "all":
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(where, "service_sources", 'must be "all" or a list of serviceSource values')
    names = {v.strip() for v in value}
    bad = sorted(n for n in names if not _SERVICE_SOURCE.fullmatch(n))
    if bad:
        raise _invalid(
            where, "service_sources", f"'{bad[0]}' is not a serviceSource value (e.g. {', '.join(SERVICE_SOURCES[:3])})"
        )
    return frozenset(names) or None


def _names(value: Any, allowed: Iterable[str], where: str, field: str) -> set[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(where, field, "must be a list of names")
    names = {v.strip().lower() for v in value}
    unknown = sorted(names - set(allowed))
    if unknown:
        raise _invalid(where, field, f"unknown value(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return names


def _invalid(where: str, field: str, message: str) -> ValidationError:
    return ValidationError(f"{where}.{field}: {message}", field=field)


def load_tenants_json(text: str, *, ignore_unknown: bool = False) -> list[Tenant]:
    """Tenants from a JSON list or ``{"tenants": [...]}``; every error names its index and field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"tenants file is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(data, dict) and "tenants" in data:
        data = data["tenants"]
    if not isinstance(data, list):
        raise ValidationError('tenants file must be a JSON list or {"tenants": [...]}')
    tenants = [parse_tenant(item, where=f"tenants[{i}]", ignore_unknown=ignore_unknown) for i, item in enumerate(data)]
    seen: dict[str, int] = {}
    for i, tenant in enumerate(tenants):
        if tenant.tenant_id in seen:
            raise _invalid(f"tenants[{i}]", "tenant_id", f"duplicate of tenants[{seen[tenant.tenant_id]}]")
        seen[tenant.tenant_id] = i
    return tenants


def tenant_to_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant_id": tenant.tenant_id,
        "display_name": tenant.display_name,
        "cloud": str(tenant.cloud),
        "region": str(tenant.region),
        "enabled": tenant.enabled,
        "feeds": sorted(tenant.feeds),
        "allowed_actions": None if tenant.allowed_actions is None else sorted(tenant.allowed_actions),
        "expand_incident_alerts": tenant.expand_incident_alerts,
        "service_sources": None if tenant.service_sources is None else sorted(tenant.service_sources),
    }


def row_key(tenant_id: str) -> str:
    """How a tenant id is stored (RowKey, and the key of a registry snapshot): trimmed, lowercase."""
    return tenant_id.strip().lower()
