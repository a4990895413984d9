"""One message of queue ``indicator-jobs`` in, one step of a job done: the fan-out, or one tenant.

What is retried (the queue trigger and the in-process drain share this):

- fan-out: finds the selected tenants, records how many, records the ones it skips (not in the registry,
  disabled, ``indicators`` not in their allow-list), queues a tenant message for every other one that has
  no final result yet. A crash halfway raises; the retry queues the rest (and maybe some twice: a tenant
  run is idempotent, so a repeat writes nothing), so the job converges.
- tenant: runs the use case and replaces the tenant's result row. Defender's 429 with a long wait puts the
  message back with that delay (no dequeue burnt). Consent, roles, the indicator cap and Defender's own
  refusals are final results (a retry cannot fix them). Defender or Entra ID unavailable: the row says
  ``retrying`` with the reason and the message is retried by the host (then ``indicator-jobs-poison``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from shared.domain.catalogue import INDICATORS
from shared.domain.errors import (
    AuthError,
    DefenderError,
    DefenderUnavailableError,
    IndicatorCapError,
    RelayError,
    TenantNotFoundError,
    ThrottledError,
    TokenServiceError,
)
from shared.domain.indicator import Indicator
from shared.domain.indicator_values import Key
from shared.domain.tenant import Tenant
from shared.indicators.jobs import IndicatorJob, JobMessage, Selection, parse_message
from shared.indicators.service import IndicatorService, Status, TenantResult, Work
from shared.platform.queue_host import visibility_delay
from shared.tenants.permissions import allowed_actions

logger = logging.getLogger("defender_relay.indicators")
_CACHED_JOBS = 32
# A tenant read is reused this long: a registry change (disable, allow-list) reaches a running job within it,
# and a 1,000-tenant fan-out on one instance costs one registry query instead of one read per tenant.
TENANT_TTL_SECONDS = 15.0
FAN_OUT_SENDERS = 8  # queue messages sent at once by a fan-out


class JobStore(Protocol):
    def get(self, job_id: str) -> IndicatorJob: ...
    def set_planned(self, job_id: str, planned: int) -> None: ...
    def mark_fanned_out(self, job_id: str) -> None: ...
    def save_result(self, job_id: str, result: TenantResult, *, now: datetime) -> None: ...
    def finished(self, job_id: str) -> set[str]: ...


class SetStore(Protocol):
    def indicators(self, name: str, *, created_at: datetime) -> list[Indicator]: ...
    def targets(self, name: str) -> list[list[Key]]: ...


class TenantDirectory(Protocol):
    def get(self, tenant_id: str) -> Tenant: ...
    def list(self, *, enabled_only: bool = False) -> list[Tenant]: ...


class MessageSender(Protocol):
    def send(self, message: JobMessage, *, delay_seconds: int = 0) -> None: ...


class IndicatorWorker:
    def __init__(
        self,
        *,
        jobs: JobStore,
        sets: SetStore,
        tenants: TenantDirectory,
        queue: MessageSender,
        service: IndicatorService,
        default_allowed: frozenset[str],
        clock: Callable[[], datetime],
    ) -> None:
        self._jobs = jobs
        self._sets = sets
        self._tenants = tenants
        self._queue = queue
        self._service = service
        self._default_allowed = default_allowed
        self._clock = clock
        self._work: dict[str, tuple[IndicatorJob, Work]] = {}  # job id -> its (immutable) work, per process
        self._seen: dict[str, tuple[float, Tenant]] = {}  # tenant id -> (monotonic time read, tenant)
        self._lock = threading.Lock()

    def handle(self, body: str | bytes) -> str:
        """One message; returns what happened (for the log line). ``ValidationError``: malformed, retried."""
        message = parse_message(body)
        if message.kind == "fanout":
            return self.fan_out(message.job_id)
        assert message.tenant_id is not None
        return self.run_tenant(message)

    def fan_out(self, job_id: str) -> str:
        job = self._jobs.get(job_id)
        eligible, skipped = self._select(job.selection)
        self._jobs.set_planned(job_id, len(eligible) + len(skipped))
        finished = self._jobs.finished(job_id)
        for result in skipped:
            if result.tenant_id not in finished:
                self._jobs.save_result(job_id, result, now=self._clock())
        messages = [JobMessage("tenant", job_id, t.tenant_id) for t in eligible if t.tenant_id not in finished]
        # Several sends at once: 10,000 tenants one after the other would keep the first tenants' results
        # waiting for the last message. Any failed send raises here, and the retry queues what has no result.
        with ThreadPoolExecutor(max_workers=FAN_OUT_SENDERS, thread_name_prefix="fan-out") as pool:
            list(pool.map(self._queue.send, messages))
        queued = len(messages)
        self._jobs.mark_fanned_out(job_id)
        logger.info(
            "indicator job %s (%s): %d tenant job(s) queued, %d skipped", job_id, job.label, queued, len(skipped)
        )
        return "fanned-out"

    def _select(self, selection: Selection) -> tuple[list[Tenant], list[TenantResult]]:
        if selection.all:
            tenants = self._tenants.list(enabled_only=True)
            self._remember(tenants)
            return [t for t in tenants if self._allows(t)], []
        eligible: list[Tenant] = []
        skipped: list[TenantResult] = []
        for tenant_id in selection.tenant_ids:
            why = self._refusal(tenant_id)
            if isinstance(why, Tenant):
                eligible.append(why)
            else:
                skipped.append(TenantResult(tenant_id, "skipped", error_kind="not-eligible", message=why))
        return eligible, skipped

    def _refusal(self, tenant_id: str) -> Tenant | str:
        """The tenant when the job may run there, else why not."""
        try:
            tenant = self._tenant(tenant_id)
        except TenantNotFoundError as exc:
            return exc.message
        if not tenant.enabled:
            return f"tenant {tenant_id} is disabled in the registry"
        if not self._allows(tenant):
            return f"tenant {tenant_id}: its allow-list does not name {INDICATORS!r}"
        return tenant

    def _tenant(self, tenant_id: str) -> Tenant:
        with self._lock:
            seen = self._seen.get(tenant_id)
        if seen is not None and time.monotonic() - seen[0] < TENANT_TTL_SECONDS:
            return seen[1]
        tenant = self._tenants.get(tenant_id)
        self._remember([tenant])
        return tenant

    def _remember(self, tenants: list[Tenant]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 50_000:  # bounded: the registry's size, never caller input
                self._seen.clear()
            self._seen.update((t.tenant_id, (now, t)) for t in tenants)

    def _allows(self, tenant: Tenant) -> bool:
        return INDICATORS in allowed_actions(tenant, self._default_allowed)

    def run_tenant(self, message: JobMessage) -> str:
        assert message.tenant_id is not None
        job, work = self._job_work(message.job_id)
        target = self._refusal(message.tenant_id)
        if not isinstance(target, Tenant):
            result = TenantResult(message.tenant_id, "skipped", error_kind="not-eligible", message=target)
        else:
            try:
                result = self._service.run(target, work)
            except ThrottledError as exc:
                delay = visibility_delay(exc.retry_at, now=self._clock())
                self._queue.send(message, delay_seconds=delay)
                logger.warning(
                    "indicator job %s tenant %s throttled: back on the queue for %d s",
                    job.job_id,
                    target.tenant_id,
                    delay,
                )
                return "throttled"
            except (TokenServiceError, DefenderUnavailableError) as exc:
                self._save(job, _failure(target.tenant_id, exc, "retrying"))
                raise  # transient: the host retries the message
            except (AuthError, IndicatorCapError, DefenderError) as exc:
                result = _failure(target.tenant_id, exc, "failed")
        self._save(job, result)
        return result.status

    def _save(self, job: IndicatorJob, result: TenantResult) -> None:
        self._jobs.save_result(job.job_id, result, now=self._clock())
        logger.info("indicator job %s (%s) tenant %s: %s %s", job.job_id, job.label, result.tenant_id, result.status,
                    result.message or "")  # fmt: skip

    def _job_work(self, job_id: str) -> tuple[IndicatorJob, Work]:
        with self._lock:
            cached = self._work.get(job_id)
        if cached is not None:
            return cached
        job = self._jobs.get(job_id)
        if job.kind == "remove":
            targets, indicators = self._sets.targets(job.set_name), []
        else:
            targets, indicators = [], self._sets.indicators(job.set_name, created_at=job.created_at)
        work = Work(job_id, job.kind, job.dry_run, indicators, targets, requested_by=job.requested_by)
        with self._lock:
            if len(self._work) >= _CACHED_JOBS:
                self._work.pop(next(iter(self._work)))
            self._work[job_id] = (job, work)
        return job, work


def _failure(tenant_id: str, exc: RelayError, status: Status) -> TenantResult:
    remedy = str(getattr(exc, "remedy", "") or "")
    return TenantResult(tenant_id, status, error_kind=exc.kind, message=exc.message, remedy=remedy)
