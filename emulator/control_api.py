"""The emulator's control API (docs/contracts.md §1.5): health, state, tenants, emulated time, counters.

Served on its own loopback port under ``/_emulator``; no auth (loopback only, a development tool).
The Defender helper's routes (generate, faults, limits, actions timing, ground truth, requests) are
mounted beside these. Bad input answers 400 with ``{"error": "<message naming the field>"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.tenant_json import TenantFieldError, apply_patch, tenant_from_json
from emulator.world import TenantSpec, World

PREFIX = "/_emulator"
# Called after a tenant is created or changed, with the request body (``alerts`` asks for data).
TenantHook = Callable[[TenantSpec, dict[str, Any]], None]


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"the body is not valid JSON: {exc}"}), content_type="application/json"
        ) from exc


class ControlService:
    def __init__(
        self,
        world: World,
        *,
        describe: Callable[[], dict[str, Any]],
        on_tenant: TenantHook | None = None,
        extra_routes: list[web.RouteDef] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._world = world
        self._describe = describe
        self._on_tenant = on_tenant
        self._on_change = on_change  # after a tenant is added or changed: emulator.json is rewritten
        self._extra = list(extra_routes or [])

    def app(self) -> web.Application:
        app = web.Application()
        p = PREFIX
        app.router.add_get(f"{p}/health", self._health)
        app.router.add_get(f"{p}/state", self._state)
        app.router.add_post(f"{p}/tenants", self._post_tenant)
        app.router.add_patch(f"{p}/tenants/{{tenant_id}}", self._patch_tenant)
        app.router.add_get(f"{p}/time", self._time)
        app.router.add_post(f"{p}/time/advance", self._advance)
        app.router.add_get(f"{p}/counters", self._counters)
        app.router.add_delete(f"{p}/counters", self._reset_counters)
        app.router.add_routes(self._extra)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        state = self._describe()
        state["counters"] = self._world.counters.to_json()
        state["time"] = self._time_json()
        return web.json_response(state)

    async def _post_tenant(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            spec = self._world.add_tenant(tenant_from_json(body))
        except ValueError as exc:  # TenantFieldError, or a domain another tenant holds
            return _bad_request(f"tenant: {exc}")
        self._tenant_changed(spec, body)
        return web.json_response(spec.to_json(), status=201)

    async def _patch_tenant(self, request: web.Request) -> web.Response:
        tenant_id = request.match_info["tenant_id"]
        spec = self._world.tenant(tenant_id)
        if spec is None:
            return web.json_response({"error": f"tenant {tenant_id} is not in the emulator"}, status=404)
        body = await _json_body(request)
        try:
            apply_patch(spec, body, check_domains=self._world.check_domains)
        except TenantFieldError as exc:
            return _bad_request(f"tenant {tenant_id}: {exc}")
        self._tenant_changed(spec, body)
        return web.json_response(spec.to_json())

    def _tenant_changed(self, spec: TenantSpec, body: dict[str, Any]) -> None:
        if self._on_tenant is not None:
            self._on_tenant(spec, body)
        if self._on_change is not None:
            self._on_change()

    def _time_json(self) -> dict[str, Any]:
        clock = self._world.clock
        return {
            "now": clock.now().isoformat().replace("+00:00", "Z"),
            "offset_seconds": clock.offset_seconds,
            "advanced_seconds": clock.advanced_seconds,
        }

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response(self._time_json())

    async def _advance(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 10 * 365 * 86400:
            return _bad_request(f"seconds must be a non-negative number of seconds, got {seconds!r}")
        self._world.clock.advance(float(seconds))
        return web.json_response(self._time_json())

    async def _counters(self, request: web.Request) -> web.Response:
        return web.json_response(self._world.counters.to_json())

    async def _reset_counters(self, request: web.Request) -> web.Response:
        self._world.counters.reset()
        return web.json_response(self._world.counters.to_json())
