"""``POST /v1.0/security/runHuntingQuery`` on every Graph host, over tables derived from the world.

The request and answer are those of https://learn.microsoft.com/graph/api/security-security-runhuntingquery:
``{"Query": "<KQL>", "Timespan": "P7D"}`` (``Timespan`` optional, 30 days when absent) in,
``{"@odata.context", "schema": [{"name", "type"}], "results": [...]}`` out; the application permission is
``ThreatHunting.Read.All``. The KQL is the subset of ``kql_parse`` over the tables of ``hunting_tables``; the
rest is refused with a Graph 400 that says so (docs/contracts.md §1.7, docs/hunting.md).

Documented limits (https://learn.microsoft.com/defender-xdr/api-advanced-hunting): "Results can return up to
100,000 rows" (``row_cap``: longer results are cut, as that page implies), "at least 45 calls per minute per
tenant" (``per_minute``: refused with 429 + ``Retry-After``), the CPU quota per 15-minute cycle (a tenant in
``cpu_exhausted`` gets the 429 of https://learn.microsoft.com/defender-xdr/advanced-hunting-errors with the
seconds until its cycle ends). Per tenant, for tests: ``unlicensed`` (403: no advanced hunting, emulator's
wording), ``timeouts`` and ``oversize`` (400 with the documented timeout and result-size messages; the status
Graph uses for them is not documented, 400 is the emulator's choice). ``latency_ms`` delays every query (the
time a real query takes), on top of the shared fault injector's latency. Faults: route ``graph-hunting``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import dumps
from emulator.defender.ratelimit import Limits, RateLimiter
from emulator.defender.store import TenantData
from emulator.graph import hunting_tables as tables
from emulator.graph.errors import GraphError, too_many_requests
from emulator.graph.hunting_timespan import TimespanError, window
from emulator.graph.kql_eval import Table, run
from emulator.graph.kql_parse import KqlError, parse
from emulator.graph.pipeline import GraphCtx, GraphRoute
from emulator.graph.responses import json_response
from emulator.world import Clock

HUNTING_ROLES = ("ThreatHunting.Read.All",)
_PARAMETERS = {"query": "Query", "timespan": "Timespan"}  # Graph matches action parameters case-insensitively
_TENANT_SETS = ("unlicensed", "timeouts", "oversize")


@dataclass
class HuntingSettings:
    latency_ms: int = 0
    per_minute: int = 45
    row_cap: int = 100_000
    process_events_per_machine: int = 30
    unlicensed: set[str] = field(default_factory=set)
    timeouts: set[str] = field(default_factory=set)
    oversize: set[str] = field(default_factory=set)
    cpu_exhausted: dict[str, int] = field(default_factory=dict)  # tenant -> seconds until its cycle ends

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms, "per_minute": self.per_minute, "row_cap": self.row_cap,
            "process_events_per_machine": self.process_events_per_machine,
            **{name: sorted(getattr(self, name)) for name in _TENANT_SETS}, "cpu_exhausted": dict(self.cpu_exhausted),
        }  # fmt: skip


class HuntingService:
    """The route's state: settings, the per-tenant call limiter, and each tenant's background processes."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.settings = HuntingSettings()
        self.limiter = RateLimiter(self._limits(), now=lambda: time.monotonic() + clock.advanced_seconds)
        self._background: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        self._anchors: dict[str, datetime] = {}
        self.queries = 0  # answered with rows (GET /_emulator/graph/hunting)
        clock.on_advance(self.age)

    def age(self, seconds: float) -> None:
        """Advancing the clock ages the data: the background processes move into the past with it."""
        delta = timedelta(seconds=seconds)
        self._anchors = {tenant: anchor - delta for tenant, anchor in self._anchors.items()}
        for rows in self._background.values():
            for row in rows:
                row["Timestamp"] -= delta

    def _limits(self) -> Limits:
        return Limits(per_minute=self.settings.per_minute, per_hour=10**9, slow_families=frozenset())

    @property
    def routes(self) -> dict[tuple[str, ...], GraphRoute]:
        return {("runhuntingquery",): GraphRoute("graph-hunting", HUNTING_ROLES, {"POST": self.run_hunting_query})}

    def tables_of(self, data: TenantData) -> dict[str, Table]:
        anchor = self._anchors.setdefault(data.tenant_id, self.clock.now())
        per_machine = self.settings.process_events_per_machine
        processes: list[dict[str, Any]] = []
        for machine in data.machines:
            key = (data.tenant_id, machine["id"], per_machine)
            if key not in self._background:
                self._background[key] = tables.background_processes(data.tenant_id, machine, per_machine, anchor)
            processes += self._background[key]
        processes += tables.alert_processes(data)
        return {
            "AlertInfo": tables.alert_info(data),
            "AlertEvidence": tables.alert_evidence(data),
            "DeviceInfo": tables.device_info(data),
            "DeviceProcessEvents": Table("DeviceProcessEvents", tables.DEVICE_PROCESS_EVENTS, processes),
        }

    async def run_hunting_query(self, ctx: GraphCtx) -> web.Response:
        query, timespan = await _request(ctx.request)
        if self.settings.latency_ms:
            await asyncio.sleep(self.settings.latency_ms / 1000)
        self._refusals(ctx.data.tenant_id, ctx.caller.app_id)
        try:
            start, end = window(timespan, ctx.now)
            schema, rows = run(parse(query), _within(self.tables_of(ctx.data), start, end), ctx.now)
        except (KqlError, TimespanError) as exc:
            raise GraphError(400, "BadRequest", str(exc)) from None
        rows = rows[: self.settings.row_cap]
        body = {
            "@odata.context": ctx.context("microsoft.graph.security.huntingQueryResults"),
            "schema": [{"name": name, "type": kind} for name, kind in schema],
            "results": rows,
        }
        self.queries += 1
        return json_response(ctx, dumps(body).encode())

    def _refusals(self, tenant_id: str, app_id: str) -> None:
        settings = self.settings
        if tenant_id in settings.unlicensed:
            raise GraphError(403, "Forbidden", f"Advanced hunting is not available for tenant {tenant_id}: its "
                             "licences include no Microsoft Defender XDR advanced hunting.")  # fmt: skip
        wait = settings.cpu_exhausted.get(tenant_id)
        if wait:
            text = f"{wait // 3600:02d}:{wait % 3600 // 60:02d}:{wait % 60:02d}"
            message = (
                f"You have exceeded processing resources allocated to this tenant. You can run queries again in {text}."
            )
            raise GraphError(429, "TooManyRequests", message, headers={"Retry-After": str(wait)})
        throttle = self.limiter.check(tenant_id, app_id, "hunting")
        if throttle is not None:
            raise too_many_requests(throttle.retry_after)
        if tenant_id in settings.timeouts:
            raise GraphError(400, "BadRequest", "Query exceeded the timeout period.")
        if tenant_id in settings.oversize:
            raise GraphError(400, "BadRequest", 'Result size limit exceeded. Use "summarize" to aggregate results, '
                             '"project" to drop uninteresting columns, or "take" to truncate results.')  # fmt: skip

    def configure(self, body: Any) -> None:
        """``PUT /_emulator/graph/hunting``: any of the fields of ``GET``; nothing changes if one is wrong."""
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        unknown = set(body) - set(HuntingSettings().to_json())
        if unknown:
            raise ValueError(f"unknown hunting fields: {', '.join(sorted(unknown))}")
        new = HuntingSettings(**{**self.settings.__dict__})
        for name in ("latency_ms", "per_minute", "row_cap", "process_events_per_machine"):
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**7:
                    raise ValueError(f"{name} must be an integer from 0 to 10000000, got {value!r}")
                setattr(new, name, value)
        for name in _TENANT_SETS:
            if name in body:
                setattr(new, name, {str(t).lower() for t in _tenant_list(body[name], name)})
        if "cpu_exhausted" in body:
            new.cpu_exhausted = _cpu(body["cpu_exhausted"])
        self.settings = new
        self.limiter.limits = self._limits()
        self.limiter.reset()

    def control_routes(self) -> list[web.RouteDef]:
        async def get(_request: web.Request) -> web.Response:
            return web.json_response({**self.settings.to_json(), "queries": self.queries})

        async def put(request: web.Request) -> web.Response:
            try:
                self.configure(await request.json() if request.can_read_body else {})
            except ValueError as exc:
                return web.json_response({"error": f"graph hunting: {exc}"}, status=400)
            return web.json_response(self.settings.to_json())

        handlers: list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]] = [("GET", get), ("PUT", put)]
        return [web.route(method, "/_emulator/graph/hunting", handler) for method, handler in handlers]


def _tenant_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of tenant ids")
    return value


def _cpu(value: Any) -> dict[str, int]:
    ok = isinstance(value, dict) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()
    )
    if not ok:
        raise ValueError("cpu_exhausted must map tenant ids to seconds (> 0) until their cycle ends")
    return {str(k).lower(): int(v) for k, v in value.items()}


async def _request(request: web.Request) -> tuple[str, str | None]:
    try:
        body = await request.json()
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                         "header is set and payload is of valid JSON format.") from None  # fmt: skip
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
    named = {}
    for key, value in body.items():
        canonical = _PARAMETERS.get(str(key).lower())
        if canonical is None:
            raise GraphError(400, "BadRequest", f"The parameter '{key}' in the request payload is not a valid "
                             "parameter for the operation 'runHuntingQuery'.")  # fmt: skip
        named[canonical] = value
    query, timespan = named.get("Query"), named.get("Timespan")
    if not isinstance(query, str) or not query.strip():
        raise GraphError(400, "BadRequest", "The parameter 'Query' is required and must be a non-empty string.")
    if timespan is not None and not isinstance(timespan, str):
        raise GraphError(400, "BadRequest", "The parameter 'Timespan' must be an ISO 8601 string.")
    return query, timespan


def _within(all_tables: dict[str, Table], start: datetime, end: datetime) -> dict[str, Table]:
    return {
        name: Table(name, table.columns, [r for r in table.rows if start <= r["Timestamp"] <= end])
        for name, table in all_tables.items()
    }
