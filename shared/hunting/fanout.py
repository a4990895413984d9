"""Which tenants a hunt runs in, in which order, and putting their jobs on ``hunt-jobs``.

``plan_runs`` turns the registry and a selection into runs: every enabled tenant, or the ones named, passed
through an optional ``allow`` filter (the hook a caller's tenant scope plugs into). Runs are ranked for the
probe: tenants whose last job succeeded first, never-checked ones next, failing ones last, so the query is
proven by a tenant that can answer (docs/hunting.md "The flow").

``fan_out`` sends one job per run that has no outcome yet, in parallel like the sweep; sending a job twice
(a retried fan-out after a crash) is harmless: the run's outcome is written once (``shared.hunting.store``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Final

from shared.domain.errors import TenantNotFoundError, ValidationError
from shared.domain.tenant import Tenant, TenantHealth, row_key
from shared.hunting.job import HuntJob
from shared.hunting.model import TenantRun
from shared.hunting.ports import HuntJobSender

logger = logging.getLogger("defender_relay.hunting")
SEND_THREADS: Final = 8  # as the sweep: the queue client pools 10 connections per host
TenantFilter = Callable[[Tenant], bool]


def _health_rank(health: TenantHealth) -> int:
    if health.consecutive_failures == 0 and health.last_success is not None:
        return 0
    return 1 if health.consecutive_failures == 0 else 2


def plan_runs(
    hunt_id: str,
    registry: Iterable[tuple[Tenant, TenantHealth]],
    tenant_ids: Sequence[str] | None,
    *,
    allow: TenantFilter | None = None,
    strict: bool = True,
) -> list[TenantRun]:
    """One run per selected tenant, ranked for the probe. Unknown or disabled tenants named in the selection
    are refused, naming them (``strict=False``, a saved hunt's run: left out); an empty selection is refused."""
    known = {tenant.tenant_id: (tenant, health) for tenant, health in registry}
    if tenant_ids is None:
        chosen = [pair for pair in known.values() if pair[0].enabled]
    else:
        chosen = []
        for tenant_id in dict.fromkeys(row_key(t) for t in tenant_ids):
            pair = known.get(tenant_id)
            if pair is not None and pair[0].enabled:
                chosen.append(pair)
            elif strict and pair is None:
                raise TenantNotFoundError(tenant_id)
            elif strict:
                raise ValidationError(f"tenant {tenant_id} is disabled: enable it to hunt in it", field="tenants")
    if allow is not None:
        chosen = [pair for pair in chosen if allow(pair[0])]
    if not chosen:
        raise ValidationError("no enabled tenant to hunt in: register or enable one", field="tenants")
    chosen.sort(key=lambda pair: (_health_rank(pair[1]), pair[0].display_name.lower(), pair[0].tenant_id))
    return [
        TenantRun(hunt_id=hunt_id, tenant_id=tenant.tenant_id, tenant_name=tenant.display_name, rank=rank)
        for rank, (tenant, _health) in enumerate(chosen)
    ]


def fan_out(hunt_id: str, runs: Sequence[TenantRun], jobs: HuntJobSender, *, now: datetime) -> int:
    """Queue a job for every run without an outcome; returns how many were sent. A failed send raises."""
    pending = [run for run in runs if not run.final]

    def send(run: TenantRun) -> None:
        jobs.send(HuntJob(hunt_id, run.tenant_id, enqueued_at=now))

    with ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="hunt-fan-out") as pool:
        list(pool.map(send, pending))  # list() re-raises the first failed send instead of dropping it
    logger.info("hunt %s: %d tenant job(s) queued", hunt_id, len(pending))
    return len(pending)


def next_probe(runs: Sequence[TenantRun]) -> TenantRun | None:
    """The queued run with the best rank: the next tenant to prove the query."""
    queued = [run for run in runs if run.state == "queued"]
    return min(queued, key=lambda run: run.rank) if queued else None
