"""``migrate --rollback`` against the emulator and Azurite: a tenant moved to Graph and back while alerts keep
arriving ends up with every version of the ground truth delivered exactly once, counted across both APIs by
provider id and change time (the forward move's proof, which allows no repeat, held across both switches).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from localdev.emulator_process import EmulatorInfo
from shared.domain.catalogue import MDE_XDR_RETIREMENT
from tests.integration.cli_support import Relay, module_azurite, relay  # noqa: F401 - fixtures
from tests.integration.migrate_support import (
    alert_versions,
    assert_every_version_once,
    drain_events,
    feeds,
    legacy_tenant,
    sweep_with_activity,
    while_writing,
)

# From the retirement date the command refuses (tests/unit/test_rollback.py proves that with an injected
# clock); the CLI runs on the real clock, so these proofs only run while a rollback is possible.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        datetime.now(UTC).date() >= MDE_XDR_RETIREMENT, reason=f"no rollback from {MDE_XDR_RETIREMENT} (MC1220762)"
    ),
]


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """The proof creates tenants and writes alerts: an emulator of its own, whose time nobody else moves."""
    return private_emulator


def test_a_tenant_rolled_back_while_alerts_arrive_gets_every_version_exactly_once(
    relay: Relay,  # noqa: F811
    emulator: EmulatorInfo,
) -> None:
    # GIVEN a tenant with history on the retiring feeds, moved to Graph while alerts arrive, its Graph feeds swept
    tenant_id, events = legacy_tenant(relay, emulator, "Round Trip Co")
    before = alert_versions(emulator, tenant_id)
    while_writing(emulator, tenant_id, lambda: relay.run("migrate", "--tenant", tenant_id))
    sweep_with_activity(relay, emulator, tenant_id)
    assert feeds(relay, tenant_id) == ["graph-alerts", "graph-incidents"]
    # WHEN it is rolled back (dry run first) while the emulator keeps writing alerts
    planned = relay.run("migrate", "--rollback", "--tenant", tenant_id, "--dry-run")
    assert (planned.code, feeds(relay, tenant_id)) == (0, ["graph-alerts", "graph-incidents"])
    assert "would-move" in planned.out
    assert "graph-alerts -> mde-alerts" in planned.out
    rolled = while_writing(emulator, tenant_id, lambda: relay.run("migrate", "--rollback", "--tenant", tenant_id))
    # THEN it is back on the MDE/XDR feeds, and the output says the other products' alerts stop
    assert "1 rolled back" in rolled.out
    assert "other than Endpoint" in rolled.out
    assert feeds(relay, tenant_id) == ["mde-alerts", "xdr-incidents"]
    # WHEN the old feeds run three times, with more alerts (new, updated, tied) before the later two
    sweep_with_activity(relay, emulator, tenant_id)
    # THEN every version reached the sink exactly once across both switches: the MDE/XDR feeds repeated
    # nothing Graph had delivered, and lost nothing written before, during or after the rollback
    delivered = Counter(drain_events(events))
    assert_every_version_once(delivered, emulator, tenant_id, before)
    # AND a second rollback has nothing to do
    again = relay.run("migrate", "--rollback", "--tenant", tenant_id)
    assert (again.code, "1 not on Graph" in again.out) == (0, True)


def test_a_tenant_whose_mde_token_lacks_the_alert_role_stays_on_graph(
    relay: Relay,  # noqa: F811
    emulator: EmulatorInfo,
) -> None:
    # GIVEN a tenant on Graph whose MDE consent does not carry Alert.Read.All
    tenant_id, _ = legacy_tenant(relay, emulator, "Graph Only Co")
    while_writing(emulator, tenant_id, lambda: relay.run("migrate", "--tenant", tenant_id))
    roles = {"mde": ["Machine.Read.All"], "xdr": ["Incident.Read.All"], "graph": ["SecurityAlert.Read.All",
             "SecurityIncident.Read.All"]}  # fmt: skip
    emulator.control("PATCH", f"/tenants/{tenant_id}", json={"roles": roles}).raise_for_status()
    # WHEN it is rolled back
    code, document = relay.json("migrate", "--rollback", "--tenant", tenant_id)
    # THEN it is not moved (exit 1), the answer names the missing role and how to consent
    tenant = document["tenants"][0]
    assert (code, tenant["outcome"]) == (1, "not-moved")
    assert tenant["readiness"]["mde_xdr_roles_missing"] == ["Alert.Read.All"]
    assert "consent" in tenant["action"]
    assert feeds(relay, tenant_id) == ["graph-alerts", "graph-incidents"]
