"""The emulated Graph triage writes and MDE machine tags over real HTTPS.

The oracle is Microsoft's pages: security-alert-update, security-incident-update, security-alert-post-comments,
security-incident-post-comments (https://learn.microsoft.com/graph/api/...) and add-or-remove-machine-tags
(https://learn.microsoft.com/defender-endpoint/api/add-or-remove-machine-tags).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, error_of, token, xdr_token
from tests.integration.graph_support import GRAPH_READ, graph_error, graph_get, graph_token
from tests.integration.triage_support import WRITE_ROLES, graph_send, triage_tenant

APP_NAME = "defender-relay (emulated partner app)"  # the partner app's display name (emulator/world.py)
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    return triage_tenant(emulator, alerts=6)


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return graph_token(emulator, tenant)


def _alerts(emulator: EmulatorInfo, bearer: str) -> list[dict[str, Any]]:
    response = graph_get(emulator, "/v1.0/security/alerts_v2", bearer)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def _versions(emulator: EmulatorInfo, tenant: str, alert_id: str) -> list[str]:
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()
    return [v["lastUpdateDateTime"] for v in truth["graph_alerts"] if v["id"] == alert_id]


def test_patching_an_alert_is_a_new_version_on_graph_and_on_its_mde_twin(
    emulator: EmulatorInfo, tenant: str, bearer: str
) -> None:
    # GIVEN an MDE alert seen through Graph
    alert = next(a for a in _alerts(emulator, bearer) if a["status"] != "resolved")
    before = _versions(emulator, tenant, alert["id"])
    # WHEN it is closed through Graph with the update page's example body (status resolved instead)
    body = {"assignedTo": "secAdmin@contoso.onmicrosoft.com", "classification": "truePositive",
            "determination": "malware", "status": "resolved"}  # fmt: skip
    response = graph_send(emulator, "PATCH", f"/v1.0/security/alerts_v2/{alert['id']}", bearer, body)
    # THEN Graph answers 200 with the updated alert, lastUpdateDateTime moved on
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["@odata.context"].endswith("$metadata#security/alerts_v2/$entity")
    assert {k: updated[k] for k in body} == body
    assert updated["resolvedDateTime"] is not None
    assert _when(updated["lastUpdateDateTime"]) > _when(alert["lastUpdateDateTime"])
    # AND the MDE API shows the same version, spelt the MDE way
    mde = call(emulator, "GET", f"/api/alerts/{alert['id']}", token(emulator, tenant)).json()
    assert (mde["status"], mde["classification"], mde["determination"]) == ("Resolved", "TruePositive", "Malware")
    assert _when(mde["lastUpdateTime"]) == _when(updated["lastUpdateDateTime"])
    # AND ground truth holds the new version once
    assert len(_versions(emulator, tenant, alert["id"])) == len(before) + 1


def test_a_patch_that_changes_nothing_is_no_new_version(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    alert = _alerts(emulator, bearer)[-1]
    before = _versions(emulator, tenant, alert["id"])
    response = graph_send(emulator, "PATCH", f"/v1.0/security/alerts_v2/{alert['id']}", bearer,
                          {"status": alert["status"]})  # fmt: skip
    assert response.status_code == 200
    assert response.json()["lastUpdateDateTime"] == alert["lastUpdateDateTime"]
    assert _versions(emulator, tenant, alert["id"]) == before


def test_comments_are_kept_with_the_app_as_author_and_time(emulator: EmulatorInfo, bearer: str) -> None:
    alert = _alerts(emulator, bearer)[0]
    path = f"/v1.0/security/alerts_v2/{alert['id']}/comments"
    body = {"@odata.type": "microsoft.graph.security.alertComment", "comment": "Demo for docs"}
    first = graph_send(emulator, "POST", path, bearer, body)
    second = graph_send(emulator, "POST", path, bearer, {**body, "comment": "second"})
    assert first.status_code == second.status_code == 200
    listed = second.json()
    assert listed["@odata.context"].endswith(f"$metadata#security/alerts_v2('{alert['id']}')/comments")
    assert [c["comment"] for c in listed["value"]][-2:] == ["Demo for docs", "second"]
    assert {c["createdByDisplayName"] for c in listed["value"][-2:]} == {APP_NAME}
    assert all(_when(c["createdDateTime"]) for c in listed["value"][-2:])
    stored = graph_get(emulator, f"/v1.0/security/alerts_v2/{alert['id']}", bearer).json()
    assert stored["comments"][-1]["comment"] == "second"
    assert _when(stored["lastUpdateDateTime"]) > _when(alert["lastUpdateDateTime"])


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"status": "closed"}, "microsoft.graph.security.alertStatus"),
        ({"status": "unknownFutureValue"}, "alertStatus"),
        ({"determination": "notMalicious"}, "alertDetermination"),
        ({"severity": "low"}, "read-only"),
        ({"Status": "resolved"}, "does not exist"),
        ({"assignedTo": 7}, "Edm.String"),
    ],
)
def test_alert_values_off_the_page_are_400(
    emulator: EmulatorInfo, bearer: str, body: dict[str, Any], text: str
) -> None:
    alert = _alerts(emulator, bearer)[1]
    response = graph_send(emulator, "PATCH", f"/v1.0/security/alerts_v2/{alert['id']}", bearer, body)
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == "BadRequest"
    assert text in error["message"]


def test_incident_update_uses_its_own_page_and_shows_on_the_xdr_twin(
    emulator: EmulatorInfo, tenant: str, bearer: str
) -> None:
    incident = graph_get(emulator, "/v1.0/security/incidents", bearer).json()["value"][0]
    path = f"/v1.0/security/incidents/{incident['id']}"
    # an alert determination is not on the incident page, and inProgress is not an updatable status
    assert graph_send(emulator, "PATCH", path, bearer, {"determination": "clean"}).status_code == 400
    assert graph_send(emulator, "PATCH", path, bearer, {"status": "inProgress"}).status_code == 400
    body = {"classification": "falsePositive", "determination": "notMalicious", "customTags": ["Demo"],
            "assignedTo": "KaiC@contoso.onmicrosoft.com"}  # fmt: skip
    response = graph_send(emulator, "PATCH", path, bearer, body)
    assert response.status_code == 200, response.text
    updated = response.json()
    # notMalicious is read back as the alertDetermination member clean
    assert (updated["classification"], updated["determination"], updated["customTags"]) == (
        "falsePositive", "clean", ["Demo"],
    )  # fmt: skip
    assert _when(updated["lastUpdateDateTime"]) > _when(incident["lastUpdateDateTime"])
    xdr = call(emulator, "GET", f"/api/incidents/{incident['id']}", xdr_token(emulator, tenant)).json()
    assert (xdr["tags"], xdr["assignedTo"]) == (["Demo"], "KaiC@contoso.onmicrosoft.com")
    comment = graph_send(emulator, "POST", f"{path}/comments", bearer, {"comment": "closed"})
    assert comment.status_code == 200
    assert comment.json()["value"][-1]["comment"] == "closed"


def test_unknown_ids_are_404_and_a_read_only_app_is_403(emulator: EmulatorInfo, bearer: str) -> None:
    assert graph_send(emulator, "PATCH", "/v1.0/security/alerts_v2/da0_0", bearer, {"status": "new"}).status_code == 404
    assert (
        graph_send(emulator, "POST", "/v1.0/security/incidents/1/comments", bearer, {"comment": "x"}).status_code == 404
    )
    reader = triage_tenant(emulator, alerts=2, roles={**WRITE_ROLES, "graph": GRAPH_READ})
    read_bearer = graph_token(emulator, reader)
    alert = _alerts(emulator, read_bearer)[0]
    refused = graph_send(emulator, "PATCH", f"/v1.0/security/alerts_v2/{alert['id']}", read_bearer, {"status": "new"})
    assert refused.status_code == 403
    assert "SecurityAlert.ReadWrite.All" in graph_error(refused)["message"]
    commented = graph_send(emulator, "POST", f"/v1.0/security/alerts_v2/{alert['id']}/comments", read_bearer,
                           {"comment": "x"})  # fmt: skip
    assert commented.status_code == 403


def test_graph_only_alerts_can_be_closed_too(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    generate = {"tenant_id": tenant, "new_alerts": 2, "service_source": "microsoftDefenderForOffice365"}
    made = emulator.control("POST", "/graph/generate", json=generate)
    assert made.status_code == 200
    office = next(a for a in _alerts(emulator, bearer) if a["serviceSource"] == "microsoftDefenderForOffice365")
    response = graph_send(emulator, "PATCH", f"/v1.0/security/alerts_v2/{office['id']}", bearer, {"status": "resolved"})
    assert response.json()["status"] == "resolved"
    assert len(_versions(emulator, tenant, office["id"])) == 2


def test_machine_tags_add_and_remove(emulator: EmulatorInfo, tenant: str) -> None:
    bearer = token(emulator, tenant)
    machine = call(emulator, "GET", "/api/machines", bearer).json()["value"][0]
    path = f"/api/machines/{machine['id']}/tags"
    added = call(emulator, "POST", path, bearer, json={"Value": "test Tag 2", "Action": "Add"})
    assert added.status_code == 200, added.text
    assert "test Tag 2" in added.json()["machineTags"]
    listed = call(emulator, "GET", f"/api/machines/{machine['id']}", bearer).json()
    assert "test Tag 2" in listed["machineTags"]
    removed = call(emulator, "POST", path, bearer, json={"Value": "test Tag 2", "Action": "Remove"})
    assert "test Tag 2" not in removed.json()["machineTags"]
    wrong_case = call(emulator, "POST", path, bearer, json={"value": "x", "action": "Add"})
    assert (wrong_case.status_code, error_of(wrong_case)["code"]) == (400, "InvalidRequestBody")
    missing = call(
        emulator, "POST", "/api/machines/" + "0" * 40 + "/tags", bearer, json={"Value": "x", "Action": "Add"}
    )
    assert missing.status_code == 404
    reader = triage_tenant(emulator, alerts=0, roles={"mde": ["Machine.Read.All"]})
    reader_bearer = token(emulator, reader)
    other = call(emulator, "GET", "/api/machines", reader_bearer).json()["value"][0]
    refused = call(emulator, "POST", f"/api/machines/{other['id']}/tags", reader_bearer,
                   json={"Value": "x", "Action": "Add"})  # fmt: skip
    assert refused.status_code == 403
