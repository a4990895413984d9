"""``migrate --rollback``: Graph feeds back to mde-alerts / xdr-incidents, nothing lost and nothing Graph
delivered repeated by the MDE/XDR feeds; refused from 2027-02-01, and for a tenant whose MDE/XDR tokens lack
the roles; a dry run writes nothing.

The world (tests/fakes/graph.py) gives every Graph alert an id of its own beside the MDE id it carries as
``providerAlertId``, and answers every read in a fresh random order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.checkpoint import Checkpoint
from shared.ingest.migration import MigrationDeps, MigrationResult
from shared.ingest.rollback import rollback_tenant
from tests.fakes.ingest import TENANT, FakeClock
from tests.unit.test_migration import OLD, Relay

GRAPH = frozenset({"graph-alerts", "graph-incidents"})


def _rollback(relay: Relay, *, dry_run: bool = False, clock: FakeClock | None = None) -> MigrationResult:
    deps = MigrationDeps(
        registry=relay.tenants, checkpoints=relay.checkpoints, tokens=relay.tokens, reader=relay.reader,
        owner="migrate/test", clock=clock or relay.clock,
    )  # fmt: skip
    return rollback_tenant(relay.tenants.get(TENANT), deps=deps, dry_run=dry_run)


def test_a_tenant_moved_to_graph_and_back_mid_stream_gets_every_version_exactly_once() -> None:
    relay = Relay()
    world, clock = relay.world, relay.clock
    # GIVEN a tenant moved to Graph while alerts arrive, whose Graph feeds have delivered for a while
    world.produce(4, ago=300, incident=7001)
    relay.run("mde-alerts"), relay.run("xdr-incidents")
    clock.advance(60)
    world.produce(3, ago=30, incident=7002)
    assert relay.migrate().outcome == "moved"
    relay.run_twice(("graph-alerts", "graph-incidents"), produced_between=3, incident=7003)
    # AND alerts written after the Graph feeds' last run: some now, some stamped in the past (late writes)
    world.produce(2, ago=10, incident=7003)
    world.produce(2, ago=400, incident=7002)
    # WHEN it is rolled back, while more alerts arrive
    result = _rollback(relay)
    world.produce(3, ago=5, incident=7004)
    # THEN both Graph feeds went back to their predecessors, each starting at the Graph cursor
    assert result.outcome == "moved", result.message
    assert {(m.old, m.new) for m in result.moves} == {
        ("graph-alerts", "mde-alerts"),
        ("graph-incidents", "xdr-incidents"),
    }
    assert relay.tenants.get(TENANT).feeds == OLD
    for move in result.moves:
        assert relay.checkpoints.get(TENANT, move.new).cursor == relay.checkpoints.get(TENANT, move.old).cursor
        assert move.handover > 0  # the Graph feed delivered inside the overlap: the MDE/XDR feed is told
    # AND a worker whose registry snapshot predates the switch cannot run a Graph feed once more
    assert relay.stale_run("graph-alerts", GRAPH) == "lease-held"
    # WHEN the old feeds run, with more alerts between their runs
    relay.run_twice(("mde-alerts", "xdr-incidents"), produced_between=2, incident=7005)
    # THEN every version reached the sink once, counted across both APIs and both switches
    relay.assert_every_version_once()
    # AND the items after the rollback came from the MDE/XDR APIs
    assert {i.api for i in relay.sink.items[-5:]} <= {"mde", "xdr"}


def test_the_plan_moves_only_feeds_with_a_predecessor_and_says_what_stops() -> None:
    relay = Relay()
    # GIVEN a tenant on graph-alerts only (every Defender product's alerts)
    relay.tenants.add(feeds=frozenset({"graph-alerts"}))
    # WHEN a rollback is planned
    result = _rollback(relay, dry_run=True)
    # THEN graph-alerts would go back to mde-alerts, and the answer says the other products' alerts stop
    assert result.outcome == "would-move"
    assert [(m.old, m.new) for m in result.moves] == [("graph-alerts", "mde-alerts")]
    assert result.to_json()["feeds_after"] == ["mde-alerts"]
    assert "other than Endpoint" in result.stops
    # AND a tenant whose Graph alerts were limited to Endpoint loses nothing by it
    relay.tenants.add(feeds=frozenset({"graph-alerts"}), service_sources=frozenset({"microsoftDefenderForEndpoint"}))
    assert _rollback(relay, dry_run=True).stops == ""
    # AND a tenant not on Graph has nothing to roll back
    relay.tenants.add(feeds=OLD)
    assert _rollback(relay).outcome == "nothing-to-do"


def test_from_the_retirement_date_the_rollback_is_refused_and_changes_nothing() -> None:
    relay = Relay()
    relay.tenants.add(feeds=GRAPH)
    # WHEN a rollback is asked for on the day the MDE and XDR APIs retire
    result = _rollback(relay, clock=FakeClock(datetime(2027, 2, 1, 0, 0, 1, tzinfo=UTC)))
    # THEN it is refused, naming the date, and nothing was asked or written
    assert result.outcome == "not-moved"
    assert "2027-02-01" in result.message
    assert relay.tenants.get(TENANT).feeds == GRAPH
    assert not relay.tokens.asked
    assert not relay.checkpoints.rows
    # AND the day before, it still goes ahead
    day_before = FakeClock(datetime(2027, 1, 31, 23, 59, tzinfo=UTC))
    assert _rollback(relay, clock=day_before).outcome == "moved"


def test_a_tenant_whose_mde_token_lacks_the_alert_role_is_not_rolled_back() -> None:
    relay = Relay()
    relay.tenants.add(feeds=GRAPH)
    # GIVEN a tenant whose MDE token carries only Machine.Read.All
    relay.tokens.grant(TENANT, "mde", ["Machine.Read.All"])
    # WHEN it is rolled back
    result = _rollback(relay)
    # THEN it stays on Graph; the answer names the missing role and how to consent
    assert result.outcome == "not-moved"
    assert (result.readiness.status, result.readiness.missing) == ("needs-consent", ["Alert.Read.All"])
    assert "login.microsoftonline.com" in result.action
    assert relay.tenants.get(TENANT).feeds == GRAPH
    assert not relay.checkpoints.rows
    assert result.to_json()["readiness"]["mde_xdr_roles_missing"] == ["Alert.Read.All"]


def test_a_refused_xdr_read_keeps_the_tenant_on_graph() -> None:
    relay = Relay()
    relay.tenants.add(feeds=GRAPH)
    relay.reader.refused.add("/api/incidents")
    result = _rollback(relay)
    assert (result.outcome, result.readiness.status) == ("not-moved", "failing")
    assert relay.tenants.get(TENANT).feeds == GRAPH


def test_a_dry_run_shows_the_rollback_and_changes_nothing() -> None:
    relay = Relay()
    relay.tenants.add(feeds=GRAPH)
    relay.world.produce(3, ago=100)
    relay.run("graph-alerts")
    stale = Checkpoint(TENANT, "mde-alerts", cursor=relay.clock() - timedelta(days=3))
    relay.checkpoints.release(relay.checkpoints.claim(TENANT, "mde-alerts", owner="x", duration=timedelta(0)), stale)
    before = dict(relay.checkpoints.rows)
    # WHEN the rollback is dry-run
    result = _rollback(relay, dry_run=True)
    # THEN it shows where mde-alerts would start and how many Graph versions it would not repeat
    assert result.outcome == "would-move"
    alerts = next(m for m in result.moves if m.old == "graph-alerts")
    assert (alerts.new, alerts.cursor, alerts.handover) == (
        "mde-alerts",
        relay.checkpoints.get(TENANT, "graph-alerts").cursor,
        3,
    )
    # AND nothing changed: feeds, checkpoints (the stale MDE one too), leases
    assert relay.tenants.get(TENANT).feeds == GRAPH
    assert relay.checkpoints.rows == before
    assert not relay.checkpoints.held


def test_a_job_running_on_a_graph_feed_makes_the_rollback_wait_and_change_nothing() -> None:
    relay = Relay()
    relay.tenants.add(feeds=GRAPH)
    relay.checkpoints.claim(TENANT, "graph-incidents", owner="worker-7", duration=timedelta(minutes=5))
    result = _rollback(relay)
    assert result.outcome == "not-moved"
    assert "again in a minute" in result.action
    assert relay.tenants.get(TENANT).feeds == GRAPH
    assert relay.checkpoints.held == {(TENANT, "graph-incidents"): "worker-7"}
