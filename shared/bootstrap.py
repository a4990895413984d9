"""The composition root: the one place real clients are built, once per worker process.

``get_services()`` returns the process-wide ``Services``: storage clients, the tenant store, the token
provider, the Defender client, the sinks, checkpoints (with their leases), and on the HTTP side the
``HttpApi`` and the ``TenantsApi``. Building them costs network round trips (MSAL's OIDC discovery,
Key Vault) and their connection pools and MSAL's token cache are what make the second call cheap, so
the Functions triggers, the CLI and the benchmarks all share one instance. Parts are built on first
use, so a timer run never builds an MSAL app and the ingestion worker never reads the signing secret.

The CLI's registry commands need storage only (a partner onboarding its first tenant may have no
credential in Key Vault yet): ``storage_from_env`` and ``tenant_store_from_env`` build just that.

Tests and the CLI pass their own parts to ``Services(...)`` (e.g. a fake ``ChangeSource``) and install
them with ``use_services``; nothing here is patched.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Final

from shared.domain.errors import ConfigError
from shared.domain.job import Job
from shared.ingest.checkpoint_table import TableCheckpointStore
from shared.ingest.job_queue import StorageJobQueue
from shared.ingest.runner import ChangeSource, IngestDeps, IngestOptions
from shared.ingest.sinks.archive import ArchiveSink
from shared.ingest.sinks.base import Sink
from shared.ingest.sinks.payloads import BlobPayloads
from shared.ingest.sinks.queue import QueueSink
from shared.ingest.sinks.webhook import WebhookSink
from shared.ingest.sweep import SweepResult, run_sweep
from shared.platform.redaction import install_log_redaction
from shared.platform.settings import Settings, StorageSettings
from shared.platform.storage import (
    CHECKPOINTS_TABLE,
    HUNT_JOBS_QUEUE,
    HUNT_RESULTS_CONTAINER,
    JOBS_QUEUE,
    PAYLOADS_CONTAINER,
    TENANTS_TABLE,
    StorageClients,
)
from shared.tenants.snapshot import RegistrySnapshot
from shared.tenants.store import TenantStore

if TYPE_CHECKING:
    from shared.actions.retention import PurgeResult
    from shared.actions.service import ActionService
    from shared.auth.tokens import TokenProvider
    from shared.callers.authenticator import Authenticator
    from shared.callers.store import CallerDirectory, TableCallerStore
    from shared.defender.client import DefenderClient
    from shared.defender.graph_hunting import GraphHuntingClient
    from shared.defender.rate_limit import RateLimiter
    from shared.domain.tenant import Tenant
    from shared.http.api import HttpApi
    from shared.http.hunts_api import HuntsApi
    from shared.http.indicators_api import IndicatorsApi
    from shared.http.signing import SignatureVerifier
    from shared.http.tenants_api import TenantsApi
    from shared.hunting.hunt_queue import StorageHuntQueue
    from shared.hunting.results import BlobResultStore
    from shared.hunting.runner import HuntDeps
    from shared.hunting.service import HuntService
    from shared.hunting.store import TableHuntStore
    from shared.indicators.service import IndicatorService
    from shared.indicators.stores import BlobSetStore, QueueJobMessages, TableJobStore
    from shared.indicators.worker import IndicatorWorker
    from shared.ingest.change_source import ThrottleCounter
    from shared.triage.service import TriageService

Clock = Callable[[], datetime]


class Services:
    """Everything the triggers need, built lazily from settings; pass a part to replace it."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: StorageClients | None = None,
        source: ChangeSource | None = None,
        sinks: Sequence[Sink] | None = None,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._source = source
        self._sinks = tuple(sinks) if sinks is not None else None
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        install_log_redaction()  # before any client logs a URL: keys in webhook URLs stay out of the logs

    @cached_property
    def storage(self) -> StorageClients:
        return self._storage or StorageClients.from_settings(self.settings.storage)

    @cached_property
    def tenants(self) -> TenantStore:
        return TenantStore(self.storage.table(TENANTS_TABLE))

    @cached_property
    def tokens(self) -> TokenProvider:
        from shared.auth.tokens import TokenProvider
        from shared.platform.sessions import TimeoutSession

        # One session for every tenant's MSAL app: otherwise each app pools its own connections and loads
        # the CA bundle into its own TLS context (about 1 MB per tenant, measured in bench/ingest_bench.py).
        return TokenProvider(self.settings, http_client=TimeoutSession(timeout=(5.0, 30.0)))

    @cached_property
    def throttles(self) -> ThrottleCounter:
        from shared.ingest.change_source import ThrottleCounter

        return ThrottleCounter()

    @cached_property
    def limiter(self) -> RateLimiter:
        """The process's client-side quotas per (tenant, API), shared by every transport."""
        from shared.defender.rate_limit import RateLimiter, default_windows

        s = self.settings
        return RateLimiter(time.time, default_windows(s.graph_calls_per_minute, s.hunt_calls_per_minute))

    @cached_property
    def defender(self) -> DefenderClient:
        from shared.defender.client import DefenderClient
        from shared.defender.transport import DefenderTransport
        from shared.ingest.change_source import counting_session

        transport = DefenderTransport(
            tokens=self.tokens,
            host_overrides=self.settings.host_overrides,
            session=counting_session(self.throttles),
            limiter=self.limiter,
        )
        return DefenderClient(transport=transport)

    @cached_property
    def source(self) -> ChangeSource:
        if self._source is not None:
            return self._source
        from shared.ingest.change_source import DefenderChangeSource

        return DefenderChangeSource(self.defender, self.throttles)

    @cached_property
    def sinks(self) -> tuple[Sink, ...]:
        return self._sinks if self._sinks is not None else tuple(build_sinks(self.settings, self.storage))

    @cached_property
    def job_queue(self) -> StorageJobQueue:
        return StorageJobQueue(self.storage.queue(JOBS_QUEUE))

    @cached_property
    def ingest_deps(self) -> IngestDeps:
        s = self.settings
        return IngestDeps(
            tenants=RegistrySnapshot(self.tenants),  # one registry query per 30 s, not one read per job
            source=self.source,
            checkpoints=self.checkpoints,
            sinks=self.sinks,
            owner=self.owner,
            options=IngestOptions(
                overlap=timedelta(seconds=s.overlap_seconds),
                settle=timedelta(seconds=s.settle_seconds),
                initial_lookback=timedelta(hours=s.initial_lookback_hours),
                page_size=s.page_size,
                lease_duration=timedelta(seconds=s.lease_seconds),
            ),
            clock=self.clock,
        )

    def requeue(self, job: Job, delay_seconds: int) -> None:
        self.job_queue.send(job, delay_seconds=delay_seconds)

    def run_sweep(self) -> SweepResult:
        return run_sweep(
            tenants=self.tenants,
            queue=self.job_queue,
            interval_seconds=self.settings.sweep_interval_seconds,
            clock=self.clock,
        )

    def run_purge(self) -> PurgeResult:
        """One retention purge (the purge timer): expired replay and idempotency rows, old audit records."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
        from shared.actions.retention import RetentionPurge

        quiet_sdk_http_log()
        self.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE, TENANTS_TABLE))
        return RetentionPurge(
            idempotency=self.storage.table(IDEMPOTENCY_TABLE),
            audit=self.storage.table(AUDIT_TABLE),
            tenants=self.tenants,
            audit_retention=timedelta(days=self.settings.audit_retention_days),
            clock=self.clock,
        ).run()

    @cached_property
    def checkpoints(self) -> TableCheckpointStore:
        return TableCheckpointStore(self.storage.table(CHECKPOINTS_TABLE), clock=self.clock)

    @cached_property
    def signature_verifier(self) -> SignatureVerifier | None:
        """The HMAC check of the HTTP routes, when ``RELAY_HTTP_SIGNING_SECRET_NAME`` is set (and the previous
        secret too, while callers switch: ``RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME``); replays are remembered
        in the idempotency table."""
        s = self.settings
        if not s.http_signing_secret_name:
            return None
        from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
        from shared.http.signing import SignatureVerifier, TableReplayGuard
        from shared.platform.secrets import secret_reader_from_settings

        reader = secret_reader_from_settings(s)
        names = [n for n in (s.http_signing_secret_name, s.http_signing_previous_secret_name) if n]
        self.storage.ensure(tables=(IDEMPOTENCY_TABLE,))
        guard = TableReplayGuard(self.storage.table(IDEMPOTENCY_TABLE))
        return SignatureVerifier(secrets=[reader.get_secret(n).encode("utf-8") for n in names], replay_guard=guard)

    @cached_property
    def caller_store(self) -> TableCallerStore:
        from shared.callers.store import TABLE, TableCallerStore

        self.storage.ensure(tables=(TABLE,))
        return TableCallerStore(self.storage.table(TABLE))

    @cached_property
    def caller_authenticator(self) -> Authenticator | None:
        """Entra ID bearer tokens when ``RELAY_HTTP_AUTH`` is ``entra`` or ``either``; None: the function key."""
        if self.settings.http_auth == "key":
            return None
        return build_caller_authenticator(self.settings, self.caller_store)

    def action_service(self) -> ActionService:
        from shared.actions.service import ActionService

        return ActionService(
            tenants=self.tenants,  # read on every call: a disable or allow-list change holds at once
            defender=self.defender,
            default_allowed=self.settings.default_allowed_actions,
        )

    def triage_service(self) -> TriageService:
        """Graph alert and incident writes and MDE machine tags over the same transport (tokens, limits)."""
        from shared.defender.triage_client import TriageClient
        from shared.triage.service import TriageService

        writes = TriageClient(transport=self.defender.transport)
        return TriageService(graph=writes, machines=self.defender, tags=writes)

    def http_api(self, *, verify_signatures: bool = True) -> HttpApi:
        """The action routes. ``verify_signatures=False`` is the operator CLI's: signing and bearer tokens
        authenticate remote callers, and an operator already holds the storage and Key Vault access they
        stand in for (the audit names the operator, ``auth`` ``operator``)."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.audit import TableAuditStore
        from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
        from shared.actions.idempotency import TableIdempotencyStore
        from shared.callers.authenticator import KeyAuthenticator
        from shared.http.api import HttpApi

        quiet_sdk_http_log()
        self.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE))
        return HttpApi(
            service=self.action_service(),
            triage=self.triage_service(),
            audit=TableAuditStore(self.storage.table(AUDIT_TABLE)),
            idempotency=TableIdempotencyStore(self.storage.table(IDEMPOTENCY_TABLE)),
            jobs=self.job_queue,
            verifier=self.signature_verifier if verify_signatures else None,
            authenticator=self.caller_authenticator if verify_signatures else KeyAuthenticator("operator"),
            clock=self.clock,
        )

    def tenants_api(self) -> TenantsApi:
        """``GET /api/tenants`` and ``/api/tenants/{id}/health``: registry and checkpoints, never Defender."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.audit import TableAuditStore
        from shared.http.tenants_api import TenantsApi

        self.storage.ensure(tables=(AUDIT_TABLE,))
        return TenantsApi(
            registry=self.tenants,
            checkpoints=self.checkpoints,
            verifier=self.signature_verifier,
            authenticator=self.caller_authenticator,
            audit=TableAuditStore(self.storage.table(AUDIT_TABLE)),
        )

    # -- indicators across tenants (docs/indicators.md) ----------------------------------------------------------

    def app_client_id(self, tenant: Tenant) -> str:
        """The partner app id in the tenant's cloud: the ``createdBy`` of every indicator this relay writes."""
        from shared.domain.clouds import endpoints_for

        app = self.settings.app(endpoints_for(tenant.cloud, tenant.region).family)
        return app.client_id if app is not None else ""

    @cached_property
    def indicator_jobs(self) -> TableJobStore:
        from shared.indicators.stores import JOBS_TABLE, TableJobStore

        self.storage.ensure(tables=(JOBS_TABLE,))
        return TableJobStore(self.storage.table(JOBS_TABLE))

    @cached_property
    def indicator_sets(self) -> BlobSetStore:
        from shared.indicators.stores import SETS_CONTAINER, BlobSetStore

        self.storage.ensure(containers=(SETS_CONTAINER,))
        return BlobSetStore(self.storage.container(SETS_CONTAINER))

    @cached_property
    def indicator_queue(self) -> QueueJobMessages:
        from shared.indicators.stores import QueueJobMessages
        from shared.platform.storage import INDICATOR_JOBS_QUEUE

        self.storage.ensure(queues=(INDICATOR_JOBS_QUEUE,))
        return QueueJobMessages(self.storage.queue(INDICATOR_JOBS_QUEUE))

    @cached_property
    def indicator_service(self) -> IndicatorService:
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.audit import JobAudit, TableAuditStore
        from shared.defender.indicators import MdeIndicators
        from shared.indicators.service import IndicatorService

        self.storage.ensure(tables=(AUDIT_TABLE,))
        audit = JobAudit(TableAuditStore(self.storage.table(AUDIT_TABLE)), clock=self.clock)
        # The MDE adapter of the indicators port; a Graph adapter would be built here instead (docs/indicators.md).
        api = MdeIndicators(transport=self.defender.transport, owner=self.app_client_id)
        return IndicatorService(api=api, audit=audit)

    @cached_property
    def indicator_worker(self) -> IndicatorWorker:
        from shared.indicators.worker import IndicatorWorker

        return IndicatorWorker(
            jobs=self.indicator_jobs, sets=self.indicator_sets, tenants=self.tenants, queue=self.indicator_queue,
            service=self.indicator_service, default_allowed=self.settings.default_allowed_actions, clock=self.clock,
        )  # fmt: skip

    def indicators_api(self, *, verify_signatures: bool = True) -> IndicatorsApi:
        """The indicator routes (push, sync, drift, remove, status, list); the CLI's is unsigned like ``http_api``."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.audit import TableAuditStore
        from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
        from shared.actions.idempotency import TableIdempotencyStore
        from shared.callers.authenticator import KeyAuthenticator
        from shared.http.indicators_api import IndicatorsApi

        quiet_sdk_http_log()
        self.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE))
        return IndicatorsApi(
            directory=self.action_service(), jobs=self.indicator_jobs, sets=self.indicator_sets,
            queue=self.indicator_queue, service=self.indicator_service,
            audit=TableAuditStore(self.storage.table(AUDIT_TABLE)),
            idempotency=TableIdempotencyStore(self.storage.table(IDEMPOTENCY_TABLE)),
            verifier=self.signature_verifier if verify_signatures else None, clock=self.clock,
            authenticator=self.caller_authenticator if verify_signatures else KeyAuthenticator("operator"),
            tenants=self.tenants,
        )  # fmt: skip

    # -- hunting (docs/hunting.md) ------------------------------------------------------------------
    @cached_property
    def hunting_api(self) -> GraphHuntingClient:
        """runHuntingQuery over its own transport: a query may run for minutes (docs/microsoft-apis.md
        §Advanced hunting: 3 minutes), longer than the read timeout the feeds use."""
        from shared.defender.graph_hunting import GraphHuntingClient
        from shared.defender.transport import DefenderTransport

        transport = DefenderTransport(
            tokens=self.tokens, host_overrides=self.settings.host_overrides, limiter=self.limiter, timeout=(5.0, 210.0)
        )
        return GraphHuntingClient(transport=transport)

    @cached_property
    def hunt_queue(self) -> StorageHuntQueue:
        from shared.hunting.hunt_queue import StorageHuntQueue

        return StorageHuntQueue(self.storage.queue(HUNT_JOBS_QUEUE))

    @cached_property
    def hunt_deps(self) -> HuntDeps:
        """What one hunt-jobs message needs: the Table and blob stores, Graph, the registry, the sinks."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.audit import HuntAuditTrail, TableAuditStore
        from shared.hunting.delivery import BlobSeenRows, SinkDelivery
        from shared.hunting.runner import HuntDeps

        results = self.storage.container(HUNT_RESULTS_CONTAINER)
        return HuntDeps(
            hunts=self._hunt_store(), results=self._hunt_results(), api=self.hunting_api,
            tenants=RegistrySnapshot(self.tenants), jobs=self.hunt_queue,
            delivery=SinkDelivery(sinks=self.sinks, seen=BlobSeenRows(results), clock=self.clock),
            audit=HuntAuditTrail(TableAuditStore(self.storage.table(AUDIT_TABLE))), clock=self.clock,
        )  # fmt: skip

    def _hunt_store(self) -> TableHuntStore:
        from shared.hunting.store import TABLE, TableHuntStore

        return TableHuntStore(self.storage.table(TABLE))

    def _hunt_results(self) -> BlobResultStore:
        from shared.hunting.results import BlobResultStore

        return BlobResultStore(self.storage.container(HUNT_RESULTS_CONTAINER))

    def hunt_service(self) -> HuntService:
        from shared.hunting.schedules import TABLE, TableScheduleStore
        from shared.hunting.service import HuntService

        return HuntService(
            hunts=self._hunt_store(), results=self._hunt_results(), tenants=self.tenants, jobs=self.hunt_queue,
            schedules=TableScheduleStore(self.storage.table(TABLE)), enabled=self.settings.hunting_enabled,
            clock=self.clock,
        )  # fmt: skip

    def run_due_hunts(self) -> list[str]:
        """The saved-hunts timer: start every saved hunt whose schedule has come round."""
        return self.hunt_service().run_due()

    def hunts_api(self) -> HuntsApi:
        """``/api/hunts`` and ``/api/hunt-schedules``: hunts are started and read here, run by the jobs."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.actions.audit import TableAuditStore
        from shared.http.hunts_api import HuntsApi

        return HuntsApi(
            service=self.hunt_service(), audit=TableAuditStore(self.storage.table(AUDIT_TABLE)),
            verifier=self.signature_verifier, clock=self.clock, authenticator=self.caller_authenticator,
            tenants=self.tenants,
        )  # fmt: skip

    def ensure_storage(self) -> None:
        """Create the queues, tables and containers the app uses (idempotent; for local runs and tests)."""
        from shared.actions.audit import TABLE as AUDIT_TABLE
        from shared.hunting.schedules import TABLE as SCHEDULES_TABLE
        from shared.hunting.store import TABLE as HUNTS_TABLE

        s = self.settings
        self.storage.ensure(
            queues=(JOBS_QUEUE, HUNT_JOBS_QUEUE, s.events_queue),
            tables=(TENANTS_TABLE, CHECKPOINTS_TABLE, HUNTS_TABLE, SCHEDULES_TABLE, AUDIT_TABLE),
            containers=(PAYLOADS_CONTAINER, HUNT_RESULTS_CONTAINER, s.archive_container),
        )


def build_caller_authenticator(
    settings: Settings, callers: CallerDirectory, *, monotonic: Callable[[], float] = time.monotonic
) -> Authenticator:
    """The bearer-token check: the partner tenant's keys (fetched through ``RELAY_HOST_OVERRIDES`` in
    development), the caller table (read per request). ``monotonic`` paces key refreshes (tests move it)."""
    from shared.callers.authenticator import EntraAuthenticator
    from shared.callers.keys import SigningKeys, json_fetcher
    from shared.callers.tokens import TokenValidator
    from shared.domain.clouds import LOGIN_COMMERCIAL, rewrite_url
    from shared.platform.sessions import TimeoutSession

    tenant = settings.partner_tenant_id
    if tenant is None:  # Settings.from_env refuses entra / either without it; a hand-built Settings may not
        raise ConfigError(["RELAY_PARTNER_TENANT_ID: is required when RELAY_HTTP_AUTH is not key"])
    overrides = settings.host_overrides
    fetch = json_fetcher(TimeoutSession(timeout=(5.0, 10.0)), rewrite=lambda url: rewrite_url(url, overrides))
    # The partner's own tenant lives in the commercial cloud, where the partner app is registered.
    keys = SigningKeys(tenant_id=tenant, login_base=LOGIN_COMMERCIAL, fetch=fetch, monotonic=monotonic)
    validator = TokenValidator(tenant_id=tenant, audiences=settings.api_audiences, keys=keys)
    return EntraAuthenticator(validator=validator, callers=callers, allow_keys=settings.http_auth == "either")


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


def build_http_api(services: Services | None = None) -> HttpApi:
    """The process-wide HTTP API (the HTTP trigger's lazy holder calls this)."""
    return (services or get_services()).http_api()


def build_tenants_api(services: Services | None = None) -> TenantsApi:
    return (services or get_services()).tenants_api()


def build_indicators_api(services: Services | None = None) -> IndicatorsApi:
    return (services or get_services()).indicators_api()


def build_hunts_api(services: Services | None = None) -> HuntsApi:
    return (services or get_services()).hunts_api()


def storage_from_env(environ: Mapping[str, str]) -> StorageClients:
    """Storage clients from ``AzureWebJobsStorage`` alone, for commands that need nothing else."""
    return StorageClients.from_settings(StorageSettings.from_env(environ))


def tenant_store_from_env(environ: Mapping[str, str], *, storage: StorageClients | None = None) -> TenantStore:
    clients = storage or storage_from_env(environ)
    clients.ensure(tables=(TENANTS_TABLE,))  # a fresh storage account has no registry yet
    return TenantStore(clients.table(TENANTS_TABLE))


def caller_store_from_env(environ: Mapping[str, str], *, storage: StorageClients | None = None) -> TableCallerStore:
    """The caller table from ``AzureWebJobsStorage`` alone (``defender-relay callers``)."""
    from shared.callers.store import TABLE, TableCallerStore

    clients = storage or storage_from_env(environ)
    clients.ensure(tables=(TABLE,))
    return TableCallerStore(clients.table(TABLE))


_lock = threading.Lock()
_services: Services | None = None
SDK_HTTP_LOGGER: Final = "azure.core.pipeline.policies.http_logging_policy"


def get_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    global _services  # noqa: PLW0603  # one per worker process is the point
    with _lock:
        if _services is None:
            quiet_sdk_http_log()
            _services = Services(Settings.from_env(os.environ))
        return _services


def quiet_sdk_http_log() -> None:
    """Keep azure-core's per-request INFO records (URL and headers of every storage call) out of the logs.

    The Python worker sets the root logger to INFO and ships every record to the host over gRPC
    (``PYTHON_ENABLE_DEBUG_LOGGING`` makes it DEBUG), and host.json lets ``Function`` categories through
    at Information: without this, each audit insert costs two formatted multi-line records in App
    Insights and about 0.5 ms of CPU. Left alone when someone set the level themselves or debug logging
    is on; warnings and errors from the policy still pass.
    """
    sdk = logging.getLogger(SDK_HTTP_LOGGER)
    if sdk.level == logging.NOTSET and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        sdk.setLevel(logging.WARNING)


@contextmanager
def use_services(services: Services) -> Iterator[Services]:
    """Install ``services`` as the process-wide instance for a block (tests, the CLI), then restore."""
    global _services  # noqa: PLW0603
    with _lock:
        previous, _services = _services, services
    try:
        yield services
    finally:
        with _lock:
            _services = previous
