"""Triage through the HTTP API over fakes: each write, its audit record, replay, the batch, tags, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.errors import DefenderError, ThrottledError, UpstreamRejectedError
from tests.fakes.actions import TENANT_A, TENANT_T, Harness, api_request, build_harness
from tests.fakes.triage import graph_alert, graph_incident

ALERT = "da637551227677560813_-961444813"
MACHINE_T = "1" * 40


def send(h: Harness, method: str, path: str, body: dict[str, Any] | bytes = b"", **kw: Any) -> Any:
    route, request = api_request(method, path, body=body, **kw)
    return h.api.handle(route, request)


def harness(*alerts: str) -> Harness:
    h = build_harness()
    h.triage.add(TENANT_T, "alert", *(graph_alert(a) for a in (alerts or (ALERT,))))
    h.triage.add(TENANT_T, "incident", graph_incident("2972395"))
    return h


def changes_of(h: Harness) -> Any:
    return json.loads(h.audit.records[-1].changes)


def test_closing_an_alert_answers_and_audits_what_changed_from_what_to_what() -> None:
    # GIVEN a new, unassigned alert in a tenant whose allow-list names triage
    h = harness()
    body = {"status": "resolved", "classification": "truePositive", "determination": "malware",
            "assignedTo": "soc1@mssp.example"}  # fmt: skip
    # WHEN the SOAR tool closes it
    response = send(h, "PATCH", f"tenants/{TENANT_T}/alerts/{ALERT}", body, headers={"X-Relay-Caller": "xsoar"})
    # THEN the alert is resolved, the answer says what changed, and the audit record says it before the answer
    assert response.status == 200, response.body
    assert response.body["alert"]["status"] == "resolved"
    assert response.body["changes"]["status"] == {"from": "new", "to": "resolved"}
    assert response.body["changes"]["assignedTo"] == {"from": None, "to": "soc1@mssp.example"}
    record = h.audit.records[-1]
    assert (record.action, record.outcome, record.status, record.target) == (
        "alert-update", "accepted", 200, f"alert {ALERT}",
    )  # fmt: skip
    assert record.caller == "xsoar"
    assert changes_of(h) == [{"id": ALERT, "outcome": "updated", **response.body["changes"]}]
    # AND one read and one write reached Graph
    assert (h.defender.calls["get_item"], h.defender.calls["update_item"]) == (1, 1)


def test_an_update_that_changes_nothing_writes_nothing() -> None:
    h = harness()
    response = send(h, "PATCH", f"tenants/{TENANT_T}/alerts/{ALERT}", {"status": "new"})
    assert (response.status, response.body["changed"], response.body["changes"]) == (200, False, {})
    assert h.defender.calls["update_item"] == 0
    assert changes_of(h) == [{"id": ALERT, "outcome": "unchanged"}]


def test_a_bad_enum_or_an_unknown_field_is_refused_before_any_upstream_call() -> None:
    h = harness()
    bad_enum = send(h, "PATCH", f"tenants/{TENANT_T}/alerts/{ALERT}", {"status": "resolved", "determination": "nope"})
    unknown = send(h, "PATCH", f"tenants/{TENANT_T}/alerts/{ALERT}", {"status": "resolved", "severity": "low"})
    incident_value = send(h, "PATCH", f"tenants/{TENANT_T}/incidents/2972395", {"determination": "clean"})
    assert (bad_enum.status, bad_enum.body["field"]) == (422, "determination")
    assert "insufficientData" in bad_enum.body["detail"]
    assert (unknown.status, unknown.body["field"]) == (422, "severity")
    assert "'severity'" in unknown.body["detail"]
    assert "notMalicious" in incident_value.body["detail"]
    assert h.defender.total_calls == 0
    assert [r.outcome for r in h.audit.records] == ["rejected"] * 3


def test_a_tenant_that_has_not_opted_in_is_refused_and_nothing_is_called() -> None:
    h = harness()
    h.triage.add(TENANT_A, "alert", graph_alert(ALERT))
    response = send(h, "PATCH", f"tenants/{TENANT_A}/alerts/{ALERT}", {"status": "resolved"})
    assert response.status == 403
    assert response.body["type"].endswith(":action-not-allowed")
    assert "triage" in response.body["detail"]
    assert h.defender.total_calls == 0


def test_a_replay_returns_the_first_answer_without_an_upstream_call() -> None:
    h = harness()
    path = f"tenants/{TENANT_T}/alerts/{ALERT}/comments"
    first = send(h, "POST", path, {"comment": "closed by playbook 7"}, headers={"Idempotency-Key": "case-1-c"})
    calls = h.defender.total_calls
    replay = send(h, "POST", path, {"comment": "closed by playbook 7"}, headers={"Idempotency-Key": "case-1-c"})
    assert (first.status, replay.status) == (200, 200)
    assert replay.body == first.body
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert h.defender.total_calls == calls
    assert [c["comment"] for c in first.body["comments"]] == ["closed by playbook 7"]
    assert [r.outcome for r in h.audit.records] == ["accepted", "replayed"]
    assert h.audit.records[0].comment == "closed by playbook 7"


def test_incident_update_and_comment() -> None:
    h = harness()
    updated = send(h, "PATCH", f"tenants/{TENANT_T}/incidents/2972395",
                   {"status": "resolved", "classification": "falsePositive", "determination": "notMalicious",
                    "customTags": ["case-4711"]})  # fmt: skip
    commented = send(h, "POST", f"tenants/{TENANT_T}/incidents/2972395/comments", {"comment": "benign admin tool"})
    assert updated.status == 200, updated.body
    assert updated.body["incident"]["customTags"] == ["case-4711"]
    assert updated.body["changes"]["customTags"] == {"from": [], "to": ["case-4711"]}
    assert commented.body == {"incidentId": "2972395", "comments": commented.body["comments"]}
    assert [r.target for r in h.audit.records] == ["incident 2972395"] * 2


def test_an_unknown_alert_is_404_and_a_value_graph_refuses_is_422() -> None:
    h = harness()
    missing = send(h, "PATCH", f"tenants/{TENANT_T}/alerts/da000", {"status": "resolved"})
    h.triage.fail_at[h.triage.own_calls + 2] = UpstreamRejectedError("Graph answered 400 BadRequest", status=400)
    refused = send(h, "PATCH", f"tenants/{TENANT_T}/alerts/{ALERT}", {"status": "resolved"})
    assert (missing.status, missing.body["type"].rsplit(":", 1)[1]) == (404, "not-found")
    assert (refused.status, refused.body["type"].rsplit(":", 1)[1]) == (422, "upstream-rejected")
    assert h.audit.records[-1].outcome == "rejected"


def test_a_batch_with_two_unknown_ids_closes_the_others_and_reports_each() -> None:
    # GIVEN 30 alerts, of which the playbook names 28 that exist and 2 that do not
    ids = [f"da{n:04d}" for n in range(30)]
    h = harness(*ids[:28])
    body = {"alertIds": ids, "status": "resolved", "classification": "truePositive", "determination": "malware",
            "comment": "incident 42 closed"}  # fmt: skip
    # WHEN it closes them in one request
    response = send(h, "POST", f"tenants/{TENANT_T}/alerts/batch-update", body, headers={"Idempotency-Key": "b-1"})
    # THEN the answer is 207 with one result per alert, in order; the 28 are closed and commented
    assert response.status == 207
    results = response.body["results"]
    assert [r["id"] for r in results] == ids
    assert response.body["summary"] == {"updated": 28, "unchanged": 0, "failed": 2, "skipped": 0}
    assert all(r["outcome"] == "updated" and r["commented"] for r in results[:28])
    assert [(r["status"], r["problem"]["type"].rsplit(":", 1)[1]) for r in results[28:]] == [(404, "not-found")] * 2
    assert all(h.triage.items[(TENANT_T, "alert")][i]["status"] == "resolved" for i in ids[:28])
    # AND one audit record lists every alert's outcome; a retry with the key writes nothing
    assert h.audit.records[-1].target == "30 alert(s)"
    outcomes = [c["outcome"] for c in changes_of(h)]
    assert (outcomes.count("updated"), outcomes.count("failed")) == (28, 2)
    calls = h.defender.total_calls
    replay = send(h, "POST", f"tenants/{TENANT_T}/alerts/batch-update", body, headers={"Idempotency-Key": "b-1"})
    assert (replay.status, replay.body) == (207, response.body)
    assert h.defender.total_calls == calls


def test_a_batch_needs_an_idempotency_key_and_valid_input_before_anything_is_written() -> None:
    h = harness("a1", "a2")
    path = f"tenants/{TENANT_T}/alerts/batch-update"
    no_key = send(h, "POST", path, {"alertIds": ["a1", "a2"], "status": "resolved"})
    bad = send(h, "POST", path, {"alertIds": ["a1", "a2"], "status": "closed"}, headers={"Idempotency-Key": "k"})
    empty = send(h, "POST", path, {"alertIds": ["a1"]}, headers={"Idempotency-Key": "k2"})
    assert (no_key.status, no_key.body["type"].rsplit(":", 1)[1]) == (400, "idempotency-key-required")
    assert (bad.status, bad.body["field"]) == (422, "status")
    assert (empty.status, "nothing to do" in empty.body["detail"]) == (422, True)
    assert h.defender.total_calls == 0


def test_throttling_stops_a_batch_and_reports_the_alerts_not_reached() -> None:
    ids = ["a1", "a2", "a3", "a4"]
    h = harness(*ids)
    retry_at = datetime.now(UTC) + timedelta(seconds=40)
    h.triage.fail_at[5] = ThrottledError("Graph answered 429", retry_at=retry_at)  # a3's read
    path = f"tenants/{TENANT_T}/alerts/batch-update"
    response = send(h, "POST", path, {"alertIds": ids, "status": "resolved"}, headers={"Idempotency-Key": "t"})
    assert response.status == 207
    assert [r["outcome"] for r in response.body["results"]] == ["updated", "updated", "failed", "skipped"]
    assert {r["status"] for r in response.body["results"][2:]} == {429}
    assert response.body["results"][3]["problem"]["retryAfter"] >= 30
    # AND when nothing was written yet, the request fails as a whole (a retry with the same key runs again)
    h2 = harness(*ids)
    h2.triage.fail_at[1] = ThrottledError("Graph answered 429", retry_at=retry_at)
    whole = send(h2, "POST", path, {"alertIds": ids, "status": "resolved"}, headers={"Idempotency-Key": "t"})
    assert whole.status == 429
    assert h2.idempotency.entries == {}


def test_a_failure_on_one_alert_does_not_stop_the_others() -> None:
    h = harness("a1", "a2")
    h.triage.fail_at[2] = DefenderError("Graph answered 403 Forbidden", status=403)
    response = send(h, "POST", f"tenants/{TENANT_T}/alerts/batch-update", {"alertIds": ["a1", "a2"],
                    "assignedTo": "soc2"}, headers={"Idempotency-Key": "f"})  # fmt: skip
    assert [r["outcome"] for r in response.body["results"]] == ["failed", "updated"]


def test_machine_tag_resolves_the_machine_exactly_and_adds_a_tag_once() -> None:
    h = harness()
    path = f"tenants/{TENANT_T}/machines/WS01.TAILSPIN.COM/tags"
    added = send(h, "POST", path, {"value": "contained", "action": "Add"})
    again = send(h, "POST", f"tenants/{TENANT_T}/machines/{MACHINE_T}/tags", {"value": "contained", "action": "Add"})
    prefix = send(h, "POST", f"tenants/{TENANT_T}/machines/ws01/tags", {"value": "contained", "action": "Add"})
    assert added.status == 200, added.body
    assert added.body["changes"] == {"machineTags": {"from": ["vip"], "to": ["vip", "contained"]}}
    assert (again.body["changed"], h.defender.calls["tag_machine"]) == (False, 1)
    assert prefix.status == 404
    record = h.audit.records[0]
    assert (record.action, record.machine, record.machine_id) == ("machine-tag", "WS01.TAILSPIN.COM", MACHINE_T)
    removed = send(h, "POST", path, {"value": "vip", "action": "Remove"})
    assert removed.body["machine"]["machineTags"] == ["contained"]
