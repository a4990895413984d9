"""The emulator's OData subset: what a Defender client may send, and the 400s it gets otherwise."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.defender.odata import ODataError, Schema, apply_orderby, parse_count, parse_filter, parse_orderby

SCHEMA = Schema(
    "Alert",
    {
        "lastUpdateTime": "datetime",
        "status": "string",
        "incidentId": "int",
        "computerDnsName": "string",
        "tags": "strings",
    },
)
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
RECORDS = [
    {"computerDnsName": "web01.contoso.local", "lastUpdateTime": T0, "status": "New", "incidentId": 7},
    {"computerDnsName": "web01-backup.contoso.local", "lastUpdateTime": datetime(2024, 5, 1, 12, 0, 0, 500, UTC),
     "status": "Resolved", "incidentId": None},
    {"computerDnsName": "o'brien-pc", "lastUpdateTime": datetime(2024, 5, 2, tzinfo=UTC), "status": "New",
     "incidentId": 9},
]  # fmt: skip


def names(text: str) -> list[str]:
    predicate = parse_filter(text, SCHEMA)
    return [str(r["computerDnsName"]) for r in RECORDS if predicate(r)]


def test_date_time_window_with_ge_and_lt() -> None:
    # GIVEN unquoted ISO date-times as the docs write them (docs/microsoft-apis.md §OData subset)
    # WHEN a client asks for one window
    found = names("lastUpdateTime ge 2024-05-01T12:00:00Z and lastUpdateTime lt 2024-05-01T12:00:00.0005Z")
    # THEN the bounds are inclusive / exclusive to the microsecond
    assert found == ["web01.contoso.local"]
    assert names("lastUpdateTime gt 2024-05-01T12:00:00Z") == ["web01-backup.contoso.local", "o'brien-pc"]
    assert names("lastUpdateTime le 2024-05-01Z") == []


def test_seven_fractional_digits_and_offsets_are_understood() -> None:
    assert names("lastUpdateTime ge 2024-05-01T12:00:00.0005000Z and lastUpdateTime lt 2024-05-02Z") == [
        "web01-backup.contoso.local"
    ]
    assert names("lastUpdateTime eq 2024-05-01T14:00:00+02:00") == ["web01.contoso.local"]


def test_startswith_tells_apart_names_that_share_a_prefix() -> None:
    assert names("startswith(computerDnsName,'web01')") == ["web01.contoso.local", "web01-backup.contoso.local"]
    assert names("startswith(computerDnsName,'web01.')") == ["web01.contoso.local"]
    assert names("computerDnsName eq 'web01.contoso.local'") == ["web01.contoso.local"]


def test_or_not_parentheses_null_and_numbers() -> None:
    assert names("(status eq 'Resolved' or incidentId eq 9) and not startswith(computerDnsName,'o')") == [
        "web01-backup.contoso.local"
    ]
    assert names("incidentId eq null") == ["web01-backup.contoso.local"]
    assert names("incidentId gt 7") == ["o'brien-pc"]


def test_doubled_quote_is_a_quote_inside_the_literal() -> None:
    assert names("computerDnsName eq 'o''brien-pc'") == ["o'brien-pc"]


def test_a_quote_in_a_value_cannot_break_out_of_the_literal() -> None:
    # GIVEN a value crafted to close the literal and add "or true", escaped the OData way
    hostile = "x' or startswith(computerDnsName,'w"
    escaped = hostile.replace("'", "''")
    # WHEN it is used as an equality value
    # THEN it is one literal: nothing matches, rather than everything
    assert names(f"computerDnsName eq '{escaped}'") == []


@given(st.text(min_size=0, max_size=40))
def test_any_escaped_value_matches_exactly_itself(value: str) -> None:
    predicate = parse_filter(f"status eq '{value.replace(chr(39), chr(39) * 2)}'", SCHEMA)
    assert predicate({"status": value})
    assert not predicate({"status": value + "x"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("severity eq 'High'", "Could not find a property named 'severity'"),
        ("status eq 'New", "unterminated string literal"),
        ("status eq 5", "'Edm.String' and 'Edm.Int64' are not compatible"),
        ("lastUpdateTime ge '2024-05-01'", "'Edm.DateTimeOffset' and 'Edm.String'"),
        ("lastUpdateTime ge 2024-13-01Z", "not a valid date-time"),
        ("status eq 'New' xor status eq 'x'", "Syntax error"),
        ("substringof('N',status)", "Unknown function 'substringof'"),
        ("contains(incidentId,'N')", "contains needs a string property"),
        ("status in ('New', 5)", "'Edm.String' and 'Edm.Int64' are not compatible"),
        ("tags eq 'x'", "A collection property cannot be compared"),
        ("status/any(s: s eq 'x')", "any / all apply to a collection property"),
        ("tags/any(t: t/any(u: u eq 'x'))", "any / all apply to a collection property"),
        ("status", "expected an operator"),
        ("", "is empty"),
        ("(" * 100 + "status eq 'New'" + ")" * 100, "nests deeper"),
    ],
)
def test_invalid_filters_are_refused_with_a_message_saying_why(text: str, message: str) -> None:
    with pytest.raises(ODataError, match=re.escape(message)):
        parse_filter(text, SCHEMA)


def test_orderby_desc_then_asc_with_nulls_first_ascending() -> None:
    keys = parse_orderby("status desc, incidentId", SCHEMA)
    ordered = apply_orderby(RECORDS, keys)
    assert [r["computerDnsName"] for r in ordered] == [
        "web01-backup.contoso.local",
        "web01.contoso.local",
        "o'brien-pc",
    ]
    with pytest.raises(ODataError, match="expected 'property"):
        parse_orderby("status sideways", SCHEMA)


def test_top_and_skip_validation() -> None:
    assert parse_count("$top", None) is None
    assert parse_count("$top", "10000", maximum=10_000) == 10_000
    with pytest.raises(ODataError, match="The limit of '10000' for Top query has been exceeded"):
        parse_count("$top", "10001", maximum=10_000)
    with pytest.raises(ODataError, match="requires a non-negative integer"):
        parse_count("$skip", "-1")
