"""DefenderClient against the emulated Defender APIs over HTTPS (real requests, real tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from localdev.emulator_process import EmulatorInfo
from shared.auth.tokens import TokenProvider
from shared.defender.client import DefenderClient
from shared.defender.transport import DefenderTransport
from shared.domain.errors import ActionConflictError, DefenderForbiddenError, DefenderNotFoundError, ThrottledError
from shared.domain.tenant import Tenant
from tests.integration.defender_support import tenant_with_data
from tests.integration.relay_settings import relay_settings, scenario_tenant

pytestmark = pytest.mark.integration
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class RecordingSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)  # the emulator's faults are count-based: no need to really wait


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(emulator_env: EmulatorInfo, sleep: RecordingSleep) -> Iterator[DefenderClient]:
    settings = relay_settings(emulator_env)
    yield DefenderClient(
        transport=DefenderTransport(tokens=TokenProvider(settings), host_overrides=settings.host_overrides, sleep=sleep)
    )
    emulator_env.control("DELETE", "/faults")


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(days=1)


def registry_tenant(tenant_id: str, **fields: str) -> Tenant:
    return Tenant(tenant_id=tenant_id, display_name="T", **fields)  # type: ignore[arg-type]


def test_paging_reads_every_alert_exactly_once(client, emulator_env):
    # GIVEN a tenant with more alerts than three pages hold
    tid = tenant_with_data(emulator_env, alerts=230)
    truth = emulator_env.control("GET", f"/ground-truth?tenant_id={tid}").json()["alerts"]
    # WHEN the client lists everything changed since long ago, 100 per page
    until = datetime.now(UTC) + timedelta(days=1)
    pages = list(client.list_changes(registry_tenant(tid), "mde-alerts", LONG_AGO, until, page_size=100))
    ids = [a["id"] for page in pages for a in page.items]
    # THEN every alert arrives once (windows read completely: none holds more than a page), complete to the end
    assert all(len(p.items) < 100 for p in pages)
    assert len(ids) == 230
    assert sorted(ids) == sorted({a["id"] for a in truth})
    assert pages[-1].complete_until == until


def test_429_is_honoured_then_the_call_succeeds(client, emulator_env, sleep):
    tid = tenant_with_data(emulator_env, alerts=3)
    rule = {"route": "alerts", "tenant_id": tid, "p429": 1.0, "retry_after": 2, "count": 2}
    assert emulator_env.control("PUT", "/faults", json={"rules": [rule], "seed": 1}).status_code in (200, 204)
    pages = list(client.list_changes(registry_tenant(tid), "mde-alerts", LONG_AGO, _later(), page_size=50))
    assert sum(len(p.items) for p in pages) == 3
    assert sleep.slept == [2.0, 2.0]
    assert client.stats.throttled == 2


def test_long_retry_after_is_handed_back_as_throttled(client, emulator_env):
    tid = tenant_with_data(emulator_env, alerts=1)
    rule = {"route": "alerts", "tenant_id": tid, "p429": 1.0, "retry_after": 90, "count": 1}
    emulator_env.control("PUT", "/faults", json={"rules": [rule], "seed": 1})
    before = datetime.now(UTC)
    with pytest.raises(ThrottledError) as info:
        list(client.list_changes(registry_tenant(tid), "mde-alerts", LONG_AGO, _later(), page_size=50))
    assert before + timedelta(seconds=85) < info.value.retry_at < before + timedelta(seconds=120)


@pytest.mark.parametrize(("name", "registered"), [("Fabrikam", {"region": "uk"}), ("Contoso", {"cloud": "gcc"})])
def test_wrong_region_or_cloud_host_is_refused(client, emulator_env, name, registered):
    # GIVEN a tenant registered with the wrong region (or GCC instead of commercial: same login, other API host)
    tenant = scenario_tenant(emulator_env, name, **registered)
    with pytest.raises(DefenderForbiddenError) as info:
        client.request(tenant, "mde", "GET", "/api/alerts", params={"$top": 1}, required_roles=["Alert.Read.All"])
    assert info.value.status == 403
    # and the right registration works
    right = scenario_tenant(emulator_env, name)
    assert "value" in client.request(right, "mde", "GET", "/api/alerts", params={"$top": 1})


@pytest.mark.parametrize("name", ["Northwind Traders", "Relecloud"])
def test_regional_and_gov_tenants_read_alerts_and_incidents_from_their_hosts(client, emulator_env, name):
    # GIVEN a UK tenant (regional host) and a DoD tenant (gov hosts, usgov app) with scenario data
    tenant = scenario_tenant(emulator_env, name)
    incidents = [
        i
        for page in client.list_changes(tenant, "xdr-incidents", LONG_AGO, _later(), page_size=500)
        for i in page.items
    ]
    alerts = [a for page in client.list_changes(tenant, "mde-alerts", LONG_AGO, _later()) for a in page.items]
    # THEN both feeds read (the incident page size is capped at the documented 100)
    assert incidents
    assert alerts


def test_machine_lookup_action_and_conflict(client, emulator_env):
    tid = tenant_with_data(emulator_env, alerts=0)
    tenant = registry_tenant(tid)
    machines = next(client.iter_pages(tenant, "mde", "/api/machines", page_size=10))
    machine = machines[0]
    assert client.find_machines(tenant, name=machine["computerDnsName"])[0]["id"] == machine["id"]
    assert client.get_machine(tenant, machine["id"])["id"] == machine["id"]
    action = client.post_machine_action(tenant, machine["id"], "isolate", {"Comment": "test", "IsolationType": "Full"})
    assert action["status"] == "Pending"
    with pytest.raises(ActionConflictError):
        client.post_machine_action(tenant, machine["id"], "isolate", {"Comment": "again", "IsolationType": "Full"})
    assert client.get_machine_action(tenant, action["id"])["id"] == action["id"]
    assert client.cancel_machine_action(tenant, action["id"], "undo")["status"] == "Cancelled"
    with pytest.raises(DefenderNotFoundError):
        client.get_machine(tenant, "0" * 40)
