"""Time stamps carry seven fractional digits as real ones do, and a seven-digit ``$filter`` literal compares
exactly against them.

https://learn.microsoft.com/defender-endpoint/api/alerts shows ``"alertCreationTime": "2021-01-26T20:33:57.7220239Z"``;
the OData samples page filters on ``lastUpdateTime ge 2019-11-22T00:00:00Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from emulator.defender.jsonfmt import format_datetime
from emulator.defender.mde import ALERT_SCHEMA
from emulator.defender.odata import parse_filter

STAMP = datetime(2021, 1, 26, 20, 33, 57, 722023, tzinfo=UTC)


def test_a_stamp_with_a_fraction_has_seven_digits_and_a_whole_second_none() -> None:
    assert len(format_datetime(STAMP).split(".")[1]) == len("7220239Z")
    assert format_datetime(datetime(2019, 12, 8, 6, 33, 39, tzinfo=UTC)) == "2019-12-08T06:33:39Z"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_a_written_stamp_used_as_a_literal_finds_exactly_its_record(when: datetime) -> None:
    # GIVEN a record and the stamp the API writes for it (what a client pages from)
    record = {"lastUpdateTime": when}
    written = format_datetime(when)

    def matches(op: str) -> bool:
        return parse_filter(f"lastUpdateTime {op} {written}", ALERT_SCHEMA)(record)

    # THEN eq / ge / le hold and gt / lt / ne do not, as for the real 100 ns values
    assert (matches("eq"), matches("ge"), matches("le")) == (True, True, True)
    assert (matches("gt"), matches("lt"), matches("ne")) == (False, False, False)


def test_literals_between_written_stamps_order_correctly() -> None:
    record = {"lastUpdateTime": STAMP}
    written = format_datetime(STAMP)  # ...57.722023dZ with the tick digit d in 1-9
    digit = int(written[-2])
    below = written[:-2] + str(digit - 1) + "Z"  # a tick before the record
    six_digits = "2021-01-26T20:33:57.722023Z"  # the record's microsecond, tick 0: also before it

    def matches(text: str) -> bool:
        return parse_filter(text, ALERT_SCHEMA)(record)

    assert matches(f"lastUpdateTime gt {below}")
    assert not matches(f"lastUpdateTime eq {below}")
    assert matches(f"lastUpdateTime gt {six_digits}")
    assert matches(f"lastUpdateTime ge {six_digits}")
    assert not matches(f"lastUpdateTime le {six_digits}")
    if digit < 9:
        above = written[:-2] + str(digit + 1) + "Z"
        assert matches(f"lastUpdateTime lt {above}")
        assert not matches(f"lastUpdateTime ge {above}")
