"""The emulator's control API: tenants, emulated time, counters (docs/contracts.md §1.5)."""

from __future__ import annotations

import uuid

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.emulator_support import MDE_SCOPE, add_tenant, post_token, secret_form, token_requests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """This module moves the emulated clock forward, so it gets an emulator of its own (see conftest)."""
    return private_emulator


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"tenant_id": "not-a-guid"}, "tenant_id"),
        ({"tenant_id": str(uuid.uuid4()), "cloud": "moon"}, "cloud"),
        ({"tenant_id": str(uuid.uuid4()), "consent": "maybe"}, "consent"),
        ({"tenant_id": str(uuid.uuid4()), "roles": {"sentinel": []}}, "roles.sentinel"),
        ({"tenant_id": str(uuid.uuid4()), "colour": "blue"}, "colour"),
    ],
)
def test_bad_tenant_is_refused_with_the_field_named(
    emulator: EmulatorInfo, body: dict[str, object], named: str
) -> None:
    response = emulator.control("POST", "/tenants", json=body)
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_patching_consent_changes_what_the_token_endpoint_answers(emulator: EmulatorInfo) -> None:
    # GIVEN a consented tenant
    tid = add_tenant(emulator, consent="full", roles={"mde": ["Alert.Read.All"]})
    assert post_token(emulator, tid, secret_form(emulator)).status_code == 200
    # WHEN its admin revokes the app (consent none)
    patched = emulator.control("PATCH", f"/tenants/{tid}", json={"consent": "none"})
    # THEN the next token request is refused as "app not in the directory"
    assert patched.status_code == 200
    refused = post_token(emulator, tid, secret_form(emulator))
    assert refused.json()["error_codes"] == [700016]


def test_patching_an_unknown_tenant_is_404(emulator: EmulatorInfo) -> None:
    assert emulator.control("PATCH", f"/tenants/{uuid.uuid4()}", json={"consent": "none"}).status_code == 404


def test_time_only_moves_forward(emulator: EmulatorInfo) -> None:
    before = emulator.control("GET", "/time").json()["advanced_seconds"]
    advanced = emulator.control("POST", "/time/advance", json={"seconds": 90}).json()
    # advancing ages the data (docs/contracts.md §1.5): the emulated clock itself never runs ahead of real time
    assert advanced["advanced_seconds"] == before + 90
    assert advanced["offset_seconds"] == 0
    assert emulator.control("POST", "/time/advance", json={"seconds": -5}).status_code == 400


def test_counters_count_token_requests_per_tenant_and_reset(emulator: EmulatorInfo) -> None:
    tid = add_tenant(emulator, roles={"mde": ["Alert.Read.All"]})
    form = secret_form(emulator, scope=MDE_SCOPE)
    post_token(emulator, tid, form)
    post_token(emulator, tid, form)
    assert token_requests(emulator, tid) == 2
    emulator.control("DELETE", "/counters")
    assert token_requests(emulator, tid) == 0


def test_state_lists_the_hosts_and_the_tenants(emulator: EmulatorInfo) -> None:
    tid = add_tenant(emulator, cloud="gcc")
    state = emulator.control("GET", "/state").json()
    assert state["hosts"] == emulator.hosts
    assert tid in [t["tenant_id"] for t in state["tenants"]]
    assert "token_requests" in state["counters"]
