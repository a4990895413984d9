"""``make demo``, the move to Microsoft Graph: most tenants read Graph already; two registered before the
Graph feeds read the retiring MDE/XDR APIs. The readiness report says who is ready, one tenant is moved
live while alerts keep arriving, and the one that consented before the Graph roles is not moved until
its admin consents again. The demo's reconciliation then proves nothing was lost across the switch.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localdev.demo import DemoWorld

LEGACY = ("Wingtip Toys", "Northwind Traders")  # registered before the Graph feeds (demo and test scenarios)
MOVED_LIVE = "Wingtip Toys"  # ready: moved while alerts arrive
NEEDS_CONSENT = "Northwind Traders"  # consented before the partner app asked for the Graph roles
OTHER_PRODUCTS = ("microsoftDefenderForOffice365", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps")


@dataclass
class MigrationReport:
    summary: str = ""
    statuses: dict[str, str] = field(default_factory=dict)  # tenant name -> readiness status
    moved_live_exit: int = -1
    not_moved_exit: int = -1
    after_consent_exit: int = -1
    produced_during_switch: int = 0


def tenant_id(world: DemoWorld, name: str) -> str:
    return str(next(t["tenant_id"] for t in world.emulator.tenants if t["display_name"] == name))


def graph_tenants(world: DemoWorld) -> list[str]:
    """Tenants on the Graph feeds right now (from the relay's registry, as a partner would see it)."""
    from localdev.demo import cli

    _, text = cli(world, "--json", "tenants", "list", show=False)
    return [t["tenant_id"] for t in json.loads(text)["tenants"] if "graph-alerts" in t["feeds"]]


def produce_other_products(world: DemoWorld, round_: int) -> int:
    """Alerts only Graph serves (Office 365, Identity, Cloud Apps) for the tenants reading Graph."""
    created = 0
    for tenant in graph_tenants(world):
        body = {"tenant_id": tenant, "service_source": OTHER_PRODUCTS[round_ % 3], "new_alerts": 2, "updates": 1}
        answer = world.emulator.control("POST", "/graph/generate", json=body)
        answer.raise_for_status()
        created += sum(int(c.get("alerts_created", 0)) for c in answer.json().values())
    return created


def step_report(world: DemoWorld, report: MigrationReport) -> None:
    from localdev.demo import cli, say

    say(world, "\n== 4. Microsoft retires the MDE and XDR APIs on 2027-02-01: who is ready for Graph?")
    say(world, "   Per tenant: its feeds, whether its Graph token has SecurityAlert.Read.All and")
    say(world, "   SecurityIncident.Read.All, whether a Graph read works, and what to do.")
    cli(world, "migrate", "--report")
    _, text = cli(world, "--json", "migrate", "--report", show=False)
    document = json.loads(text)
    report.summary = document["summary"]
    report.statuses = {t["display_name"]: t["status"] for t in document["tenants"]}


def step_migrate(world: DemoWorld, report: MigrationReport) -> None:
    from localdev.demo import cli, say

    say(world, f"\n== 5. Move {MOVED_LIVE} to Graph while its alerts keep arriving")
    say(world, "   The Graph feeds start where the old ones stand (minus the overlap); what the old feeds")
    say(world, "   delivered in that overlap is recognised by provider id + change time and not repeated.")
    moving = tenant_id(world, MOVED_LIVE)
    stop = threading.Event()

    def produce() -> None:
        for _ in range(50):
            if stop.wait(0.05):
                return
            body = {"tenant_id": moving, "new_alerts": 2, "late": 1, "late_seconds": 120, "incidents": True}
            world.emulator.control("POST", "/generate", json=body).raise_for_status()
            report.produced_during_switch += 3

    producer = threading.Thread(target=produce, name="demo-producer")
    producer.start()
    try:
        report.moved_live_exit, _ = cli(world, "migrate", "--tenant", moving)
    finally:
        stop.set()
        producer.join(timeout=30)
    say(world, f"   ({report.produced_during_switch} alerts were written while it moved)")

    say(world, f"\n== 6. {NEEDS_CONSENT} consented before the partner app asked for the Graph roles")
    blocked = tenant_id(world, NEEDS_CONSENT)
    report.not_moved_exit, _ = cli(world, "migrate", "--tenant", blocked)
    say(world, "   Its admin opens the consent link again and accepts (the emulator grants the Graph roles) ...")
    _consent_again(world, blocked)
    report.after_consent_exit, _ = cli(world, "migrate", "--tenant", blocked)


def _consent_again(world: DemoWorld, tenant: str) -> None:
    spec: dict[str, Any] = next(t for t in world.emulator.tenants if t["tenant_id"] == tenant)
    roles = {**spec.get("roles", {}), "graph": ["SecurityAlert.Read.All", "SecurityIncident.Read.All"]}
    world.emulator.control("PATCH", f"/tenants/{tenant}", json={"roles": roles}).raise_for_status()
    spec["roles"] = roles  # the reconciliation reads which tenants may be read from this spec
