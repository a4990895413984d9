"""``TenantStore``: the tenant registry (configuration and health of each tenant) in Table storage, table
``tenants``."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.catalogue import LEGACY_DEFAULT_FEEDS
from shared.domain.errors import TenantNotFoundError, ValidationError
from shared.domain.tenant import SuccessScope, Tenant, TenantHealth, parse_tenant, row_key, success_clears

PARTITION = "tenant"


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
        "expand_incident_alerts": tenant.expand_incident_alerts,
        "service_sources": "all" if tenant.service_sources is None else ",".join(sorted(tenant.service_sources)),
        "tags": ",".join(sorted(tenant.tags)),  # an entity written before tags existed reads as no tags
    }


def _tenant_from_entity(entity: Mapping[str, Any]) -> Tenant:
    actions = entity.get("allowed_actions", "default")
    raw = {
        "tenant_id": entity["RowKey"],
        "display_name": entity.get("display_name") or entity["RowKey"],
        "cloud": entity.get("cloud", "commercial"),
        "region": entity.get("region", "auto"),
        "enabled": bool(entity.get("enabled", True)),
        # A row written before feeds were configurable (no column) meant the default of its day, mde-alerts:
        # it keeps reading it, while a new tenant gets the Graph feeds (DEFAULT_FEEDS).
        "feeds": str(entity.get("feeds", ",".join(sorted(LEGACY_DEFAULT_FEEDS)))),
        "allowed_actions": None if actions == "default" else str(actions or ""),
        "expand_incident_alerts": bool(entity.get("expand_incident_alerts", False)),
        "service_sources": str(entity.get("service_sources") or "all"),
        "tags": str(entity.get("tags") or ""),
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
