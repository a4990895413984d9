"""The order-ignoring mode (docs/contracts.md §1.5, §1.7): with more tied ``lastUpdateDateTime`` values than one
page holds, the Graph lists, MDE ``/api/alerts`` and XDR ``/api/incidents`` answer in an arbitrary order
whatever ``$orderby`` asks, and a reader that follows ``@odata.nextLink`` still gets every item once.

Why: neither the Graph lists nor the XDR incidents list document ``$orderby``
(https://learn.microsoft.com/graph/api/security-list-alerts_v2,
https://learn.microsoft.com/defender-xdr/api-list-incidents), so a reader must not depend on an order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, token, xdr_token
from tests.integration.graph_support import graph_get, graph_tenant, graph_token, read_all

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

TIED = 30
PAGE = 7


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """The mode and page sizes are emulator-wide: this module changes them on an emulator of its own."""
    return private_emulator


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    # GIVEN 30 new alerts written in one batch that all share one lastUpdateTime (the generate "ties" knob)
    tenant_id = graph_tenant(emulator, alerts=0)
    made = emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "new_alerts": TIED, "ties": TIED})
    assert made.json()[tenant_id]["alerts_created"] == TIED
    return tenant_id


@pytest.fixture
def ignoring(emulator: EmulatorInfo) -> Iterator[None]:
    # AND pages smaller than the tie block, and the order-ignoring mode on
    assert emulator.control("PUT", "/graph/limits", json={"alerts_page_size": PAGE}).status_code == 200
    assert emulator.control("PUT", "/limits", json={"alerts_page_size": PAGE}).status_code == 200
    assert emulator.control("PUT", "/ordering", json={"ignore_order": True, "seed": 11}).json() == {
        "ignore_order": True,
        "seed": 11,
    }
    yield
    emulator.control("PUT", "/ordering", json={"ignore_order": False})
    emulator.control("PUT", "/graph/limits", json={"alerts_page_size": 2000})
    emulator.control("PUT", "/limits", json={"alerts_page_size": 10_000})


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.usefixtures("ignoring")
def test_graph_pages_through_a_tie_block_larger_than_a_page_in_arbitrary_order(
    emulator: EmulatorInfo, tenant: str
) -> None:
    bearer = graph_token(emulator, tenant)
    tie = read_all(emulator, "/v1.0/security/alerts_v2", bearer)[0]["lastUpdateDateTime"]
    # WHEN a client reads the window [tie, tie] following @odata.nextLink
    path = f"/v1.0/security/alerts_v2?$filter=lastUpdateDateTime ge {tie} and lastUpdateDateTime le {tie}"
    first = graph_get(emulator, path, bearer).json()
    window = read_all(emulator, path, bearer)
    # THEN the window holds more items than one page, all tied, each once
    assert len(first["value"]) == PAGE
    assert "@odata.nextLink" in first
    assert len(window) == len({a["id"] for a in window}) == TIED
    assert {a["lastUpdateDateTime"] for a in window} == {tie}
    # AND the order is not the documented "most recent first"
    created = [_when(a["createdDateTime"]) for a in window]
    assert created != sorted(created, reverse=True)
    # AND it is the same order on every read (a reader following links over unchanged data loses nothing)
    assert [a["id"] for a in read_all(emulator, path, bearer)] == [a["id"] for a in window]


def _mde_ids(emulator: EmulatorInfo, path: str, bearer: str, key: str) -> list[str]:
    ids: list[str] = []
    url: str | None = path
    for _ in range(20):
        if url is None:
            return ids
        body = call(emulator, "GET", url, bearer).json()
        ids += [str(item[key]) for item in body["value"]]
        url = body.get("@odata.nextLink")
    raise AssertionError("more than 20 pages")


@pytest.mark.usefixtures("ignoring")
def test_mde_alerts_and_xdr_incidents_ignore_orderby(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant with alert history at distinct times, grouped into incidents
    other = graph_tenant(emulator, alerts=12)
    mde, xdr = token(emulator, other), xdr_token(emulator, other)
    alerts_path, incidents_path = "/api/alerts?$orderby=lastUpdateTime asc", "/api/incidents?$orderby=incidentId asc"
    # WHEN a client asks for an order while the mode is on
    shuffled_alerts = _mde_ids(emulator, alerts_path, mde, "id")
    shuffled_incidents = _mde_ids(emulator, incidents_path, xdr, "incidentId")
    emulator.control("PUT", "/ordering", json={"ignore_order": False})
    ordered_alerts = _mde_ids(emulator, alerts_path, mde, "id")
    ordered_incidents = _mde_ids(emulator, incidents_path, xdr, "incidentId")
    # THEN it gets every item once, but not in the order it asked for (which the mode off honours)
    assert sorted(shuffled_alerts) == sorted(ordered_alerts)
    assert len(set(shuffled_alerts)) == 12
    assert shuffled_alerts != ordered_alerts
    assert sorted(shuffled_incidents) == sorted(ordered_incidents)
    assert len(ordered_incidents) > 2
    assert shuffled_incidents != ordered_incidents
    assert ordered_incidents == sorted(ordered_incidents, key=int)
    # AND a bad $orderby is refused in either mode: the mode ignores the order, not the syntax
    emulator.control("PUT", "/ordering", json={"ignore_order": True})
    assert call(emulator, "GET", "/api/alerts?$orderby=nosuch asc", mde).status_code == 400


def test_the_mode_is_off_by_default_and_bad_input_is_named(emulator: EmulatorInfo, tenant: str) -> None:
    assert emulator.control("GET", "/ordering").json()["ignore_order"] is False
    bearer = graph_token(emulator, tenant)
    created = [_when(a["createdDateTime"]) for a in read_all(emulator, "/v1.0/security/alerts_v2", bearer)]
    assert created == sorted(created, reverse=True)
    refused = emulator.control("PUT", "/ordering", json={"ignore_order": "yes"})
    assert refused.status_code == 400
    assert "ignore_order" in refused.json()["error"]
