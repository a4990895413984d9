"""The HTTP blueprint: one Functions function per row of ``shared.http.routes.ROUTES``, auth level FUNCTION.

Each function converts the ``func.HttpRequest`` into an ``ApiRequest``, makes the one call
``HttpApi.handle``, and converts the answer back. The ``HttpApi`` is built once per worker process
from the app's services (``shared.bootstrap``); tests install their own with ``use_http_api``.
With ``RELAY_HTTP_AUTH`` ``key`` (the default) or ``either`` the functions are auth level FUNCTION: the
Functions host checks the function key before any of this runs. With ``entra`` they are ANONYMOUS at the
host and the relay requires a valid bearer token itself (``shared.callers``). The level is read from the
environment when the host indexes the functions, the same environment ``Settings`` reads.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Protocol
from urllib.parse import urlsplit

import azure.functions as func

from shared.bootstrap import build_http_api
from shared.http.api import ApiRequest, ApiResponse, HttpApi, problem_response
from shared.http.problems import Problem
from shared.http.routes import ROUTES, SEPARATE_OPERATIONS, Route
from shared.platform.lazy import Lazy
from shared.platform.settings import setting

bp = func.Blueprint()  # type: ignore[no-untyped-call]
logger = logging.getLogger("defender_relay.http")


_api: Lazy[HttpApi] = Lazy(build_http_api)


def auth_level() -> func.AuthLevel:
    """ANONYMOUS only for exactly ``entra``: any other value, a typo included, keeps the host's key check."""
    mode = (setting(os.environ, "RELAY_HTTP_AUTH") or "key").strip().lower()
    return func.AuthLevel.ANONYMOUS if mode == "entra" else func.AuthLevel.FUNCTION


def use_http_api(api: HttpApi | None) -> None:
    """Install the ``HttpApi`` the functions use (tests, the benchmark); None: build from settings again."""
    _api.use(api)


def to_api_request(req: func.HttpRequest) -> ApiRequest:
    target = urlsplit(req.url)
    path_and_query = target.path + (f"?{target.query}" if target.query else "")
    return ApiRequest(
        method=req.method,
        path_and_query=path_and_query,
        route_params=dict(req.route_params),
        params=dict(req.params),
        headers={k.lower(): v for k, v in req.headers.items()},
        body=req.get_body() or b"",
    )


def to_http_response(response: ApiResponse) -> func.HttpResponse:
    # Bytes are a body already in its own media type (NDJSON, CSV: hunt results); everything else is JSON.
    body = response.body if isinstance(response.body, bytes) else json.dumps(response.body, separators=(",", ":"))
    return func.HttpResponse(
        body,
        status_code=response.status,
        headers=response.headers,
        mimetype=response.content_type,
        charset="utf-8",
    )


class Handles(Protocol):
    def handle(self, route: Route, request: ApiRequest) -> ApiResponse: ...


def serve(api: Lazy[Any], route: Route, req: func.HttpRequest) -> func.HttpResponse:
    """One request through the process's API object, built on first use."""
    try:
        handler: Handles = api.get()
    except Exception:  # settings or clients broken: say so without details (they are in the log)
        logger.exception("HTTP API could not be built")
        problem = Problem(503, "not-configured", "the relay is not configured correctly; see the function logs")
        return to_http_response(problem_response(problem, "startup"))
    return to_http_response(handler.handle(route, to_api_request(req)))


def register(blueprint: func.Blueprint, api: Lazy[Any], route: Route) -> None:
    """One route of the table as a function of ``blueprint``, named after the route, served by ``api``."""

    def handle(req: func.HttpRequest) -> func.HttpResponse:
        return serve(api, route, req)

    handle.__name__ = route.function_name
    handle.__qualname__ = route.function_name
    blueprint.function_name(name=route.function_name)(
        blueprint.route(route=route.template, methods=[route.method], auth_level=auth_level())(handle)
    )


for _route in ROUTES:
    if _route.operation not in SEPARATE_OPERATIONS:  # the others: http_tenants.py, http_indicators.py, http_hunts.py
        register(bp, _api, _route)
