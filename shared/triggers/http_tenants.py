"""``GET /api/tenants`` and ``GET /api/tenants/{tenantId}/health``: the registry and each tenant's health.

Function-key protected like every route (auth level FUNCTION, checked by the host); when request
signing is configured (``RELAY_HTTP_SIGNING_SECRET_NAME``) the signature is verified too, as on the
action routes. The routes are rows of ``shared.http.routes.ROUTES`` (so the OpenAPI document lists them)
but are served here rather than by ``HttpApi``: they read the registry and checkpoints, never Defender.

Health answers "what do I tell the customer?": the last check or job outcome, the error and its
remedy, and per feed how far events have been delivered (the checkpoint cursor).
"""

from __future__ import annotations

import json
import logging
import uuid

import azure.functions as func

from shared.bootstrap import build_tenants_api
from shared.http.inputs import parse_guid
from shared.http.problems import PROBLEM_JSON, Problem, problem_from_error
from shared.http.routes import ROUTES_BY_FUNCTION, Route
from shared.http.tenants_api import TenantsApi
from shared.platform.lazy import Lazy

bp = func.Blueprint()  # type: ignore[no-untyped-call]


logger = logging.getLogger("defender_relay.http")


def use_tenants_api(api: TenantsApi | None) -> None:
    """Install the ``TenantsApi`` the functions use (tests); None: build from settings again."""
    _api.use(api)


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
