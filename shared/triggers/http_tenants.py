"""The blueprint of ``GET /api/tenants`` and ``GET /api/tenants/{tenantId}/health`` (``shared.http.tenants_api``).

Each function converts the request, makes the one call ``TenantsApi.handle`` and converts the answer back,
like the action routes in ``shared/triggers/http.py``.
"""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import build_tenants_api
from shared.http.routes import ROUTES_BY_FUNCTION, Route
from shared.http.tenants_api import TenantsApi
from shared.platform.lazy import Lazy
from shared.triggers.http import auth_level, serve

bp = func.Blueprint()  # type: ignore[no-untyped-call]
_api: Lazy[TenantsApi] = Lazy(build_tenants_api)


def use_tenants_api(api: TenantsApi | None) -> None:
    """Install the ``TenantsApi`` the functions use (tests); None: build from settings again."""
    _api.use(api)


def _respond(route: Route, req: func.HttpRequest) -> func.HttpResponse:
    return serve(_api, route, req)


@bp.function_name(name="http_tenants")
@bp.route(route=ROUTES_BY_FUNCTION["http_tenants"].template, methods=["GET"], auth_level=auth_level())
def http_tenants(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(ROUTES_BY_FUNCTION["http_tenants"], req)


@bp.function_name(name="http_tenant_health")
@bp.route(route=ROUTES_BY_FUNCTION["http_tenant_health"].template, methods=["GET"], auth_level=auth_level())
def http_tenant_health(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(ROUTES_BY_FUNCTION["http_tenant_health"], req)
