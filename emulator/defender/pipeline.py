"""The request pipeline every Defender host shares: route, authenticate, count, inject faults,
rate-limit, then run the route's handler.

Routing is done here rather than by aiohttp's router: ASP.NET matches paths case-insensitively
(``StopAndQuarantineFile`` and ``stopandquarantinefile`` both work), ``/api/v1.0/`` is an alias of
``/api/`` (https://learn.microsoft.com/defender-endpoint/api/exposed-apis-list), and a wrong method gets
an empty 405 with ``Allow``, as captured real answers do.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from aiohttp import web

from emulator.defender import activity
from emulator.defender.auth import Authorizer, Caller, HostConfig, require_roles
from emulator.defender.faults import FaultInjector
from emulator.defender.jsonfmt import ApiError, error_response
from emulator.defender.ordering import OrderMode
from emulator.defender.ratelimit import RateLimiter
from emulator.defender.store import DefenderStore, TenantData, count_read
from emulator.platform_faults import injected
from emulator.world import Resource, World

REQUEST_LOG_SIZE = 2000


@dataclass
class ApiSettings:
    alerts_page_size: int = 10_000  # max page size, https://learn.microsoft.com/defender-endpoint/api/get-alerts
    incidents_page_size: int = 100  # max page size, https://learn.microsoft.com/defender-xdr/api-list-incidents
    max_active_indicators: int = (
        15_000  # per tenant, https://learn.microsoft.com/defender-endpoint/api/post-ti-indicator
    )


@dataclass
class ApiState:
    world: World
    store: DefenderStore
    authorizer: Authorizer
    limiter: RateLimiter
    faults: FaultInjector
    settings: ApiSettings = field(default_factory=ApiSettings)
    ordering: OrderMode = field(default_factory=OrderMode)  # PUT /_emulator/ordering (shared with Graph)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))


@dataclass
class Ctx:
    request: web.Request
    state: ApiState
    config: HostConfig
    caller: Caller
    data: TenantData
    args: tuple[str, ...]
    now: datetime

    def context(self, suffix: str) -> str:
        return f"https://{self.config.host}/api/$metadata#{suffix}"


Handler = Callable[[Ctx], Awaitable[web.Response]]
Roles = Callable[[tuple[str, ...]], tuple[str, ...]]  # route args -> roles (any of)


@dataclass(frozen=True)
class Route:
    name: str  # counters and fault rules: alerts, machines, machineactions, incidents, ...
    family: str  # rate-limit bucket
    resource: Resource
    methods: Mapping[str, tuple[Handler, Roles]]
    # A method with its own documented limit (PATCH /api/incidents/{id} 50/min beside GET's 100/min).
    method_families: Mapping[str, str] = field(default_factory=dict)

    def family_for(self, method: str) -> str:
        return self.method_families.get(method, self.family)


RouteTable = Mapping[tuple[str, ...], Route]


class Router:
    """Paths to routes: a key's segments are lowercase literals or ``*`` (any one segment).

    A literal beats ``*`` at the same place (``/api/machines/SoftwareVulnerabilitiesByMachine`` is not a
    machine id), and a path no key matches is 404, whatever the method: a 405 with ``Allow`` tells a
    client it used the wrong method on a route that exists (docs/contracts.md §1.6).
    """

    def __init__(self, routes: RouteTable) -> None:
        self._by_length: dict[int, list[tuple[tuple[str, ...], Route]]] = {}
        # Most literal first, so the first match is the most specific one.
        for key, route in sorted(routes.items(), key=lambda item: item[0].count("*")):
            self._by_length.setdefault(len(key), []).append((key, route))

    def match(self, path: str) -> tuple[Route, tuple[str, ...]] | None:
        """``/api[/v1.0]/machines/ID/isolate`` -> (the route, ``("ID", "isolate")``: the segments after the first)."""
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0].lower() != "api":
            return None
        parts = parts[1:]
        if parts and parts[0].lower() == "v1.0":
            parts = parts[1:]
        lowered = [p.lower() for p in parts]
        for key, route in self._by_length.get(len(parts), ()):
            if all(k in ("*", seg) for k, seg in zip(key, lowered, strict=True)):
                return route, tuple(parts[1:])
        return None


def _challenge(request: web.Request) -> str:
    """The ``WWW-Authenticate`` of a 401: RFC 7235 §3.1 makes it a MUST, RFC 6750 §3 gives the Bearer form.

    No credential: the bare challenge ("SHOULD NOT include an error code", RFC 6750 §3.1); a bad or expired
    token: ``error="invalid_token"``. INF: the exact value the Defender hosts send is not documented.
    """
    if not (request.headers.get("Authorization") or "").startswith("Bearer "):
        return 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
    return (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        'error="invalid_token", error_description="The access token is missing, invalid or expired"'
    )


def log_request(
    log: deque[dict[str, Any]], request: web.Request, host: str, tenant: str, response: web.StreamResponse | None
) -> None:
    """One entry of ``GET /_emulator/requests``; status 0: the client got no answer (an injected reset)."""
    transport = request.transport
    answered = response is not None and transport is not None and not transport.is_closing()
    status = response.status if answered and response is not None else 0
    log.append(
        {"method": request.method, "host": host, "path": request.path, "query": request.query_string,
         "tenant": tenant, "status": status}
    )  # fmt: skip


E = TypeVar("E", bound=Exception)


class CatchAllHost(ABC, Generic[E]):
    """One emulated host's aiohttp application: every path goes to ``handle``, which dispatches, turns the
    service's own error type into its error body, and logs the request (``GET /_emulator/requests``)."""

    error_type: type[E]

    def build(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tenant = "unknown"
        response: web.StreamResponse | None = None
        try:
            response, tenant = await self._dispatch(request)
        except self.error_type as exc:
            response = self._error_response(request, exc)
        finally:
            log_request(self._request_log(), request, self._host_name(), tenant, response)
        return response

    @abstractmethod
    async def _dispatch(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        """The response and the tenant it was for ("unknown" before the caller is known)."""

    @abstractmethod
    def _error_response(self, request: web.Request, exc: E) -> web.StreamResponse: ...

    @abstractmethod
    def _request_log(self) -> deque[dict[str, Any]]: ...

    @abstractmethod
    def _host_name(self) -> str: ...


class HostApp(CatchAllHost[ApiError]):
    """The aiohttp application of one emulated Defender host."""

    error_type = ApiError

    def __init__(self, state: ApiState, config: HostConfig, routes: RouteTable) -> None:
        self.state = state
        self.config = config
        self.router = Router({key: r for key, r in routes.items() if r.resource in config.resources})

    def _error_response(self, request: web.Request, exc: ApiError) -> web.StreamResponse:
        headers = {"WWW-Authenticate": _challenge(request)} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, str(uuid.uuid4()), headers=headers)

    def _request_log(self) -> deque[dict[str, Any]]:
        return self.state.requests

    def _host_name(self) -> str:
        return self.config.host

    async def _dispatch(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        matched = self.router.match(request.path)
        if matched is None:
            raise ApiError(404, "NotFound", f"No API matches the path {request.path}")
        route, args = matched
        entry = route.methods.get(request.method)
        if entry is None:
            allow = ", ".join(sorted(route.methods))
            return web.Response(status=405, headers={"Allow": allow, "Content-Length": "0"}), "unknown"
        handler, roles = entry
        counters = self.state.world.counters
        try:
            caller = self.state.authorizer.caller(self.config, route.resource, request.headers.get("Authorization"))
        except ApiError:
            counters.api_calls[f"unknown|{route.name}"] += 1
            raise
        tenant = caller.tenant_id
        counters.api_calls[f"{tenant}|{route.name}"] += 1
        require_roles(caller, roles(args))
        refusal = await self._faults_and_limits(request, route, caller)
        if refusal is not None:
            return refusal, tenant
        data = activity.tenant_data(self.state.store, tenant)
        count_read(data, route.name)  # what this request may see was observable (ground truth: readable)
        ctx = Ctx(request, self.state, self.config, caller, data, args, self.state.world.clock.now())
        return await handler(ctx), tenant

    async def _faults_and_limits(self, request: web.Request, route: Route, caller: Caller) -> web.Response | None:
        faults = self.state.faults
        delay = faults.latency_seconds()
        if delay:
            await asyncio.sleep(delay)
        tenant = caller.tenant_id
        fault = await injected(
            faults, route.name, tenant, request, lambda status, wait: self._fault(tenant, status, wait)
        )
        if fault is not None:
            return fault
        throttle = self.state.limiter.check(caller.tenant_id, caller.app_id, route.family_for(request.method))
        if throttle is None:
            return None
        return self._too_many(caller.tenant_id, throttle.retry_after, throttle.message)

    def _too_many(self, tenant_id: str, retry_after: int, message: str) -> web.Response:
        self.state.world.counters.throttled[tenant_id] += 1
        return error_response(429, "429", message, tenant_id, headers={"Retry-After": str(retry_after)})

    def _fault(self, tenant_id: str, status: int, retry_after: int | None) -> web.Response:
        """An injected HTTP fault in Defender's own shape (a 429 counts as a throttle, as a real one does)."""
        if status == 429:
            message = "API calls quota exceeded! maximum allowed 100 per 00:01:00"
            return self._too_many(tenant_id, retry_after if retry_after is not None else 1, message)
        code = "InternalServerError" if status == 500 else "ServiceUnavailable"
        return error_response(status, code, "An error occurred, please retry the operation", str(uuid.uuid4()))
