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

from shared.callers.roles import ADMIN, HUNT, INDICATORS, READ, RESPOND, TRIAGE, AppRole
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
    "indicators-push",
    "indicators-sync",
    "indicators-drift",
    "indicators-remove",
    "indicators-job",
    "indicators-list",
    "alert-update",
    "alert-comment",
    "alert-batch-update",
    "incident-update",
    "incident-comment",
    "machine-tag",
    "hunt-start",
    "hunt-status",
    "hunt-results",
    "schedule-add",
    "schedule-list",
    "schedule-remove",
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
    method: Literal["GET", "POST", "PATCH"]
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
        return self.method in ("POST", "PATCH")

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


# Triage (shared/triage, served by shared/http/triage_api.py): Graph alerts and incidents, MDE machine tags.
# Updates are PATCH, like the Graph calls they make; the batch is its own route so a playbook closing an
# incident's alerts makes one request.
TRIAGE_ROUTES: Final[tuple[Route, ...]] = (
    Route("http_alert_update", "PATCH", "tenants/{tenantId}/alerts/{alertId}", "alert-update",
          "Update an alert's status, classification, determination or owner (Microsoft Graph)", role=TRIAGE),
    Route("http_alert_comment", "POST", "tenants/{tenantId}/alerts/{alertId}/comments", "alert-comment",
          "Add a comment to an alert (Microsoft Graph)", role=TRIAGE),
    Route("http_alert_batch_update", "POST", "tenants/{tenantId}/alerts/batch-update", "alert-batch-update",
          "Close, classify or comment on many alerts of one tenant, with a result per alert", role=TRIAGE),
    Route("http_incident_update", "PATCH", "tenants/{tenantId}/incidents/{incidentId}", "incident-update",
          "Update an incident's status, classification, determination, owner or tags (Microsoft Graph)",
          role=TRIAGE),
    Route("http_incident_comment", "POST", "tenants/{tenantId}/incidents/{incidentId}/comments", "incident-comment",
          "Add a comment to an incident (Microsoft Graph)", role=TRIAGE),
    Route("http_machine_tag", "POST", "tenants/{tenantId}/machines/{machine}/tags", "machine-tag",
          "Add or remove a machine tag (machine resolved exactly, as for the actions)", role=TRIAGE),
)  # fmt: skip
TRIAGE_OPERATIONS: Final = frozenset(route.operation for route in TRIAGE_ROUTES)

HUNT_ROUTES: Final[tuple[Route, ...]] = (
    # Served by shared/triggers/http_hunts.py (shared.http.hunts_api): hunting across tenants, docs/hunting.md.
    Route(
        "http_hunt_start", "POST", "hunts", "hunt-start", "Start a hunt: one KQL query in many tenants (202)", role=HUNT
    ),
    Route(
        "http_hunt_status",
        "GET",
        "hunts/{huntId}",
        "hunt-status",
        "A hunt's state and each tenant's outcome",
        role=HUNT,
    ),
    Route(
        "http_hunt_results",
        "GET",
        "hunts/{huntId}/results",
        "hunt-results",
        "A page of a hunt's merged rows (NDJSON or CSV), tenantId and tenantName first",
        query=(
            QueryParam("format", "ndjson (default) or csv", {"type": "string", "enum": ["ndjson", "csv"]}),
            QueryParam("limit", "rows per page, 1 to 50000 (default 5000)", {"type": "integer"}),
            QueryParam("cursor", "the next page's cursor, from the Link header", {"type": "string"}),
        ),
        role=HUNT,
    ),
    Route(
        "http_hunt_schedule_add",
        "POST",
        "hunt-schedules",
        "schedule-add",
        "Save a hunt on an NCRONTAB schedule",
        role=HUNT,
    ),
    Route("http_hunt_schedule_list", "GET", "hunt-schedules", "schedule-list", "List the saved hunts", role=HUNT),
    Route(
        "http_hunt_schedule_remove",
        "POST",
        "hunt-schedules/{scheduleId}/remove",
        "schedule-remove",
        "Remove a saved hunt",
        role=HUNT,
    ),
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
    # Served by shared/triggers/http_indicators.py (shared/http/indicators_api.py; docs/indicators.md).
    Route("http_indicators_push", "POST", "indicators/push", "indicators-push",
          "Push indicators to a tenant selection: one job per tenant (202 + job id)", role=INDICATORS),
    Route("http_indicators_sync", "POST", "indicators/sync", "indicators-sync",
          "Make a baseline the relay's indicators in each tenant: add, update, remove (dryRun: plan only)",
          role=INDICATORS),
    Route("http_indicators_drift", "POST", "indicators/drift", "indicators-drift",
          "Drift report: per tenant, how the relay's indicators differ from a baseline (202 + job id)",
          role=INDICATORS),
    Route("http_indicators_remove", "POST", "indicators/remove", "indicators-remove",
          "Remove indicators by value across tenants (only ones the relay created; 202 + job id)", role=INDICATORS),
    Route("http_indicators_job", "GET", "indicators/jobs/{jobId}", "indicators-job",
          "An indicator job's progress, totals and per-tenant outcomes", role=INDICATORS),
    Route("http_indicators_list", "GET", "tenants/{tenantId}/indicators", "indicators-list",
          "The indicators the relay created in one tenant", role=INDICATORS),
    *TRIAGE_ROUTES,
    *HUNT_ROUTES,
)  # fmt: skip
# Operations served by their own blueprint rather than by HttpApi.
INDICATOR_OPERATIONS: Final = frozenset(
    {"indicators-push", "indicators-sync", "indicators-drift", "indicators-remove", "indicators-job", "indicators-list"}
)
HUNT_OPERATIONS: Final = frozenset(route.operation for route in HUNT_ROUTES)
SEPARATE_OPERATIONS: Final = frozenset({"tenants", "tenant-health"}) | INDICATOR_OPERATIONS | HUNT_OPERATIONS
ROUTES_BY_FUNCTION: Final = {route.function_name: route for route in ROUTES}
