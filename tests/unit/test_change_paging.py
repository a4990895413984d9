"""Reading a change feed whatever order the service answers in: windows, splits, ties larger than a page.

The fake API (tests/fakes/feed.py) shuffles every answer afresh and never honours an order: the reader
must still hand over every version once, for every feed (MDE, XDR, Graph alerts and incidents).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from shared.defender.feeds import read_changes
from shared.domain.catalogue import FEED_SPECS, Feed
from shared.domain.errors import DefenderError
from shared.domain.job import new_job
from shared.domain.tenant import Tenant, parse_tenant
from shared.domain.windows import ChangePage
from shared.ingest.runner import IngestDeps, IngestOptions, run_job
from tests.fakes.feed import FakeFeedApi
from tests.fakes.ingest import TENANT as TENANT_ID
from tests.fakes.ingest import FakeCheckpoints, FakeClock, FakeSink, FakeTenants

T0 = datetime(2026, 11, 1, tzinfo=UTC)
END = T0 + timedelta(days=1)
TENANT = parse_tenant({"tenant_id": "11111111-1111-4111-8111-111111111111", "display_name": "Contoso"}, where="test")


def _read(api: FakeFeedApi, *, size: int, tenant: Tenant = TENANT, **kwargs: object) -> list[ChangePage]:
    return list(read_changes(api, tenant, api.spec, T0, END, page_size=size, **kwargs))  # type: ignore[arg-type]


def _versions(pages: list[ChangePage], api: FakeFeedApi) -> list[tuple[str, str]]:
    return [(i[api.spec.id_field], i[api.spec.time_field]) for page in pages for i in page.items]


@pytest.mark.parametrize("feed", ["mde-alerts", "xdr-incidents", "graph-alerts", "graph-incidents"])
def test_every_version_once_in_any_order_with_a_tie_larger_than_a_page(feed: Feed) -> None:
    # GIVEN 200 items spread over the day, and 35 more that share one exact change time (more than a page)
    api = FakeFeedApi(FEED_SPECS[feed], order="random")
    for n in range(200):
        api.put(f"a{n:03d}", T0 + timedelta(minutes=7 * n, microseconds=n))
    tie = T0 + timedelta(hours=5, seconds=0.5)
    for n in range(35):
        api.put(f"t{n:02d}", tie, created=tie - timedelta(seconds=n + 1))
    # WHEN they are read ten to a page from an API that shuffles every answer
    pages = _read(api, size=10)
    # THEN every version came exactly once
    got = _versions(pages, api)
    assert Counter(got) == Counter((i[api.spec.id_field], i[api.spec.time_field]) for i in api.items)
    # AND the read is complete to the end of the window, and each page's mark never goes back
    marks = [p.complete_until for p in pages]
    assert marks == sorted(marks)
    assert marks[-1] == END
    # AND every request asked for a window, never for an order
    assert all(" ge " in c["$filter"] and " lt " in c["$filter"] for c in api.calls)


def test_a_window_answered_in_one_short_page_costs_one_call() -> None:
    # GIVEN three alerts in the window WHEN read with pages of 1,000 THEN one request did it
    api = FakeFeedApi(FEED_SPECS["graph-alerts"])
    for n in range(3):
        api.put(f"a{n}", T0 + timedelta(hours=n))
    pages = _read(api, size=1000)
    assert len(api.calls) == 1
    assert [(len(p.items), p.complete_until) for p in pages] == [(3, END)]


def test_nothing_new_is_one_empty_page_complete_to_the_end() -> None:
    api = FakeFeedApi(FEED_SPECS["xdr-incidents"])
    pages = _read(api, size=100)
    assert [(list(p.items), p.complete_until) for p in pages] == [([], END)]
    assert len(api.calls) == 1


def test_an_item_updated_between_two_requests_is_read_in_its_new_version_and_hides_nothing() -> None:
    # GIVEN 60 alerts an hour apart read 10 a page, newest first (what Graph says it does)
    api = FakeFeedApi(FEED_SPECS["graph-alerts"], order="newest")
    for n in range(24):
        api.put(f"a{n:02d}", T0 + timedelta(minutes=59 * n))
    versions_before = {(i["id"], i["lastUpdateDateTime"]) for i in api.items}

    # AND after the second request, alert a03 is updated (its new version falls late in the window)
    def update_a03(calls: int) -> None:
        if calls == 2:
            api.put("a03", T0 + timedelta(hours=23, minutes=59), created=T0 + timedelta(minutes=59 * 3))

    api.before_answer = update_a03
    # WHEN the feed is read
    got = set(_versions(_read(api, size=10), api))
    # THEN no other alert was lost, and a03 came in its newest version
    assert versions_before - {("a03", (T0 + timedelta(minutes=177)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))} <= got
    assert ("a03", (T0 + timedelta(hours=23, minutes=59)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")) in got


def test_a_tie_that_also_shares_its_creation_time_is_paged_with_next_links() -> None:
    # GIVEN 25 Graph alerts with one change and one creation time, and a service that pages by nextLink
    api = FakeFeedApi(FEED_SPECS["graph-alerts"], order="stored", next_links=True)
    api.server_page = 10
    same = T0 + timedelta(hours=2)
    for n in range(25):
        api.put(f"t{n:02d}", same)
    # WHEN read THEN all 25 came once (the only place the reader follows nextLink)
    got = _versions(_read(api, size=10), api)
    assert sorted(got) == sorted((f"t{n:02d}", api.items[0]["lastUpdateDateTime"]) for n in range(25))


def test_a_read_cut_short_is_complete_only_to_where_it_stopped() -> None:
    # GIVEN a full day of alerts that needs several windows WHEN the reader may spend only 3 requests
    api = FakeFeedApi(FEED_SPECS["mde-alerts"])
    for n in range(100):
        api.put(f"a{n:03d}", T0 + timedelta(minutes=14 * n))
    pages = _read(api, size=10, max_windows=3)
    # THEN what it handed over is complete up to its mark, and the mark is before the end
    mark = pages[-1].complete_until
    assert mark < END
    got = set(_versions(pages, api))
    assert {
        (i["id"], i["lastUpdateTime"])
        for i in api.items
        if i["lastUpdateTime"] < mark.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    } <= got


def test_graph_options_of_the_tenant_shape_the_query() -> None:
    # GIVEN a tenant that wants MDE and MDO alerts only, and incidents with their alerts expanded
    sources = ["microsoftDefenderForEndpoint", "microsoftDefenderForOffice365"]
    raw = {"tenant_id": TENANT.tenant_id, "service_sources": sources, "expand_incident_alerts": True}
    tenant = parse_tenant(raw, where="test")
    alerts = FakeFeedApi(FEED_SPECS["graph-alerts"])
    alerts.put("mde", T0 + timedelta(hours=1), serviceSource="microsoftDefenderForEndpoint")
    alerts.put("mdi", T0 + timedelta(hours=2), serviceSource="microsoftDefenderForIdentity")
    incidents = FakeFeedApi(FEED_SPECS["graph-incidents"])
    # WHEN both feeds are read
    got = _versions(_read(alerts, size=100, tenant=tenant), alerts)
    _read(incidents, size=50, tenant=tenant)
    # THEN only the chosen sources came, and incidents asked for $expand=alerts
    assert [i for i, _ in got] == ["mde"]
    assert (
        "(serviceSource eq 'microsoftDefenderForEndpoint' or serviceSource eq 'microsoftDefenderForOffice365')"
        in (alerts.calls[0]["$filter"])
    )
    assert incidents.calls[0]["$expand"] == "alerts"
    # AND by default neither happens
    plain = FakeFeedApi(FEED_SPECS["graph-incidents"])
    _read(plain, size=50)
    assert "$expand" not in plain.calls[0]


def test_a_malformed_change_time_from_the_api_is_refused() -> None:
    # GIVEN an answer with an item whose change time is not a date-time
    api = FakeFeedApi(FEED_SPECS["mde-alerts"])
    api.put("a1", T0 + timedelta(hours=1))
    api.items.append({"id": "evil", "lastUpdateTime": "2026-11-01T00:00:20' or 1 eq 1", "alertCreationTime": "x"})
    api.order = "stored"
    # WHEN the feed is read THEN it stops with an error naming the tenant (the item cannot be versioned)
    with pytest.raises(DefenderError, match="11111111-1111-4111-8111-111111111111"):
        _read(api, size=10)


def test_sweeps_over_a_shuffling_api_deliver_every_version_once_with_updates_ties_and_late_writes() -> None:
    # GIVEN the worker's use case over the real reader, on an API that shuffles every answer, pages of 5
    clock = FakeClock()
    api = FakeFeedApi(FEED_SPECS["graph-alerts"], order="random", seed=11)
    tenants = FakeTenants()
    tenants.add(feeds=frozenset({"graph-alerts"}))
    sink, checkpoints = FakeSink(), FakeCheckpoints(clock)
    options = IngestOptions(overlap=timedelta(seconds=600), settle=timedelta(seconds=30), page_size=5)
    deps = IngestDeps(tenants=tenants, source=_Source(api), checkpoints=checkpoints, sinks=[sink], owner="w",
                      options=options, clock=clock)  # fmt: skip
    truth: set[tuple[str, str]] = set()

    def write(item_id: str, seconds_ago: float, created_ago: float | None = None) -> None:
        when = clock() - timedelta(seconds=seconds_ago)
        api.put(item_id, when, created=None if created_ago is None else clock() - timedelta(seconds=created_ago))
        truth.add((item_id, when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))

    for sweep in range(6):
        # new alerts, a tie of 12 (more than two pages) on one change time, updates, a late write
        for n in range(7):
            write(f"s{sweep}n{n}", 200 - n * 20)
        for n in range(12):
            write(f"s{sweep}t{n}", 90, created_ago=900 + n)
        if sweep:
            write(f"s{sweep - 1}n3", 60)  # an update: a new version of last sweep's alert
            write(f"s{sweep}late", 400)  # written now, stamped behind the cursor (inside the overlap)
        clock.advance(30)
        # WHEN the sweep's job runs
        assert run_job(new_job(TENANT_ID, "graph-alerts", now=clock()), deps=deps).status == "ok"
        clock.advance(270)
    # THEN the sink holds every version exactly once (the versions still current at read time)
    keys = [(i.id, i.version) for i in sink.items]
    assert len(keys) == len(set(keys))
    assert set(keys) == truth


class _Source:
    def __init__(self, api: FakeFeedApi) -> None:
        self.api = api

    def iter_changes(self, tenant: Tenant, feed: str, since: datetime, until: datetime, *, page_size: int):  # type: ignore[no-untyped-def]
        return read_changes(self.api, tenant, self.api.spec, since, until, page_size=page_size)

    def throttle_count(self) -> int:
        return 0
