"""``alert update|comment``, ``incident update|comment`` and ``machine tag`` against Azurite and the emulator:
the HTTP API's own handler (validation, allow-list, audit), tables for people, one JSON document with --json."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.cli_support import Relay, module_azurite, relay  # noqa: F401 - fixtures
from tests.integration.defender_support import call, token
from tests.integration.graph_support import graph_get, graph_token
from tests.integration.triage_support import triage_tenant

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(relay: Relay) -> str:  # noqa: F811
    assert relay.emulator is not None
    tenant_id = triage_tenant(relay.emulator, alerts=5)
    actions = "isolate,unisolate,scan,triage"
    result = relay.run(
        "tenants", "add", tenant_id, "--name", "Triage CLI", "--feeds", "graph-alerts", "--actions", actions
    )
    assert result.code == 0, result.err
    return tenant_id


def _graph(relay: Relay, tenant: str, path: str) -> list[dict[str, Any]]:  # noqa: F811
    assert relay.emulator is not None
    return list(graph_get(relay.emulator, path, graph_token(relay.emulator, tenant)).json()["value"])


def test_alert_update_prints_what_changed_and_a_second_run_changes_nothing(relay: Relay, tenant: str) -> None:  # noqa: F811
    alert = next(a for a in _graph(relay, tenant, "/v1.0/security/alerts_v2") if a["status"] != "resolved")
    args = ["alert", "update", alert["id"], "--tenant", tenant, "--status", "resolved", "--classification",
            "truePositive", "--determination", "malware"]  # fmt: skip
    first = relay.run(*args)
    assert first.code == 0, first.err
    assert f"alert {alert['id']}: updated" in first.out
    assert "FIELD" in first.out
    assert "resolved" in first.out
    code, again = relay.json(*args)
    assert (code, again["status"], again["changed"]) == (0, 200, False)


def test_bad_values_are_usage_errors_naming_the_allowed_ones(relay: Relay, tenant: str) -> None:  # noqa: F811
    alert = _graph(relay, tenant, "/v1.0/security/alerts_v2")[0]
    result = relay.run("alert", "update", alert["id"], "--tenant", tenant, "--status", "closed")
    assert result.code == 2
    assert "new, inProgress, resolved" in result.err


def test_many_alerts_with_a_comment_are_one_batch_with_a_row_each(relay: Relay, tenant: str) -> None:  # noqa: F811
    ids = [a["id"] for a in _graph(relay, tenant, "/v1.0/security/alerts_v2")][:3]
    result = relay.run("alert", "update", *ids, "da000000000000000009_-9", "--tenant", tenant, "--assigned-to",
                       "soc2@mssp.example", "--comment", "SOAR case 12")  # fmt: skip
    assert result.code == 1  # one id is unknown: the batch answered 207
    lines = [line for line in result.out.splitlines() if line.startswith("da")]
    assert [line.split()[1] for line in lines] == ["updated", "updated", "updated", "failed"]
    assert "3 updated" in result.out
    comments = relay.json("alert", "comment", ids[0], "--tenant", tenant, "--comment", "follow-up")[1]
    assert [c["comment"] for c in comments["comments"]][-2:] == ["SOAR case 12", "follow-up"]


def test_incident_update_comment_and_machine_tag(relay: Relay, tenant: str) -> None:  # noqa: F811
    assert relay.emulator is not None
    incident = _graph(relay, tenant, "/v1.0/security/incidents")[0]
    code, updated = relay.json("incident", "update", incident["id"], "--tenant", tenant, "--status", "resolved",
                               "--tags", "case-12,ransomware")  # fmt: skip
    assert (code, updated["incident"]["customTags"]) == (0, ["case-12", "ransomware"])
    commented = relay.run("incident", "comment", incident["id"], "--tenant", tenant, "--comment", "closed")
    assert (commented.code, "closed" in commented.out) == (0, True)
    machine = call(relay.emulator, "GET", "/api/machines", token(relay.emulator, tenant)).json()["value"][0]
    tagged = relay.run("machine", "tag", "--tenant", tenant, "--machine", machine["computerDnsName"], "--add", "vip")
    assert tagged.code == 0, tagged.err
    assert f"machine {machine['id']}" in tagged.out
    code, audit = relay.json("audit", "--tenant", tenant)
    actions = {r["action"] for r in audit["records"]}
    assert {"alert-update", "alert-batch-update", "incident-update", "incident-comment", "machine-tag"} <= actions
    assert all(r["caller"].startswith("cli:") for r in audit["records"])
