"""``GET /api/tenants`` and ``GET /api/tenants/{tenantId}/health``: the registry and each tenant's health.

The caller is authenticated as on the action routes (function key or bearer token, ``Relay.Read``); when
request signing is configured (``RELAY_HTTP_SIGNING_SECRET_NAME``) the signature is verified too. The list
holds only the tenants in the caller's scope, and a tenant's health outside it is 403. The routes
are rows of ``shared.http.routes.ROUTES`` (so the OpenAPI document lists them) but are served here rather
than by ``HttpApi``: they read the registry and checkpoints, never Defender, and write an audit record only
for a refusal of a role or scope.

Health answers "what do I tell the customer?": the last check or job outcome, the error and its
remedy, and per feed how far events have been delivered (the checkpoint cursor). A tenant still on a
feed whose API Microsoft retires (``mde-alerts``, ``xdr-incidents``: 2027-02-01) carries
``retiringFeeds`` (feed, date, replacement, the ``migrate`` command) and a ``warnings`` line for each.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.actions.audit import INVALID_TENANT_PARTITION, AuditRecord, AuditStore
from shared.callers.authenticator import Authenticator, KeyAuthenticator
from shared.callers.identity import Caller
from shared.callers.scope import CallerScope, check_scope, filter_in_scope
from shared.domain.catalogue import retiring
from shared.domain.errors import OutOfScopeError, RoleRequiredError
from shared.domain.tenant import Tenant, TenantHealth
from shared.http.api import ApiRequest, ApiResponse, problem_response
from shared.http.inputs import check_query, parse_guid
from shared.http.problems import problem_from_error
from shared.http.routes import Route
from shared.http.signing import SignatureVerifier
from shared.ingest.checkpoint_table import CheckpointStore
from shared.tenants.readiness import migrate_command, retirement_warnings

logger = logging.getLogger("defender_relay.http")


class Registry(Protocol):
    def get(self, tenant_id: str) -> Tenant: ...
    def get_health(self, tenant_id: str) -> TenantHealth: ...
    def list_with_health(self) -> list[tuple[Tenant, TenantHealth]]: ...


class TenantsApi:
    """The two routes without the Functions runtime (tests and the demo call it through the functions)."""

    def __init__(
        self,
        *,
        registry: Registry,
        checkpoints: CheckpointStore,
        verifier: SignatureVerifier | None = None,
        authenticator: Authenticator | None = None,
        audit: AuditStore | None = None,
    ) -> None:
        self._registry = registry
        self._checkpoints = checkpoints
        self._verifier = verifier
        self._authenticator = authenticator or KeyAuthenticator()
        self._audit = audit  # role and scope refusals are recorded, as on every route

    def list_tenants(self, scope: CallerScope) -> dict[str, Any]:
        pairs = self._registry.list_with_health()
        reachable = {t.tenant_id for t in filter_in_scope(scope, (t for t, _ in pairs))}
        tenants = [tenant_summary(t, h) for t, h in pairs if t.tenant_id in reachable]
        failing = sum(1 for t in tenants if t["status"] not in ("ok", "unknown"))
        on_retiring = sum(1 for t in tenants if t["retiringFeeds"])
        return {"tenants": tenants, "count": len(tenants), "failing": failing, "onRetiringFeeds": on_retiring}

    def health(self, tenant_id: str) -> dict[str, Any]:
        tenant = self._registry.get(tenant_id)
        document = tenant_summary(tenant, self._registry.get_health(tenant.tenant_id))
        document["lastSweep"] = {
            feed: _iso(self._checkpoints.get(tenant.tenant_id, feed).cursor) for feed in sorted(tenant.feeds)
        }
        return document

    def handle(self, route: Route, request: ApiRequest) -> ApiResponse:
        """One request in, JSON or problem+json out; the same checks, in the same order, as ``HttpApi``."""
        request_id = uuid.uuid4().hex
        caller: Caller | None = None
        try:
            caller = self._authenticator.authenticate(request.headers, request.params)
            caller.require(route.role)
            if self._verifier is not None:
                self._verifier.verify(request.method, request.path_and_query, request.headers, request.body)
            check_query(request.params, route.query_names)
            if route.operation == "tenants":
                return ApiResponse(200, self.list_tenants(caller.scope))
            tenant_id = parse_guid(request.route_params.get("tenantId", ""), field="tenantId")
            check_scope(caller.scope, tenant_id, self._registry.get)
            return ApiResponse(200, self.health(tenant_id))
        except Exception as exc:  # every error becomes a problem; unexpected ones are logged, never echoed
            problem = problem_from_error(exc)
            if problem.status >= 500:
                logger.exception("%s failed request_id=%s", route.function_name, request_id)
            response = problem_response(problem, request_id)
            if caller is not None and isinstance(exc, RoleRequiredError | OutOfScopeError):
                self._record_refusal(route, caller, exc, response, request_id)
            return response

    def _record_refusal(
        self, route: Route, caller: Caller, exc: Exception, response: ApiResponse, request_id: str
    ) -> None:
        if self._audit is None:
            return
        tenant = exc.tenant_id if isinstance(exc, OutOfScopeError) else INVALID_TENANT_PARTITION
        record = AuditRecord(
            tenant_id=tenant, time=datetime.now(UTC), request_id=request_id, caller=caller.name,
            action=route.operation, outcome="rejected", status=response.status,
            problem_type=str(response.body.get("type", "")), detail=str(response.body.get("detail", ""))[:1000],
            caller_app_id=caller.app_id, caller_object_id=caller.object_id, auth=caller.auth,
        )  # fmt: skip
        try:
            self._audit.write(record)
        except Exception:  # the refusal stands either way; a read route has no outcome to leave unconfirmed
            logger.exception("audit write failed request_id=%s", request_id)


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
        "tags": sorted(tenant.tags),
        "status": health_status(health), "lastCheck": _iso(health.last_check), "lastSuccess": _iso(health.last_success),
        "consecutiveFailures": health.consecutive_failures,
        "error": {"kind": health.last_error_kind, "message": health.last_error_message,
                  "remedy": health.last_error_remedy} if failing else None,
        "retiringFeeds": [{"feed": spec.name, "retiresOn": str(spec.retires_on), "replacement": spec.successor,
                           "command": migrate_command(tenant)} for spec in retiring(tenant.feeds)],
        "warnings": retirement_warnings(tenant),
    }  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
