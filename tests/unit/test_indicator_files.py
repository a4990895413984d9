"""Indicator files (CSV and JSON): every row checked, a bad row named by its line in the file and its field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.errors import ValidationError
from shared.domain.indicator import IndicatorSetError
from shared.indicators.baseline import load_indicator_file, parse_indicator_text

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_csv_with_groups_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "baseline.csv"
    path.write_text(
        "\ufeffindicatorValue,indicatorType,action,title,description,rbacGroupNames,generateAlert,expirationTime\n"
        f"{SHA},FileSha256,Audit,bad,from the SOC,Servers;Laptops,true,2027-06-30T00:00:00Z\n"
        "\n"
        "evil.example.com,DomainName,Block,phish,from the SOC,,,\n",
        encoding="utf-8",
    )
    first, second = load_indicator_file(str(path), now=NOW)
    assert (first.rbac_group_names, first.generate_alert, first.expiration_time) == (
        ("Laptops", "Servers"), True, datetime(2027, 6, 30, tzinfo=UTC),
    )  # fmt: skip
    assert (second.value, second.rbac_group_names, second.expiration_time) == ("evil.example.com", (), None)


def test_a_bad_csv_row_names_its_line_and_field() -> None:
    text = ("indicatorValue,indicatorType,action,title,description\n"
            f"{SHA},FileSha256,Block,ok,d\n"
            "10.0.0.1,IpAddress,Block,private,d\n"
            f"{SHA[:-1]},FileSha256,Block,short,d\n")  # fmt: skip
    with pytest.raises(IndicatorSetError) as caught:
        parse_indicator_text(text, name="f.csv", now=NOW)
    assert [(p.where, p.field) for p in caught.value.problems] == [("line 3", "indicatorValue"),
                                                                    ("line 4", "indicatorValue")]  # fmt: skip


def test_an_unknown_csv_column_is_refused_on_line_1() -> None:
    with pytest.raises(IndicatorSetError) as caught:
        parse_indicator_text("value,type\nx,y\n", name="f.csv", now=NOW)
    assert (caught.value.problems[0].where, caught.value.problems[0].field) == ("line 1", "value")


def test_json_rows_are_named_by_the_line_their_object_starts_on() -> None:
    text = f"""{{"comment": "baseline", "indicators": [
  {{"indicatorValue": "{SHA}", "indicatorType": "FileSha256", "action": "Block", "title": "a", "description": "d"}},
  {{"indicatorValue": "https://example.com/x", "indicatorType": "Url",
    "action": "BlockAndRemediate", "title": "b", "description": "d"}}
]}}"""
    with pytest.raises(IndicatorSetError) as caught:
        parse_indicator_text(text, name="b.json", now=NOW)
    assert [(p.where, p.field) for p in caught.value.problems] == [("line 3", "action")]
    assert len(parse_indicator_text(text.replace("BlockAndRemediate", "Block"), name="b.json", now=NOW)) == 2
    assert len(parse_indicator_text(f"[{text.split('[', 1)[1].rsplit(']', 1)[0].replace('AndRemediate', '')}]",
                                    name="b.json", now=NOW)) == 2  # fmt: skip


@pytest.mark.parametrize("text", ["", "[]", "{", '{"other": []}', '[{"a": 1} {"b": 2}]'])
def test_empty_or_broken_files_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_indicator_text(text or "indicatorValue\n", name="x", now=NOW)
