"""``Services``: every part the triggers, the CLI and the benchmarks use, built lazily from settings.

This class is the index: each part is a line or two here, and the parts that only one capability uses are
wired in that capability's module (``ingest.py``, ``responses.py``, ``indicators.py``, ``hunting.py``).
What several capabilities share is built here: storage, the tenant registry, tokens, the client-side
limiter, the Defender transport, checkpoints, the HMAC check and the caller check.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from shared.bootstrap import hunting, indicators, ingest, responses
from shared.domain.errors import ConfigError
from shared.domain.job import Job
from shared.ingest.checkpoint_table import TableCheckpointStore
from shared.ingest.job_queue import StorageJobQueue
from shared.ingest.runner import ChangeSource, IngestDeps
from shared.ingest.sinks.base import Sink
from shared.ingest.sweep import SweepResult
from shared.platform.redaction import install_log_redaction
from shared.platform.settings import Settings
from shared.platform.storage import (
    CHECKPOINTS_TABLE,
    HUNT_JOBS_QUEUE,
    HUNT_RESULTS_CONTAINER,
    JOBS_QUEUE,
    PAYLOADS_CONTAINER,
    TENANTS_TABLE,
    StorageClients,
)
from shared.tenants.store import TenantStore

if TYPE_CHECKING:
    from shared.actions.audit import TableAuditStore
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
    from shared.hunting.runner import HuntDeps
    from shared.hunting.service import HuntService
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

    # -- shared by the capabilities ----------------------------------------------------------------------------

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
    def checkpoints(self) -> TableCheckpointStore:
        return TableCheckpointStore(self.storage.table(CHECKPOINTS_TABLE), clock=self.clock)

    @cached_property
    def job_queue(self) -> StorageJobQueue:
        return StorageJobQueue(self.storage.queue(JOBS_QUEUE))

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

    def audit_store(self) -> TableAuditStore:
        """The audit trail's table (its users create it first where they may be the first to write)."""
        from shared.actions.audit import TABLE, TableAuditStore

        return TableAuditStore(self.storage.table(TABLE))

    def app_client_id(self, tenant: Tenant) -> str:
        """The partner app id in the tenant's cloud: the ``createdBy`` of every indicator this relay writes."""
        from shared.domain.clouds import endpoints_for

        app = self.settings.app(endpoints_for(tenant.cloud, tenant.region).family)
        return app.client_id if app is not None else ""

    # -- ingestion (ingest.py, docs/ingestion.md) --------------------------------------------------------------

    @cached_property
    def source(self) -> ChangeSource:
        return self._source if self._source is not None else ingest.change_source(self)

    @cached_property
    def sinks(self) -> tuple[Sink, ...]:
        return self._sinks if self._sinks is not None else tuple(ingest.build_sinks(self.settings, self.storage))

    @cached_property
    def ingest_deps(self) -> IngestDeps:
        return ingest.ingest_deps(self)

    def requeue(self, job: Job, delay_seconds: int) -> None:
        self.job_queue.send(job, delay_seconds=delay_seconds)

    def run_sweep(self) -> SweepResult:
        return ingest.run_sweep_now(self)

    # -- machine actions, triage, the action and tenants APIs, retention (responses.py) ------------------------

    def action_service(self) -> ActionService:
        return responses.action_service(self)

    def triage_service(self) -> TriageService:
        return responses.triage_service(self)

    def http_api(self, *, verify_signatures: bool = True) -> HttpApi:
        """The action routes; ``verify_signatures=False`` is the operator CLI's (responses.py says why)."""
        return responses.http_api(self, verify_signatures=verify_signatures)

    def tenants_api(self) -> TenantsApi:
        return responses.tenants_api(self)

    def run_purge(self) -> PurgeResult:
        return responses.run_purge(self)

    # -- indicators across tenants (indicators.py, docs/indicators.md) -----------------------------------------

    @cached_property
    def indicator_jobs(self) -> TableJobStore:
        return indicators.job_store(self)

    @cached_property
    def indicator_sets(self) -> BlobSetStore:
        return indicators.set_store(self)

    @cached_property
    def indicator_queue(self) -> QueueJobMessages:
        return indicators.job_messages(self)

    @cached_property
    def indicator_service(self) -> IndicatorService:
        return indicators.indicator_service(self)

    @cached_property
    def indicator_worker(self) -> IndicatorWorker:
        return indicators.indicator_worker(self)

    def indicators_api(self, *, verify_signatures: bool = True) -> IndicatorsApi:
        return indicators.indicators_api(self, verify_signatures=verify_signatures)

    # -- hunting (hunting.py, docs/hunting.md) -----------------------------------------------------------------

    @cached_property
    def hunting_api(self) -> GraphHuntingClient:
        return hunting.hunting_client(self)

    @cached_property
    def hunt_queue(self) -> StorageHuntQueue:
        return hunting.hunt_queue(self)

    @cached_property
    def hunt_deps(self) -> HuntDeps:
        return hunting.hunt_deps(self)

    def hunt_service(self) -> HuntService:
        return hunting.hunt_service(self)

    def run_due_hunts(self) -> list[str]:
        """The saved-hunts timer: start every saved hunt whose schedule has come round."""
        return self.hunt_service().run_due()

    def hunts_api(self) -> HuntsApi:
        return hunting.hunts_api(self)

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
