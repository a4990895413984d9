"""Scenarios: the tenants (and their Defender data) the emulator starts with.

``demo``: a dozen customer tenants across clouds and regions, some unhealthy on purpose (never
consented, no ``Machine.Isolate``, consented without any roles, consented before the partner app asked for
the Microsoft Graph roles). ``test``: the same kinds of tenant
with little data, for fast tests. ``empty``: nothing. ``tenants=N``: N healthy commercial tenants (for
benchmarks). Everything is derived from the seed: the same seed gives the same tenant ids, machines
and alerts (timestamps follow the emulated clock).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Protocol

from emulator.world import GRAPH_READ_ROLES, MDE_ROLES_ALL, XDR_ROLES_ALL, CloudName, Resource, TenantSpec, World

SCENARIOS = ("demo", "test", "empty")
SHARED_MACHINE_NAME = "se-pov-desktop"  # one computer name in two tenants (from a captured real machine record)
FULL_ROLES: dict[Resource, list[str]] = {
    "mde": list(MDE_ROLES_ALL),
    "xdr": list(XDR_ROLES_ALL),
    "graph": list(GRAPH_READ_ROLES),
}
READ_ONLY: dict[Resource, list[str]] = {
    "mde": ["Alert.Read.All", "Machine.Read.All"],
    "xdr": ["Incident.Read.All"],
    "graph": list(GRAPH_READ_ROLES),
}
# Consented before the partner app asked for the Graph roles: its Graph token has no roles claim.
BEFORE_GRAPH: dict[Resource, list[str]] = {"mde": list(MDE_ROLES_ALL), "xdr": list(XDR_ROLES_ALL)}


class DefenderData(Protocol):
    def backfill(self, tenant_id: str, *, alerts: int, span_seconds: float = ...) -> int: ...
    def rename_machine(self, tenant_id: str, index: int, computer_dns_name: str) -> None: ...


@dataclass(frozen=True)
class _Kind:
    name: str
    cloud: CloudName = "commercial"
    region: str = "auto"
    consent: str = "full"
    roles: dict[Resource, list[str]] | None = None
    note: str = ""


_DEMO: tuple[_Kind, ...] = (
    _Kind("Contoso", note="healthy, global host"),
    _Kind("Fabrikam", region="eu", note="healthy, EU data; shares a machine name with Contoso"),
    _Kind("Northwind Traders", region="uk", roles=BEFORE_GRAPH,
          note="UK data; consented before the Graph roles were asked for: needs consent again for Graph"),
    _Kind("Tailspin Toys", region="us", note="healthy, US data"),
    _Kind("Wingtip Toys", region="au", note="healthy, AU data"),
    _Kind("Litware", region="ina", note="healthy, India data"),
    _Kind("Woodgrove Bank", cloud="gcc", note="US Government GCC: commercial login, GCC API hosts"),
    _Kind("Coho Winery", cloud="gcc-high", note="GCC High: login.microsoftonline.us and the usgov app"),
    _Kind("Relecloud", cloud="dod", note="DoD: login.microsoftonline.us and the usgov app"),
    _Kind("Alpine Ski House", consent="none", note="unhealthy: the partner app was never consented"),
    _Kind("Proseware", consent="partial", roles=READ_ONLY, note="unhealthy for actions: no Machine.Isolate"),
    _Kind("Trey Research", consent="partial", roles={}, note="unhealthy: consented without any roles (no roles claim)"),
)  # fmt: skip


def _tenant_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _add(world: World, rng: random.Random, kind: _Kind, machines: int) -> TenantSpec:
    roles = FULL_ROLES if kind.roles is None else kind.roles
    spec = TenantSpec(
        tenant_id=_tenant_id(rng),
        display_name=kind.name,
        cloud=kind.cloud,
        region=kind.region,
        consent="none" if kind.consent == "none" else "partial" if kind.consent == "partial" else "full",
        roles={resource: list(names) for resource, names in roles.items()},
        machines=machines,
        note=kind.note,
    )
    return world.add_tenant(spec)


def load_scenario(name: str, world: World, defender: DefenderData, *, seed: int, tenants: int | None = None) -> None:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    rng = random.Random(seed)
    if tenants is not None:
        if tenants < 0:
            raise ValueError(f"--tenants must be 0 or more, got {tenants}")
        for index in range(tenants):
            spec = _add(world, rng, _Kind(f"Bench Customer {index + 1:04d}", note="benchmark tenant"), machines=5)
            defender.backfill(spec.tenant_id, alerts=20)
        return
    if name == "empty":
        return
    alerts, machines = (40, 8) if name == "demo" else (6, 4)
    specs = [_add(world, rng, kind, machines) for kind in _DEMO]
    for spec in specs[:2]:
        defender.rename_machine(spec.tenant_id, 2, SHARED_MACHINE_NAME)
    for spec in specs:
        defender.backfill(spec.tenant_id, alerts=alerts)
