"""Alerts of the other Defender products on Graph, and the evolvable enum members behind
``Prefer: include-unknown-enum-members``.

"You must use the Prefer: include-unknown-enum-members request header to get the following value(s) in this
evolvable enum: microsoftDefenderForCloud" (serviceSource), the twelve detectionSource members after the sentinel,
and incident status awaitingAction (https://learn.microsoft.com/graph/api/resources/security-alert,
https://learn.microsoft.com/graph/api/resources/security-incident); without it they are ``unknownFutureValue``
(https://learn.microsoft.com/graph/best-practices-concept#handling-future-members-in-evolvable-enumerations).
"""

from __future__ import annotations

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, token
from tests.integration.graph_support import graph_get, graph_tenant, graph_token, read_all

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]

PREFER = {"Prefer": "include-unknown-enum-members"}


def _generate(emulator: EmulatorInfo, tenant: str, **body: object) -> dict[str, int]:
    response = emulator.control("POST", "/graph/generate", json={"tenant_id": tenant, **body})
    assert response.status_code == 200, response.text
    return dict(response.json()[tenant])


@pytest.fixture(scope="module")
def tenant(emulator: EmulatorInfo) -> str:
    # GIVEN a tenant with 4 MDE alerts, 3 Defender for Cloud alerts and 2 Defender for Office 365 alerts
    tenant_id = graph_tenant(emulator, alerts=4)
    _generate(emulator, tenant_id, service_source="microsoftDefenderForCloud", new_alerts=3,
              incident_status="awaitingAction")  # fmt: skip
    _generate(emulator, tenant_id, service_source="microsoftDefenderForOffice365", new_alerts=2)
    return tenant_id


@pytest.fixture(scope="module")
def bearer(emulator: EmulatorInfo, tenant: str) -> str:
    return graph_token(emulator, tenant)


def test_evolvable_members_need_the_prefer_header(emulator: EmulatorInfo, bearer: str) -> None:
    # WHEN a client lists without the Prefer header
    plain = read_all(emulator, "/v1.0/security/alerts_v2", bearer)
    # THEN the Defender for Cloud alerts' evolvable members are the sentinel
    sources = sorted(a["serviceSource"] for a in plain)
    assert (
        sources
        == ["microsoftDefenderForEndpoint"] * 4 + ["microsoftDefenderForOffice365"] * 2 + ["unknownFutureValue"] * 3
    )
    hidden = [a for a in plain if a["serviceSource"] == "unknownFutureValue"]
    assert {a["detectionSource"] for a in hidden} == {"unknownFutureValue"}
    # WHEN it sends Prefer: include-unknown-enum-members
    response = graph_get(emulator, "/v1.0/security/alerts_v2", bearer, headers=PREFER)
    assert response.headers["Preference-Applied"] == "include-unknown-enum-members"
    revealed = {a["id"]: a for a in response.json()["value"]}
    # THEN the same alerts carry their real members, and nothing else changed
    for alert in hidden:
        real = revealed[alert["id"]]
        assert (real["serviceSource"], real["detectionSource"]) == (
            "microsoftDefenderForCloud",
            "microsoftDefenderForServers",
        )
        assert {k: v for k, v in real.items() if k not in ("serviceSource", "detectionSource")} == {
            k: v for k, v in alert.items() if k not in ("serviceSource", "detectionSource")
        }
    # AND the incident status awaitingAction likewise
    plain_incidents = read_all(emulator, "/v1.0/security/incidents", bearer)
    real_incidents = {i["id"]: i for i in read_all(emulator, "/v1.0/security/incidents", bearer, headers=PREFER)}
    waiting = [i for i in plain_incidents if real_incidents[i["id"]]["status"] == "awaitingAction"]
    assert len(waiting) == 1
    assert waiting[0]["status"] == "unknownFutureValue"


def test_service_source_filter_and_ids_of_other_products(emulator: EmulatorInfo, tenant: str, bearer: str) -> None:
    # WHEN a client filters alerts_v2 on serviceSource
    office = read_all(emulator, "/v1.0/security/alerts_v2?$filter=serviceSource eq 'microsoftDefenderForOffice365'",
                      bearer)  # fmt: skip
    mde = read_all(emulator, "/v1.0/security/alerts_v2?$filter=serviceSource eq 'microsoftDefenderForEndpoint'", bearer)
    # THEN it gets that product's alerts only; their Graph id is not their provider's id, and MDE never lists them
    assert len(office) == 2
    assert len(mde) == 4
    for alert in office:
        assert alert["id"] != alert["providerAlertId"]
        assert alert["id"].startswith("fa")
    mde_ids = {a["id"] for a in call(emulator, "GET", "/api/alerts", token(emulator, tenant)).json()["value"]}
    assert mde_ids == {a["providerAlertId"] for a in mde}
    # AND they sit in an incident of their own, expanded like any other
    incident = graph_get(emulator, f"/v1.0/security/incidents/{office[0]['incidentId']}?$expand=alerts", bearer).json()
    assert sorted(a["id"] for a in incident["alerts"]) == sorted(a["id"] for a in office)


def test_updates_of_other_products_alerts_are_new_versions_in_the_ground_truth(
    emulator: EmulatorInfo, tenant: str, bearer: str
) -> None:
    # WHEN two of the Graph-only alerts are worked on
    made = _generate(emulator, tenant, service_source="microsoftDefenderForOffice365", updates=2)
    assert made["alerts_updated"] == 2
    # THEN the ground truth holds every version with its provider id and serviceSource; the list shows the last
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant}").json()["graph_alerts"]
    listed = read_all(emulator, "/v1.0/security/alerts_v2", bearer, headers=PREFER)
    assert len(truth) == len({(v["id"], v["lastUpdateDateTime"]) for v in truth})
    assert {(a["id"], a["lastUpdateDateTime"]) for a in listed} <= {(v["id"], v["lastUpdateDateTime"]) for v in truth}
    assert {(v["id"], v["providerAlertId"], v["serviceSource"]) for v in truth} == {
        (a["id"], a["providerAlertId"], a["serviceSource"]) for a in listed
    }
    assert sum(1 for a in listed if a["status"] == "inProgress") >= 2


def test_generate_names_bad_fields(emulator: EmulatorInfo, tenant: str) -> None:
    for body, named in [
        ({"service_source": "microsoftDefenderForEndpoint"}, "service_source"),
        ({"service_source": "microsoftDefenderForCloud", "detection_source": "radar"}, "detection_source"),
        ({"service_source": "microsoftDefenderForCloud", "new_alerts": -1}, "new_alerts"),
        ({"service_source": "microsoftDefenderForCloud", "colour": "red"}, "colour"),
    ]:
        response = emulator.control("POST", "/graph/generate", json={"tenant_id": tenant, **body})
        assert response.status_code == 400
        assert named in response.json()["error"]
