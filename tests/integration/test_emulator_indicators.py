"""The emulated MDE indicators API over real HTTPS: documented bodies, answers, errors, limits, ownership
(docs/microsoft-apis.md §Indicators is the oracle), and its ground truth through the control API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import call, error_of, token
from tests.integration.emulator_support import add_tenant

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def body(value: str = SHA, kind: str = "FileSha256", action: str = "Block", **extra: Any) -> dict[str, Any]:
    return {"indicatorValue": value, "indicatorType": kind, "action": action, "title": "t", "description": "d",
            **extra}  # fmt: skip


@pytest.fixture
def own(emulator: EmulatorInfo) -> tuple[str, str]:
    """A tenant whose consent gave only Ti.ReadWrite, and a token for it."""
    tenant_id = add_tenant(emulator, roles={"mde": ["Ti.ReadWrite"]})
    return tenant_id, token(emulator, tenant_id)


@pytest.fixture
def cap(emulator: EmulatorInfo) -> Iterator[int]:
    assert emulator.control("PUT", "/indicators/settings", json={"max_active": 3}).status_code == 200
    yield 3
    emulator.control("PUT", "/indicators/settings", json={"max_active": 15_000})


def truth(emulator: EmulatorInfo, tenant_id: str) -> dict[str, Any]:
    response = emulator.control("GET", f"/tenants/{tenant_id}/indicators")
    assert response.status_code == 200
    return dict(response.json())


def test_submit_answers_the_entity_with_its_creator_and_submit_again_updates_it(
    emulator: EmulatorInfo, own: tuple[str, str]
) -> None:
    tenant_id, bearer = own
    # WHEN an indicator is submitted THEN 200 with the documented fields, created by the app (AadApp)
    first = call(emulator, "POST", "/api/indicators", bearer, json=body(application="demo-test"))
    assert first.status_code == 200, first.text
    entity = first.json()
    assert entity["@odata.context"].endswith("$metadata#Indicators/$entity")
    assert (entity["sourceType"], entity["createdBy"]) == ("AadApp", emulator.apps["commercial"]["client_id"])
    assert {"id", "creationTimeDateTimeUtc", "lastUpdateTime", "createdBySource", "rbacGroupNames"} <= set(entity)
    # WHEN the same type and value is submitted again THEN the one indicator is updated (application kept)
    again = call(emulator, "POST", "/api/indicators", bearer, json=body(title="renamed", application="other"))
    assert (again.json()["id"], again.json()["title"], again.json()["application"]) == (entity["id"], "renamed",
                                                                                          "demo-test")  # fmt: skip
    assert truth(emulator, tenant_id)["writes"] == {"created": 1, "updated": 1}


@pytest.mark.parametrize(
    ("change", "says"),
    [({"indicatorValue": "8.8.8.0/24", "indicatorType": "IpAddress"}, "CIDR"),
     ({"indicatorValue": "10.1.1.1", "indicatorType": "IpAddress"}, "internal"),
     ({"indicatorValue": SHA[:-1]}, "not a valid FileSha256"),
     ({"action": "Audit"}, "GenerateAlert must be set to TRUE"),
     ({"title": ""}, "title is required"),
     ({"indicatorType": "Registry"}, "indicatorType must be one of"),
     ({"indicatorType": "CertificateThumbprint", "indicatorValue": SHA[:40]}, "not valid for CertificateThumbprint"),
     ({"expirationTime": "2020-01-01T00:00:00Z"}, "in the future")],
)  # fmt: skip
def test_an_incorrect_body_is_400_with_the_reason(
    emulator: EmulatorInfo, own: tuple[str, str], change: dict[str, Any], says: str
) -> None:
    response = call(emulator, "POST", "/api/indicators", own[1], json={**body(), **change})
    assert response.status_code == 400
    assert says in error_of(response)["message"]


def test_import_answers_per_indicator_and_refuses_empty_or_over_500(
    emulator: EmulatorInfo, own: tuple[str, str]
) -> None:
    _, bearer = own
    items = [body(f"{n:064x}") for n in range(1, 4)] + [body("10.0.0.1", "IpAddress")]
    response = call(emulator, "POST", "/api/indicators/import", bearer, json={"Indicators": items})
    assert response.status_code == 200, response.text
    results = response.json()["value"]
    assert [(r["indicator"], r["isFailed"]) for r in results] == [
        (f"{1:064x}", False), (f"{2:064x}", False), (f"{3:064x}", False), ("10.0.0.1", True)
    ]  # fmt: skip
    assert results[3]["id"] is None
    assert "internal" in results[3]["failureReason"]
    for wrong in ({"Indicators": []}, {"Indicators": [body(f"{n:064x}") for n in range(501)]}, {"Other": []}):
        assert call(emulator, "POST", "/api/indicators/import", bearer, json=wrong).status_code == 400


def test_ti_readwrite_sees_and_deletes_only_its_own_and_all_sees_everything(
    emulator: EmulatorInfo, own: tuple[str, str]
) -> None:
    tenant_id, bearer = own
    call(emulator, "POST", "/api/indicators", bearer, json=body())
    seeded = emulator.control("POST", f"/tenants/{tenant_id}/indicators", json={"count": 2, "creator": "user"})
    assert seeded.status_code == 201
    user_ids = seeded.json()["ids"]
    listed = call(emulator, "GET", "/api/indicators", bearer).json()["value"]
    assert [i["indicatorValue"] for i in listed] == [SHA]
    # AND the user's cannot be deleted (not exposed: 404), nor updated by submitting the same value
    assert call(emulator, "DELETE", f"/api/indicators/{user_ids[0]}", bearer).status_code == 404
    user_value = truth(emulator, tenant_id)["indicators"][1]["indicatorValue"]
    refused = call(emulator, "POST", "/api/indicators", bearer, json=body(user_value))
    assert refused.status_code == 400
    assert "created by another identity" in error_of(refused)["message"]
    # GIVEN a token with Ti.ReadWrite.All THEN every indicator is listed
    emulator.control("PATCH", f"/tenants/{tenant_id}", json={"roles": {"mde": ["Ti.ReadWrite.All"]}})
    every = call(emulator, "GET", "/api/indicators", token(emulator, tenant_id)).json()["value"]
    assert {i["sourceType"] for i in every} == {"AadApp", "User"}
    assert len(every) == 3


def test_batch_delete_is_all_or_nothing(emulator: EmulatorInfo, own: tuple[str, str]) -> None:
    tenant_id, bearer = own
    imported = call(emulator, "POST", "/api/indicators/import", bearer,
                    json={"Indicators": [body(f"{n:064x}") for n in range(1, 4)]}).json()["value"]  # fmt: skip
    ids = [r["id"] for r in imported]
    # WHEN one id of the batch does not exist THEN 404 and nothing was deleted
    assert call(emulator, "POST", "/api/indicators/BatchDelete", bearer, json={"IndicatorIds": [ids[0], "999999"]}
                ).status_code == 404  # fmt: skip
    assert truth(emulator, tenant_id)["active"] == 3
    assert (
        call(emulator, "POST", "/api/indicators/BatchDelete", bearer, json={"IndicatorIds": ["x"]}).status_code == 400
    )
    assert call(emulator, "POST", "/api/indicators/BatchDelete", bearer, json={"IndicatorIds": []}).status_code == 400
    # WHEN all exist THEN 204 and they are gone
    response = call(emulator, "POST", "/api/indicators/batchdelete", bearer, json={"IndicatorIds": ids[:2]})
    assert (response.status_code, response.content) == (204, b"")
    assert [i["id"] for i in truth(emulator, tenant_id)["indicators"]] == [ids[2]]


def test_the_tenant_cap_counts_every_creator_and_refuses_new_ones_with_the_count(
    emulator: EmulatorInfo, own: tuple[str, str], cap: int
) -> None:
    tenant_id, bearer = own
    emulator.control("POST", f"/tenants/{tenant_id}/indicators", json={"count": 2, "creator": "user"})
    results = call(emulator, "POST", "/api/indicators/import", bearer,
                   json={"Indicators": [body(f"{n:064x}") for n in range(1, 3)]}).json()["value"]  # fmt: skip
    assert [r["isFailed"] for r in results] == [False, True]
    assert f"limit of {cap} active indicators (3 active)" in results[1]["failureReason"]


def test_filters_paging_and_expired_indicators(emulator: EmulatorInfo, own: tuple[str, str]) -> None:
    _, bearer = own
    items = [body(f"{n:064x}") for n in range(1, 4)] + [body("evil.example.com", "DomainName")]
    call(emulator, "POST", "/api/indicators/import", bearer, json={"Indicators": items})
    domains = call(emulator, "GET", "/api/indicators", bearer, params={"$filter": "indicatorType eq 'DomainName'"})
    assert [i["indicatorValue"] for i in domains.json()["value"]] == ["evil.example.com"]
    page = call(emulator, "GET", "/api/indicators", bearer, params={"$top": "2", "$skip": "2"}).json()
    assert len(page["value"]) == 2
    assert "@odata.nextLink" not in page
    assert call(emulator, "GET", "/api/indicators", bearer, params={"$top": "10001"}).status_code == 400


def test_roles_and_rate_limits(emulator: EmulatorInfo, own: tuple[str, str]) -> None:
    # GIVEN a token without a Ti role THEN every indicator route is 403 naming the permissions
    other = add_tenant(emulator, roles={"mde": ["Alert.Read.All"]})
    refused = call(emulator, "GET", "/api/indicators", token(emulator, other))
    assert refused.status_code == 403
    assert "Ti.ReadWrite" in error_of(refused)["message"]
    # AND import allows 30 calls a minute per tenant and app (import-ti-indicators), then 429 with Retry-After
    _, bearer = own
    statuses = [call(emulator, "POST", "/api/indicators/import", bearer, json={"Indicators": [body()]}).status_code
                for _ in range(31)]  # fmt: skip
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    throttled = call(emulator, "POST", "/api/indicators/import", bearer, json={"Indicators": [body()]})
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "maximum allowed 30 per 00:01:00" in error_of(throttled)["message"]
    # AND the list route still has its own quota
    assert call(emulator, "GET", "/api/indicators", bearer).status_code == 200
