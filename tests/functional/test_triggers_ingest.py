"""The timer and queue triggers as the Functions host indexes and calls them.

Binding metadata comes from ``app.get_functions()`` (what the host indexes); the functions are called
with the concrete ``azure.functions`` objects the Python worker builds. Storage is a real Azurite; the
Defender side is the in-memory ``FakeChangeSource`` (the emulator is exercised by the integration tests).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

import function_app
from localdev.azurite import AzuriteEndpoints
from shared.bootstrap import Services, use_services
from shared.domain.errors import ThrottledError, ValidationError
from shared.domain.job import new_job, parse_job
from shared.domain.tenant import Tenant
from shared.platform.settings import Settings
from shared.platform.storage import EVENTS_QUEUE, JOBS_QUEUE, StorageClients
from shared.triggers.queue import ingest_tenant_job
from shared.triggers.timer import sweep
from tests.fakes.ingest import FakeChangeSource

pytestmark = pytest.mark.integration


def _settings(connection_string: str) -> Settings:
    return Settings.from_env(
        {
            "AzureWebJobsStorage": connection_string,
            "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net",
            "RELAY_COMMERCIAL_CLIENT_ID": str(uuid.uuid4()),
            "RELAY_COMMERCIAL_CREDENTIAL": "secret:commercial-app-secret",
            "RELAY_SETTLE_SECONDS": "0",
        }
    )


@pytest.fixture
def services(azurite: AzuriteEndpoints) -> Iterator[tuple[Services, FakeChangeSource]]:
    source = FakeChangeSource()
    svc = Services(
        _settings(azurite.connection_string),
        storage=StorageClients.from_connection_string(azurite.connection_string),
        source=source,
    )
    svc.ensure_storage()
    svc.storage.queue(JOBS_QUEUE).clear_messages()
    svc.storage.queue(EVENTS_QUEUE).clear_messages()
    with use_services(svc):
        yield svc, source


@functools.cache
def _bindings() -> dict[str, dict[str, object]]:
    # get_functions() indexes once per app (a second call reports duplicate names), like the host does.
    return {f.get_function_name(): json.loads(f.get_function_json()) for f in function_app.app.get_functions()}


def test_the_host_indexes_the_sweep_timer_on_the_schedule_setting() -> None:
    binding = _bindings()["sweep"]["bindings"][0]  # type: ignore[index]
    assert binding == {
        "direction": "IN",
        "type": "timerTrigger",
        "name": "timer",
        "schedule": "%RELAY_SWEEP_SCHEDULE%",
        "runOnStartup": False,
        "useMonitor": True,
    }


def test_the_host_indexes_the_worker_on_tenant_jobs_with_the_host_storage_connection() -> None:
    binding = _bindings()["ingest_tenant_job"]["bindings"][0]  # type: ignore[index]
    assert binding == {
        "direction": "IN",
        "type": "queueTrigger",
        "name": "msg",
        "queueName": "tenant-jobs",
        "connection": "AzureWebJobsStorage",
    }


def _tenant(svc: Services, **kwargs: object) -> Tenant:
    tenant = Tenant(tenant_id=str(uuid.uuid4()), display_name="Fabrikam", **kwargs)  # type: ignore[arg-type]
    svc.tenants.upsert(tenant)
    return tenant


def test_the_timer_enqueues_base64_jobs_the_queue_trigger_can_read(services: tuple[Services, FakeChangeSource]) -> None:
    svc, _ = services
    # GIVEN one enabled tenant with both feeds and one disabled tenant
    both = _tenant(svc, feeds=frozenset({"mde-alerts", "xdr-incidents"}))
    off = _tenant(svc, enabled=False)
    svc.settings = _settings_with_interval(svc.settings, 0)  # no visibility delay, so the test can read them
    # WHEN the timer fires
    sweep(TimerRequest(past_due=False))
    # THEN the raw queue holds base64 of small JSON jobs (what the Functions host decodes)
    raw = svc.storage.queues.get_queue_client(JOBS_QUEUE).receive_messages(messages_per_page=32, visibility_timeout=5)
    jobs = [parse_job(base64.b64decode(m.content)) for m in raw]
    mine = {(j.tenant_id, j.feed) for j in jobs if j.tenant_id in {both.tenant_id, off.tenant_id}}
    assert mine == {(both.tenant_id, "mde-alerts"), (both.tenant_id, "xdr-incidents")}


def _settings_with_interval(settings: Settings, seconds: int) -> Settings:
    from dataclasses import replace

    return replace(settings, sweep_interval_seconds=seconds)


def test_a_job_message_delivers_the_tenants_changes_as_an_envelope(services: tuple[Services, FakeChangeSource]) -> None:
    svc, source = services
    tenant = _tenant(svc, feeds=frozenset({"mde-alerts"}))
    source.put(tenant.tenant_id, "da1", datetime.now(UTC) - timedelta(minutes=5), title="Suspicious PowerShell")
    job = new_job(tenant.tenant_id, "mde-alerts")
    # WHEN the host hands the worker the message
    ingest_tenant_job(QueueMessage(id="m1", body=job.to_json().encode(), dequeue_count=1))
    # THEN defender-events holds one envelope with the alert and its dedup key
    messages = list(svc.storage.queue(EVENTS_QUEUE).receive_messages(visibility_timeout=5))
    assert len(messages) == 1
    envelope = json.loads(messages[0].content)
    assert envelope["kind"] == "defender-relay.events"
    assert [(i["id"], i["data"]["title"]) for i in envelope["items"]] == [("da1", "Suspicious PowerShell")]
    assert envelope["items"][0]["dedup_key"].startswith(f"{tenant.tenant_id}:alert:da1:")
    # AND the tenant's health says it worked
    assert svc.tenants.get_health(tenant.tenant_id).last_success is not None


def test_a_malformed_message_is_logged_with_the_field_and_raised_for_the_poison_queue(
    services: tuple[Services, FakeChangeSource], caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"v": 1, "tenant_id": str(uuid.uuid4()), "feed": "mde-alerts"}).encode()
    with caplog.at_level(logging.ERROR), pytest.raises(ValidationError):
        ingest_tenant_job(QueueMessage(id="bad-1", body=body, dequeue_count=5))
    assert "malformed job message id=bad-1" in caplog.text
    assert "'sweep_id'" in caplog.text


def test_an_unknown_tenant_completes_without_retry(
    services: tuple[Services, FakeChangeSource], caplog: pytest.LogCaptureFixture
) -> None:
    svc, source = services
    # GIVEN a job for a tenant that is not in the registry (removed after the sweep enqueued it)
    job = new_job(str(uuid.uuid4()), "mde-alerts")
    # WHEN the trigger runs it THEN it returns (the host deletes the message: no retry, no poison) ...
    with caplog.at_level("INFO"):
        ingest_tenant_job(QueueMessage(id="m2", body=job.to_json().encode(), dequeue_count=1))
    # ... without calling Defender, without handing the job back, and says why in the log
    assert source.calls == 0
    assert svc.storage.queue(JOBS_QUEUE).get_queue_properties().approximate_message_count == 0
    assert f"tenant {job.tenant_id} is not in the registry" in caplog.text


def test_a_throttled_job_is_requeued_with_the_retry_after_delay(services: tuple[Services, FakeChangeSource]) -> None:
    svc, source = services
    tenant = _tenant(svc, feeds=frozenset({"mde-alerts"}))
    source.fail_on_call[1] = ThrottledError("quota", retry_at=datetime.now(UTC) + timedelta(seconds=30))
    job = new_job(tenant.tenant_id, "mde-alerts")
    ingest_tenant_job(QueueMessage(id="m3", body=job.to_json().encode(), dequeue_count=1))  # completes
    # THEN the job is back on tenant-jobs but invisible for the throttle wait
    queue = svc.storage.queue(JOBS_QUEUE)
    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.peek_messages()) == []
