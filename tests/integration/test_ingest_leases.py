"""TableLeaseStore against real Table storage (Azurite): one holder at a time, takeover after expiry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableClient

from localdev.azurite import AzuriteEndpoints
from shared.errors import LeaseHeldError
from shared.leases import Lease, TableLeaseStore

pytestmark = pytest.mark.integration

TENANT = "aaaaaaaa-0000-0000-0000-000000000001"
FEED = "mde-alerts"
MINUTE = timedelta(minutes=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def table(azurite: AzuriteEndpoints, unique_name: str) -> Iterator[TableClient]:
    client = TableClient.from_connection_string(azurite.connection_string, table_name=unique_name)
    client.create_table()
    yield client
    client.delete_table()


def test_a_held_lease_refuses_others_until_released_then_the_next_owner_gets_it(table: TableClient) -> None:
    # GIVEN worker A holds the lease
    store = TableLeaseStore(table, clock=Clock())
    lease = store.acquire(TENANT, FEED, owner="a", duration=MINUTE)
    # WHEN worker B asks for it THEN it is refused
    with pytest.raises(LeaseHeldError, match=TENANT):
        store.acquire(TENANT, FEED, owner="b", duration=MINUTE)
    # WHEN A releases it THEN B gets it at once
    store.release(lease)
    assert store.acquire(TENANT, FEED, owner="b", duration=MINUTE).owner == "b"


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew_or_release_it(table: TableClient) -> None:
    # GIVEN worker A's lease has lapsed (A crashed or stalled)
    clock = Clock()
    store = TableLeaseStore(table, clock=clock)
    stale = store.acquire(TENANT, FEED, owner="a", duration=MINUTE)
    clock.now += 2 * MINUTE
    # WHEN B takes it over
    taken = store.acquire(TENANT, FEED, owner="b", duration=MINUTE)
    # THEN A can neither renew it nor release B's lease
    with pytest.raises(LeaseHeldError, match="taken over"):
        store.renew(stale, duration=MINUTE)
    store.release(stale)
    with pytest.raises(LeaseHeldError):
        store.acquire(TENANT, FEED, owner="c", duration=MINUTE)
    assert taken.owner == "b"


def test_of_many_workers_racing_for_a_free_lease_exactly_one_wins(table: TableClient) -> None:
    store = TableLeaseStore(table, clock=Clock())
    winners: list[Lease] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def race(owner: str) -> None:
        start.wait(timeout=10)
        try:
            winners.append(store.acquire(TENANT, FEED, owner=owner, duration=MINUTE))
        except LeaseHeldError:
            refused.append(owner)

    threads = [threading.Thread(target=race, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(winners) == 1
    assert len(refused) == 7
