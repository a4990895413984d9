"""``sweep --once``, ``backfill``, the response-action commands, ``audit`` and ``serve-local`` against
Azurite and the emulator: the worker's code drains the real queue, actions go through the HTTP API's
handler, and what reached the sink is compared with the emulator's ground truth."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localdev.reconcile import consume_events, latest_versions, readable_tenants, reconcile
from shared.bootstrap import Services
from shared.platform.settings import Settings
from shared.platform.storage import EVENTS_QUEUE, JOBS_QUEUE, StorageClients
from tests.integration.cli_support import Relay, module_azurite, register, relay  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenants(relay: Relay) -> dict[str, str]:  # noqa: F811
    names = ("Contoso", "Proseware", "Alpine Ski House")
    return dict(zip(names, register(relay, *names), strict=True))


def _sink(relay: Relay) -> Any:  # noqa: F811
    return StorageClients.from_connection_string(relay.env["AzureWebJobsStorage"]).queue(EVENTS_QUEUE)


def test_sweep_once_delivers_every_latest_version_then_nothing_new(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    contoso = tenants["Contoso"]
    relay.emulator.control("POST", "/generate", json={"tenant_id": contoso, "new_alerts": 5, "updates": 3, "ties": 2})  # type: ignore[union-attr]
    # WHEN one sweep runs for Contoso
    code, first = relay.json("sweep", "--once", "--tenant", contoso)
    # THEN its jobs ran with the worker's code and the sink holds every latest version (nothing lost)
    assert code == 0
    [row] = first["tenants"]
    assert (row["tenant"], row["status"], row["jobs"]) == (contoso, "ok", 2)
    assert row["delivered"] > 0
    _, delivered = consume_events(_sink(relay))
    truth = relay.emulator.control("GET", f"/ground-truth?tenant_id={contoso}").json()  # type: ignore[union-attr]
    result = reconcile(latest_versions(truth, readable_tenants(relay.emulator.tenants)), delivered)  # type: ignore[union-attr]
    assert result.expected > 0
    assert result.lost == []
    # AND a second sweep finds nothing new
    code, second = relay.json("sweep", "--once", "--tenant", contoso)
    assert code == 0
    assert second["tenants"][0]["delivered"] == 0


def test_a_sweep_reports_tenants_that_cannot_be_read_and_fails(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    result = relay.run("sweep", "--once")
    assert result.code == 1
    line = next(line for line in result.out.splitlines() if line.startswith(tenants["Alpine Ski House"]))
    assert "auth-failed" in line
    assert "REPEATS DROPPED" in result.out


def test_a_sweep_that_meets_another_worker_s_lease_says_so_and_does_not_exit_0(
    relay: Relay,  # noqa: F811
    tenants: dict[str, str],
) -> None:
    # GIVEN Contoso's alert feed held by a worker that died a moment ago (its lease has 60 s to run)
    services = Services(
        Settings.from_env(relay.env), storage=StorageClients.from_connection_string(relay.env["AzureWebJobsStorage"])
    )
    contoso = tenants["Contoso"]
    dead = services.checkpoints.claim(contoso, "mde-alerts", owner="9999-crashed/job", duration=timedelta(seconds=60))
    try:
        # WHEN an operator runs a sweep of Contoso
        code, document = relay.json("sweep", "--once", "--tenant", contoso)
        # THEN it exits 4 (not everything was read), and names the feed, the held lease and the hand-back
        assert code == 4
        assert document["incomplete"] == 1
        [row] = document["tenants"]
        assert row["status"] == "lease-held"
        assert "mde-alerts: tenant" in row["detail"]
        assert "handed back to the queue for" in row["detail"]
        # AND the job waits on the queue for the lease to end (it is not dropped)
        assert services.storage.queue(JOBS_QUEUE).get_queue_properties().approximate_message_count == 1
    finally:
        services.checkpoints.release(dead)
        services.storage.queue(JOBS_QUEUE).clear_messages()  # the later tests of this module start from an empty queue


def test_backfill_rereads_a_range(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    since = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    code, document = relay.json("backfill", "--tenant", tenants["Contoso"], "--since", since, "--feed", "mde-alerts")
    assert code == 0
    assert document["since"].startswith(since)
    assert document["tenants"][0]["items"] > 0
    bad = relay.run("backfill", "--tenant", tenants["Contoso"], "--since", "last monday")
    assert bad.code == 2
    assert "--since: 'last monday' is not a date" in bad.err


def _machine_name(relay: Relay, tenant_id: str) -> str:  # noqa: F811
    services = Services(Settings.from_env(relay.env))
    tenant = services.tenants.get(tenant_id)
    return str(
        services.defender.request(tenant, "mde", "GET", "/api/machines", params={"$top": "1"})["value"][0][
            "computerDnsName"
        ]
    )


def test_isolate_follows_the_action_to_succeeded_and_is_audited(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    contoso = tenants["Contoso"]
    name = _machine_name(relay, contoso)
    code, answer = relay.json("isolate", "--tenant", contoso, "--machine", name, "--comment", "ticket 42", "--wait")
    assert code == 0, answer
    assert answer["action"]["type"] == "Isolate"
    assert answer["action"]["status"] == "Succeeded"
    assert answer["machine"]["computerDnsName"] == name
    code, audit = relay.json("audit", "--tenant", contoso, "--limit", "5")
    assert code == 0
    record = audit["records"][0]
    assert (record["action"], record["outcome"], record["status"]) == ("isolate", "accepted", 200)
    assert record["caller"].startswith("cli:")


def test_scan_then_cancel_and_status(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    contoso = tenants["Contoso"]
    name = _machine_name(relay, contoso)
    code, scan = relay.json("scan", "--tenant", contoso, "--machine", name, "--comment", "check", "--scan-type", "Full")
    assert code == 0
    action_id = scan["action"]["id"]
    code, cancelled = relay.json("cancel", "--tenant", contoso, "--action-id", action_id, "--comment", "not needed")
    assert code == 0
    assert cancelled["action"]["status"] == "Cancelled"
    code, status = relay.json("action-status", "--tenant", contoso, "--action-id", action_id)
    assert status["action"]["status"] == "Cancelled"


def test_action_failures_keep_the_http_apis_statuses(relay: Relay, tenants: dict[str, str]) -> None:  # noqa: F811
    # A tenant without Machine.Isolate: Defender refuses, the CLI says why and fails
    proseware = tenants["Proseware"]
    refused = relay.run(
        "isolate", "--tenant", proseware, "--machine", _machine_name(relay, proseware), "--comment", "x"
    )
    assert refused.code == 1
    assert "Machine.Isolate" in refused.err
    # Bad input is a usage error naming the field; an unknown action is not found
    bad = relay.run("isolate", "--tenant", proseware, "--machine", "bad name!", "--comment", "x")
    assert bad.code == 2
    assert "machine" in bad.err
    code, missing = relay.json("action-status", "--tenant", tenants["Contoso"], "--action-id", str(uuid.uuid4()))
    assert code == 2
    assert missing["problem"]["status"] == 404
    with pytest.raises(SystemExit) as exit_info:  # argparse: the required --sha1 is missing
        relay.run("stop-and-quarantine", "--tenant", proseware, "--machine", "m", "--comment", "x")
    assert exit_info.value.code == 2


def test_serve_local_writes_settings_for_func_start(relay: Relay, tmp_path: Path) -> None:  # noqa: F811
    output = tmp_path / "local.settings.json"
    result = relay.run("serve-local", "--no-wait", "--scenario", "test", "--output", str(output))
    assert result.code == 0, result.err
    values = json.loads(output.read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"].startswith("DefaultEndpointsProtocol=http;")
    assert "login.microsoftonline.com" in json.loads(values["RELAY_HOST_OVERRIDES"])
    assert values["RELAY_COMMERCIAL_CREDENTIAL"] == "certificate:commercial-app-certificate"
    assert len(json.loads((tmp_path / "local.tenants.json").read_text())["tenants"]) == 12
