"""Scenarios: the same seed gives the same customers, and the demo holds the cases a relay must handle."""

from __future__ import annotations

from collections import Counter

import pytest

from emulator.defender import DefenderService
from emulator.entra.tokens import TokenService
from emulator.scenario import SHARED_MACHINE_NAME, load_scenario
from emulator.world import World


def loaded(name: str, seed: int, tenants: int | None = None) -> tuple[World, DefenderService]:
    world = World(seed=seed)
    service = DefenderService(world, TokenService(world.clock, key_size=1024))
    load_scenario(name, world, service, seed=seed, tenants=tenants)
    return world, service


def fingerprint(world: World, service: DefenderService) -> list[tuple[str, str, list[str]]]:
    return [
        (tid, spec.display_name, [m["computerDnsName"] for m in service.tenant_data(tid).machines])
        for tid, spec in world.tenants.items()
    ]


def test_same_seed_same_tenants_and_machines_other_seed_other_ids() -> None:
    first, again, other = loaded("test", 7), loaded("test", 7), loaded("test", 8)
    assert fingerprint(*first) == fingerprint(*again)
    assert set(first[0].tenants).isdisjoint(other[0].tenants)


def test_demo_covers_clouds_regions_and_unhealthy_tenants() -> None:
    world, service = loaded("demo", 1)
    specs = list(world.tenants.values())
    assert len(specs) >= 12
    assert {"commercial", "gcc", "gcc-high", "dod"} <= {s.cloud for s in specs}
    assert {s.region for s in specs if s.cloud == "commercial"} >= {"auto", "eu", "uk", "us", "au"}
    assert any(s.consent == "none" for s in specs)
    assert any(s.consent == "partial" and not s.granted("mde") for s in specs)
    assert any(s.granted("mde") and "Machine.Isolate" not in s.granted("mde") for s in specs)
    # Names sharing a prefix in one tenant, and one name present in two tenants
    names = Counter(m["computerDnsName"] for tid in world.tenants for m in service.tenant_data(tid).machines)
    assert names[SHARED_MACHINE_NAME] == 2
    first = [m["computerDnsName"] for m in service.tenant_data(specs[0].tenant_id).machines]
    assert first[0].split(".")[0] == "web01"
    assert first[1].startswith("web01-")
    # Every tenant has alert history grouped into incidents, all in the ground truth
    for tid in world.tenants:
        data = service.tenant_data(tid)
        assert len(data.alerts) == 40
        assert data.incidents
        assert all(a["incidentId"] in data.incidents for a in data.alerts.values())
    truth = service.store.ground_truth(None)
    assert len({(v["tenant_id"], v["id"]) for v in truth["alerts"]}) == 40 * len(specs)


def test_benchmark_tenants_are_healthy_commercial() -> None:
    world, _ = loaded("empty", 3, tenants=5)
    assert len(world.tenants) == 5
    assert all(s.cloud == "commercial" and s.consent == "full" for s in world.tenants.values())


def test_unknown_scenario_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'big'"):
        loaded("big", 1)


def test_most_demo_tenants_hold_the_graph_roles_and_one_consented_before_them() -> None:
    # The partner app asks for SecurityAlert.Read.All and SecurityIncident.Read.All (least privileged on
    # https://learn.microsoft.com/graph/api/security-list-alerts_v2 and security-list-incidents).
    world, _ = loaded("demo", 1)
    specs = list(world.tenants.values())
    on_graph = [s for s in specs if {"SecurityAlert.Read.All", "SecurityIncident.Read.All"} <= set(s.granted("graph"))]
    assert len(on_graph) > len(specs) / 2
    assert {s.cloud for s in on_graph} == {"commercial", "gcc", "gcc-high", "dod"}
    # A healthy MDE/XDR tenant whose consent predates the Graph roles: it must consent again
    assert any(s.granted("mde") and s.granted("xdr") and not s.granted("graph") for s in specs)
