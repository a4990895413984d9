"""TableCheckpointStore against real Table storage (Azurite): the lease inside the checkpoint entity.

One holder at a time, takeover after expiry, an old holder's writes refused, and a warm claim that
costs one conditional write without going stale when another instance moved the cursor.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableClient

from localdev.azurite import AzuriteEndpoints
from shared.domain.checkpoint import Checkpoint, Claim
from shared.domain.errors import LeaseHeldError
from shared.ingest.checkpoint_table import TableCheckpointStore

pytestmark = pytest.mark.integration

TENANT = "aaaaaaaa-0000-0000-0000-000000000001"
FEED = "mde-alerts"
MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Requests:
    """The HTTP methods a table client sent, in order (azure-core's raw_request_hook)."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def __call__(self, request: Any) -> None:
        self.methods.append(request.http_request.method)


def _store(
    azurite: AzuriteEndpoints, table_name: str, clock: Clock, sent: Requests | None = None, **options: int
) -> TableCheckpointStore:
    hooks = {"raw_request_hook": sent} if sent else {}
    table = TableClient.from_connection_string(azurite.connection_string, table_name=table_name, **hooks)
    return TableCheckpointStore(table, clock=clock, **options)


@pytest.fixture
def store(azurite: AzuriteEndpoints, table_name: str) -> TableCheckpointStore:
    return _store(azurite, table_name, Clock())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked_store(azurite: AzuriteEndpoints, table_name: str, clock: Clock) -> TableCheckpointStore:
    """A store whose clock the test moves (``clock``)."""
    return _store(azurite, table_name, clock)


def _moved(claim: Claim, minutes: int) -> Checkpoint:
    seen = frozenset({("a1", "2026-11-22T01:00:00Z")})
    return Checkpoint(claim.tenant_id, claim.feed, cursor=T0 + timedelta(minutes=minutes), seen=seen)


def test_a_held_lease_refuses_others_until_released_then_the_next_owner_gets_it(store: TableCheckpointStore) -> None:
    # GIVEN worker A holds the lease
    claim = store.claim(TENANT, FEED, owner="a", duration=MINUTE)
    # WHEN worker B asks for it THEN it is refused
    with pytest.raises(LeaseHeldError, match=TENANT):
        store.claim(TENANT, FEED, owner="b", duration=MINUTE)
    # WHEN A releases it with its progress THEN B gets it at once, with that progress
    store.release(claim, _moved(claim, 5))
    taken = store.claim(TENANT, FEED, owner="b", duration=MINUTE)
    assert taken.owner == "b"
    assert taken.checkpoint.cursor == T0 + timedelta(minutes=5)
    assert taken.checkpoint.seen == {("a1", "2026-11-22T01:00:00Z")}


def test_an_expired_lease_is_taken_over_and_the_old_holder_can_neither_save_nor_free_it(
    clocked_store: TableCheckpointStore, clock: Clock
) -> None:
    # GIVEN worker A's lease has lapsed (A crashed or stalled)
    store = clocked_store
    stale = store.claim(TENANT, FEED, owner="a", duration=MINUTE)
    clock.now += 2 * MINUTE
    # WHEN B takes it over
    taken = store.claim(TENANT, FEED, owner="b", duration=MINUTE)
    # THEN A cannot move the cursor, and freeing its old lease leaves B's in place
    with pytest.raises(LeaseHeldError, match="taken over"):
        store.save(stale, _moved(stale, 1), duration=MINUTE)
    with pytest.raises(LeaseHeldError, match="taken over"):
        store.release(stale, _moved(stale, 1))
    store.release(stale)
    with pytest.raises(LeaseHeldError):
        store.claim(TENANT, FEED, owner="c", duration=MINUTE)
    assert taken.owner == "b"
    assert store.get(TENANT, FEED).cursor is None


@pytest.mark.parametrize("existing", [False, True], ids=["new-entity", "released-entity"])
def test_of_many_workers_racing_for_a_free_lease_exactly_one_wins(
    azurite: AzuriteEndpoints, table_name: str, existing: bool
) -> None:
    if existing:  # the usual case: an entity some earlier run released
        first = _store(azurite, table_name, Clock())
        first.release(first.claim(TENANT, FEED, owner="earlier", duration=MINUTE), _moved_any())
    winners: list[Claim] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def race(owner: str) -> None:
        store = _store(azurite, table_name, Clock())  # one store per worker: nothing shared but the table
        start.wait(timeout=10)
        try:
            winners.append(store.claim(TENANT, FEED, owner=owner, duration=MINUTE))
        except LeaseHeldError:
            refused.append(owner)

    threads = [threading.Thread(target=race, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(winners) == 1
    assert len(refused) == 7


def _moved_any() -> Checkpoint:
    return Checkpoint(TENANT, FEED, cursor=T0)


def test_a_warm_claim_is_one_conditional_write_and_never_uses_a_cursor_moved_elsewhere(
    azurite: AzuriteEndpoints, table_name: str
) -> None:
    # GIVEN instance A ran the feed once (read, claim, release)
    sent = Requests()
    a = _store(azurite, table_name, Clock(), sent)
    a.release(a.claim(TENANT, FEED, owner="a1", duration=MINUTE), Checkpoint(TENANT, FEED, cursor=T0))
    # WHEN A runs it again THEN the claim is one conditional MERGE (no read) and the release one PUT
    sent.methods.clear()
    claim = a.claim(TENANT, FEED, owner="a2", duration=MINUTE)
    a.release(claim, Checkpoint(TENANT, FEED, cursor=T0 + MINUTE))
    assert sent.methods == ["PATCH", "PUT"]
    assert claim.checkpoint.cursor == T0
    # GIVEN instance B then ran it and moved the cursor
    b = _store(azurite, table_name, Clock())
    b.release(b.claim(TENANT, FEED, owner="b1", duration=MINUTE), Checkpoint(TENANT, FEED, cursor=T0 + 9 * MINUTE))
    # WHEN A claims it again THEN its remembered ETag is refused and it reads B's cursor
    sent.methods.clear()
    claim = a.claim(TENANT, FEED, owner="a3", duration=MINUTE)
    assert claim.checkpoint.cursor == T0 + 9 * MINUTE
    assert sent.methods == ["PATCH", "GET", "PATCH"]


def test_what_a_worker_remembers_is_bounded_and_the_least_recently_released_goes_first(
    azurite: AzuriteEndpoints, table_name: str
) -> None:
    # GIVEN room for two small released entities (each costs 64 characters plus its keys)
    sent = Requests()
    store = _store(azurite, table_name, Clock(), sent, remember_chars=2 * 64 + 10)
    feeds = [f"feed-{n}" for n in range(3)]
    # WHEN three feeds are released in turn
    for feed in feeds:
        store.release(store.claim(TENANT, feed, owner="w", duration=MINUTE), Checkpoint(TENANT, feed, cursor=T0))
    # THEN the first one has to be read again, and the two latest are claimed without a read
    for feed, expected in zip(feeds, (["GET", "PATCH"], ["PATCH"], ["PATCH"]), strict=True):
        sent.methods.clear()
        store.claim(TENANT, feed, owner="again", duration=MINUTE)
        assert sent.methods == expected, feed


def test_handover_keys_written_by_migrate_survive_a_round_trip_and_are_pruned_with_the_cursor(
    store: TableCheckpointStore,
) -> None:
    # GIVEN a Graph feed's first checkpoint as migrate writes it: the old cursor and the old feed's keys
    cursor = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    keys = frozenset({("da1", "2026-11-01T11:55:00.000000Z"), ("da2", "2026-11-01T11:40:00.000000Z")})
    claim = store.claim("t1", "graph-alerts", owner="migrate", duration=timedelta(seconds=30))
    store.release(claim, Checkpoint("t1", "graph-alerts", cursor=cursor, handover=keys))
    # WHEN a worker reads it THEN the keys are there
    assert store.get("t1", "graph-alerts").handover == keys
    # AND once the cursor has moved on past the overlap, the older key is pruned and the entity shrinks
    claim = store.claim("t1", "graph-alerts", owner="worker", duration=timedelta(seconds=30))
    moved = claim.checkpoint.advanced(cursor + timedelta(minutes=10), (), overlap=timedelta(minutes=15))
    store.release(claim, moved)
    assert store.get("t1", "graph-alerts").handover == {("da1", "2026-11-01T11:55:00.000000Z")}


def test_renewing_extends_only_the_lease_and_a_refused_claim_says_whose_lease_until_when(
    clocked_store: TableCheckpointStore, clock: Clock
) -> None:
    # GIVEN worker A holds the lease with some progress saved
    store = clocked_store
    claim = store.claim(TENANT, FEED, owner="a", duration=MINUTE)
    claim = store.save(claim, _moved(claim, 5), duration=MINUTE)
    # WHEN A's heartbeat renews it half a minute later
    clock.now += MINUTE / 2
    renewed = store.renew(claim, duration=MINUTE)
    # THEN the lease ends a minute from now, the progress is untouched, and B is told whose lease it is and until when
    assert renewed.expires_at == clock.now + MINUTE
    with pytest.raises(LeaseHeldError) as refused:
        store.claim(TENANT, FEED, owner="b", duration=MINUTE)
    assert (refused.value.holder, refused.value.held_until) == ("a", renewed.expires_at)
    assert store.get(TENANT, FEED).cursor == T0 + timedelta(minutes=5)
    # AND A's next write uses the renewed claim; the claim from before the renewal is stale
    with pytest.raises(LeaseHeldError, match="taken over"):
        store.renew(claim, duration=MINUTE)
    store.release(renewed, _moved(renewed, 6))
    assert store.get(TENANT, FEED).cursor == T0 + timedelta(minutes=6)
