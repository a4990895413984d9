"""``check`` and ``permissions`` know Ti.ReadWrite, only for tenants whose allow-list names indicators, and a
token with Ti.ReadWrite.All satisfies it (docs/microsoft-apis.md §Indicators)."""

from __future__ import annotations

from shared.domain.catalogue import DEFAULT_ALLOWED_ACTIONS, INDICATORS, missing_roles
from shared.domain.tenant import Tenant
from shared.tenants.check import probes_for
from shared.tenants.permissions import required_roles

DEFAULT = frozenset(DEFAULT_ALLOWED_ACTIONS)
ALERTS = frozenset({"mde-alerts"})  # one MDE feed, so the MDE roles below are the feed's and the indicators'
PLAIN = Tenant("11111111-1111-1111-1111-111111111111", "Contoso", feeds=ALERTS)
WITH_INDICATORS = Tenant(
    "22222222-2222-2222-2222-222222222222", "Fabrikam", feeds=ALERTS, allowed_actions=frozenset({INDICATORS})
)


def test_indicators_are_off_by_default_and_need_ti_readwrite_only_where_allowed() -> None:
    assert INDICATORS not in DEFAULT_ALLOWED_ACTIONS
    assert "Ti.ReadWrite" not in required_roles(PLAIN, DEFAULT)["mde"]
    assert "indicators" not in [p.name for p in probes_for(PLAIN, DEFAULT)]
    # GIVEN a tenant whose allow-list names only indicators THEN it needs Ti.ReadWrite and no machine role
    assert required_roles(WITH_INDICATORS, DEFAULT)["mde"] == {"Alert.Read.All", "Ti.ReadWrite"}
    assert [p.name for p in probes_for(WITH_INDICATORS, DEFAULT)] == ["alerts", "indicators"]
    # AND the default setting can switch them on for every tenant without a list of its own
    assert "Ti.ReadWrite" in required_roles(PLAIN, DEFAULT | {INDICATORS})["mde"]


def test_ti_readwrite_all_satisfies_ti_readwrite_but_not_the_other_way_round() -> None:
    assert missing_roles(["Ti.ReadWrite", "Alert.Read.All"], ["Ti.ReadWrite.All", "Alert.Read.All"]) == set()
    assert missing_roles(["Ti.ReadWrite.All"], ["Ti.ReadWrite"]) == {"Ti.ReadWrite.All"}
    assert missing_roles(["Ti.ReadWrite"], ["Alert.Read.All"]) == {"Ti.ReadWrite"}
