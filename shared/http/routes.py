"""The one route table of the HTTP API. The blueprint registers exactly these functions and the OpenAPI
document describes exactly these routes, so the two cannot drift (a functional test checks both).

Each route names the app role an Entra ID caller needs (``role``, from ``shared.callers.roles``); the
OpenAPI document shows it as the operation's security requirement. Templates are relative to the host's
``api/`` route prefix. Route parameters carry no Functions route
constraints on purpose: a constraint mismatch would be a bare host 404, while our own validation
answers 422 with the field named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from shared.callers.roles import ADMIN, READ, RESPOND, AppRole
from shared.domain.catalogue import MACHINE_ACTIONS, ActionSpec

Operation = Literal[
    "machine-action",
    "action-status",
    "action-cancel",
    "lookup",
    "sweep",
    "audit",
    "openapi",
    "tenants",
    "tenant-health",
]
ROUTE_PREFIX: Final = "api"


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, object]


@dataclass(frozen=True)
class Route:
    function_name: str  # the Functions function name (unique in the app)
    method: Literal["GET", "POST"]
    template: str  # e.g. "tenants/{tenantId}/machines/{machine}/isolate"
    operation: Operation
    summary: str
    action: ActionSpec | None = None
    query: tuple[QueryParam, ...] = ()
    # Required, by keyword: a route added without deciding who may call it does not type-check.
    role: AppRole = field(kw_only=True)

    @property
    def mutating(self) -> bool:
        """Routes that change something in a tenant: audited, and honour ``Idempotency-Key``."""
        return self.method == "POST"

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(part[1:-1] for part in self.template.split("/") if part.startswith("{"))

    @property
    def query_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.query)


WAIT: Final = QueryParam(
    "wait", "true: poll the action until it is final or waitSeconds pass (202 if still running)", {"type": "boolean"}
)
WAIT_SECONDS: Final = QueryParam(
    "waitSeconds",
    "bound of wait=true, 1 to 200 seconds (default 60)",
    {"type": "integer", "minimum": 1, "maximum": 200},
)


def _action_route(spec: ActionSpec) -> Route:
    return Route(
        function_name="http_" + spec.name.replace("-", "_"),
        method="POST",
        template=f"tenants/{{tenantId}}/machines/{{machine}}/{spec.name}",
        operation="machine-action",
        summary=spec.summary,
        action=spec,
        query=(WAIT, WAIT_SECONDS),
        # Offboarding removes a machine from Defender for good: an administrator's act, not a playbook's.
        role=ADMIN if spec.name == "offboard" else RESPOND,
    )


ROUTES: Final[tuple[Route, ...]] = (
    *(_action_route(spec) for spec in MACHINE_ACTIONS),
    Route(
        "http_action_status",
        "GET",
        "tenants/{tenantId}/actions/{actionId}",
        "action-status",
        "Get a machine action (status)",
        query=(WAIT, WAIT_SECONDS),
        role=READ,
    ),
    Route(
        "http_action_cancel",
        "POST",
        "tenants/{tenantId}/actions/{actionId}/cancel",
        "action-cancel",
        "Cancel a machine action that is not final yet",
        role=RESPOND,
    ),
    Route(
        "http_machine_lookup",
        "GET",
        "tenants/{tenantId}/machines",
        "lookup",
        "Find machines by exact DNS name or IP address",
        query=(
            QueryParam("name", "exact DNS name (case-insensitive; never a prefix match)", {"type": "string"}),
            QueryParam("ip", "exact IP address (last or any interface address)", {"type": "string"}),
        ),
        role=READ,
    ),
    Route(
        "http_sweep",
        "POST",
        "tenants/{tenantId}/sweep",
        "sweep",
        "Queue an immediate ingestion run for a tenant",
        role=ADMIN,
    ),
    Route(
        "http_audit",
        "GET",
        "tenants/{tenantId}/audit",
        "audit",
        "Read the tenant's audit records",
        query=(
            QueryParam("since", "ISO 8601 time (default: 24 hours ago)", {"type": "string", "format": "date-time"}),
            QueryParam("limit", "at most this many records, 1 to 1000 (default 100)", {"type": "integer"}),
        ),
        role=READ,
    ),
    Route("http_openapi", "GET", "openapi.json", "openapi", "This API's OpenAPI 3.1 document", role=READ),
    # Served by shared/triggers/http_tenants.py (registry and health reads, no Defender call).
    Route("http_tenants", "GET", "tenants", "tenants", "List the registered tenants in the caller's scope", role=READ),
    Route(
        "http_tenant_health",
        "GET",
        "tenants/{tenantId}/health",
        "tenant-health",
        "A tenant's health: last check, last sweep per feed, error and remedy",
        role=READ,
    ),
)
# Operations served by their own blueprint rather than by HttpApi.
SEPARATE_OPERATIONS: Final = frozenset({"tenants", "tenant-health"})
ROUTES_BY_FUNCTION: Final = {route.function_name: route for route in ROUTES}
