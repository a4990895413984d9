"""``defender-relay indicators …`` end to end: files checked row by row before anything is queued, the job run
in-process, the per-tenant outcome and summary an operator reads, dry runs and drift reports that change
nothing, and ``check`` / ``permissions`` asking for Ti.ReadWrite only where indicators are allowed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from localdev.emulator_process import EmulatorInfo
from tests.integration.cli_support import Relay, module_azurite, relay  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
HEADER = "indicatorValue,indicatorType,action,title,description,generateAlert\n"


def customer(relay: Relay, roles: list[str], *, actions: str = "indicators") -> str:  # noqa: F811
    """A consented tenant in the emulator with these MDE roles, registered with this allow-list."""
    emulator: EmulatorInfo = relay.emulator  # type: ignore[assignment]
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": f"Customer {tenant_id[:6]}", "roles": {"mde": roles}}
    assert emulator.control("POST", "/tenants", json=body).status_code == 201
    result = relay.run("tenants", "add", tenant_id, "--name", body["display_name"], "--actions", actions,
                       "--feeds", "mde-alerts")  # fmt: skip
    assert result.code == 0, result.err
    return tenant_id


def csv(tmp_path: Path, rows: list[str], name: str = "set.csv") -> str:
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


def sha(n: int) -> str:
    return f"{n:064x}"


def writes(relay: Relay, tenant_id: str) -> dict[str, int]:  # noqa: F811
    emulator: EmulatorInfo = relay.emulator  # type: ignore[assignment]
    return dict(emulator.control("GET", f"/tenants/{tenant_id}/indicators").json()["writes"])


@pytest.fixture(scope="module")
def tenants(relay: Relay) -> list[str]:  # noqa: F811
    return [
        customer(relay, ["Ti.ReadWrite", "Alert.Read.All"]),
        customer(relay, ["Ti.ReadWrite.All", "Alert.Read.All"]),
    ]


def test_push_sync_dry_run_drift_and_remove_from_the_terminal(
    relay: Relay,  # noqa: F811
    tenants: list[str],
    tmp_path: Path,
) -> None:
    # WHEN a file of three indicators is pushed to every allowing tenant THEN each gets them, with a summary
    pushed = relay.run("indicators", "push", "--file", csv(tmp_path, [f"{sha(n)},FileSha256,Block,bad,SOC," for n in
                                                                       (1, 2, 3)]), "--all")  # fmt: skip
    assert pushed.code == 0, pushed.err
    assert "2 of 2 tenant(s) finished, 0 failing; create 6" in pushed.out
    assert [writes(relay, t) for t in tenants] == [{"created": 3}, {"created": 3}]
    # WHEN a baseline of 1, 2 and a domain is synced as a dry run THEN the plan per tenant is printed, nothing changes
    baseline = csv(tmp_path, [f"{sha(1)},FileSha256,Block,bad,SOC,", f"{sha(2)},FileSha256,Block,bad,SOC,",
                              "evil.example.com,DomainName,Audit,phish,SOC,true"], "baseline.csv")  # fmt: skip
    dry = relay.run("indicators", "sync", "--baseline", baseline, "--all", "--dry-run")
    assert dry.code == 0, dry.err
    assert "missing (add):\n    DomainName:evil.example.com" in dry.out
    assert f"extra (remove):\n    FileSha256:{sha(3)}" in dry.out
    assert "sync (dry run) job" in dry.out
    assert "would create 2, would update 0, would remove 2, unchanged 4" in dry.out
    assert [writes(relay, t) for t in tenants] == [{"created": 3}, {"created": 3}]
    # AND the drift report says the same and exits 1 (drift found)
    drift = relay.run("indicators", "drift", "--baseline", baseline, "--all")
    assert (drift.code, "2 tenant(s) drifted" in drift.out) == (1, True)
    # WHEN it is applied THEN the drift report is clean and exits 0
    assert relay.run("indicators", "sync", "--baseline", baseline, "--all").code == 0
    clean = relay.run("--json", "indicators", "drift", "--baseline", baseline, "--all")
    assert (clean.code, clean.json()["drifted"], clean.json()["totals"]["unchanged"]) == (0, 0, 6)
    # WHEN a value is removed from every tenant THEN it is gone everywhere, by one batch delete each
    removed = relay.run("--json", "indicators", "remove", "--value", "EVIL.example.com", "--all")
    assert (removed.code, removed.json()["totals"]["removed"]) == (0, 2)
    listed = relay.run("--json", "indicators", "list", "--tenant", tenants[1])
    assert sorted(i["indicatorValue"] for i in listed.json()["indicators"]) == [sha(1), sha(2)]


def test_a_bad_file_names_each_line_and_field_and_nothing_is_queued(
    relay: Relay,  # noqa: F811
    tenants: list[str],
    tmp_path: Path,
) -> None:
    before = [writes(relay, t) for t in tenants]
    rows = [f"{sha(9)},FileSha256,Block,ok,SOC,", "10.1.2.3,IpAddress,Block,private,SOC,",
            f"{sha(9)[:-2]},FileSha256,Block,short,SOC,", "example.com,DomainName,Audit,a,b,"]  # fmt: skip
    path = csv(tmp_path, rows)
    result = relay.run("indicators", "push", "--file", path, "--all")
    assert result.code == 2
    assert "3 problems in the indicators; nothing was sent" in result.err
    for where in ("line 3: indicatorValue", "line 4: indicatorValue", "line 5: generateAlert"):
        assert where in result.err
    assert "Traceback" not in result.err
    assert [writes(relay, t) for t in tenants] == before


def test_a_tenant_that_does_not_allow_indicators_is_refused_by_name(relay: Relay, tmp_path: Path) -> None:  # noqa: F811
    closed = customer(relay, ["Ti.ReadWrite"], actions="isolate")
    result = relay.run("indicators", "push", "--file", csv(tmp_path, [f"{sha(5)},FileSha256,Block,a,b,"]),
                       "--tenant", closed)  # fmt: skip
    assert result.code == 1
    assert f"action 'indicators' is not allowed for tenant {closed}" in result.err


def test_check_and_permissions_know_ti_readwrite_only_where_indicators_are_allowed(
    relay: Relay,  # noqa: F811
    tenants: list[str],
) -> None:
    code, document = relay.json("permissions", "--tenant", tenants[0])
    assert code == 0
    assert document["application_permissions"]["WindowsDefenderATP"] == ["Alert.Read.All", "Ti.ReadWrite"]
    closed = customer(relay, ["Alert.Read.All", "Machine.Read.All", "Machine.Isolate"], actions="isolate")
    _, other = relay.json("permissions", "--tenant", closed, "--no-tokens")
    assert "Ti.ReadWrite" not in other["application_permissions"]["WindowsDefenderATP"]
    # AND check probes the indicators API for a tenant that allows them; Ti.ReadWrite.All counts as Ti.ReadWrite
    code, checked = relay.json("check", "--tenant", tenants[1])
    assert code == 0, checked
    assert checked["tenants"][0]["probes"] == ["alerts", "indicators"]
    assert checked["tenants"][0]["missing_roles"] == []
