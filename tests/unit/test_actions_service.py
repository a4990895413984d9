"""The response-action use case over fakes: exact resolution, allow-lists, pending conflicts, waiting, tenants."""

from __future__ import annotations

from typing import Any

from shared.domain.tenant import Tenant
from tests.fakes.actions import MACHINE_A1, MACHINE_B1, TENANT_A, TENANT_B, Harness, api_request, build_harness

ISOLATE = {"comment": "alert 1234", "isolationType": "Full"}


def post(h: Harness, path: str, body: dict[str, Any] | bytes = b"", **kw: Any) -> Any:
    route, request = api_request("POST", path, body=body, **kw)
    return h.api.handle(route, request)


def get(h: Harness, path: str, **kw: Any) -> Any:
    route, request = api_request("GET", path, **kw)
    return h.api.handle(route, request)


def test_isolate_by_exact_name_ignores_case_and_never_matches_a_prefix() -> None:
    # GIVEN web01.contoso.com and web01.contoso.com.evil (the fake Defender filters by prefix, like a careless API)
    h = build_harness()
    # WHEN isolating "WEB01.CONTOSO.COM"
    response = post(h, f"tenants/{TENANT_A}/machines/WEB01.CONTOSO.COM/isolate", ISOLATE)
    # THEN exactly the one machine is isolated
    assert response.status == 202
    assert response.body["machine"]["id"] == MACHINE_A1
    assert [a["machineId"] for a in h.defender.actions.values()] == [MACHINE_A1]
    assert response.headers["Location"] == response.body["statusUrl"]


def test_a_name_that_is_only_a_prefix_is_404_and_nothing_is_isolated() -> None:
    h = build_harness()
    response = post(h, f"tenants/{TENANT_A}/machines/web01/isolate", ISOLATE)
    assert response.status == 404
    assert "exactly" in response.body["detail"]
    assert h.defender.calls["post_machine_action"] == 0


def test_two_machines_with_one_name_is_409_listing_candidates() -> None:
    h = build_harness()
    response = post(h, f"tenants/{TENANT_A}/machines/dup.contoso.com/isolate", ISOLATE)
    assert response.status == 409
    assert response.content_type == "application/problem+json"
    assert {c["id"] for c in response.body["candidates"]} == {"e" * 40, "f" * 40}
    assert all(c["lastSeen"] for c in response.body["candidates"])
    assert h.defender.calls["post_machine_action"] == 0


def test_ip_lookup_matches_the_exact_address_only() -> None:
    h = build_harness()
    response = get(h, f"tenants/{TENANT_A}/machines", params={"ip": "10.0.0.1"})
    assert response.status == 200
    assert [m["id"] for m in response.body["machines"]] == [MACHINE_A1]  # 10.0.0.11 shares the prefix


def test_offboard_is_refused_by_default_and_allowed_only_when_the_tenant_names_it() -> None:
    h = build_harness()
    refused = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/offboard", {"comment": "bye"})
    assert refused.status == 403
    assert refused.body["action"] == "offboard"
    assert h.defender.total_calls == 0
    allowing = build_harness(tenants=(Tenant(TENANT_A, "Contoso", allowed_actions=frozenset({"offboard"})),))
    assert post(allowing, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/offboard", {"comment": "bye"}).status == 202
    assert post(allowing, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", ISOLATE).status == 403


def test_a_machine_of_another_tenant_is_404_and_only_that_tenants_token_is_used() -> None:
    h = build_harness()
    response = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_B1}/isolate", ISOLATE)
    assert response.status == 404
    assert set(h.defender.tokens_used) == {TENANT_A}


def test_a_second_isolate_while_one_is_pending_is_409_with_the_pending_action() -> None:
    h = build_harness()
    first = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", ISOLATE)
    second = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", ISOLATE)
    assert second.status == 409
    assert second.body["pendingAction"]["id"] == first.body["action"]["id"]
    assert second.body["pendingAction"]["status"] == "Pending"
    assert h.defender.calls["post_machine_action"] == 2  # the refused one, never a blind retry


def test_wait_polls_until_final_within_the_bound() -> None:
    h = build_harness()
    response = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", ISOLATE, params={"wait": "true"})
    assert response.status == 200
    assert response.body["action"]["status"] == "Succeeded"
    assert response.body["final"] is True
    assert "@odata.context" not in response.body["action"]


def test_wait_stops_at_wait_seconds_and_answers_202_with_the_current_state() -> None:
    h = build_harness()
    h.defender.progression = ("Pending", "InProgress", "InProgress2", "InProgress3", "Succeeded")
    params = {"wait": "true", "waitSeconds": "2"}
    response = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", ISOLATE, params=params)
    assert response.status == 202
    assert response.body["final"] is False
    assert sum(h.sleeps) <= 2


def test_unknown_and_disabled_tenants_are_404() -> None:
    h = build_harness(tenants=(Tenant(TENANT_A, "Contoso", enabled=False),))
    assert post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", ISOLATE).status == 404
    assert post(h, f"tenants/{TENANT_B}/machines/{MACHINE_A1}/isolate", ISOLATE).status == 404
    assert h.defender.total_calls == 0


def test_status_and_cancel_of_an_action() -> None:
    h = build_harness()
    created = post(h, f"tenants/{TENANT_A}/machines/{MACHINE_A1}/scan", {"comment": "scan it"})
    action_id = created.body["action"]["id"]
    status = get(h, f"tenants/{TENANT_A}/actions/{action_id}")
    assert status.status == 200
    assert status.body["action"]["type"] == "RunAntiVirusScan"
    cancelled = post(h, f"tenants/{TENANT_A}/actions/{action_id}/cancel", {"comment": "false positive"})
    assert cancelled.status == 200
    assert cancelled.body["action"]["status"] == "Cancelled"
    assert get(h, f"tenants/{TENANT_B}/actions/{action_id}").status == 404  # another tenant's action
