"""``TenantsApi``: ``GET /api/tenants`` and ``GET /api/tenants/{tenantId}/health`` without the routing, from
the registry and the checkpoint cursors, never Defender."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import azure.functions as func

from shared.domain.tenant import Tenant, TenantHealth
from shared.http.signing import SignatureVerifier
from shared.ingest.checkpoint_table import CheckpointStore


class Registry(Protocol):
    def get(self, tenant_id: str) -> Tenant: ...
    def get_health(self, tenant_id: str) -> TenantHealth: ...
    def list_with_health(self) -> list[tuple[Tenant, TenantHealth]]: ...


class TenantsApi:
    """The two routes without the Functions runtime (tests and the demo call it through the functions)."""

    def __init__(
        self, *, registry: Registry, checkpoints: CheckpointStore, verifier: SignatureVerifier | None = None
    ) -> None:
        self._registry = registry
        self._checkpoints = checkpoints
        self._verifier = verifier

    def list_tenants(self) -> dict[str, Any]:
        tenants = [tenant_summary(t, h) for t, h in self._registry.list_with_health()]
        failing = sum(1 for t in tenants if t["status"] not in ("ok", "unknown"))
        return {"tenants": tenants, "count": len(tenants), "failing": failing}

    def health(self, tenant_id: str) -> dict[str, Any]:
        tenant = self._registry.get(tenant_id)
        document = tenant_summary(tenant, self._registry.get_health(tenant.tenant_id))
        document["lastSweep"] = {
            feed: _iso(self._checkpoints.get(tenant.tenant_id, feed).cursor) for feed in sorted(tenant.feeds)
        }
        return document

    def verify(self, req: func.HttpRequest) -> None:
        if self._verifier is not None:
            target = urlsplit(req.url)
            path_and_query = target.path + (f"?{target.query}" if target.query else "")
            headers = {k.lower(): v for k, v in req.headers.items()}
            self._verifier.verify(req.method, path_and_query, headers, req.get_body() or b"")


def health_status(health: TenantHealth) -> str:
    if health.consecutive_failures > 0:
        return health.last_error_kind or "failing"
    return "ok" if health.last_success is not None else "unknown"


def tenant_summary(tenant: Tenant, health: TenantHealth) -> dict[str, Any]:
    failing = health.consecutive_failures > 0
    return {
        "tenantId": tenant.tenant_id, "displayName": tenant.display_name, "cloud": str(tenant.cloud),
        "region": str(tenant.region), "enabled": tenant.enabled, "feeds": sorted(tenant.feeds),
        "allowedActions": None if tenant.allowed_actions is None else sorted(tenant.allowed_actions),
        "status": health_status(health), "lastCheck": _iso(health.last_check), "lastSuccess": _iso(health.last_success),
        "consecutiveFailures": health.consecutive_failures,
        "error": {"kind": health.last_error_kind, "message": health.last_error_message,
                  "remedy": health.last_error_remedy} if failing else None,
    }  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
