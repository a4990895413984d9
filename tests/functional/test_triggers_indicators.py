"""The indicator queue trigger as the Functions host indexes and calls it: its binding, a fan-out message
turned into base64 tenant messages the same trigger reads, and a malformed message raised for the poison
queue with the field named. Storage is a real Azurite; no Defender call is made here."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from azure.functions.queue import QueueMessage

from localdev.azurite import AzuriteEndpoints
from shared.bootstrap import Services, use_services
from shared.domain.errors import ValidationError
from shared.domain.tenant import Tenant
from shared.indicators.jobs import JobMessage, Selection, parse_message
from shared.indicators.submit import submit_job
from shared.platform.settings import Settings
from shared.platform.storage import INDICATOR_JOBS_QUEUE, StorageClients
from shared.triggers.indicators import indicator_job
from tests.functional.test_triggers_ingest import _bindings
from tests.unit.test_indicator_service import hashes

pytestmark = pytest.mark.integration


@pytest.fixture
def services(azurite: AzuriteEndpoints) -> Iterator[Services]:
    settings = Settings.from_env({
        "AzureWebJobsStorage": azurite.connection_string, "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net",
        "RELAY_COMMERCIAL_CLIENT_ID": str(uuid.uuid4()), "RELAY_COMMERCIAL_CREDENTIAL": "secret:commercial-app-secret",
    })  # fmt: skip
    svc = Services(settings, storage=StorageClients.from_connection_string(azurite.connection_string))
    svc.ensure_storage()
    svc.indicator_queue  # noqa: B018  # creates the queue
    svc.storage.queue(INDICATOR_JOBS_QUEUE).clear_messages()
    with use_services(svc):
        yield svc


def test_the_host_indexes_the_indicator_worker_on_its_own_queue() -> None:
    assert _bindings()["indicator_job"]["bindings"][0] == {  # type: ignore[index]
        "direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "indicator-jobs",
        "connection": "AzureWebJobsStorage",
    }  # fmt: skip


def test_a_fan_out_message_becomes_base64_tenant_messages_for_the_same_trigger(services: Services) -> None:
    allowed = Tenant(str(uuid.uuid4()), "Contoso", allowed_actions=frozenset({"indicators"}))
    closed = Tenant(str(uuid.uuid4()), "Fabrikam", allowed_actions=frozenset({"isolate"}))
    for tenant in (allowed, closed):
        services.tenants.upsert(tenant)
    job = submit_job(
        jobs=services.indicator_jobs, sets=services.indicator_sets, queue=services.indicator_queue, kind="push",
        selection=Selection(tenant_ids=(allowed.tenant_id, closed.tenant_id)), indicators=hashes(2),
        requested_by="test", clock=services.clock,
    )  # fmt: skip
    raw = services.storage.queues.get_queue_client(INDICATOR_JOBS_QUEUE)
    [fanout] = list(raw.receive_messages(visibility_timeout=30))
    # WHEN the host hands the trigger the fan-out message (decoded, as the host does)
    indicator_job(QueueMessage(id="m1", body=base64.b64decode(fanout.content), dequeue_count=1))
    raw.delete_message(fanout)
    # THEN the queue holds one base64 tenant message, for the tenant that allows indicators
    messages = [parse_message(base64.b64decode(m.content)) for m in raw.receive_messages(visibility_timeout=30)]
    assert messages == [JobMessage("tenant", job.job_id, allowed.tenant_id)]
    # AND the other tenant's result says why it was skipped
    [skipped] = services.indicator_jobs.results(job.job_id)
    assert (skipped.tenant_id, skipped.status) == (closed.tenant_id, "skipped")


def test_a_malformed_message_is_logged_with_the_field_and_raised(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"v": 1, "kind": "tenant", "job_id": "a" * 32, "tenant_id": "not-a-guid"}).encode()
    with (
        caplog.at_level(logging.ERROR, logger="defender_relay.triggers.indicators"),
        pytest.raises(ValidationError, match="tenant_id"),
    ):
        indicator_job(QueueMessage(id="bad-1", body=body, dequeue_count=5))
    assert "malformed indicator job message id=bad-1 dequeue_count=5" in caplog.text
    assert "tenant_id" in caplog.text
