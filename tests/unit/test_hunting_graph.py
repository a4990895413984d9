"""The Graph hunting adapter over the real transport and a local HTTP server, and NCRONTAB schedules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.defender.graph_hunting import GraphHuntingClient, HuntColumn
from shared.defender.rate_limit import RateLimiter, default_windows
from shared.domain.errors import (
    DefenderForbiddenError,
    DefenderUnavailableError,
    HuntLimitError,
    HuntQueryError,
    ThrottledError,
    ValidationError,
)
from shared.hunting.cron import latest_slot, parse_schedule
from tests.unit.test_defender_client import (  # the local HTTP server standing in for Graph
    TENANT,
    FakeClock,
    FakeDefender,
    FakeTokens,
    Seen,
    fake,  # noqa: F401 - fixture
    make_client,
)


def _hunting(server: FakeDefender, **kwargs: object) -> GraphHuntingClient:
    return GraphHuntingClient(transport=make_client(server.port, **kwargs).transport)  # type: ignore[attr-defined, arg-type]


def _graph_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], object]:
    return status, {}, {"error": {"code": code, "message": message, "innerError": {"request-id": "r-1"}}}


def test_the_documented_request_goes_to_the_graph_host_and_the_answer_is_read_in_either_key_case(
    fake: FakeDefender,  # noqa: F811 - the fixture
) -> None:
    answers = iter([
        {"schema": [{"name": "Timestamp", "type": "DateTime"}], "results": [{"Timestamp": "t1"}]},
        {"Schema": [{"Name": "FileName", "Type": "String"}], "Results": [{"FileName": "a", "Extra": 1}]},
    ])  # fmt: skip
    fake.handler = lambda seen: (200, {}, next(answers))
    tokens = FakeTokens()
    client = _hunting(fake, tokens=tokens)
    first = client.run_query(TENANT, "DeviceProcessEvents | take 1", timespan="P7D")
    second = client.run_query(TENANT, "AlertInfo")
    seen: list[Seen] = fake.seen
    assert (seen[0].method, seen[0].path) == ("POST", "/v1.0/security/runHuntingQuery")
    assert seen[0].body == {"Query": "DeviceProcessEvents | take 1", "Timespan": "P7D"}
    assert seen[1].body == {"Query": "AlertInfo"}  # no Timespan: Graph's 30 days
    assert tokens.roles_asked[0] == ("ThreatHunting.Read.All",)
    assert first.columns == (HuntColumn("Timestamp", "DateTime"),)
    assert first.rows == [{"Timestamp": "t1"}]
    assert [c.name for c in second.columns] == ["FileName", "Extra"]  # a column the schema missed is kept


@pytest.mark.parametrize(
    ("reply", "error", "text"),
    [
        (_graph_error(400, "BadRequest", "Query could not be parsed at 'wher' on line [1,22]"), HuntQueryError,
         "Query could not be parsed at 'wher' on line [1,22]"),
        (_graph_error(400, "BadRequest", "Query exceeded the timeout period."), HuntLimitError, "timeout"),
        (_graph_error(400, "BadRequest", "Result size limit exceeded. Use \"summarize\" ..."), HuntLimitError,
         "result-size"),
        (_graph_error(403, "Forbidden", "Missing application roles."), DefenderForbiddenError, "Missing application"),
    ],
)  # fmt: skip
def test_refusals_are_the_query_s_fault_a_tenant_limit_or_forbidden(
    fake: FakeDefender,  # noqa: F811 - the fixture
    reply: tuple[int, dict[str, str], object],
    error: type[Exception],
    text: str,
) -> None:
    fake.handler = lambda seen: reply
    with pytest.raises(error) as caught:
        _hunting(fake).run_query(TENANT, "x")
    shown = getattr(caught.value, "limit", None) if error is HuntLimitError else str(caught.value)
    assert text in str(shown)
    if error is HuntQueryError:
        assert str(caught.value) == text  # Microsoft's words, without the transport's prefix or the request id


def test_a_long_429_is_handed_back_and_5xx_is_not_retried_for_a_post(fake: FakeDefender) -> None:  # noqa: F811
    fake.handler = lambda seen: (429, {"Retry-After": "300"}, {"error": {"code": "TooManyRequests", "message": "x"}})
    with pytest.raises(ThrottledError):
        _hunting(fake).run_query(TENANT, "x")
    fake.seen.clear()
    fake.handler = lambda seen: (503, {}, {"error": {"code": "serviceNotAvailable", "message": "down"}})
    with pytest.raises(DefenderUnavailableError):
        _hunting(fake).run_query(TENANT, "x")
    assert len(fake.seen) == 1  # the queue retries the job, not the transport (a POST)


def test_hunting_calls_have_their_own_per_tenant_quota(fake: FakeDefender) -> None:  # noqa: F811
    fake.handler = lambda seen: (200, {}, {"schema": [], "results": []})
    clock = FakeClock()
    limiter = RateLimiter(clock, default_windows(graph_per_minute=150, hunting_per_minute=2))
    client = _hunting(fake, clock=clock, limiter=limiter)
    client.run_query(TENANT, "x")
    client.run_query(TENANT, "x")
    # THEN the third call of the minute is not sent: too long to wait in place, the job goes back to the queue
    with pytest.raises(ThrottledError, match="client-side hunting quota"):
        client.run_query(TENANT, "x")
    assert len(fake.seen) == 2
    assert limiter.reserve(TENANT.tenant_id, "graph") == 0  # the Graph feeds' quota is a separate one


@pytest.mark.parametrize(
    ("schedule", "after", "until", "slot"),
    [
        ("0 0 * * * *", "2026-11-01T12:00:00", "2026-11-01T12:59:59", None),
        ("0 0 * * * *", "2026-11-01T12:00:00", "2026-11-01T13:00:00", "2026-11-01T13:00:00"),
        ("0 0 * * * *", "2026-11-01T12:00:00", "2026-11-01T16:30:00", "2026-11-01T16:00:00"),
        ("0 */15 * * * *", "2026-11-01T12:00:00", "2026-11-01T12:31:00", "2026-11-01T12:30:00"),
        ("30 0 6 * * Mon-Fri", "2026-10-30T00:00:00", "2026-11-02T07:00:00", "2026-11-02T06:00:30"),
        ("0 0 6 * * 1-5", "2026-10-31T07:00:00", "2026-11-01T23:00:00", None),  # a weekend
        ("0 0 0 1 Jan *", "2025-06-01T00:00:00", "2026-11-01T00:00:00", None),  # beyond the 2-day lookback
        ("0 0 12 * * 0", "2026-10-31T00:00:00", "2026-11-01T12:00:00", "2026-11-01T12:00:00"),  # Sunday = 0
        ("0 0 12 * * 7", "2026-10-31T00:00:00", "2026-11-01T12:00:00", "2026-11-01T12:00:00"),  # and 7
    ],
)
def test_the_latest_slot_of_a_schedule(schedule: str, after: str, until: str, slot: str | None) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    expected = at(slot) if slot else None
    assert latest_slot(parse_schedule(schedule), at(after), at(until)) == expected


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("0 0 * * *", "must have 6 fields"),
        ("0 60 * * * *", "60 is outside 0..59"),
        ("0 0 * * * Funday", "'Funday' is not a number or a name"),
        ("0 5-1 * * * *", "runs backwards"),
        ("0 */0 * * * *", "step"),
    ],
)
def test_a_schedule_that_is_not_ncrontab_is_refused_saying_why(schedule: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_schedule(schedule)
    assert problem in str(caught.value)
    assert caught.value.field == "schedule"
