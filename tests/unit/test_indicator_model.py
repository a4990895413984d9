"""Indicator values are checked per documented type before any call, and a set with a bad row is refused
whole, naming each row and field (docs/microsoft-apis.md §Indicators)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.errors import ValidationError
from shared.domain.indicator import IndicatorSetError, parse_indicators
from shared.domain.indicator_values import removal_keys

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def row(value: str, kind: str, action: str = "Block", **extra: Any) -> dict[str, Any]:
    return {"indicatorValue": value, "indicatorType": kind, "action": action, "title": "t", "description": "d", **extra}


def one(raw: dict[str, Any]) -> Any:
    return parse_indicators([("line 2", raw)], now=NOW)[0]


def problem(raw: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(IndicatorSetError) as caught:
        parse_indicators([("line 2", raw)], now=NOW)
    first = caught.value.problems[0]
    return first.field, first.message


@pytest.mark.parametrize(
    ("kind", "length"), [("FileSha1", 40), ("FileSha256", 64), ("FileMd5", 32), ("CertificateThumbprint", 40)]
)
def test_hashes_and_thumbprints_are_hex_of_their_documented_length(kind: str, length: int) -> None:
    # GIVEN a value of the right length in upper case THEN it is accepted, in lower case
    assert one(row("AB" * (length // 2), kind, "Allowed")).value == "ab" * (length // 2)
    # AND one digit short, or a non-hex digit, is refused naming the field and the length
    for bad in ("a" * (length - 1), "g" * length):
        field, message = problem(row(bad, kind, "Allowed"))
        assert field == "indicatorValue"
        assert f"{length} hexadecimal" in message


@pytest.mark.parametrize(
    ("value", "why"),
    [("8.8.8.0/24", "CIDR"), ("8.8.8.1-8.8.8.9", "CIDR"), ("10.1.2.3", "external"), ("192.168.0.1", "external"),
     ("127.0.0.1", "external"), ("8.8.8", "not an IPv4"), ("fe80::1", "external"), ("2001:4860::8888%eth0", "zone")],
)  # fmt: skip
def test_ip_addresses_are_single_external_addresses(value: str, why: str) -> None:
    field, message = problem(row(value, "IpAddress"))
    assert (field, why in message) == ("indicatorValue", True), message


def test_ipv6_is_written_with_all_eight_segments_and_ipv4_as_given() -> None:
    # indicators-overview: "For IPv6 addresses, specify all 8 segments"
    assert one(row("2001:4860:4860::8888", "IpAddress")).value == "2001:4860:4860:0:0:0:0:8888"
    assert one(row("8.8.8.8", "IpAddress")).value == "8.8.8.8"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("Evil.Example.com", True), ("xn--bcher-kva.example", True), ("*.example.com", False), ("example", False),
     ("https://example.com", False), ("example.com/path", False), ("-bad.example.com", False)],
)  # fmt: skip
def test_domain_names(value: str, ok: bool) -> None:
    if ok:
        assert one(row(value, "DomainName")).value == value.lower()
    else:
        assert problem(row(value, "DomainName"))[0] == "indicatorValue"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("https://example.com/block", True), ("http://203.0.113.9/x", True), ("ftp://example.com/x", False),
     ("example.com/x", False), ("https:///nohost", False), ("https://exa mple.com", False)],
)  # fmt: skip
def test_urls_need_http_or_https_and_a_host(value: str, ok: bool) -> None:
    if ok:
        assert one(row(value, "Url")).value == value
    else:
        assert problem(row(value, "Url"))[0] == "indicatorValue"


def test_actions_follow_the_documented_set_and_the_type() -> None:
    # GIVEN the legacy actions THEN they are refused with their replacement named
    field, message = problem(row("a" * 64, "FileSha256", "AlertAndBlock"))
    assert field == "action"
    assert "legacy" in message
    assert "BlockAndRemediate" in message
    assert "Audit" in problem(row("a" * 64, "FileSha256", "Alert"))[1]
    # AND an action a type does not take is refused (certificates: Allowed and BlockAndRemediate only)
    assert "takes Allowed, BlockAndRemediate" in problem(row("a" * 40, "CertificateThumbprint", "Block"))[1]
    assert problem(row("example.com", "DomainName", "BlockAndRemediate"))[0] == "action"
    assert problem(row("a" * 64, "FileSha256", "Delete"))[0] == "action"


def test_audit_needs_generate_alert_and_required_fields_are_required() -> None:
    assert problem(row("a" * 64, "FileSha256", "Audit")) == ("generateAlert", "must be true when action is Audit")
    assert one(row("a" * 64, "FileSha256", "Audit", generateAlert="true")).generate_alert is True
    assert problem({**row("a" * 64, "FileSha256"), "title": " "}) == ("title", "is required")
    assert problem({k: v for k, v in row("a" * 64, "FileSha256").items() if k != "description"})[0] == "description"
    assert problem({**row("a" * 64, "FileSha256"), "severity": "Critical"})[0] == "severity"
    assert problem({**row("a" * 64, "FileSha256"), "colour": "red"})[0] == "colour"


def test_expiration_must_be_in_the_future() -> None:
    assert problem(row("a" * 64, "FileSha256", expirationTime="2026-12-01T11:59:59Z"))[0] == "expirationTime"
    assert problem(row("a" * 64, "FileSha256", expirationTime="2027-01-01T00:00:00"))[0] == "expirationTime"  # no zone
    later = one(row("a" * 64, "FileSha256", expirationTime="2027-01-01T01:00:00.1234567+01:00"))
    assert later.expiration_time == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_set_with_bad_rows_names_every_row_and_field_and_returns_nothing() -> None:
    rows = [
        ("line 2", row("a" * 64, "FileSha256")),
        ("line 3", row("10.0.0.1", "IpAddress")),
        ("line 4", row("b" * 64, "FileSha256", "Audit")),
        ("line 5", row("A" * 64, "FileSha256")),  # the same hash as line 2, other case
    ]
    with pytest.raises(IndicatorSetError) as caught:
        parse_indicators(rows, now=NOW)
    assert [(p.where, p.field) for p in caught.value.problems] == [
        ("line 3", "indicatorValue"), ("line 4", "generateAlert"), ("line 5", "indicatorValue"),
    ]  # fmt: skip
    assert "duplicate of line 2" in caught.value.problems[2].message
    assert caught.value.message.startswith("3 problems in the indicators; nothing was sent: line 3: indicatorValue")


def test_removal_values_are_matched_to_every_type_they_can_be() -> None:
    assert removal_keys("A" * 40) == [("FileSha1", "a" * 40), ("CertificateThumbprint", "a" * 40)]
    assert removal_keys("evil.example.com") == [("DomainName", "evil.example.com")]
    assert removal_keys("8.8.8.8", "IpAddress") == [("IpAddress", "8.8.8.8")]
    with pytest.raises(ValidationError, match="CIDR"):
        removal_keys("8.8.8.0/24", "IpAddress")
    with pytest.raises(ValidationError, match="not a hash"):
        removal_keys("not a value")
