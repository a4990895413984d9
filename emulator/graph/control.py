"""The Graph part of the control API (docs/contracts.md §1.5): rate limits, page sizes and ``$top`` maxima.

``PUT /_emulator/graph/limits`` takes any of the fields of ``GET``; bad input answers 400 naming the field and
changes nothing. New limits start from empty rate windows, as ``PUT /_emulator/limits`` does for MDE.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator.defender.ratelimit import RateLimiter
from emulator.graph.pipeline import GraphSettings

_SIZES = ("alerts_page_size", "incidents_page_size", "alerts_max_top", "incidents_max_top")


class _InputError(ValueError):
    pass


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _InputError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return value


def limits_json(limiter: RateLimiter, settings: GraphSettings) -> dict[str, Any]:
    limits = limiter.limits
    return {"per_minute": limits.per_minute, "enabled": limits.enabled,
            **{name: getattr(settings, name) for name in _SIZES}}  # fmt: skip


def _apply(body: Any, limiter: RateLimiter, settings: GraphSettings) -> None:
    if not isinstance(body, dict):
        raise _InputError("the request body must be a JSON object")
    unknown = set(body) - {"per_minute", "enabled", *_SIZES}
    if unknown:
        raise _InputError(f"unknown Graph limit fields: {', '.join(sorted(unknown))}")
    per_minute = _int(body, "per_minute", limiter.limits.per_minute, 0, 10**9)
    sizes = {name: _int(body, name, getattr(settings, name), 1, 100_000) for name in _SIZES}
    enabled = body.get("enabled", limiter.limits.enabled)
    if not isinstance(enabled, bool):
        raise _InputError(f"enabled must be true or false, got {enabled!r}")
    limiter.limits.per_minute = limiter.limits.incidents_per_minute = per_minute
    limiter.limits.enabled = enabled
    for name, value in sizes.items():
        setattr(settings, name, value)
    limiter.reset()


def graph_control_routes(limiter: RateLimiter, settings: GraphSettings) -> list[web.RouteDef]:
    async def get_limits(_request: web.Request) -> web.Response:
        return web.json_response(limits_json(limiter, settings))

    async def put_limits(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            _apply(body, limiter, settings)
        except ValueError as exc:  # JSON errors and _InputError
            return web.json_response({"error": f"graph limits: {exc}"}, status=400)
        return web.json_response(limits_json(limiter, settings))

    handlers: list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]] = [
        ("GET", get_limits),
        ("PUT", put_limits),
    ]
    return [web.route(method, "/_emulator/graph/limits", handler) for method, handler in handlers]
