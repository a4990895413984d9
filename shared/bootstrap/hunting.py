"""Wiring of hunting across tenants (docs/hunting.md): Graph runHuntingQuery, the hunt queue and stores, the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.platform.storage import HUNT_JOBS_QUEUE, HUNT_RESULTS_CONTAINER
from shared.tenants.snapshot import RegistrySnapshot

if TYPE_CHECKING:
    from shared.bootstrap.services import Services
    from shared.defender.graph_hunting import GraphHuntingClient
    from shared.http.hunts_api import HuntsApi
    from shared.hunting.hunt_queue import StorageHuntQueue
    from shared.hunting.results import BlobResultStore
    from shared.hunting.runner import HuntDeps
    from shared.hunting.service import HuntService
    from shared.hunting.store import TableHuntStore


def hunting_client(services: Services) -> GraphHuntingClient:
    """runHuntingQuery over its own transport: a query may run for minutes (docs/microsoft-apis.md
    §Advanced hunting: 3 minutes), longer than the read timeout the feeds use."""
    from shared.defender.graph_hunting import GraphHuntingClient
    from shared.defender.transport import DefenderTransport

    transport = DefenderTransport(
        tokens=services.tokens, host_overrides=services.settings.host_overrides, limiter=services.limiter,
        timeout=(5.0, 210.0),
    )  # fmt: skip
    return GraphHuntingClient(transport=transport)


def hunt_queue(services: Services) -> StorageHuntQueue:
    from shared.hunting.hunt_queue import StorageHuntQueue

    return StorageHuntQueue(services.storage.queue(HUNT_JOBS_QUEUE))


def hunt_deps(services: Services) -> HuntDeps:
    """What one hunt-jobs message needs: the Table and blob stores, Graph, the registry, the sinks."""
    from shared.actions.audit import HuntAuditTrail
    from shared.hunting.delivery import BlobSeenRows, SinkDelivery
    from shared.hunting.runner import HuntDeps

    results = services.storage.container(HUNT_RESULTS_CONTAINER)
    return HuntDeps(
        hunts=_hunt_store(services), results=_hunt_results(services), api=services.hunting_api,
        tenants=RegistrySnapshot(services.tenants), jobs=services.hunt_queue,
        delivery=SinkDelivery(sinks=services.sinks, seen=BlobSeenRows(results), clock=services.clock),
        audit=HuntAuditTrail(services.audit_store()), clock=services.clock,
    )  # fmt: skip


def hunt_service(services: Services) -> HuntService:
    from shared.hunting.schedules import TABLE, TableScheduleStore
    from shared.hunting.service import HuntService

    return HuntService(
        hunts=_hunt_store(services), results=_hunt_results(services), tenants=services.tenants,
        jobs=services.hunt_queue, schedules=TableScheduleStore(services.storage.table(TABLE)),
        enabled=services.settings.hunting_enabled, clock=services.clock,
    )  # fmt: skip


def hunts_api(services: Services) -> HuntsApi:
    """``/api/hunts`` and ``/api/hunt-schedules``: hunts are started and read here, run by the jobs."""
    from shared.http.hunts_api import HuntsApi

    return HuntsApi(
        service=services.hunt_service(), audit=services.audit_store(), verifier=services.signature_verifier,
        clock=services.clock, authenticator=services.caller_authenticator, tenants=services.tenants,
    )  # fmt: skip


def _hunt_store(services: Services) -> TableHuntStore:
    from shared.hunting.store import TABLE, TableHuntStore

    return TableHuntStore(services.storage.table(TABLE))


def _hunt_results(services: Services) -> BlobResultStore:
    from shared.hunting.results import BlobResultStore

    return BlobResultStore(services.storage.container(HUNT_RESULTS_CONTAINER))
