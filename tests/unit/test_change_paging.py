"""Paging a live change feed: nothing skipped when items change between pages, ties larger than a page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.defender.client import DefenderClient
from shared.defender.transport import ClientStats
from shared.domain.catalogue import ApiResource
from shared.domain.errors import DefenderError
from shared.domain.tenant import Tenant, parse_tenant

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeFeed:
    """A transport over an alert list with the OData the client relies on: ge/le on lastUpdateTime, asc, $top/$skip.

    ``after_call`` runs after each answer, so a test can change the data between two pages the way
    writes land in Defender while a worker is paging.
    """

    def __init__(self, alerts: list[dict[str, Any]]) -> None:
        self.alerts = alerts
        self.calls: list[dict[str, Any]] = []
        self.after_call: Any = None
        self.stats = ClientStats()

    def request(
        self,
        tenant: Tenant,
        resource: ApiResource,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        required_roles: Iterable[str] = (),
    ) -> dict[str, Any]:
        assert params is not None
        self.calls.append(dict(params))
        clauses = dict(part.split(" ")[1:] for part in params["$filter"].split(" and "))
        lower, upper = clauses["ge"], clauses.get("le", "9999")
        rows = sorted(
            (a for a in self.alerts if lower <= a["lastUpdateTime"] <= upper), key=lambda a: a["lastUpdateTime"]
        )
        page = rows[params["$skip"] : params["$skip"] + params["$top"]]
        if self.after_call:
            self.after_call(len(self.calls))
        return {"value": [dict(a) for a in page]}


TENANT = parse_tenant({"tenant_id": "11111111-1111-4111-8111-111111111111", "display_name": "Contoso"}, where="test")


def _collect(feed: FakeFeed, *, size: int) -> list[tuple[str, str]]:
    pages = DefenderClient(transport=feed).list_alerts_since(TENANT, T0, T0 + timedelta(days=1), page_size=size)
    return [(a["id"], a["lastUpdateTime"]) for page in pages for a in page]


def test_an_item_updated_between_pages_does_not_hide_another_one() -> None:
    # GIVEN 30 alerts one second apart, read 10 a page
    alerts = [{"id": f"a{i:02d}", "lastUpdateTime": _stamp(i)} for i in range(30)]
    feed = FakeFeed(alerts)

    # AND after the first page is served, alert a03 is updated (it moves to the newest time)
    def update_a03(calls: int) -> None:
        if calls == 1:
            alerts[3]["lastUpdateTime"] = _stamp(100)

    feed.after_call = update_a03
    # WHEN the worker reads the changes
    seen = _collect(feed, size=10)
    # THEN every alert was read; a03 twice (its old and its new version), none skipped or repeated
    ids = [i for i, _ in seen]
    assert sorted(set(ids)) == [f"a{i:02d}" for i in range(30)]
    assert ids.count("a03") == 2
    assert len(ids) == 31


def test_ties_across_page_boundaries_and_a_tie_group_larger_than_a_page() -> None:
    # GIVEN 5 alerts, then 25 sharing one timestamp (more than a page), then 5 more
    alerts = [{"id": f"b{i:02d}", "lastUpdateTime": _stamp(i)} for i in range(5)]
    alerts += [{"id": f"t{i:02d}", "lastUpdateTime": _stamp(10)} for i in range(25)]
    alerts += [{"id": f"c{i:02d}", "lastUpdateTime": _stamp(20 + i)} for i in range(5)]
    feed = FakeFeed(alerts)
    # WHEN read 10 a page
    seen = _collect(feed, size=10)
    # THEN each version comes exactly once, in time order
    assert sorted(seen) == sorted((a["id"], a["lastUpdateTime"]) for a in alerts)
    assert len(seen) == len(set(seen)) == 35
    assert [t for _, t in seen] == sorted(t for _, t in seen)
    # AND every request re-anchors on a time the API gave (no client-side rounding of 7-digit times)
    assert all(c["$filter"].startswith("lastUpdateTime ge ") for c in feed.calls)


def test_a_malformed_time_from_the_api_is_refused_not_put_into_the_next_filter() -> None:
    # GIVEN an API answer whose last item has a lastUpdateTime that is not a Defender date-time
    alerts = [{"id": f"a{i}", "lastUpdateTime": _stamp(i)} for i in range(9)]
    alerts.append({"id": "evil", "lastUpdateTime": "2026-11-01T00:00:20' or 1 eq 1"})
    feed = FakeFeed(alerts)
    # WHEN the worker pages past it THEN it stops with an error naming the tenant
    with pytest.raises(DefenderError, match="11111111-1111-4111-8111-111111111111"):
        _collect(feed, size=10)
    assert len(feed.calls) == 1
