"""Emulated Microsoft Defender for Endpoint and Defender XDR APIs (docs/contracts.md §1.3, §1.5, §1.6).

:class:`DefenderService` owns the Defender data and policies (rate limits, faults, action timing)
and hands the platform one aiohttp application per emulated API host plus its control routes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.defender import activity, aging
from emulator.defender.auth import Authorizer, host_configs
from emulator.defender.control_routes import control_routes
from emulator.defender.faults import FaultDecision, FaultInjector
from emulator.defender.indicators import indicator_control_routes
from emulator.defender.pipeline import ApiState, HostApp
from emulator.defender.ratelimit import RateLimiter
from emulator.defender.routes import ROUTES
from emulator.defender.store import DefenderStore, TenantData
from emulator.entra.tokens import TokenService
from emulator.world import TenantSpec, World

__all__ = ["DefenderService", "FaultDecision", "FaultInjector"]


class DefenderService:
    def __init__(self, world: World, tokens: TokenService) -> None:
        self.world = world
        self.store = DefenderStore(world)
        self.faults = FaultInjector(world.counters, seed=world.seed)
        # Windows follow real time plus the time the clock was advanced by: advancing time frees them too.
        self.limiter = RateLimiter(now=lambda: time.monotonic() + world.clock.advanced_seconds)
        world.clock.on_advance(lambda seconds: aging.age(self.store, seconds))
        self.state = ApiState(world, self.store, Authorizer(world, tokens), self.limiter, self.faults)
        self._configs = host_configs()
        # More lists for GET /_emulator/ground-truth (the Graph part adds its versions): tenant id -> lists.
        self.ground_truth_extras: list[Callable[[str | None], dict[str, list[dict[str, Any]]]]] = []

    @property
    def hosts(self) -> list[str]:
        """The real host names this service answers for (the keys of ``emulator.json`` ``hosts``)."""
        return list(self._configs)

    def app_for_host(self, host: str) -> web.Application:
        config = self._configs.get(host)
        if config is None:
            raise ValueError(f"not a Defender API host: {host!r} (known: {', '.join(self._configs)})")
        return HostApp(self.state, config, ROUTES).build()

    def control_routes(self) -> list[web.RouteDef]:
        return control_routes(self) + indicator_control_routes(self)

    def tenant_data(self, tenant_id: str) -> TenantData:
        """The tenant's machines, alerts, actions and incidents (made on first use)."""
        return activity.tenant_data(self.store, tenant_id)

    def generate(self, tenant_id: str, **options: Any) -> dict[str, int]:
        """One batch of activity in one tenant (see ``POST /_emulator/generate``)."""
        return activity.generate(self.store, self.tenant_data(tenant_id), **options)

    def backfill(self, tenant_id: str, *, alerts: int, span_seconds: float = 2 * 86_400) -> int:
        """Give a tenant history: ``alerts`` alerts over the past ``span_seconds`` (for scenarios)."""
        return activity.backfill(self.store, self.tenant_data(tenant_id), alerts=alerts, span_seconds=span_seconds)

    def tenant_changed(self, spec: TenantSpec, body: dict[str, Any]) -> None:
        """After ``POST``/``PATCH /_emulator/tenants``: machines now, plus ``"alerts": N`` of history."""
        self.tenant_data(spec.tenant_id)
        alerts = body.get("alerts")
        if isinstance(alerts, int) and not isinstance(alerts, bool) and alerts > 0:
            self.backfill(spec.tenant_id, alerts=min(alerts, 100_000))

    def rename_machine(self, tenant_id: str, index: int, computer_dns_name: str) -> None:
        """Give one machine a chosen name (scenarios: one name present in two tenants)."""
        machines = self.tenant_data(tenant_id).machines
        if index < len(machines):
            machines[index]["computerDnsName"] = computer_dns_name
