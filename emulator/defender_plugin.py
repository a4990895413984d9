"""The Defender for Endpoint / Defender XDR part of the emulator and the Microsoft Graph security API built on
it, loaded lazily.

They live in ``emulator/defender/``, ``emulator/graph/`` and ``emulator/scenario.py`` (interface in
docs/contracts.md §1.5a "Emulator internals"). The platform (Entra ID, Key Vault, managed identity) must start
without them, so a missing or incomplete part is reported on stderr and the emulator runs without its hosts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, TextIO

from emulator.entra.tokens import TokenService
from emulator.platform_faults import FaultSource
from emulator.world import TenantSpec, World

# docs/contracts.md §1.2: the Defender API hosts, each on its own port.
DEFENDER_HOSTS: tuple[str, ...] = (
    "api.securitycenter.microsoft.com",
    "api.security.microsoft.com",
    "us.api.security.microsoft.com",
    "eu.api.security.microsoft.com",
    "uk.api.security.microsoft.com",
    "au.api.security.microsoft.com",
    "swa.api.security.microsoft.com",
    "ina.api.security.microsoft.com",
    "api-gcc.securitycenter.microsoft.us",
    "api-gcc.security.microsoft.us",
    "api-gov.securitycenter.microsoft.us",
    "api-gov.security.microsoft.us",
)


@dataclass
class DefenderPlugin:
    service: Any  # emulator.defender.DefenderService (typed loosely: it may not exist yet)
    hosts: tuple[str, ...]
    faults: FaultSource | None
    graph: Any = None  # emulator.graph.GraphService, when it loaded

    @property
    def all_hosts(self) -> tuple[str, ...]:
        """The Defender hosts, then the Graph hosts: each is served on its own port."""
        return self.hosts + (tuple(self.graph.hosts) if self.graph is not None else ())

    def app_for_host(self, host: str) -> Any:
        if self.graph is not None and host in self.graph.hosts:
            return self.graph.app_for_host(host)
        return self.service.app_for_host(host)

    def control_routes(self) -> list[Any]:
        routes = list(self.service.control_routes())
        return routes + (list(self.graph.control_routes()) if self.graph is not None else [])

    def on_tenant(self, spec: TenantSpec, body: dict[str, Any]) -> None:
        """After POST/PATCH /_emulator/tenants: let the Defender side create data for the tenant."""
        hook = getattr(self.service, "tenant_changed", None)
        if hook is not None:
            hook(spec, body)


def _load_graph(service: Any, tokens: TokenService, warn: TextIO) -> Any:
    try:
        graph_class = importlib.import_module("emulator.graph").GraphService
    except (ImportError, AttributeError) as exc:
        print(f"emulator: Graph security API not served ({exc})", file=warn)
        return None
    return graph_class(service, tokens)


def load_defender(
    world: World, tokens: TokenService, *, scenario: str, seed: int, tenants: int | None, warn: TextIO
) -> DefenderPlugin | None:
    # importlib, not ``from ... import``: the module may not exist yet while it is being written.
    try:
        service_class = importlib.import_module("emulator.defender").DefenderService
    except (ImportError, AttributeError) as exc:
        print(f"emulator: Defender APIs not served ({exc}); Entra ID, Key Vault and identity only", file=warn)
        return None
    service = service_class(world, tokens)
    plugin = DefenderPlugin(
        service=service,
        hosts=tuple(getattr(service, "hosts", DEFENDER_HOSTS)),
        faults=getattr(service, "faults", None),
        graph=_load_graph(service, tokens, warn),
    )
    if scenario != "empty":
        try:
            load_scenario = importlib.import_module("emulator.scenario").load_scenario
        except (ImportError, AttributeError) as exc:
            print(f"emulator: scenario {scenario!r} not loaded ({exc})", file=warn)
            return plugin
        load_scenario(scenario, world, service, seed=seed, tenants=tenants)
    return plugin
