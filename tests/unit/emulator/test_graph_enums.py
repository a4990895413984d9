"""Defender values as Graph enum members, and the evolvable members hidden behind the Prefer header.

Members: https://learn.microsoft.com/graph/api/resources/security-alert and security-incident; evolvable
members after ``unknownFutureValue`` need ``Prefer: include-unknown-enum-members``
(https://learn.microsoft.com/graph/best-practices-concept#handling-future-members-in-evolvable-enumerations).
"""

from __future__ import annotations

import pytest

from emulator.graph import enums


@pytest.mark.parametrize(
    ("value", "members", "graph"),
    [
        ("InProgress", enums.ALERT_STATUS, "inProgress"),
        ("UnSpecified", enums.SEVERITY, "unknown"),
        (None, enums.CLASSIFICATION, "unknown"),
        ("InformationalExpectedActivity", enums.CLASSIFICATION, "informationalExpectedActivity"),
        ("NotAvailable", enums.DETERMINATION, "unknown"),
        ("ConfirmedActivity", enums.DETERMINATION, "confirmedUserActivity"),
        ("NotMalicious", enums.DETERMINATION, "clean"),
        ("Apt", enums.DETERMINATION, "apt"),
        ("Redirected", enums.INCIDENT_STATUS, "redirected"),
        ("SomethingNew", enums.ALERT_STATUS, "unknown"),
    ],
)
def test_defender_values_map_to_documented_members(value: str | None, members: tuple[str, ...], graph: str) -> None:
    assert enums.camel(value, members) == graph
    assert graph in members


def test_the_evolvable_members_are_those_listed_after_the_sentinel() -> None:
    assert enums.evolvable(enums.SERVICE_SOURCE) == {"microsoftDefenderForCloud"}
    assert enums.evolvable(enums.INCIDENT_STATUS) == {"awaitingAction"}
    assert len(enums.evolvable(enums.DETECTION_SOURCE)) == 12
    assert enums.evolvable(enums.ALERT_STATUS) == frozenset()


def test_hiding_replaces_only_evolvable_members() -> None:
    record = {"serviceSource": "microsoftDefenderForCloud", "detectionSource": "antivirus", "title": "x"}
    hidden = enums.hide_evolvable(record, enums.EVOLVABLE_ALERT_FIELDS)
    assert hidden == {"serviceSource": "unknownFutureValue", "detectionSource": "antivirus", "title": "x"}
    assert record["serviceSource"] == "microsoftDefenderForCloud"  # the stored record is untouched
    plain = {"serviceSource": "microsoftDefenderForEndpoint"}
    assert enums.hide_evolvable(plain, enums.EVOLVABLE_ALERT_FIELDS) is plain


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        (None, False),
        ("", False),
        ("include-unknown-enum-members", True),
        ("odata.maxpagesize=10, Include-Unknown-Enum-Members", True),
        ("include-unknown-enum-members-please", False),
    ],
)
def test_the_prefer_header_is_a_comma_separated_list(header: str | None, wanted: bool) -> None:
    assert enums.wants_unknown_members(header) is wanted
