"""Which roles triage needs, and that missing them is reported for triage only (feeds and actions keep working)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.domain.catalogue import DEFAULT_ALLOWED_ACTIONS, TRIAGE
from shared.domain.errors import MissingRolesError
from shared.domain.tenant import Tenant, success_clears
from shared.tenants.check import check_tenant
from shared.tenants.permissions import required_roles, triage_only_roles

TID = "44444444-4444-4444-4444-444444444444"
DEFAULT = frozenset(DEFAULT_ALLOWED_ACTIONS)
WRITES = {"SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All", "Machine.ReadWrite.All"}


@dataclass(frozen=True)
class FakeToken:
    roles: frozenset[str]


class FakeTokens:
    def __init__(self, granted: dict[str, set[str]]) -> None:
        self.granted = granted

    def get_token(self, tenant: Tenant, resource: Any, *, required_roles: Iterable[str] = ()) -> FakeToken:
        roles = frozenset(self.granted.get(resource, set()))
        missing = sorted(set(required_roles) - roles)
        if missing:
            raise MissingRolesError(
                f"the token lacks {', '.join(missing)}", tenant_id=tenant.tenant_id, missing=missing
            )
        return FakeToken(roles)


class FakeReads:
    def request(
        self, tenant: Tenant, resource: Any, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any:
        return {"value": []}


def tenant(*, triage: bool) -> Tenant:
    allowed = DEFAULT | {TRIAGE} if triage else DEFAULT
    return Tenant(TID, "Tailspin", allowed_actions=allowed)


def test_triage_adds_the_graph_write_roles_and_the_tag_role_only_when_the_tenant_opts_in() -> None:
    with_triage, without = required_roles(tenant(triage=True), DEFAULT), required_roles(tenant(triage=False), DEFAULT)
    assert with_triage["graph"] - without["graph"] == {"SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All"}
    assert with_triage["mde"] - without["mde"] == {"Machine.ReadWrite.All"}
    # the default allow-list never grants triage, even when the setting names it
    assert "Machine.ReadWrite.All" not in required_roles(Tenant(TID, "Default"), DEFAULT | {TRIAGE}).get("mde", set())
    assert triage_only_roles(tenant(triage=True), DEFAULT) == WRITES


def test_a_tenant_without_the_triage_roles_is_missing_roles_for_triage_only() -> None:
    # GIVEN a tenant that opted in to triage whose customer granted the read and action roles only
    needed = required_roles(tenant(triage=True), DEFAULT)
    granted = {resource: set(roles) - WRITES for resource, roles in needed.items()}
    # WHEN it is checked
    result = check_tenant(
        tenant(triage=True), tokens=FakeTokens(granted), defender=FakeReads(), default_allowed=DEFAULT
    )
    # THEN it is missing-roles, scoped to triage, naming the three roles
    assert (result.status, result.scope) == ("missing-roles", "triage")
    assert set(result.missing) == WRITES
    # AND a sweep's success does not clear that failure (only a passing check does)
    assert not success_clears(result.scope, "feeds")
    assert success_clears(result.scope, "all")


def test_a_missing_action_role_is_still_scoped_to_actions() -> None:
    needed = required_roles(tenant(triage=True), DEFAULT)
    granted = {resource: set(roles) - {"Machine.Isolate"} for resource, roles in needed.items()}
    result = check_tenant(
        tenant(triage=True), tokens=FakeTokens(granted), defender=FakeReads(), default_allowed=DEFAULT
    )
    assert (result.status, result.scope) == ("missing-roles", "actions")
