"""Helpers for the indicator integration tests: the real stack on Azurite + the emulator, indicator sets,
tenants with chosen Ti roles, the in-process drain of ``indicator-jobs``, and the emulator's ground truth."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.domain.indicator import Indicator, parse_indicators
from shared.domain.tenant import Tenant, parse_tenant
from shared.indicators.jobs import IndicatorJob, Selection
from shared.indicators.service import JobKind
from shared.indicators.status import job_status
from shared.indicators.submit import submit_job
from shared.ingest.drain import DrainStats, drain
from shared.platform.storage import INDICATOR_JOBS_QUEUE
from tests.integration.ingest_support import relay_services

NOW = datetime.now(UTC)


def indicator_services(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Services:
    """The relay on this worker's Azurite with an empty registry and an empty ``indicator-jobs``."""
    services = relay_services(azurite, emulator)
    services.indicator_queue  # noqa: B018  # creates the queue
    for name in (INDICATOR_JOBS_QUEUE, INDICATOR_JOBS_QUEUE + "-poison"):
        with contextlib.suppress(ResourceNotFoundError):  # the poison queue exists once something was poisoned
            services.storage.queue(name).clear_messages()
    return services


def indicator_tenant(
    emulator: EmulatorInfo, services: Services, *, roles: list[str], allowed: list[str] | None = None
) -> Tenant:
    """A consented tenant in the emulator with these MDE roles, registered with this allow-list."""
    tenant_id = str(uuid.uuid4())
    body = {"tenant_id": tenant_id, "display_name": f"Customer {tenant_id[:6]}", "roles": {"mde": roles}}
    assert emulator.control("POST", "/tenants", json=body).status_code == 201
    actions = ["indicators"] if allowed is None else allowed
    tenant = parse_tenant({"tenant_id": tenant_id, "display_name": body["display_name"], "allowed_actions": actions},
                          where="test tenant")  # fmt: skip
    services.tenants.upsert(tenant)
    return tenant


def hashes(count: int, *, start: int = 1, title: str = "known bad", salt: int = 0) -> list[Indicator]:
    rows = [
        (f"line {n}", {"indicatorValue": f"{salt:08x}{n:056x}", "indicatorType": "FileSha256", "action": "Block",
                       "title": title, "description": "from the SOC", "severity": "High"})
        for n in range(start, start + count)
    ]  # fmt: skip
    return parse_indicators(rows, now=NOW)


def start(
    services: Services,
    kind: JobKind,
    tenants: list[Tenant] | None,
    *,
    indicators: list[Indicator] | None = None,
    targets: list[list[tuple[str, str]]] | None = None,
    dry_run: bool = False,
) -> IndicatorJob:
    selection = Selection(all=True) if tenants is None else Selection(tenant_ids=tuple(t.tenant_id for t in tenants))
    return submit_job(
        jobs=services.indicator_jobs, sets=services.indicator_sets, queue=services.indicator_queue, kind=kind,
        selection=selection, indicators=indicators or [], targets=targets or [], dry_run=dry_run,
        requested_by="test", clock=services.clock,
    )  # fmt: skip


def run_jobs(services: Services, **kwargs: Any) -> DrainStats:
    """Drain ``indicator-jobs`` the way the Functions host would (retries after 1 s), until it stays empty."""
    options: dict[str, Any] = {"threads": 4, "idle_seconds": 1.5, "max_seconds": 180.0, "retry_delay": 1, **kwargs}
    return drain(services, queue_name=INDICATOR_JOBS_QUEUE, handle=services.indicator_worker.handle, **options)


def status(services: Services, job: IndicatorJob) -> dict[str, Any]:
    return job_status(services.indicator_jobs.get(job.job_id), services.indicator_jobs.results(job.job_id))


def by_tenant(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["tenantId"]: r for r in document["results"]}


def truth(emulator: EmulatorInfo, tenant: Tenant) -> dict[str, Any]:
    """Every active indicator of the tenant (whoever made it) and the write counts, from the emulator."""
    return dict(emulator.control("GET", f"/tenants/{tenant.tenant_id}/indicators").json())


def values(emulator: EmulatorInfo, tenant: Tenant) -> dict[str, str]:
    """value -> who created it (``sourceType``) for every active indicator of the tenant."""
    return {i["indicatorValue"]: i["sourceType"] for i in truth(emulator, tenant)["indicators"]}


def api_calls(emulator: EmulatorInfo, tenant: Tenant) -> dict[str, int]:
    """Indicator API calls the emulator counted for the tenant, by route (list+submit+delete, import, batchdelete)."""
    counted = emulator.control("GET", "/counters").json()["api_calls"]
    prefix = tenant.tenant_id + "|"
    return {k.removeprefix(prefix): int(v) for k, v in counted.items() if k.startswith(prefix) and "indicators" in k}
