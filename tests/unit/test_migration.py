"""Moving a tenant from mde-alerts / xdr-incidents to graph-alerts / graph-incidents: nothing lost, nothing
repeated, alerts produced before, during and after the switch; a tenant without the Graph roles stays put.

The world (tests/fakes/graph.py) gives every MDE alert a Graph twin with another id and its provider id,
and answers every read in a fresh random order.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from shared.domain.envelope import EventItem
from shared.domain.job import format_time, new_job, parse_time
from shared.ingest.migration import MigrationDeps, migrate_tenant
from shared.ingest.runner import IngestDeps, IngestOptions, JobResult, run_job
from shared.tenants.readiness import assess, summary_line
from tests.fakes.graph import FakeReader, FakeTokens, TwinWorld
from tests.fakes.ingest import TENANT, FakeCheckpoints, FakeClock, FakeSink, FakeTenants

OLD = frozenset({"mde-alerts", "xdr-incidents"})
OPTIONS = IngestOptions(overlap=timedelta(seconds=600), settle=timedelta(seconds=30), page_size=4)


class Relay:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.world = TwinWorld(self.clock)
        self.tenants = FakeTenants()
        self.tenant = self.tenants.add(feeds=OLD)
        self.checkpoints = FakeCheckpoints(self.clock)
        self.sink = FakeSink()
        self.tokens = FakeTokens()
        self.reader = FakeReader()

    def run(self, feed: str, tenants: FakeTenants | None = None) -> JobResult:
        deps = IngestDeps(
            tenants=tenants or self.tenants, source=self.world.source(), checkpoints=self.checkpoints,
            sinks=[self.sink], owner="worker", options=OPTIONS, clock=self.clock,
        )  # fmt: skip
        return run_job(new_job(TENANT, feed, now=self.clock()), deps=deps)  # type: ignore[arg-type]

    def stale_run(self, feed: str, feeds: frozenset[str]) -> str:
        """The status of a run by a worker whose registry snapshot predates the switch (it still sees ``feeds``)."""
        stale = FakeTenants()
        stale.add(feeds=feeds)
        return self.run(feed, tenants=stale).status

    def run_twice(self, feeds: tuple[str, str], *, produced_between: int, incident: int) -> None:
        """A minute on, ``feeds`` run; more alerts arrive; a minute on, they run again."""
        for n in range(2):
            if n:
                self.world.produce(produced_between, ago=0, incident=incident)
            self.clock.advance(60)
            self.run(feeds[0]), self.run(feeds[1])

    def assert_every_version_once(self) -> None:
        """Every version the world produced reached the sink once, counted across both APIs."""
        delivered = Counter(_correlated(item) for item in self.sink.items)
        assert set(delivered) == self.world.truth
        assert [key for key, n in delivered.items() if n > 1] == []

    def migrate(self, *, dry_run: bool = False):  # type: ignore[no-untyped-def]
        deps = MigrationDeps(
            registry=self.tenants, checkpoints=self.checkpoints, tokens=self.tokens, reader=self.reader,
            owner="migrate/test",
        )  # fmt: skip
        return migrate_tenant(self.tenants.get(TENANT), deps=deps, dry_run=dry_run)


def _correlated(item: EventItem) -> tuple[str, str, str]:
    """What a consumer joins on across the switch: the provider's id (alerts) or the incident id, and the time."""
    ident = item.provider_alert_id if item.kind == "alert" else item.incident_id
    return (item.kind, str(ident), format_time(parse_time(item.version)))


def test_a_tenant_moved_mid_stream_gets_every_version_exactly_once() -> None:
    relay = Relay()
    world, clock = relay.world, relay.clock
    # GIVEN a tenant on the retiring feeds that has delivered some alerts and incidents
    world.produce(6, ago=300, incident=7001)
    relay.run("mde-alerts"), relay.run("xdr-incidents")
    clock.advance(120)
    # AND alerts written after its last run: some now, some stamped in the past (late writes)
    world.produce(5, ago=45, incident=7002)
    world.produce(2, ago=400, incident=7001)
    # WHEN it is migrated, while more alerts arrive
    result = relay.migrate()
    world.produce(4, ago=10, incident=7003)
    # THEN it moved both feeds, each starting where its predecessor stood
    assert result.outcome == "moved"
    assert {(m.old, m.new) for m in result.moves} == {
        ("mde-alerts", "graph-alerts"),
        ("xdr-incidents", "graph-incidents"),
    }
    assert relay.tenants.get(TENANT).feeds == {"graph-alerts", "graph-incidents"}
    for move in result.moves:
        assert relay.checkpoints.get(TENANT, move.new).cursor == relay.checkpoints.get(TENANT, move.old).cursor
    # AND a worker whose registry snapshot predates the switch cannot run the old feed once more
    assert relay.stale_run("mde-alerts", OLD) == "lease-held"
    # WHEN the Graph feeds run, with more alerts between their runs
    relay.run_twice(("graph-alerts", "graph-incidents"), produced_between=3, incident=7004)
    # THEN every version the world produced reached the sink once, counted across both APIs
    relay.assert_every_version_once()
    # AND the Graph items name the API and carry the Graph id beside the provider id
    graph = [i for i in relay.sink.items if i.api == "graph" and i.kind == "alert"]
    assert graph
    assert all(i.graph_id == i.id and i.provider_alert_id and i.provider_alert_id != i.id for i in graph)


def test_a_tenant_without_the_graph_roles_is_not_moved_and_is_told_how_to_consent() -> None:
    relay = Relay()
    # GIVEN a tenant that consented before the partner app asked for Graph: its Graph token has no roles
    relay.tokens.grant(TENANT, "graph", [])
    # WHEN it is migrated
    result = relay.migrate()
    # THEN it stays on its feeds, and the answer says to consent again, with the link
    assert result.outcome == "not-moved"
    assert relay.tenants.get(TENANT).feeds == OLD
    assert result.readiness.status == "needs-consent"
    assert "login.microsoftonline.com/common/oauth2/authorize?prompt=consent" in result.action
    assert not relay.checkpoints.rows


def test_missing_one_graph_role_is_named() -> None:
    relay = Relay()
    relay.tokens.grant(TENANT, "graph", ["SecurityAlert.Read.All"])
    readiness = assess(relay.tenants.get(TENANT), tokens=relay.tokens, reader=relay.reader)
    assert (readiness.status, readiness.missing) == ("needs-consent", ["SecurityIncident.Read.All"])


def test_a_refused_graph_read_keeps_the_tenant_where_it_is() -> None:
    relay = Relay()
    relay.reader.refused.add("/v1.0/security/incidents")
    result = relay.migrate()
    assert (result.outcome, result.readiness.status) == ("not-moved", "failing")
    assert "403" in result.message
    assert relay.tenants.get(TENANT).feeds == OLD


def test_a_job_running_on_the_old_feed_makes_migrate_wait_and_change_nothing() -> None:
    relay = Relay()
    relay.checkpoints.claim(TENANT, "xdr-incidents", owner="worker-7", duration=timedelta(minutes=5))
    result = relay.migrate()
    assert result.outcome == "not-moved"
    assert "again in a minute" in result.action
    assert relay.tenants.get(TENANT).feeds == OLD
    assert relay.checkpoints.held == {(TENANT, "xdr-incidents"): "worker-7"}  # the old feed's lease was given back


def test_a_dry_run_shows_the_move_and_changes_nothing() -> None:
    relay = Relay()
    relay.world.produce(2, ago=100)
    relay.run("mde-alerts")
    result = relay.migrate(dry_run=True)
    assert result.outcome == "would-move"
    assert relay.tenants.get(TENANT).feeds == OLD
    assert {m.new for m in result.moves} == {"graph-alerts", "graph-incidents"}
    assert relay.checkpoints.get(TENANT, "graph-alerts").cursor is None
    assert not relay.checkpoints.held


def test_a_tenant_already_on_graph_has_nothing_to_do() -> None:
    relay = Relay()
    relay.tenants.add(feeds=frozenset({"graph-alerts"}))
    assert relay.migrate().outcome == "nothing-to-do"


def test_the_summary_line_counts_ready_and_consent() -> None:
    relay = Relay()
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(5)]
    for n, tenant_id in enumerate(ids):
        relay.tenants.add(tenant_id, feeds=OLD if n else frozenset({"graph-alerts"}))
    relay.tokens.grant(ids[3], "graph", [])
    relay.tokens.grant(ids[4], "graph", ["SecurityIncident.Read.All"])
    results = [assess(relay.tenants.get(t), tokens=relay.tokens, reader=relay.reader) for t in ids]
    assert [r.status for r in results] == ["migrated", "ready", "ready", "needs-consent", "needs-consent"]
    assert summary_line(results) == "3 of 5 tenants ready; 2 need consent"
