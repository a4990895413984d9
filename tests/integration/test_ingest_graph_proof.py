"""Proof of the Graph feeds and of order-independent reads on real parts: Azurite, the emulator over HTTPS,
MSAL, requests.

The emulator answers in an arbitrary order whatever the client asks (its order-ignoring mode), with
more tied change times than a page holds: the sink still ends up with every version the emulator
produced, once per dedup key, for graph-alerts and graph-incidents (every cloud: graph.microsoft.com,
graph.microsoft.us, dod-graph.microsoft.us) and for the retiring mde-alerts and xdr-incidents; a quiet
sweep costs one call per tenant-feed and no token request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.ingest.drain import drain
from tests.integration.ingest_support import (
    GRAPH_FEEDS,
    add_tenants,
    api_calls_by_tenant_feed,
    counters,
    delivered_entries,
    delivered_keys,
    ground_truth,
    normalised_key,
    relay_services,
    sweep_now,
    trusting,
)

pytestmark = pytest.mark.integration

PAGE = 7  # the relay's page size: the tie blocks below hold more than two pages
OTHER_PRODUCTS = ("microsoftDefenderForOffice365", "microsoftDefenderForIdentity", "microsoftDefenderForCloud")


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """The order-ignoring mode is emulator-wide: this module has an emulator of its own."""
    return private_emulator


@pytest.fixture(params=[str(PAGE)], ids=["page-7"])
def relay(request: pytest.FixtureRequest, azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    emulator.control("DELETE", "/faults")
    assert emulator.control("PUT", "/ordering", json={"ignore_order": True, "seed": 5}).status_code == 200
    with trusting(emulator):
        yield relay_services(azurite, emulator, RELAY_PAGE_SIZE=request.param)
    emulator.control("PUT", "/ordering", json={"ignore_order": False})


def _generate(emulator: EmulatorInfo, tenant_ids: list[str], round_: int, **activity: object) -> None:
    for tenant_id in tenant_ids:
        answer = emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "incidents": True, **activity})
        assert answer.status_code == 200, answer.text
        other = {"tenant_id": tenant_id, "service_source": OTHER_PRODUCTS[round_ % 3], "new_alerts": 3, "updates": 1}
        answer = emulator.control("POST", "/graph/generate", json=other)
        assert answer.status_code == 200, answer.text


def _sweep(relay: Services, jobs: int) -> None:
    assert sweep_now(relay) == jobs
    stats = drain(relay, threads=4, idle_seconds=0.5, max_seconds=180)
    # An invocation may fail and be retried (a Storage hiccup on a loaded machine: ServiceResponseError),
    # as on the host; what counts is that every job ends ok and, below, that every version arrived.
    assert stats.statuses["ok"] == jobs, (stats.statuses, {r.message for r in stats.results if r.status != "ok"})


def test_graph_feeds_in_any_order_deliver_every_version_once(relay: Services, emulator: EmulatorInfo) -> None:
    # GIVEN 8 tenants on the Graph feeds in every cloud, an emulator that ignores order
    tenants = add_tenants(emulator, relay, 8, feeds=GRAPH_FEEDS)
    ids = [t.tenant_id for t in tenants]
    activity = [
        {"new_alerts": 4, "ties": 0},
        {"new_alerts": 20, "updates": 2, "ties": 18, "late": 1, "late_seconds": 180},  # a tie block of 18 > 2 pages
        {"new_alerts": 3, "updates": 3, "ties": 2, "late": 1, "late_seconds": 400},
    ]
    # WHEN three sweeps run, with MDE twins and other products' alerts written before each
    for round_, batch in enumerate(activity):
        _generate(emulator, ids, round_, **batch)
        _sweep(relay, 16)
    # THEN the sink holds every Graph version of the ground truth exactly once
    entries = delivered_entries(relay)
    got = [normalised_key(tenant, e["kind"], e["id"], e["version"]) for tenant, e in entries]
    truth = ground_truth(emulator, ids, api="graph")
    assert len(truth) > 8 * 30
    assert set(got) == truth
    assert [k for k, n in Counter(got).items() if n > 1] == []
    # AND items carry Graph's own JSON: evolvable enum members as such (the relay sends Prefer:
    # include-unknown-enum-members), evidence whole with its @odata.type, the correlation fields beside it
    alerts = [e for _, e in entries if e["kind"] == "alert"]
    sources = {e["data"]["serviceSource"] for e in alerts}
    assert {"microsoftDefenderForEndpoint", "microsoftDefenderForCloud"} <= sources
    assert "unknownFutureValue" not in sources
    mde = [e for e in alerts if e["data"]["serviceSource"] == "microsoftDefenderForEndpoint"]
    assert all(ev["@odata.type"].startswith("#microsoft.graph.security.") for e in mde for ev in e["data"]["evidence"])
    assert all(e["api"] == "graph" and e["graphId"] == e["id"] for e in alerts)
    assert all(e["providerAlertId"] == e["data"]["providerAlertId"] for e in alerts)


@pytest.mark.parametrize("relay", ["1000"], ids=["page-1000"], indirect=True)
def test_a_quiet_graph_sweep_costs_one_call_per_tenant_feed_and_no_token(
    relay: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN 8 Graph tenants in every cloud, caught up after a sweep with a tie block (pages of 1,000, any order)
    tenants = add_tenants(emulator, relay, 8, feeds=GRAPH_FEEDS)
    ids = [t.tenant_id for t in tenants]
    _generate(emulator, ids, 0, new_alerts=12, updates=0, ties=10)
    _sweep(relay, 16)
    assert set(delivered_keys(relay)) == ground_truth(emulator, ids, api="graph")
    # WHEN one more sweep finds nothing new
    emulator.control("DELETE", "/counters")
    _sweep(relay, 16)
    # THEN it cost exactly one Graph call per tenant-feed and no token request (MSAL's cache is warm)
    calls = api_calls_by_tenant_feed(emulator, ids)
    assert calls == {(t, feed): 1 for t in ids for feed in GRAPH_FEEDS}
    assert sum(counters(emulator)["token_requests"].get(t, 0) for t in ids) == 0
    assert delivered_keys(relay) == []


def test_the_retiring_feeds_read_in_any_order_too(relay: Services, emulator: EmulatorInfo) -> None:
    # GIVEN 4 tenants still on mde-alerts and xdr-incidents, and a tie block larger than two pages
    tenants = add_tenants(emulator, relay, 4)
    ids = [t.tenant_id for t in tenants]
    for batch in ({"new_alerts": 5}, {"new_alerts": 17, "updates": 3, "ties": 16, "late": 1, "late_seconds": 300}):
        for tenant_id in ids:
            emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "incidents": True, **batch})
        _sweep(relay, 8)
    # THEN every MDE and XDR version arrived once, although no answer came in time order
    got = delivered_keys(relay)
    assert set(got) == ground_truth(emulator, ids)
    assert [k for k, n in Counter(got).items() if n > 1] == []


def test_graph_faults_are_retried_and_nothing_is_lost(relay: Services, emulator: EmulatorInfo) -> None:
    # GIVEN Graph answering some reads with 429 (half of them without Retry-After) and 503, and the token
    # endpoint failing one request in five
    tenants = add_tenants(emulator, relay, 3, feeds=GRAPH_FEEDS)
    ids = [t.tenant_id for t in tenants]
    rules = [
        {"route": "graph-alerts", "p429": 0.15, "retry_after": 1},
        {"route": "graph-incidents", "p429": 0.15, "retry_after": 0},
        {"route": "graph-alerts", "p503": 0.1},
        {"route": "graph-incidents", "p503": 0.1},
        {"route": "token", "p503": 0.2},
    ]
    emulator.control("PUT", "/faults", json={"rules": rules, "seed": 3}).raise_for_status()
    try:
        for round_ in range(2):
            _generate(emulator, ids, round_, new_alerts=9, updates=2, ties=8)
            assert sweep_now(relay) == 6
            drain(relay, threads=4, idle_seconds=0.5, max_seconds=180, retry_delay=0)
    finally:
        emulator.control("DELETE", "/faults")
    _sweep(relay, 6)  # whatever a fault handed back is read now
    # THEN every version arrived (at least once: a job that outlived its lease on a busy machine may repeat
    # what it delivered, with the same dedup keys; the fault-free tests above allow no repeat at all)
    assert set(delivered_keys(relay)) == ground_truth(emulator, ids, api="graph")
