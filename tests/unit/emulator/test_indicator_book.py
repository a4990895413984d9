"""The emulator's indicator rules without HTTP: submit-or-update by (type, value), expiry, the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.defender.indicator_book import Creator, IndicatorBook, IndicatorRefused

NOW = datetime(2026, 12, 1, tzinfo=UTC)
APP = Creator("app-id", "the app")


def body(value: str, **extra: object) -> dict[str, object]:
    return {"indicatorValue": value, "indicatorType": "DomainName", "action": "Block", "title": "t",
            "description": "d", **extra}  # fmt: skip


def test_the_same_value_in_another_case_is_the_same_indicator() -> None:
    book = IndicatorBook()
    first = book.submit(body("Evil.example.com"), APP, all_indicators=False, now=NOW, cap=10)
    again = book.submit(body("evil.EXAMPLE.com", title="new"), APP, all_indicators=False, now=NOW, cap=10)
    assert (again["id"], again["title"], len(book.active(NOW))) == (first["id"], "new", 1)


def test_an_expired_indicator_is_not_active_listed_or_counted() -> None:
    book = IndicatorBook()
    soon = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    book.submit(body("a.example.com", expirationTime=soon), APP, all_indicators=False, now=NOW, cap=1)
    with pytest.raises(IndicatorRefused, match="limit of 1 active indicators"):
        book.submit(body("b.example.com"), APP, all_indicators=False, now=NOW, cap=1)
    later = NOW + timedelta(hours=2)
    assert book.active(later) == []
    assert book.submit(body("b.example.com"), APP, all_indicators=False, now=later, cap=1)["id"] == "2"


def test_an_update_that_moves_the_expiration_keeps_the_indicator_until_the_new_time() -> None:
    book = IndicatorBook()
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    book.submit(body("a.example.com", expirationTime=(NOW + timedelta(hours=1)).strftime(stamp)), APP,
                all_indicators=False, now=NOW, cap=5)  # fmt: skip
    book.submit(body("a.example.com", expirationTime=(NOW + timedelta(hours=5)).strftime(stamp)), APP,
                all_indicators=False, now=NOW, cap=5)  # fmt: skip
    assert len(book.active(NOW + timedelta(hours=2))) == 1
    assert book.active(NOW + timedelta(hours=6)) == []
