"""The timer's use case: one job per enabled tenant and feed on ``tenant-jobs``, spread over the interval.

The sweep makes no Defender calls: it reads the registry and enqueues, so it stays fast with
thousands of tenants (sends run in parallel; ``bench/sweep_bench.py`` measures it). Each job gets an
initial visibility delay so workers and the Defender API see an even load instead of a burst every
interval. The delay of a (tenant, feed) comes from a hash of the pair, not from its rank in the list:
adding or removing a tenant does not move everyone else, so each tenant keeps a steady cadence of one
run per interval.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from shared.domain.job import Job, new_job
from shared.domain.tenant import Tenant

logger = logging.getLogger("defender_relay.sweep")

SEND_THREADS: Final = 8  # the queue client pools 10 connections per host; more threads only wait
MAX_DELAY_SECONDS: Final = 7 * 24 * 3600 - 1  # a Storage queue visibility timeout is below 7 days


class JobQueue(Protocol):
    def send(self, job: Job, *, delay_seconds: int) -> None: ...


class TenantLister(Protocol):
    def list(self, *, enabled_only: bool = False) -> list[Tenant]: ...


@dataclass(frozen=True)
class PlannedJob:
    job: Job
    delay_seconds: int


@dataclass(frozen=True)
class SweepResult:
    sweep_id: str
    tenants: int
    jobs: int
    duration_ms: int


def spread_delay(tenant_id: str, feed: str, interval_seconds: int) -> int:
    """A stable offset in ``[0, interval)`` for the pair (same tenant, same slot every sweep)."""
    if interval_seconds <= 1:
        return 0
    digest = hashlib.sha256(f"{tenant_id}:{feed}".encode()).digest()
    return min(int.from_bytes(digest[:8], "big") % interval_seconds, MAX_DELAY_SECONDS)


def plan_sweep(tenants: Iterable[Tenant], *, interval_seconds: int, sweep_id: str, now: datetime) -> list[PlannedJob]:
    planned = []
    for tenant in tenants:
        if not tenant.enabled:
            continue
        for feed in sorted(tenant.feeds):
            job = new_job(tenant.tenant_id, feed, sweep_id=sweep_id, now=now)
            planned.append(PlannedJob(job, spread_delay(tenant.tenant_id, feed, interval_seconds)))
    return planned


def run_sweep(
    *,
    tenants: TenantLister,
    queue: JobQueue,
    interval_seconds: int,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    threads: int = SEND_THREADS,
) -> SweepResult:
    """Plan and enqueue one sweep. A failed send raises (the timer logs it; the next sweep runs anyway)."""
    started = time.monotonic()
    sweep_id = uuid.uuid4().hex
    enabled = tenants.list(enabled_only=True)
    planned = plan_sweep(enabled, interval_seconds=interval_seconds, sweep_id=sweep_id, now=clock())
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sweep-send") as pool:
        # list() re-raises the first failed send here instead of dropping it silently.
        list(pool.map(lambda p: queue.send(p.job, delay_seconds=p.delay_seconds), planned))
    result = SweepResult(
        sweep_id=sweep_id,
        tenants=len(enabled),
        jobs=len(planned),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    logger.info(
        "sweep id=%s tenants=%d jobs=%d interval_s=%d duration_ms=%d",
        result.sweep_id,
        result.tenants,
        result.jobs,
        interval_seconds,
        result.duration_ms,
    )
    return result
