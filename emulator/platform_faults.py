"""How the emulated services (Defender, Graph, Entra ID, Key Vault) consult the Defender helper's fault injector.

The injector (``DefenderService.faults``) is optional: without it, or when it has no rule for a route,
nothing is injected. Only the shape of a decision is relied on: ``kind`` in {"429", "500", "503",
"reset", "slow"}, ``retry_after`` and ``slow_seconds``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from aiohttp import web


class FaultDecision(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def retry_after(self) -> float | int | None: ...
    @property
    def slow_seconds(self) -> float: ...


class FaultSource(Protocol):
    def for_route(self, route: str, tenant_id: str | None) -> FaultDecision | None: ...


# Builds the service's own error answer for an HTTP fault: (status, retry_after) -> response.
ErrorFactory = Callable[[int, int | None], web.Response]


def reset_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), as a load balancer reset looks to a client."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def injected(
    faults: FaultSource | None,
    route: str,
    tenant_id: str | None,
    request: web.Request,
    make_error: ErrorFactory,
) -> web.Response | None:
    """The fault answer for this request, or None to go on normally ("slow" delays, then goes on)."""
    if faults is None:
        return None
    decision = faults.for_route(route, tenant_id)
    if decision is None:
        return None
    if decision.kind == "slow":
        await asyncio.sleep(float(decision.slow_seconds or 0))
        return None
    if decision.kind == "reset":
        reset_connection(request)
        return web.Response(status=500)  # never sent: aiohttp drops answers to aborted connections quietly
    retry_after = int(decision.retry_after) if decision.retry_after is not None else None
    return make_error(int(decision.kind), retry_after)
