"""Helpers of the migration proofs (``test_cli_migrate``, ``test_cli_rollback``): ground truth, what reached
the events queue, the emulator's activity, the registry's feeds."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from localdev.emulator_process import EmulatorInfo
from shared.domain.job import format_time, parse_time
from shared.platform.storage import StorageClients
from tests.integration.cli_support import Relay, Result
from tests.integration.ingest_support import FULL_ROLES

OLD = "mde-alerts,xdr-incidents"
Key = tuple[str, str, str]  # (kind, provider id or incident id, normalised change time)


def alert_versions(emulator: EmulatorInfo, tenant_id: str) -> set[tuple[str, str, str]]:
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant_id}").json()
    return {("alert", a["id"], norm(a["lastUpdateTime"])) for a in truth["alerts"]}


def latest(versions: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    newest: dict[str, str] = {}
    for _, ident, version in versions:
        newest[ident] = max(version, newest.get(ident, ""))
    return {("alert", ident, version) for ident, version in newest.items()}


def generate(emulator: EmulatorInfo, tenant_id: str, **activity: Any) -> None:
    answer = emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "incidents": True, **activity})
    assert answer.status_code == 200, answer.text


def norm(version: str) -> str:
    return format_time(parse_time(version))


def feeds(relay: Relay, tenant_id: str) -> list[str]:
    _, document = relay.json("tenants", "list")
    return next(t["feeds"] for t in document["tenants"] if t["tenant_id"] == tenant_id)  # type: ignore[no-any-return]


def drain_events(queue: Any) -> Iterator[tuple[str, str, str]]:
    """Every item on defender-events (deleted), as what a consumer correlates on across the switch."""
    for _ in range(10_000):
        batch = list(queue.receive_messages(messages_per_page=32, visibility_timeout=60))
        if not batch:
            return
        for message in batch:
            for item in json.loads(message.content)["items"]:
                ident = item["providerAlertId"] if item["kind"] == "alert" else item["incidentId"]
                yield (item["kind"], str(ident), norm(item["version"]))
            queue.delete_message(message)


def legacy_tenant(relay: Relay, emulator: EmulatorInfo, name: str) -> tuple[str, Any]:
    """A new emulator tenant with history, registered on the retiring feeds, swept once after more activity;
    its id and the events queue (emptied before the sweep)."""
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": name, "consent": "full", "machines": 3, "roles": FULL_ROLES}
    assert emulator.control("POST", "/tenants", json={**body, "alerts": 12}).status_code == 201
    assert relay.run("tenants", "add", tenant_id, "--name", name, "--feeds", OLD).code == 0
    events = StorageClients.from_connection_string(relay.env["AzureWebJobsStorage"]).queue("defender-events")
    with contextlib.suppress(ResourceNotFoundError):  # no sweep has created it yet: nothing to drop
        for _ in drain_events(events):
            pass
    generate(emulator, tenant_id, new_alerts=5, updates=2, ties=2)
    assert relay.run("sweep", "--once", "--tenant", tenant_id).code == 0
    return tenant_id, events


def while_writing(emulator: EmulatorInfo, tenant_id: str, command: Callable[[], Result]) -> Result:
    """``command`` while the emulator keeps writing alerts (new ones and late writes; updates come in single
    batches between sweeps, so every alert version is current when some sweep reads)."""
    stop = threading.Event()

    def produce() -> None:
        for _ in range(40):
            if stop.wait(0.05):
                return
            generate(emulator, tenant_id, new_alerts=1, late=1, late_seconds=120)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        result = command()
    finally:
        stop.set()
        producer.join(timeout=30)
    assert result.code == 0, result.out + result.err
    return result


def sweep_with_activity(relay: Relay, emulator: EmulatorInfo, tenant_id: str) -> None:
    """Three sweeps, with more alerts (new, updated, tied) before the later two."""
    for batch in ({}, {"new_alerts": 3, "updates": 2, "ties": 2}, {"new_alerts": 2, "updates": 1}):
        if batch:
            generate(emulator, tenant_id, **batch)
        assert relay.run("sweep", "--once", "--tenant", tenant_id).code == 0


def assert_every_version_once(
    delivered: Counter[Key], emulator: EmulatorInfo, tenant_id: str, before: set[Key]
) -> None:
    """Every alert version of the ground truth exactly once (of the history ``before`` the first sweep, only
    the latest: the rest was overwritten before any read), every incident's latest version, and nothing twice."""
    truth = emulator.control("GET", f"/ground-truth?tenant_id={tenant_id}").json()
    alerts = (alert_versions(emulator, tenant_id) - before) | latest(before)
    incidents = {("incident", str(i["incidentId"]), norm(i["lastUpdateTime"])) for i in truth["incidents"]}
    assert {key for key in delivered if key[0] == "alert"} == alerts
    assert [key for key, n in delivered.items() if n > 1] == []
    # An incident changes with each batch: versions overwritten before any sweep could read them are not owed.
    newest: dict[str, str] = {}
    for _, ident, version in incidents:
        newest[ident] = max(version, newest.get(ident, ""))
    assert {("incident", i, v) for i, v in newest.items()} <= set(delivered)
    assert {key for key in delivered if key[0] == "incident"} <= incidents
