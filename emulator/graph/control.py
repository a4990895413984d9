"""The Graph part of the control API (docs/contracts.md §1.5, §1.7): rate limits, page sizes, ``$top`` maxima,
and alerts only Graph serves.

``PUT /_emulator/graph/limits`` takes any of the fields of ``GET``; new limits start from empty rate windows, as
``PUT /_emulator/limits`` does for MDE. ``POST /_emulator/graph/generate`` makes other products' alerts. Bad
input answers 400 naming the field and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator.defender import activity
from emulator.defender.ratelimit import RateLimiter
from emulator.graph import enums
from emulator.graph.other_sources import SOURCES
from emulator.graph.pipeline import GraphSettings, GraphState

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


_COUNTS = ("new_alerts", "updates", "ties")
_INCIDENT_STATUSES = ("active", "inProgress", "awaitingAction")


def _choice(body: dict[str, Any], name: str, allowed: Any, default: str | None) -> str | None:
    value = body.get(name, default)
    if value is not None and value not in allowed:
        raise _InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def generate_options(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _InputError("the request body must be a JSON object")
    unknown = set(body) - {"tenant_id", "service_source", "detection_source", "incident_status", *_COUNTS}
    if unknown:
        raise _InputError(f"unknown generate fields: {', '.join(sorted(unknown))}")
    if body.get("service_source") not in SOURCES:
        raise _InputError(f"service_source must be one of {', '.join(SOURCES)}, got {body.get('service_source')!r}")
    detections = [m for m in enums.DETECTION_SOURCE if m != enums.SENTINEL]
    return {
        "service_source": body["service_source"],
        "detection_source": _choice(body, "detection_source", detections, None),
        "incident_status": _choice(body, "incident_status", _INCIDENT_STATUSES, "active"),
        **{name: _int(body, name, 0, 0, 100_000) for name in _COUNTS},
    }


def graph_control_routes(state: GraphState) -> list[web.RouteDef]:
    limiter, settings = state.limiter, state.settings

    async def get_limits(_request: web.Request) -> web.Response:
        return web.json_response(limits_json(limiter, settings))

    async def put_limits(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            _apply(body, limiter, settings)
        except ValueError as exc:  # JSON errors and _InputError
            return web.json_response({"error": f"graph limits: {exc}"}, status=400)
        return web.json_response(limits_json(limiter, settings))

    async def generate(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            options = generate_options(body)
        except ValueError as exc:
            return web.json_response({"error": f"graph generate: {exc}"}, status=400)
        target = body.get("tenant_id", "*")
        if target == "*":
            tenant_ids = list(state.world.tenants)
        elif isinstance(target, str) and state.world.tenant(target) is not None:
            tenant_ids = [target.lower()]
        else:
            return web.json_response({"error": f"tenant_id {target!r} is not a tenant of this emulator"}, status=404)
        now = state.world.clock.now()
        made = {tid: state.other.generate(activity.tenant_data(state.store, tid), now, options) for tid in tenant_ids}
        return web.json_response(made)

    handlers: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
        ("GET", "/_emulator/graph/limits", get_limits),
        ("PUT", "/_emulator/graph/limits", put_limits),
        ("POST", "/_emulator/graph/generate", generate),
    ]
    return [web.route(method, path, handler) for method, path, handler in handlers]
