"""The Defender part of the control API (docs/contracts.md §1.5): generate, faults, limits, action
timing, machine names, ground truth, request log. Loopback only, no auth; bad input answers 400
naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.defender.faults import FaultConfigError
from emulator.defender.machine_actions import ActionTiming

if TYPE_CHECKING:
    from emulator.defender import DefenderService

Handler = Callable[[web.Request], Awaitable[web.Response]]
_GENERATE_COUNTS = ("new_alerts", "updates", "ties", "late")
_LIMIT_INTS = ("per_minute", "per_hour", "incidents_per_minute")
_PAGE_SIZES = ("alerts_page_size", "incidents_page_size")


class ControlInputError(ValueError):
    """Bad control input; the message names the field."""


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise ControlInputError("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ControlInputError("the request body must be a JSON object")
    return body


def _int(body: dict[str, Any], name: str, default: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ControlInputError(f"{name} must be an integer between 0 and {high}, got {value!r}")
    return value


def _generate_options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {name: _int(body, name, 0, 100_000) for name in _GENERATE_COUNTS}
    late_seconds = body.get("late_seconds", 180)
    if isinstance(late_seconds, bool) or not isinstance(late_seconds, int | float) or not 0 <= late_seconds <= 86_400:
        raise ControlInputError(f"late_seconds must be a number between 0 and 86400, got {late_seconds!r}")
    options["late_seconds"] = float(late_seconds)
    for name, default in (("incidents", True), ("merges", False)):
        value = body.get(name, default)
        if not isinstance(value, bool):
            raise ControlInputError(f"{name} must be true or false, got {value!r}")
        options[name] = value
    return options


def _machine_renamer(service: DefenderService) -> Any:
    async def rename_machine(request: web.Request) -> web.Response:
        # Tests of exact name resolution need two machines with one name in one tenant.
        tenant_id, index = request.match_info["tid"].lower(), request.match_info["index"]
        name = (await _body(request)).get("computerDnsName")
        if service.world.tenant(tenant_id) is None or not index.isdigit():
            return _bad(f"no tenant {tenant_id!r} or bad machine index {index!r}", 404)
        if not isinstance(name, str) or not name:
            raise ControlInputError("computerDnsName must be a non-empty string")
        machines = service.tenant_data(tenant_id).machines
        if int(index) >= len(machines):
            return _bad(f"tenant {tenant_id} has {len(machines)} machines", 404)
        service.rename_machine(tenant_id, int(index), name)
        machine = machines[int(index)]
        return web.json_response({"id": machine["id"], "computerDnsName": machine["computerDnsName"]})

    return rename_machine


class DefenderControl:
    """Handlers of the Defender control routes (each answers 400 naming the field on bad input)."""

    def __init__(self, service: DefenderService) -> None:
        self.service = service
        self.world = service.world

    async def generate(self, request: web.Request) -> web.Response:
        body = await _body(request)
        options = _generate_options(body)
        target = body.get("tenant_id", "*")
        if target == "*":
            tenant_ids = list(self.world.tenants)
        elif isinstance(target, str) and self.world.tenant(target) is not None:
            tenant_ids = [target.lower()]
        else:
            return _bad(f"tenant_id {target!r} is not a tenant of this emulator (use '*' for all)", 404)
        return web.json_response({tid: self.service.generate(tid, **options) for tid in tenant_ids})

    async def put_faults(self, request: web.Request) -> web.Response:
        self.service.faults.configure(await _body(request))
        return web.json_response(self.service.faults.to_json())

    async def get_faults(self, _request: web.Request) -> web.Response:
        return web.json_response(self.service.faults.to_json())

    async def delete_faults(self, _request: web.Request) -> web.Response:
        self.service.faults.clear()
        return web.json_response(self.service.faults.to_json())

    async def put_limits(self, request: web.Request) -> web.Response:
        body = await _body(request)
        limits, settings = self.service.limiter.limits, self.service.state.settings
        values = {name: _int(body, name, getattr(limits, name), 10**9) for name in _LIMIT_INTS}
        pages = {name: _int(body, name, getattr(settings, name), 100_000) for name in _PAGE_SIZES}
        enabled = body.get("enabled", limits.enabled)
        if not isinstance(enabled, bool):
            raise ControlInputError(f"enabled must be true or false, got {enabled!r}")
        if any(size < 1 for size in pages.values()):
            raise ControlInputError("page sizes must be at least 1")
        for name, value in {**values, "enabled": enabled}.items():
            setattr(limits, name, value)
        for name, value in pages.items():
            setattr(settings, name, value)
        self.service.limiter.reset()  # new limits start from empty windows
        return web.json_response({**values, "enabled": enabled, **pages})

    async def put_timing(self, request: web.Request) -> web.Response:
        try:
            self.service.store.timing = ActionTiming.from_json(await _body(request))
        except ValueError as exc:
            raise ControlInputError(str(exc)) from exc
        return web.json_response(self.service.store.timing.__dict__)

    async def ground_truth(self, request: web.Request) -> web.Response:
        tenant_id = request.query.get("tenant_id")
        truth = self.service.store.ground_truth(tenant_id)
        for extra in self.service.ground_truth_extras:
            truth.update(extra(tenant_id))
        return web.json_response(truth)

    async def put_ordering(self, request: web.Request) -> web.Response:
        try:
            self.service.state.ordering.configure(await _body(request))
        except ValueError as exc:
            raise ControlInputError(str(exc)) from exc
        return web.json_response(self.service.state.ordering.to_json())

    async def get_ordering(self, _request: web.Request) -> web.Response:
        return web.json_response(self.service.state.ordering.to_json())

    async def requests_log(self, request: web.Request) -> web.Response:
        raw = request.query.get("limit", "100")
        if not raw.isdigit():
            raise ControlInputError(f"limit must be a non-negative integer, got {raw!r}")
        entries = list(self.service.state.requests)[-int(raw) :] if int(raw) else []
        return web.json_response({"requests": entries})


def _guarded(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Handler:
    async def run(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (ControlInputError, FaultConfigError) as exc:
            return _bad(str(exc))

    return run


def control_routes(service: DefenderService) -> list[web.RouteDef]:
    control = DefenderControl(service)
    return [
        web.post("/_emulator/generate", _guarded(control.generate)),
        web.put("/_emulator/faults", _guarded(control.put_faults)),
        web.get("/_emulator/faults", _guarded(control.get_faults)),
        web.delete("/_emulator/faults", _guarded(control.delete_faults)),
        web.put("/_emulator/limits", _guarded(control.put_limits)),
        web.put("/_emulator/actions/timing", _guarded(control.put_timing)),
        web.get("/_emulator/ground-truth", _guarded(control.ground_truth)),
        web.put("/_emulator/ordering", _guarded(control.put_ordering)),
        web.get("/_emulator/ordering", _guarded(control.get_ordering)),
        web.patch("/_emulator/tenants/{tid}/machines/{index}", _guarded(_machine_renamer(service))),
        web.get("/_emulator/requests", _guarded(control.requests_log)),
    ]
