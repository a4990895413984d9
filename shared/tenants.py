"""The tenant registry: which customer tenants the relay serves, in which cloud, for which feeds.

A tenant's configuration and its health live in one Table storage entity (table ``tenants``,
PartitionKey ``tenant``, RowKey = tenant id). Health updates merge only the health columns under the
entity's ETag, so a health write never undoes a concurrent configuration change, and two workers
recording the same tenant's outcome never lose a failure count.
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.clouds import Cloud, Region, endpoints_for, parse_cloud, parse_region
from shared.errors import TenantNotFoundError, ValidationError
from shared.validate import is_guid

Feed = Literal["mde-alerts", "xdr-incidents"]
FEEDS: tuple[Feed, ...] = ("mde-alerts", "xdr-incidents")


@dataclass(frozen=True)
class FeedRequirement:
    resource: Literal["mde", "xdr"]
    roles: frozenset[str]


# What each feed needs in the customer's tenant (reference §4.1, §8).
FEED_ROLES: Mapping[Feed, FeedRequirement] = {
    "mde-alerts": FeedRequirement("mde", frozenset({"Alert.Read.All"})),
    "xdr-incidents": FeedRequirement("xdr", frozenset({"Incident.Read.All"})),
}

# Response action -> the MDE application role it needs (reference §6.1). Lookups need LOOKUP_ROLE.
ACTION_ROLES: Mapping[str, str] = {
    "isolate": "Machine.Isolate",
    "unisolate": "Machine.Isolate",
    "scan": "Machine.Scan",
    "restrict": "Machine.RestrictExecution",
    "unrestrict": "Machine.RestrictExecution",
    "collect-package": "Machine.CollectForensics",
    "stop-and-quarantine": "Machine.StopAndQuarantine",
    "offboard": "Machine.Offboard",
}
LOOKUP_ROLE = "Machine.Read.All"
CANCEL_ACTION = "cancel"  # needs the role of the action being cancelled (reference §6.1)
KNOWN_ACTIONS: frozenset[str] = frozenset(ACTION_ROLES) | {CANCEL_ACTION}

_FIELDS = ("tenant_id", "display_name", "cloud", "region", "enabled", "feeds", "allowed_actions")


@dataclass(frozen=True)
class Tenant:
    tenant_id: str  # lowercased GUID
    display_name: str
    cloud: Cloud = Cloud.COMMERCIAL
    region: Region = Region.AUTO
    enabled: bool = True
    feeds: frozenset[Feed] = frozenset({"mde-alerts"})
    allowed_actions: frozenset[str] | None = None  # None: RELAY_DEFAULT_ALLOWED_ACTIONS

    def actions_allowed(self, default: frozenset[str]) -> frozenset[str]:
        return default if self.allowed_actions is None else self.allowed_actions

    def required_roles(self, resource: str) -> frozenset[str]:
        """Roles the tenant's enabled feeds need in a token for ``resource``."""
        roles: set[str] = set()
        for feed in self.feeds:
            need = FEED_ROLES[feed]
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
    # "actions" when the failure concerns response actions only (the feeds read fine), else None.
    last_error_scope: str | None = None


# What a success proves. A sweep ("feeds") proves the token and the feeds work, which heals every failure
# except one that only concerns response actions (e.g. ``check`` found Machine.Isolate missing): that one
# stays until a ``check`` ("all") passes, so a healthy sweep never hides it from the partner.
SuccessScope = Literal["all", "feeds"]


def success_clears(last_error_scope: str | None, scope: SuccessScope) -> bool:
    return scope == "all" or last_error_scope != "actions"


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
    feeds = _names(raw.get("feeds", ["mde-alerts"]), set(FEEDS), where, "feeds")
    if not feeds:
        raise _invalid(where, "feeds", f"must name at least one of {', '.join(FEEDS)}")
    actions = raw.get("allowed_actions")
    allowed = None if actions is None else _names(actions, KNOWN_ACTIONS, where, "allowed_actions")
    return Tenant(
        tenant_id=row_key(tenant_id),
        display_name=name.strip(),
        cloud=cloud,
        region=region,
        enabled=enabled,
        feeds=frozenset(feeds),  # type: ignore[arg-type]  # checked against FEEDS above
        allowed_actions=frozenset(allowed) if allowed is not None else None,
    )


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
    }


PARTITION = "tenant"


def row_key(tenant_id: str) -> str:
    """How a tenant id is stored (RowKey, and the key of a registry snapshot): trimmed, lowercase."""
    return tenant_id.strip().lower()


_HEALTH_RETRIES = 5  # ETag conflicts only happen when workers finish the same tenant at once


class TenantStore:
    """The registry over an azure-data-tables ``TableClient`` for the ``tenants`` table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        # Bumped by every configuration write made through this store, so a ``RegistrySnapshot`` over it
        # sees this process's own changes at once instead of after its ``max_age``.
        self.generation = 0

    def get(self, tenant_id: str) -> Tenant:
        return _tenant_from_entity(self._entity(tenant_id))

    def get_health(self, tenant_id: str) -> TenantHealth:
        return _health_from_entity(self._entity(tenant_id))

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]:
        """Configuration and health from one read (the worker needs both at the start of a job)."""
        entity = self._entity(tenant_id)
        return _tenant_from_entity(entity), _health_from_entity(entity)

    def list(self, *, enabled_only: bool = False) -> list[Tenant]:
        query = f"PartitionKey eq '{PARTITION}'" + (" and enabled eq true" if enabled_only else "")
        tenants = [_tenant_from_entity(e) for e in self._table.query_entities(query)]
        return sorted(tenants, key=lambda t: (t.display_name.lower(), t.tenant_id))

    def list_with_health(self) -> builtins.list[tuple[Tenant, TenantHealth]]:
        rows = self._table.query_entities(f"PartitionKey eq '{PARTITION}'")
        return sorted(
            ((_tenant_from_entity(e), _health_from_entity(e)) for e in rows),
            key=lambda pair: (pair[0].display_name.lower(), pair[0].tenant_id),
        )

    def upsert(self, tenant: Tenant) -> None:
        """Create or update the configuration; health columns are kept (merge)."""
        self._table.upsert_entity(_entity_from_tenant(tenant), mode=UpdateMode.MERGE)
        self.generation += 1

    def delete(self, tenant_id: str) -> None:
        self._entity(tenant_id)  # a clear TenantNotFoundError instead of a silent no-op
        self._table.delete_entity(PARTITION, row_key(tenant_id))
        self.generation += 1

    def set_enabled(self, tenant_id: str, enabled: bool) -> Tenant:
        self._merge(tenant_id, lambda _entity: {"enabled": enabled})
        self.generation += 1
        return self.get(tenant_id)

    def enable(self, tenant_id: str) -> Tenant:
        return self.set_enabled(tenant_id, True)

    def disable(self, tenant_id: str) -> Tenant:
        return self.set_enabled(tenant_id, False)

    def record_success(
        self, tenant_id: str, *, now: datetime | None = None, scope: SuccessScope = "all"
    ) -> TenantHealth:
        at = now or datetime.now(UTC)

        def change(entity: Mapping[str, Any]) -> dict[str, Any]:
            if not success_clears(entity.get("last_error_scope") or None, scope):
                return {"last_success": at}
            return {"last_success": at, "last_check": at, "consecutive_failures": 0, "last_error_scope": ""}

        return self._merge(tenant_id, change)

    def record_failure(
        self,
        tenant_id: str,
        kind: str,
        message: str,
        remedy: str = "",
        *,
        now: datetime | None = None,
        scope: str | None = None,
    ) -> TenantHealth:
        at = now or datetime.now(UTC)

        def change(entity: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "last_error_kind": kind,
                "last_error_message": message[:2000],
                "last_error_remedy": remedy[:2000],
                "last_error_scope": scope or "",
                "last_error_at": at,
                "last_check": at,
                "consecutive_failures": int(entity.get("consecutive_failures") or 0) + 1,
            }

        return self._merge(tenant_id, change)

    def _entity(self, tenant_id: str) -> Any:
        try:
            return self._table.get_entity(PARTITION, row_key(tenant_id))
        except ResourceNotFoundError:
            raise TenantNotFoundError(tenant_id) from None

    def _merge(self, tenant_id: str, change: Any) -> TenantHealth:
        """Read-modify-write under the ETag: a concurrent writer makes us re-read, never overwrite."""
        for _ in range(_HEALTH_RETRIES):
            entity = self._entity(tenant_id)
            patch = {"PartitionKey": PARTITION, "RowKey": entity["RowKey"], **change(entity)}
            try:
                self._table.update_entity(
                    patch,
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            return _health_from_entity({**entity, **patch})
        raise ValidationError(
            f"tenant {tenant_id}: too many concurrent updates, try again", field="tenant_id", status=409
        )


class RegistrySnapshot:
    """The worker's view of the registry: one query every ``max_age`` instead of one read per job.

    Every job needs its tenant's configuration and health; with a thousand tenants per sweep, reading
    the whole partition once (one round trip per 1,000 tenants) replaces a thousand point reads. A
    tenant missing from the snapshot is read directly, so one added a moment ago is never skipped.
    Disabling a tenant, or changing its feeds, reaches a worker process within ``max_age`` (at once
    when made through the same ``TenantStore``); a job that already started finishes. Health read
    here is at most ``max_age`` old: it only decides whether a success needs writing, and this
    process's own health writes update the snapshot.
    """

    def __init__(
        self,
        store: TenantStore,
        *,
        max_age: timedelta = timedelta(seconds=30),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._max_age = max_age.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[Tenant, TenantHealth]] = {}
        self._taken: tuple[float, int] | None = None  # (when, store generation) of the last full read

    def get_with_health(self, tenant_id: str) -> tuple[Tenant, TenantHealth]:
        key = row_key(tenant_id)
        with self._lock:
            if (
                self._taken is None
                or self._clock() - self._taken[0] >= self._max_age
                or (self._taken[1] != self._store.generation)
            ):
                generation = self._store.generation
                self._rows = {t.tenant_id: (t, h) for t, h in self._store.list_with_health()}
                self._taken = (self._clock(), generation)
            found = self._rows.get(key)
        if found is None:
            found = self._store.get_with_health(tenant_id)  # added since the snapshot, or not there at all
            with self._lock:
                self._rows[key] = found
        return found

    def record_success(
        self, tenant_id: str, *, now: datetime | None = None, scope: SuccessScope = "all"
    ) -> TenantHealth:
        return self._remember(tenant_id, self._store.record_success(tenant_id, now=now, scope=scope))

    def record_failure(
        self, tenant_id: str, kind: str, message: str, remedy: str = "", *, now: datetime | None = None
    ) -> TenantHealth:
        return self._remember(tenant_id, self._store.record_failure(tenant_id, kind, message, remedy, now=now))

    def _remember(self, tenant_id: str, health: TenantHealth) -> TenantHealth:
        key = row_key(tenant_id)
        with self._lock:
            if key in self._rows:
                self._rows[key] = (self._rows[key][0], health)
        return health


def _entity_from_tenant(tenant: Tenant) -> dict[str, Any]:
    return {
        "PartitionKey": PARTITION,
        "RowKey": tenant.tenant_id,
        "display_name": tenant.display_name,
        "cloud": str(tenant.cloud),
        "region": str(tenant.region),
        "enabled": tenant.enabled,
        "feeds": ",".join(sorted(tenant.feeds)),
        # Table storage has no null: "default" marks "use RELAY_DEFAULT_ALLOWED_ACTIONS".
        "allowed_actions": "default" if tenant.allowed_actions is None else ",".join(sorted(tenant.allowed_actions)),
    }


def _tenant_from_entity(entity: Mapping[str, Any]) -> Tenant:
    actions = entity.get("allowed_actions", "default")
    raw = {
        "tenant_id": entity["RowKey"],
        "display_name": entity.get("display_name") or entity["RowKey"],
        "cloud": entity.get("cloud", "commercial"),
        "region": entity.get("region", "auto"),
        "enabled": bool(entity.get("enabled", True)),
        "feeds": str(entity.get("feeds", "mde-alerts")),
        "allowed_actions": None if actions == "default" else str(actions or ""),
    }
    return parse_tenant(raw, where=f"table tenants/{entity['RowKey']}")


def _health_from_entity(entity: Mapping[str, Any]) -> TenantHealth:
    return TenantHealth(
        last_success=entity.get("last_success"),
        last_error_kind=entity.get("last_error_kind"),
        last_error_message=entity.get("last_error_message"),
        last_error_remedy=entity.get("last_error_remedy") or None,
        consecutive_failures=int(entity.get("consecutive_failures") or 0),
        last_check=entity.get("last_check"),
        last_error_scope=entity.get("last_error_scope") or None,
    )
