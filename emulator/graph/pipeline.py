"""The request pipeline of every Graph host: route, authenticate, count, inject faults and latency,
rate-limit, then run the handler; every answer and refusal in the Graph shape.

Paths are ``/v1.0/security/{alerts_v2|incidents}[/{id}[/comments]]``, matched case-insensitively (the alerts_v2 page
itself writes ``/security/alerts_V2``). Anything else under ``/v1.0`` is 400 "Resource not found for the
segment …", another version 400 "Invalid version", as Graph answers them. Limits: "any request on
``/security``" shares 150 requests per minute per app per tenant
(https://learn.microsoft.com/graph/throttling-limits#security-detections-and-incidents-service-limits),
configurable through ``PUT /_emulator/graph/limits``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from emulator.defender import activity
from emulator.defender.faults import FaultInjector
from emulator.defender.ordering import OrderMode
from emulator.defender.pipeline import CatchAllHost
from emulator.defender.ratelimit import Limits, RateLimiter
from emulator.defender.store import DefenderStore, TenantData, count_read
from emulator.graph import enums
from emulator.graph.auth import GraphAuthorizer, GraphCaller, require_roles
from emulator.graph.errors import GraphError, error_response, too_many_requests
from emulator.graph.hosts import GraphHost
from emulator.graph.other_sources import OtherSources
from emulator.graph.views import GraphViews
from emulator.platform_faults import injected
from emulator.world import World

ENTITY_SETS = ("alerts_v2", "incidents", "runhuntingquery")  # the last is an action: emulator/graph/hunting.py
SECURITY_FAMILY = "security"  # one rate-limit bucket: the documented limit covers any request on /security


def graph_limits() -> Limits:
    return Limits(per_minute=150, per_hour=10**9, incidents_per_minute=150, slow_families=frozenset())


@dataclass
class GraphSettings:
    # Neither page documents a page size or a $top maximum (docs/microsoft-apis.md §Graph query options):
    # 2,000 alerts and 50 incidents are what integrations use and what the emulator serves (docs/contracts.md §1.7).
    alerts_page_size: int = 2000
    incidents_page_size: int = 50
    alerts_max_top: int = 2000
    incidents_max_top: int = 50


@dataclass
class GraphState:
    world: World
    store: DefenderStore
    authorizer: GraphAuthorizer
    limiter: RateLimiter
    faults: FaultInjector
    ordering: OrderMode
    requests: deque[dict[str, Any]]  # the Defender request log (GET /_emulator/requests), shared
    settings: GraphSettings = field(default_factory=GraphSettings)
    views: GraphViews = field(default_factory=GraphViews)
    other: OtherSources = field(default_factory=OtherSources)  # alerts only Graph serves


@dataclass
class GraphCtx:
    request: web.Request
    state: GraphState
    host: GraphHost
    caller: GraphCaller
    data: TenantData
    args: tuple[str, ...]
    now: datetime
    include_unknown: bool  # Prefer: include-unknown-enum-members

    def context(self, suffix: str) -> str:
        return f"https://{self.host.host}/v1.0/$metadata#{suffix}"

    def list_url(self, entity_set: str) -> str:
        return f"https://{self.host.host}/v1.0/security/{entity_set}"


GraphHandler = Callable[[GraphCtx], Awaitable[web.Response]]


@dataclass(frozen=True)
class GraphRoute:
    name: str  # counters and fault rules: graph-alerts, graph-incidents
    roles: tuple[str, ...]  # any one of them
    methods: Mapping[str, GraphHandler]


def _no_segment(segment: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def route_key(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``/v1.0/security/alerts_v2/ID[/comments]`` -> ``(("alerts_v2", "*"[, "comments"]), ("ID",))``; a GraphError
    for anything else."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0].lower() != "v1.0":
        raise GraphError(400, "BadRequest", f"Invalid version: {parts[0] if parts else ''}")
    rest = parts[1:]
    if not rest or rest[0].lower() != "security":
        raise _no_segment(rest[0] if rest else "")
    if len(rest) == 1 or rest[1].lower() not in ENTITY_SETS:
        raise _no_segment(rest[1] if len(rest) > 1 else rest[0])
    if len(rest) > 4:
        raise _no_segment(rest[4])
    # The id is any one segment; a segment after it (``comments``) is a literal of the route key.
    return (rest[1].lower(), *("*" for _ in rest[2:3]), *(part.lower() for part in rest[3:])), tuple(rest[2:3])


class GraphHostApp(CatchAllHost[GraphError]):
    """The aiohttp application of one Graph host."""

    error_type = GraphError

    def __init__(self, state: GraphState, host: GraphHost, routes: Mapping[tuple[str, ...], GraphRoute]) -> None:
        self.state = state
        self.host = host
        self.routes = routes

    def _error_response(self, request: web.Request, exc: GraphError) -> web.StreamResponse:
        return error_response(request, exc, self.state.world.clock.now())

    def _request_log(self) -> deque[dict[str, Any]]:
        return self.state.requests

    def _host_name(self) -> str:
        return self.host.host

    async def _dispatch(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        key, args = route_key(request.path)
        route = self.routes.get(key)
        if route is None:
            raise _no_segment(key[0])
        handler = route.methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(route.methods))
            raise GraphError(405, "MethodNotAllowed", f"The HTTP method '{request.method}' is not supported here "
                             f"(allowed: {allow}).", headers={"Allow": allow})  # fmt: skip
        counters = self.state.world.counters
        try:
            caller = self.state.authorizer.caller(self.host, request.headers.get("Authorization"))
        except GraphError:
            counters.api_calls[f"unknown|{route.name}"] += 1
            raise
        counters.api_calls[f"{caller.tenant_id}|{route.name}"] += 1
        require_roles(caller, route.roles)
        refusal = await self._faults_and_limits(request, route, caller)
        if refusal is not None:
            return refusal, caller.tenant_id
        data = activity.tenant_data(self.state.store, caller.tenant_id)
        count_read(data, route.name)  # what this request may see was observable (ground truth: readable)
        prefer = enums.wants_unknown_members(request.headers.get("Prefer"))
        ctx = GraphCtx(request, self.state, self.host, caller, data, args, self.state.world.clock.now(), prefer)
        return await handler(ctx), caller.tenant_id

    async def _faults_and_limits(
        self, request: web.Request, route: GraphRoute, caller: GraphCaller
    ) -> web.StreamResponse | None:
        faults = self.state.faults
        delay = faults.latency_seconds()
        if delay:
            await asyncio.sleep(delay)
        fault = await injected(faults, route.name, caller.tenant_id, request, self._fault_answer(request, caller))
        if fault is not None:
            return fault
        throttle = self.state.limiter.check(caller.tenant_id, caller.app_id, SECURITY_FAMILY)
        if throttle is None:
            return None
        self.state.world.counters.throttled[caller.tenant_id] += 1
        raise too_many_requests(throttle.retry_after)

    def _fault_answer(self, request: web.Request, caller: GraphCaller) -> Callable[[int, int | None], web.Response]:
        """An injected HTTP fault in the Graph shape (codes from https://learn.microsoft.com/graph/errors)."""

        def answer(status: int, retry_after: int | None) -> web.Response:
            if status == 429:
                self.state.world.counters.throttled[caller.tenant_id] += 1
                error = too_many_requests(retry_after)
            elif status == 500:
                error = GraphError(500, "generalException", "An unspecified error has occurred.")
            else:
                headers = {"Retry-After": str(retry_after)} if retry_after else {}
                message = "The service is not available. Try the request again after a delay."
                error = GraphError(status, "serviceNotAvailable", message, headers=headers)
            return error_response(request, error, self.state.world.clock.now())

        return answer
