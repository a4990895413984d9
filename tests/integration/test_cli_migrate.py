"""``migrate --report``, ``migrate --tenant``, and the warnings of ``check``/``permissions``/health for tenants on
the retiring feeds, against the emulator (its Graph hosts, and Northwind Traders, which consented before
the partner app asked for the Graph roles).

The proof: a tenant moved while alerts keep arriving ends up with every MDE/XDR version of the ground
truth delivered exactly once, counted across both APIs by provider id and change time.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from localdev.demo_http import call_function, http_functions
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services, use_services
from shared.platform.settings import Settings
from shared.triggers.http_tenants import use_tenants_api
from tests.integration.cli_support import Relay, module_azurite, register, relay  # noqa: F401 - fixtures
from tests.integration.ingest_support import FULL_ROLES
from tests.integration.migrate_support import (
    OLD,
    alert_versions,
    assert_every_version_once,
    drain_events,
    feeds,
    legacy_tenant,
    sweep_with_activity,
    while_writing,
)

pytestmark = pytest.mark.integration

CONSENT = "https://login.microsoftonline.com/common/oauth2/authorize?prompt=consent"


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """A re-consent changes a scenario tenant: this module has an emulator of its own."""
    return private_emulator


@pytest.fixture(scope="module")
def legacy(relay: Relay) -> dict[str, str]:  # noqa: F811
    """Scenario tenants registered on the retiring feeds (their ids by name)."""
    names = ("Contoso", "Northwind Traders", "Relecloud", "Alpine Ski House", "Trey Research")
    return dict(zip(names, register(relay, *names, feeds=OLD), strict=True))


def test_the_report_lists_every_tenant_with_what_to_do_and_a_summary(relay: Relay, legacy: dict[str, str]) -> None:  # noqa: F811
    # WHEN the readiness report runs
    code, document = relay.json("migrate", "--report")
    by_name = {t["display_name"]: t for t in document["tenants"]}
    # THEN the healthy commercial and DoD tenants are ready, with the command to run
    for name in ("Contoso", "Relecloud"):
        assert by_name[name]["status"] == "ready", by_name[name]
        assert by_name[name]["graph_reads"] == ["graph-alerts", "graph-incidents"]
        assert by_name[name]["action"] == f"defender-relay migrate --tenant {legacy[name]}"
    # AND the tenant that consented before the Graph roles needs consent again, with the link
    northwind = by_name["Northwind Traders"]
    assert northwind["status"] == "needs-consent"
    assert northwind["graph_roles_missing"] == ["SecurityAlert.Read.All", "SecurityIncident.Read.All"]
    assert CONSENT in northwind["action"]
    # AND the summary line counts them; the exit status says not everyone is ready
    assert document["summary"] == "2 of 5 tenants ready; 3 need consent"
    assert code == 1
    text = relay.run("migrate", "--report").out
    assert "2 of 5 tenants ready; 3 need consent" in text
    assert "defender-relay migrate --all" in text


def test_check_permissions_and_health_warn_about_the_retirement(relay: Relay, legacy: dict[str, str]) -> None:  # noqa: F811
    northwind = legacy["Northwind Traders"]
    # WHEN check runs for a tenant whose feeds work but whose Graph consent is missing
    code, document = relay.json("check", "--tenant", northwind)
    tenant = document["tenants"][0]
    # THEN it passes (today's feeds work) and warns: the date, the command, the consent link
    assert (code, tenant["status"], tenant["graph_ready"]) == (0, "ok", False)
    warnings = " ".join(tenant["warnings"])
    assert "stops working on 2027-02-01" in warnings
    assert f"defender-relay migrate --tenant {northwind}" in warnings
    assert CONSENT in warnings
    # AND permissions shows the Graph roles it will need, not granted, without failing the command
    code, document = relay.json("permissions", "--tenant", northwind)
    graph = next(r for r in document["tenants"] if r["api"] == "Microsoft Graph (for the move)")
    assert (code, graph["status"]) == (0, "not-consented")
    assert graph["needed"] == ["SecurityAlert.Read.All", "SecurityIncident.Read.All"]
    assert CONSENT in graph["remedy"]
    assert document["application_permissions"]["Microsoft Graph"] == [
        "SecurityAlert.Read.All",
        "SecurityIncident.Read.All",
    ]
    # AND the health route names the retiring feeds and the command
    services = Services(Settings.from_env(relay.env))
    with use_services(services):
        use_tenants_api(None)
        try:
            _, health = call_function(http_functions()["http_tenant_health"], "GET", f"tenants/{northwind}/health")
        finally:
            use_tenants_api(None)
    assert {f["feed"]: f["replacement"] for f in health["retiringFeeds"]} == {
        "mde-alerts": "graph-alerts",
        "xdr-incidents": "graph-incidents",
    }
    assert {f["retiresOn"] for f in health["retiringFeeds"]} == {"2027-02-01"}


def test_a_tenant_without_graph_consent_is_not_moved_until_its_admin_consents_again(
    relay: Relay,  # noqa: F811
    legacy: dict[str, str],
    emulator: EmulatorInfo,
) -> None:
    northwind = legacy["Northwind Traders"]
    # WHEN it is migrated THEN it is not moved: exit 1, the reason and the consent link
    result = relay.run("migrate", "--tenant", northwind)
    assert result.code == 1
    assert "not moved" in result.out
    assert CONSENT in result.out
    assert feeds(relay, northwind) == ["mde-alerts", "xdr-incidents"]
    # WHEN its admin consents again (the emulator's tenant gets the Graph roles) and it is migrated
    roles = {**FULL_ROLES, "mde": relay.tenant("Northwind Traders")["roles"]["mde"]}
    emulator.control("PATCH", f"/tenants/{northwind}", json={"roles": roles}).raise_for_status()
    result = relay.run("migrate", "--tenant", northwind, "--dry-run")
    assert (result.code, feeds(relay, northwind)) == (0, ["mde-alerts", "xdr-incidents"])
    assert "would-move" in result.out
    result = relay.run("migrate", "--tenant", northwind)
    # THEN it moved
    assert result.code == 0, result.out + result.err
    assert feeds(relay, northwind) == ["graph-alerts", "graph-incidents"]


def test_a_tenant_moved_while_alerts_arrive_gets_every_version_exactly_once(
    relay: Relay,  # noqa: F811
    emulator: EmulatorInfo,
) -> None:
    # GIVEN a tenant on the retiring feeds with history, swept once
    tenant_id, events = legacy_tenant(relay, emulator, "Moving Co")
    # (the history was written at once: of an alert worked on since, only its latest version was readable)
    before = alert_versions(emulator, tenant_id)
    # WHEN it is migrated while the emulator keeps writing alerts
    while_writing(emulator, tenant_id, lambda: relay.run("migrate", "--tenant", tenant_id))
    # AND the Graph feeds run three times, with more alerts (new, updated, tied) before the later two
    sweep_with_activity(relay, emulator, tenant_id)
    # THEN every alert version of the ground truth reached the sink exactly once, across both APIs
    assert_every_version_once(Counter(drain_events(events)), emulator, tenant_id, before)
    assert feeds(relay, tenant_id) == ["graph-alerts", "graph-incidents"]


def test_backfill_and_sweep_run_the_graphfeeds(relay: Relay, emulator: EmulatorInfo) -> None:  # noqa: F811
    # GIVEN a tenant registered with the default feeds (Graph), with two days of history
    tenant_id = str(uuid.uuid4())
    body = {
        "tenant_id": tenant_id,
        "display_name": "Backfill Co",
        "consent": "full",
        "machines": 2,
        "roles": FULL_ROLES,
    }
    assert emulator.control("POST", "/tenants", json={**body, "alerts": 6}).status_code == 201
    assert relay.run("tenants", "add", tenant_id, "--name", "Backfill Co").code == 0
    assert feeds(relay, tenant_id) == ["graph-alerts", "graph-incidents"]
    # WHEN its Graph alerts are backfilled from three days ago THEN the job reads Graph and delivers them
    code, document = relay.json("backfill", "--tenant", tenant_id, "--since", "2020-01-01", "--feed", "graph-alerts")
    assert code == 0, document
    assert document["tenants"][0]["delivered"] >= 6
    # AND a feed the tenant does not read is refused by name
    refused = relay.run("backfill", "--tenant", tenant_id, "--since", "2020-01-01", "--feed", "mde-alerts")
    assert refused.code == 2
    assert "not enabled for this tenant" in refused.err
