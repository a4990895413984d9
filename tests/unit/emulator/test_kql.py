"""The KQL subset of the emulated runHuntingQuery: what it answers, as the KQL reference defines it, and what it
refuses, with the message a hunter would read (docs/hunting.md "The KQL subset")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulator.graph.hunting_timespan import TimespanError, window
from emulator.graph.kql_eval import Table, run
from emulator.graph.kql_parse import KqlError, parse

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
COLUMNS = {"Timestamp": "DateTime", "DeviceName": "String", "FileName": "String", "ProcessCommandLine": "String",
           "ProcessId": "Int64"}  # fmt: skip
ROWS: list[dict[str, Any]] = [
    {"Timestamp": NOW - timedelta(hours=1), "DeviceName": "web01", "FileName": "powershell.exe",
     "ProcessCommandLine": "powershell.exe -enc SQBFAFgA", "ProcessId": 10},
    {"Timestamp": NOW - timedelta(days=2), "DeviceName": "web01-backup", "FileName": "PowerShell.exe",
     "ProcessCommandLine": "powershell -File sync.ps1", "ProcessId": 20},
    {"Timestamp": NOW - timedelta(days=9), "DeviceName": "dc01", "FileName": "cmd.exe",
     "ProcessCommandLine": "cmd.exe /c whoami", "ProcessId": 30},
    {"Timestamp": NOW - timedelta(minutes=5), "DeviceName": "dc01", "FileName": "certutil.exe",
     "ProcessCommandLine": None, "ProcessId": 40},
]  # fmt: skip
TABLES = {"DeviceProcessEvents": Table("DeviceProcessEvents", COLUMNS, ROWS)}


def _run(query: str) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    return run(parse(query), TABLES, NOW)


def _ids(query: str) -> list[int]:
    return [row["ProcessId"] for row in _run(query)[1]]


@pytest.mark.parametrize(
    ("condition", "ids"),
    [
        ('FileName == "powershell.exe"', [10]),  # == is case-sensitive
        ('FileName =~ "POWERSHELL.EXE"', [10, 20]),  # =~ is not
        ('FileName !~ "powershell.exe"', [30, 40]),
        ('ProcessCommandLine has "whoami"', [30]),  # a whole term
        ('ProcessCommandLine has "who"', []),  # not part of one
        ('ProcessCommandLine contains "WHO"', [30]),  # any substring, any case
        ('ProcessCommandLine contains_cs "WHO"', []),
        ('ProcessCommandLine !contains "powershell"', [30, 40]),  # an absent string is "": it contains nothing
        ("ProcessId > 100 or ProcessCommandLine == ''", [40]),
        ('DeviceName startswith "web01"', [10, 20]),
        ('FileName endswith ".EXE"', [10, 20, 30, 40]),
        ('FileName in ("cmd.exe", "certutil.exe")', [30, 40]),
        ('FileName in~ ("POWERSHELL.EXE")', [10, 20]),
        ('FileName !in ("cmd.exe")', [10, 20, 40]),
        ("ProcessId >= 20 and ProcessId < 40", [20, 30]),
        ('FileName == "cmd.exe" or ProcessId == 10', [10, 30]),
        ('not(DeviceName startswith "web")', [30, 40]),
        ('(FileName =~ "powershell.exe" or FileName == "cmd.exe") and Timestamp > ago(7d)', [10, 20]),
        ("Timestamp > ago(30m)", [40]),
        ("Timestamp between_ignored", None),
    ],
)  # fmt: skip
def test_where_filters_like_kql(condition: str, ids: list[int] | None) -> None:
    query = f"DeviceProcessEvents | where {condition}"
    if ids is None:
        with pytest.raises(KqlError, match="could not be parsed"):
            _run(query)
        return
    assert _ids(query) == ids


def test_datetime_literals_and_now_compare_with_timestamps() -> None:
    assert _ids("DeviceProcessEvents | where Timestamp < datetime(2026-10-25T00:00:00Z)") == [30]
    assert _ids("DeviceProcessEvents | where Timestamp <= now()") == [10, 20, 30, 40]


def test_project_take_and_order_shape_the_rows_and_the_schema() -> None:
    schema, rows = _run("DeviceProcessEvents | order by ProcessId desc | project ProcessId, FileName | take 2")
    assert schema == [("ProcessId", "Int64"), ("FileName", "String")]
    assert rows == [{"ProcessId": 40, "FileName": "certutil.exe"}, {"ProcessId": 30, "FileName": "cmd.exe"}]
    assert _ids("DeviceProcessEvents | sort by DeviceName asc, ProcessId desc | limit 3") == [40, 30, 10]


def test_order_by_is_descending_by_default_with_empty_values_last() -> None:
    _schema, rows = _run("DeviceProcessEvents | order by ProcessCommandLine | project ProcessCommandLine")
    assert rows[-1] == {"ProcessCommandLine": None}


def test_summarize_count_by_groups_rows_and_names_the_count_column() -> None:
    schema, rows = _run("DeviceProcessEvents | summarize count() by DeviceName")
    assert schema == [("DeviceName", "String"), ("count_", "Int64")]
    assert rows == [{"DeviceName": "web01", "count_": 1}, {"DeviceName": "web01-backup", "count_": 1},
                    {"DeviceName": "dc01", "count_": 2}]  # fmt: skip
    assert _run("DeviceProcessEvents | summarize Hits = count()")[1] == [{"Hits": 4}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("EmailEvents | take 1", "Failed to resolve table or column expression named 'EmailEvents'"),
        ("DeviceProcessEvents | where Nope == 1", "'where' operator: Failed to resolve scalar expression named 'Nope'"),
        ("DeviceProcessEvents | project FileName | where DeviceName == 'x'", "named 'DeviceName'"),
        ("DeviceProcessEvents | extend X = 1", "The 'extend' operator is not in the subset"),
        ("DeviceProcessEvents | summarize dcount(DeviceName)", "only count()"),
        ("DeviceProcessEvents | wher FileName == 'x'", "The 'wher' operator is not in the subset"),
        ("DeviceProcessEvents | where FileName == ", "could not be parsed at '<end>'"),
        ("DeviceProcessEvents | take ten", "could not be parsed at 'ten' on line [1,28]"),
        ("DeviceProcessEvents # x", "could not be parsed at '# x'"),
    ],
)
def test_anything_outside_the_subset_is_refused_with_a_message_naming_it(query: str, message: str) -> None:
    with pytest.raises(KqlError) as caught:
        _run(query)
    assert message in str(caught.value)


def _day(day: int) -> datetime:
    return datetime(2026, 10, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timespan", "start", "end"),
    [
        (None, NOW - timedelta(days=30), NOW),
        ("P7D", NOW - timedelta(days=7), NOW),
        ("PT12H", NOW - timedelta(hours=12), NOW),
        ("2026-10-01T00:00:00Z/2026-10-15T00:00:00Z", _day(1), _day(15)),
        ("P1D/2026-10-15T00:00:00Z", _day(14), _day(15)),
        ("2026-10-01T00:00:00Z/P2D", _day(1), _day(3)),
        ("2026-10-01T00:00:00Z", _day(1), NOW),
    ],
)  # fmt: skip
def test_the_documented_timespan_forms_are_windows(timespan: str | None, start: datetime, end: datetime) -> None:
    assert window(timespan, NOW) == (start, end)


def test_a_timespan_that_is_none_of_the_forms_is_refused() -> None:
    with pytest.raises(TimespanError, match="'7 days'"):
        window("7 days", NOW)


def test_summarize_without_by_over_no_rows_is_one_row_of_zero_and_with_by_is_none() -> None:
    assert _run("DeviceProcessEvents | where ProcessId > 99 | summarize count()")[1] == [{"count_": 0}]
    assert _run("DeviceProcessEvents | where ProcessId > 99 | summarize count() by DeviceName")[1] == []
