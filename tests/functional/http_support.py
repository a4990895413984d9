"""Calling the registered HTTP functions the way the Python worker does: real ``func.HttpRequest`` objects."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import azure.functions as func

import function_app
from tests.fakes.actions import match_route


@functools.cache
def functions() -> dict[str, Any]:
    """The app's functions as the host indexes them, once per process.

    ``get_functions()`` remembers the names it indexed and refuses a second indexing as "duplicate
    names"; the record is cleared around our call so other test modules in this process can index too.
    """
    app = function_app.app
    app.functions_bindings = {}
    try:
        return {f.get_function_name(): f for f in app.get_functions()}
    finally:
        app.functions_bindings = {}


def http_functions() -> dict[str, Any]:
    return {n: f for n, f in functions().items() if n.startswith("http_")}


def call(
    method: str,
    path: str,
    *,
    body: bytes | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpResponse:
    """Route ``path`` (relative to /api) like the host would and call the registered function."""
    route, route_params = match_route(method, path)
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = {"Content-Type": "application/json"} if raw else {}
    hdrs.update(headers or {})
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    request = func.HttpRequest(
        method, f"https://relay.example/api/{path}" + (f"?{query}" if query else ""),
        headers=hdrs, params=params or {}, route_params=route_params, body=raw,
    )  # fmt: skip
    user_function: Callable[[func.HttpRequest], func.HttpResponse] = functions()[
        route.function_name
    ].get_user_function()
    return user_function(request)


def json_body(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def assert_refused(
    route: Any, request: func.HttpRequest, *, statuses: set[int], upstream_calls: Callable[[], int]
) -> None:
    """The registered function answers a 4xx of ``statuses`` as problem+json and nothing went upstream."""
    response: func.HttpResponse = functions()[route.function_name].get_user_function()(request)
    assert response.status_code in statuses, response.get_body()[:300]
    assert response.mimetype == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["status"] == response.status_code
    assert problem["detail"]
    assert upstream_calls() == 0
