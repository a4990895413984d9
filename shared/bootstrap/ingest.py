"""Ingestion's wiring (docs/ingestion.md): the change source, the sinks, one job's dependencies, the sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shared.domain.errors import ConfigError
from shared.ingest.runner import ChangeSource, IngestDeps, IngestOptions
from shared.ingest.sinks.archive import ArchiveSink
from shared.ingest.sinks.base import Sink
from shared.ingest.sinks.payloads import BlobPayloads
from shared.ingest.sinks.queue import QueueSink
from shared.ingest.sinks.webhook import WebhookSink
from shared.ingest.sweep import SweepResult, run_sweep
from shared.platform.settings import Settings
from shared.platform.storage import PAYLOADS_CONTAINER, StorageClients
from shared.tenants.snapshot import RegistrySnapshot

if TYPE_CHECKING:
    from shared.bootstrap.services import Services


def change_source(services: Services) -> ChangeSource:
    from shared.ingest.change_source import DefenderChangeSource

    return DefenderChangeSource(services.defender, services.throttles)


def ingest_deps(services: Services) -> IngestDeps:
    s = services.settings
    return IngestDeps(
        tenants=RegistrySnapshot(services.tenants),  # one registry query per 30 s, not one read per job
        source=services.source,
        checkpoints=services.checkpoints,
        sinks=services.sinks,
        owner=services.owner,
        options=IngestOptions(
            overlap=timedelta(seconds=s.overlap_seconds),
            settle=timedelta(seconds=s.settle_seconds),
            initial_lookback=timedelta(hours=s.initial_lookback_hours),
            page_size=s.page_size,
            lease_duration=timedelta(seconds=s.lease_seconds),
        ),
        clock=services.clock,
    )


def run_sweep_now(services: Services) -> SweepResult:
    return run_sweep(
        tenants=services.tenants,
        queue=services.job_queue,
        interval_seconds=services.settings.sweep_interval_seconds,
        clock=services.clock,
    )


def build_sinks(settings: Settings, storage: StorageClients) -> list[Sink]:
    """The sinks named in ``RELAY_SINKS``, in that order."""
    payloads = BlobPayloads(storage.container(PAYLOADS_CONTAINER))
    sinks: list[Sink] = []
    for name in settings.sinks:
        if name == "queue":
            sinks.append(QueueSink(storage.queue(settings.events_queue), payloads))
        elif name == "archive":
            sinks.append(ArchiveSink(storage.container(settings.archive_container)))
        elif name == "webhook":
            sinks.append(_webhook_sink(settings, payloads))
    return sinks


def _webhook_sink(settings: Settings, payloads: BlobPayloads) -> WebhookSink:
    if not settings.webhook_url or not settings.webhook_secret_name:
        raise ConfigError(["RELAY_SINKS: webhook needs RELAY_WEBHOOK_URL and RELAY_WEBHOOK_SECRET_NAME"])
    from shared.platform.secrets import secret_reader_from_settings

    secret = secret_reader_from_settings(settings).get_secret(settings.webhook_secret_name)
    return WebhookSink(url=settings.webhook_url, secret=secret.encode(), payloads=payloads)
