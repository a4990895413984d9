"""The OpenAPI 3.1 document of the HTTP API, generated from ``shared.http.routes.ROUTES`` (the table the
blueprint registers), so a SOAR tool importing ``GET /api/openapi.json`` sees exactly what is served.

Each operation's security requirement names the app role it needs: OpenAPI 3.1 lets a requirement of a
non-OAuth scheme list "role names which are required for the execution"
(https://spec.openapis.org/oas/v3.1.0#security-requirement-object), so ``{"entra": ["Relay.Respond"]}``
says "a bearer token carrying Relay.Respond", beside the function key alternatives.
"""

from __future__ import annotations

from typing import Any, Final

from shared.domain.catalogue import ActionSpec
from shared.http.indicator_schemas import BODIES as INDICATOR_BODIES
from shared.http.indicator_schemas import JOB_OPERATIONS
from shared.http.inputs import MAX_COMMENT_CHARS
from shared.http.routes import ROUTE_PREFIX, ROUTES, Route
from shared.http.triage_schemas import TRIAGE_SCHEMAS

VERSION: Final = "1.0.0"
_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}
_GUID: Final = {"type": "string", "format": "uuid"}
_PATH_PARAMS: Final[dict[str, dict[str, Any]]] = {
    "tenantId": {"description": "customer tenant id (GUID)", "schema": _GUID},
    "actionId": {"description": "machine action id (GUID)", "schema": _GUID},
    "jobId": {"description": "indicator job id (32 hex)", "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
    "huntId": {"description": "hunt id (from POST /api/hunts)", "schema": {"type": "string", "maxLength": 80}},
    "scheduleId": {
        "description": "saved hunt id (16 hex digits)",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    },
    "machine": {
        "description": "40-hex machine id, exact DNS name or IP address (names/IPs must match exactly one machine)",
        "schema": {"type": "string", "maxLength": 253},
    },
    "alertId": {"description": "Microsoft Graph alert id (alerts_v2)", "schema": {"type": "string", "maxLength": 128}},
    "incidentId": {"description": "Microsoft Graph incident id (digits)", "schema": {"type": "string"}},
}
_HEADERS: Final[list[dict[str, Any]]] = [
    {"name": "X-Relay-Caller", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 128},
     "description": "who is calling (SOAR playbook, analyst); recorded in the audit table for function-key "
                    "callers (a bearer token names its caller itself)"},
    {"name": "X-Relay-Timestamp", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "Unix seconds; required when request signing is configured"},
    {"name": "X-Relay-Nonce", "in": "header", "required": False,
     "schema": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{1,128}$"},
     "description": "optional, new for every attempt; signed after the timestamp (docs/soar-integration.md)"},
    {"name": "X-Relay-Signature", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "v1=<hex HMAC-SHA256>; required when request signing is configured (docs/http-api.md)"},
]  # fmt: skip
_IDEMPOTENCY_KEY: Final = {
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 255},
    "description": "same key within 24 hours (per tenant) returns the first result without a second Defender call",
}  # fmt: skip
_ERROR_STATUSES: Final = {
    "GET": ("400", "401", "403", "404", "422", "429", "502", "503"),
    "POST": ("400", "401", "403", "404", "409", "413", "415", "422", "429", "502", "503"),
    "PATCH": ("400", "401", "403", "404", "409", "413", "415", "422", "429", "502", "503"),
}


def build_document(*, server_url: str = "/") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(f"/{ROUTE_PREFIX}/{route.template}", {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "defender-relay",
            "version": VERSION,
            "description": "Response actions, action status, machine lookup, sweeps, triage (alerts, incidents, "
            "machine tags), hunting and audit for Microsoft Defender across customer tenants. Errors are RFC 9457 "
            "problem+json.",
        },
        "servers": [{"url": server_url}],
        "security": [{"entra": []}, {"functionKey": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": _security_schemes()},
    }


def _operation(route: Route) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, **_PATH_PARAMS[name]} for name in route.path_params
    ]
    parameters += [
        {"name": q.name, "in": "query", "required": False, "description": q.description, "schema": q.schema}
        for q in route.query
    ]
    if route.operation != "openapi":
        parameters += _HEADERS
    if route.mutating:
        # The alert batch refuses a request without one (shared/http/triage_api.py).
        parameters.append({**_IDEMPOTENCY_KEY, "required": route.operation == "alert-batch-update"})
    operation: dict[str, Any] = {
        "operationId": route.function_name.removeprefix("http_"),
        "summary": route.summary,
        "parameters": parameters,
        "responses": _responses(route),
        "security": [{"entra": [route.role]}, {"functionKey": []}, {"functionKeyQuery": []}],
        "x-relay-app-role": route.role,
    }
    if route.operation == "openapi":
        operation["parameters"] = []
    body = _request_body(route)
    if body is not None:
        operation["requestBody"] = body
    return operation


def _responses(route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    responses: dict[str, Any] = {"200": ok}
    if route.operation == "machine-action":
        accepted = {"description": "accepted by Defender; poll statusUrl", "content": ok["content"]}
        responses = {"200": {**ok, "description": "final (wait=true)"}, "202": accepted}
    elif route.operation == "sweep":
        responses = {"202": {"description": "ingestion jobs queued", "content": ok["content"]}}
    elif route.operation in JOB_OPERATIONS:
        responses = {"202": {"description": "indicator job queued; poll statusUrl", "content": ok["content"]}}
    elif route.operation == "alert-batch-update":
        some = {"description": "some alerts failed or were skipped: each result says why", "content": ok["content"]}
        responses = {"200": {**ok, "description": "every alert succeeded"}, "207": some}
    elif route.operation == "hunt-start":
        responses = {"202": {"description": "hunt queued; poll statusUrl", "content": ok["content"]}}
    elif route.operation == "schedule-add":
        responses = {"201": {"description": "saved hunt created", "content": ok["content"]}}
    elif route.operation == "hunt-results":
        rows = {"schema": {"type": "string"}}
        responses = {"200": {"description": "a page of rows; Link rel=next while more remain",
                             "content": {"application/x-ndjson": rows, "text/csv": rows}}}  # fmt: skip
    if route.operation != "openapi":
        problem = {"content": {"application/problem+json": {"schema": _PROBLEM_REF}}}
        statuses = (*_ERROR_STATUSES[route.method], *(("409",) if route.operation == "hunt-results" else ()))
        for status in statuses:
            responses[status] = {"description": "problem details (RFC 9457)", **problem}
    return responses


def _request_body(route: Route) -> dict[str, Any] | None:
    if route.operation == "machine-action" and route.action is not None:
        schema = _action_schema(route.action)
    elif route.operation in INDICATOR_BODIES:
        schema = INDICATOR_BODIES[route.operation]
    elif route.operation == "action-cancel":
        schema = {"type": "object", "required": ["comment"], "additionalProperties": False,
                  "properties": {"comment": _comment()}}  # fmt: skip
    elif route.operation in TRIAGE_SCHEMAS:
        schema = TRIAGE_SCHEMAS[route.operation]
    elif route.operation in ("hunt-start", "schedule-add"):
        schema = _hunt_schema(saved=route.operation == "schedule-add")
    else:
        return None
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _hunt_schema(*, saved: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "query": {"type": "string", "minLength": 1, "maxLength": 30000, "description": "KQL (runHuntingQuery Query)"},
        "timespan": {"type": "string", "description": "ISO 8601, e.g. P7D (runHuntingQuery Timespan; default 30 days)"},
        "tenants": {"oneOf": [{"const": "all"}, {"type": "array", "items": _GUID, "minItems": 1}],
                    "description": "all enabled tenants (default) or these"},
        "name": {"type": "string", "maxLength": 100},
    }  # fmt: skip
    required = ["query"]
    if saved:
        properties["schedule"] = {"type": "string", "description": "NCRONTAB, 6 fields, UTC, e.g. 0 0 * * * *"}
        required += ["name", "schedule"]
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _comment() -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": MAX_COMMENT_CHARS}


def _action_schema(spec: ActionSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {"comment": _comment()}
    for choice in spec.choices:
        properties[choice.name] = {"type": "string", "enum": list(choice.choices), "default": choice.default}
    required = ["comment"]
    if spec.needs_sha1:
        properties["sha1"] = {"type": "string", "pattern": "^[0-9a-fA-F]{40}$"}
        required.append("sha1")
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _schemas() -> dict[str, Any]:
    return {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri-reference"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
            },
            "additionalProperties": True,
        }
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "entra": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "an Entra ID access token of the partner tenant for the relay API's App ID URI "
            "(RELAY_HTTP_AUTH entra or either); each operation names the app role it requires",
        },
        "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
        "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
    }
