"""Wiring of indicators across tenants (docs/indicators.md): job table, baseline sets, queue, service, worker, API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.bootstrap.logs import quiet_sdk_http_log

if TYPE_CHECKING:
    from shared.bootstrap.services import Services
    from shared.http.indicators_api import IndicatorsApi
    from shared.indicators.service import IndicatorService
    from shared.indicators.stores import BlobSetStore, QueueJobMessages, TableJobStore
    from shared.indicators.worker import IndicatorWorker


def job_store(services: Services) -> TableJobStore:
    from shared.indicators.stores import JOBS_TABLE, TableJobStore

    services.storage.ensure(tables=(JOBS_TABLE,))
    return TableJobStore(services.storage.table(JOBS_TABLE))


def set_store(services: Services) -> BlobSetStore:
    from shared.indicators.stores import SETS_CONTAINER, BlobSetStore

    services.storage.ensure(containers=(SETS_CONTAINER,))
    return BlobSetStore(services.storage.container(SETS_CONTAINER))


def job_messages(services: Services) -> QueueJobMessages:
    from shared.indicators.stores import QueueJobMessages
    from shared.platform.storage import INDICATOR_JOBS_QUEUE

    services.storage.ensure(queues=(INDICATOR_JOBS_QUEUE,))
    return QueueJobMessages(services.storage.queue(INDICATOR_JOBS_QUEUE))


def indicator_service(services: Services) -> IndicatorService:
    from shared.actions.audit import TABLE as AUDIT_TABLE
    from shared.actions.audit import JobAudit
    from shared.defender.indicators import MdeIndicators
    from shared.indicators.service import IndicatorService

    services.storage.ensure(tables=(AUDIT_TABLE,))
    audit = JobAudit(services.audit_store(), clock=services.clock)
    # The MDE adapter of the indicators port; a Graph adapter would be built here instead (docs/indicators.md).
    api = MdeIndicators(transport=services.defender.transport, owner=services.app_client_id)
    return IndicatorService(api=api, audit=audit)


def indicator_worker(services: Services) -> IndicatorWorker:
    from shared.indicators.worker import IndicatorWorker

    return IndicatorWorker(
        jobs=services.indicator_jobs, sets=services.indicator_sets, tenants=services.tenants,
        queue=services.indicator_queue, service=services.indicator_service,
        default_allowed=services.settings.default_allowed_actions, clock=services.clock,
    )  # fmt: skip


def indicators_api(services: Services, *, verify_signatures: bool = True) -> IndicatorsApi:
    """The indicator routes (push, sync, drift, remove, status, list); the CLI's is unsigned like ``http_api``."""
    from shared.actions.audit import TABLE as AUDIT_TABLE
    from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
    from shared.actions.idempotency import TableIdempotencyStore
    from shared.callers.authenticator import KeyAuthenticator
    from shared.http.indicators_api import IndicatorsApi

    quiet_sdk_http_log()
    services.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE))
    return IndicatorsApi(
        directory=services.action_service(), jobs=services.indicator_jobs, sets=services.indicator_sets,
        queue=services.indicator_queue, service=services.indicator_service, audit=services.audit_store(),
        idempotency=TableIdempotencyStore(services.storage.table(IDEMPOTENCY_TABLE)),
        verifier=services.signature_verifier if verify_signatures else None, clock=services.clock,
        authenticator=services.caller_authenticator if verify_signatures else KeyAuthenticator("operator"),
        tenants=services.tenants,
    )  # fmt: skip
