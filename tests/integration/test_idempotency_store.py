"""``TableIdempotencyStore`` against real Table storage (Azurite): claims racing with a release."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.data.tables import TableClient

from localdev.azurite import AzuriteEndpoints
from shared.actions.idempotency import StoredResponse, TableIdempotencyStore
from tests.fakes.actions import TENANT_A, FakeInterleavedTable

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


@pytest.fixture
def table(azurite: AzuriteEndpoints, table_name: str) -> TableClient:
    return TableClient.from_connection_string(azurite.connection_string, table_name=table_name)


def test_a_key_released_between_the_insert_and_the_read_is_claimed_again_not_a_500(table: TableClient) -> None:
    # GIVEN request 1 holds key k (its Defender call is running)
    first = TableIdempotencyStore(table)
    assert first.claim(TENANT_A, "k", "print", now=NOW) is None
    # WHEN request 2 with the same key finds it taken, and request 1 fails and releases it before 2 reads it
    racing = FakeInterleavedTable(table, other=table)
    second = TableIdempotencyStore(racing)  # type: ignore[arg-type]  # a TableClient with one forced interleaving
    claimed = second.claim(TENANT_A, "k", "print", now=NOW)
    # THEN request 2 owns the key (the read's "not found" meant "free"): no error, it runs and stores its result
    assert racing.interleaved == 1
    assert claimed is None
    second.complete(TENANT_A, "k", StoredResponse(202, {"action": {"id": "a1"}}))
    # AND a third request with the key replays that result
    replayed = first.claim(TENANT_A, "k", "print", now=NOW)
    assert replayed == StoredResponse(202, {"action": {"id": "a1"}})
