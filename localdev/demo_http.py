"""Calling the app's registered HTTP functions the way the Functions host does, without the host.

Core Tools cannot be installed here (docs/microsoft-apis.md §Python package and programming model), so the
demo indexes ``function_app.app`` like the Python worker (``get_functions()``) and calls each function with
a real ``func.HttpRequest``: the route table, auth level and bindings are the ones ``func start`` would load.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import azure.functions as func

BASE_URL = "http://localhost:7071/api/"
ROOT = Path(__file__).resolve().parent.parent  # function_app.py lives at the root, outside the packages


@functools.cache
def http_functions() -> dict[str, Any]:
    """The app's functions by name, indexed once per process (a second indexing reports duplicates)."""
    if str(ROOT) not in sys.path:  # e.g. run from another directory: the entry point is not a package module
        sys.path.insert(0, str(ROOT))
    app = importlib.import_module("function_app").app
    app.functions_bindings = {}
    try:
        return {str(f.get_function_name()): f for f in app.get_functions()}
    finally:
        app.functions_bindings = {}


def _route_params(function: Any, path: str) -> dict[str, str]:
    template = json.loads(function.get_function_json())["bindings"][0]["route"]
    params = {}
    for pattern, value in zip(template.split("/"), path.split("/"), strict=True):
        if pattern.startswith("{"):
            params[pattern[1:-1]] = value
    return params


def call_function(
    function: Any,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Call a registered HTTP function with ``path`` (relative to /api); return (status, JSON body)."""
    raw = json.dumps(body).encode() if body is not None else b""
    all_headers = {"X-Relay-Caller": "make demo", **({"Content-Type": "application/json"} if raw else {})}
    all_headers.update(headers or {})
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    request = func.HttpRequest(
        method,
        BASE_URL + path + (f"?{query}" if query else ""),
        headers=all_headers,
        params=params or {},
        route_params=_route_params(function, path),
        body=raw,
    )
    response = function.get_user_function()(request)
    return response.status_code, json.loads(response.get_body() or b"{}")
