"""What a triage write may say: each enum against the page of its own write, the allowed values named."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.errors import ValidationError
from shared.triage import fields


def _refused(parse: Any, body: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse(body)
    return info.value


def test_alert_and_incident_determinations_are_checked_against_their_own_pages() -> None:
    # GIVEN the alert page's determinations (clean, insufficientData) and the incident page's (notMalicious, ...)
    assert fields.alert_changes({"determination": "clean"}).as_body() == {"determination": "clean"}
    assert fields.incident_changes({"determination": "notMalicious"}).as_body() == {"determination": "notMalicious"}
    # WHEN an incident value is sent to an alert, and an alert value to an incident
    alert_error = _refused(fields.alert_changes, {"determination": "notMalicious"})
    incident_error = _refused(fields.incident_changes, {"determination": "clean"})
    # THEN each is refused naming the field and listing the values its own page allows
    assert alert_error.field == "determination"
    assert "clean, insufficientData" in alert_error.message
    assert "notMalicious" not in alert_error.message.split("use one of:")[1]
    assert "notMalicious, notEnoughDataToValidate" in incident_error.message
    assert "alert" in alert_error.message
    assert "incident" in incident_error.message


@pytest.mark.parametrize(
    ("parse", "body", "field", "allowed"),
    [
        (fields.alert_changes, {"status": "active"}, "status", "new, inProgress, resolved"),
        (fields.incident_changes, {"status": "inProgress"}, "status", "active, resolved, redirected"),
        (fields.incident_changes, {"status": "awaitingAction"}, "status", "active, resolved, redirected"),
        (fields.alert_changes, {"status": "unknownFutureValue"}, "status", "new, inProgress, resolved"),
        (fields.alert_changes, {"classification": "TruePositive"}, "classification", "truePositive"),
        (fields.incident_changes, {"classification": 3}, "classification", "falsePositive"),
    ],
)  # fmt: skip
def test_values_off_the_page_are_refused_with_the_allowed_set(
    parse: Any, body: dict[str, Any], field: str, allowed: str
) -> None:
    error = _refused(parse, body)
    assert error.field == field
    assert allowed in error.message
    assert error.status == 422


def test_changes_keep_the_page_order_and_owner_may_be_cleared() -> None:
    changes = fields.incident_changes(
        {"customTags": ["ransomware", "case-4711"], "assignedTo": None, "status": "resolved"}
    )
    assert changes.names == ("status", "assignedTo", "customTags")
    assert changes.as_body() == {"status": "resolved", "assignedTo": None, "customTags": ["ransomware", "case-4711"]}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "nothing to change"),
        ({"assignedTo": ""}, "1 to 256"),
        ({"assignedTo": "a\x00b"}, "control characters"),
        ({"assignedTo": 5}, "must be a string"),
    ],
)
def test_bad_alert_bodies_name_the_problem(body: dict[str, Any], text: str) -> None:
    assert text in _refused(fields.alert_changes, body).message


@pytest.mark.parametrize(
    ("tags", "text"),
    [
        ("one", "list of strings"),
        (["a", "a"], "repeat"),
        (["x" * 129], "1 to 128"),
        ([f"t{i}" for i in range(51)], "at most 50"),
        ([1], "must be a string"),
    ],
)
def test_custom_tags_are_bounded(tags: Any, text: str) -> None:
    error = _refused(fields.incident_changes, {"customTags": tags})
    assert (error.field, text in error.message) == ("customTags", True)


def test_ids_are_checked_before_they_reach_a_url() -> None:
    assert fields.parse_alert_id("da637551227677560813_-961444813") == "da637551227677560813_-961444813"
    assert fields.parse_incident_id("2972395") == "2972395"
    for bad in ("../incidents", "a b", "x" * 129, "", "da'1"):
        assert _refused(fields.parse_alert_id, bad).field == "alertId"
    for bad in ("12a", "-1", "", "1" * 20):
        assert _refused(fields.parse_incident_id, bad).field == "incidentId"


def test_batch_ids_are_one_to_a_hundred_distinct_alerts() -> None:
    assert fields.parse_alert_ids(["a1", "a2"]) == ("a1", "a2")
    assert "at most 100" in _refused(fields.parse_alert_ids, [f"a{i}" for i in range(101)]).message
    assert "twice" in _refused(fields.parse_alert_ids, ["a1", "a2", "a1"]).message
    assert _refused(fields.parse_alert_ids, []).field == "alertIds"
    assert _refused(fields.parse_alert_ids, ["ok", "no/slash"]).field == "alertIds"


def test_machine_tag_is_a_value_and_add_or_remove() -> None:
    assert fields.parse_tag({"value": " vip ", "action": "Add"}) == fields.TagChange("vip", "Add")
    assert "Add, Remove" in _refused(fields.parse_tag, {"value": "vip", "action": "add"}).message
    assert _refused(fields.parse_tag, {"action": "Remove"}).field == "value"
