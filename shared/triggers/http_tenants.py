"""``GET /api/tenants`` and ``GET /api/tenants/{tenantId}/health``: the registry and each tenant's health.

Function-key protected like every route (auth level FUNCTION, checked by the host); when request
signing is configured (``RELAY_HTTP_SIGNING_SECRET_NAME``) the signature is verified too, as on the
action routes. The routes are rows of ``shared.routes.ROUTES`` (so the OpenAPI document lists them) but
are served here rather than by ``HttpApi``: they read the registry and checkpoints, never Defender.

Health answers "what do I tell the customer?": the last check or job outcome, the error and its
remedy, and per feed how far events have been delivered (the checkpoint cursor).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import azure.functions as func

from shared.checkpoints import CheckpointStore
from shared.lazy import Lazy
from shared.problems import PROBLEM_JSON, Problem, problem_from_error
from shared.routes import ROUTES_BY_FUNCTION, Route
from shared.signing import SignatureVerifier
from shared.tenants import Tenant, TenantHealth
from shared.validation import parse_guid

bp = func.Blueprint()  # type: ignore[no-untyped-call]
logger = logging.getLogger("defender_relay.http")


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


def use_tenants_api(api: TenantsApi | None) -> None:
    """Install the ``TenantsApi`` the functions use (tests); None: build from settings again."""
    _api.use(api)


def build_tenants_api() -> TenantsApi:
    from shared.bootstrap import get_services
    from shared.checkpoints import TableCheckpointStore
    from shared.storage import CHECKPOINTS_TABLE

    services = get_services()
    verifier = None
    name = services.settings.http_signing_secret_name
    if name:  # the same secret and replay table as the action routes (shared.httpapi_bootstrap)
        from shared.credentials import secret_reader_from_settings
        from shared.idempotency import TABLE as IDEMPOTENCY_TABLE
        from shared.signing import TableReplayGuard

        secret = secret_reader_from_settings(services.settings).get_secret(name)
        services.storage.ensure(tables=(IDEMPOTENCY_TABLE,))
        guard = TableReplayGuard(services.storage.table(IDEMPOTENCY_TABLE))
        verifier = SignatureVerifier(secrets=[secret.encode("utf-8")], replay_guard=guard)
    return TenantsApi(
        registry=services.tenants,
        checkpoints=TableCheckpointStore(services.storage.table(CHECKPOINTS_TABLE)),
        verifier=verifier,
    )


_api: Lazy[TenantsApi] = Lazy(build_tenants_api)


def _respond(route: Route, req: func.HttpRequest) -> func.HttpResponse:
    request_id = uuid.uuid4().hex
    try:
        api = _api.get()
        api.verify(req)
        if route.operation == "tenants":
            body = api.list_tenants()
        else:
            body = api.health(parse_guid(req.route_params.get("tenantId", ""), field="tenantId"))
        return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
    except Exception as exc:  # every error becomes a problem; unexpected ones are logged, never echoed
        problem = problem_from_error(exc)
        if problem.status >= 500:
            logger.exception("%s failed request_id=%s", route.function_name, request_id)
        return _problem(problem, request_id)


def _problem(problem: Problem, request_id: str) -> func.HttpResponse:
    body = problem.to_json(instance=f"urn:defender-relay:request:{request_id}")
    return func.HttpResponse(
        json.dumps(body), status_code=problem.status, headers=dict(problem.headers), mimetype=PROBLEM_JSON
    )


@bp.function_name(name="http_tenants")
@bp.route(route=ROUTES_BY_FUNCTION["http_tenants"].template, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def http_tenants(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(ROUTES_BY_FUNCTION["http_tenants"], req)


@bp.function_name(name="http_tenant_health")
@bp.route(route=ROUTES_BY_FUNCTION["http_tenant_health"].template, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def http_tenant_health(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(ROUTES_BY_FUNCTION["http_tenant_health"], req)
