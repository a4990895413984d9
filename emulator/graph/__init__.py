"""Emulated Microsoft Graph security API (``alerts_v2``, ``incidents``, ``runHuntingQuery``) on the Graph host of
each national cloud, served from the same world as the Defender routes (docs/contracts.md §1.7).

:class:`GraphService` is built on the :class:`~emulator.defender.DefenderService`: it reads the Defender
store (an MDE alert and its Graph twin are one record), shares its fault injector, request log and
order-ignoring mode, and has its own rate limiter and page settings.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from emulator.defender import DefenderService
from emulator.defender.jsonfmt import format_datetime
from emulator.defender.ratelimit import RateLimiter
from emulator.entra.tokens import TokenService
from emulator.graph.auth import GraphAuthorizer
from emulator.graph.control import graph_control_routes
from emulator.graph.hosts import GRAPH_HOSTS
from emulator.graph.hunting import HuntingService
from emulator.graph.pipeline import GraphHostApp, GraphState, graph_limits
from emulator.graph.routes import ROUTES
from emulator.graph.writes import with_writes

__all__ = ["GraphService"]


class GraphService:
    def __init__(self, defender: DefenderService, tokens: TokenService) -> None:
        world = defender.world
        self.state = GraphState(
            world=world,
            store=defender.store,
            authorizer=GraphAuthorizer(world, tokens),
            limiter=RateLimiter(graph_limits(), now=lambda: time.monotonic() + world.clock.advanced_seconds),
            faults=defender.faults,
            ordering=defender.state.ordering,
            requests=defender.state.requests,
        )
        defender.ground_truth_extras.append(self.ground_truth)
        # Advancing the clock ages the Graph-only alerts too (the Defender store ages itself).
        world.clock.on_advance(self.state.other.age)
        self.hunting = HuntingService(world.clock)  # runHuntingQuery (emulator/graph/hunting.py)

    @property
    def hosts(self) -> list[str]:
        return list(GRAPH_HOSTS)

    def app_for_host(self, host: str) -> web.Application:
        config = GRAPH_HOSTS.get(host)
        if config is None:
            raise ValueError(f"not a Graph host: {host!r} (known: {', '.join(GRAPH_HOSTS)})")
        return GraphHostApp(self.state, config, {**with_writes(ROUTES), **self.hunting.routes}).build()

    def control_routes(self) -> list[web.RouteDef]:
        return graph_control_routes(self.state) + self.hunting.control_routes()

    def ground_truth(self, tenant_id: str | None) -> dict[str, list[dict[str, Any]]]:
        """Every Graph version: an MDE alert version is its twin's version (same id, same time), then the
        versions of the alerts and incidents only Graph serves."""
        store = self.state.store
        wanted = tenant_id.lower() if tenant_id else None
        alerts = [
            {"tenant_id": v.tenant_id, "id": v.id, "providerAlertId": v.id,
             "serviceSource": "microsoftDefenderForEndpoint", "lastUpdateDateTime": format_datetime(v.last_update),
             "readable": v.readable}
            for v in store.alert_versions
            if wanted is None or v.tenant_id == wanted
        ]  # fmt: skip
        incidents = [
            {"tenant_id": v.tenant_id, "id": v.id, "lastUpdateDateTime": format_datetime(v.last_update),
             "readable": v.readable}
            for v in store.incident_versions
            if wanted is None or v.tenant_id == wanted
        ]  # fmt: skip
        other = self.state.other
        alerts += [
            {"tenant_id": v.tenant_id, "id": v.id, "providerAlertId": v.provider_id, "serviceSource": v.service_source,
             "lastUpdateDateTime": format_datetime(v.last_update), "readable": v.readable}
            for v in other.alert_versions
            if wanted is None or v.tenant_id == wanted
        ]  # fmt: skip
        incidents += [
            {
                "tenant_id": v.tenant_id,
                "id": v.id,
                "lastUpdateDateTime": format_datetime(v.last_update),
                "readable": v.readable,
            }
            for v in other.incident_versions
            if wanted is None or v.tenant_id == wanted
        ]
        return {"graph_alerts": alerts, "graph_incidents": incidents}
