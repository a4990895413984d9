"""Starting an indicator job (the HTTP routes and the CLI share this): store the set, the job record, and
queue the one fan-out message. Nothing calls Defender here, so a request with 1,000 tenants answers at once.

The order makes a crash harmless: the set blob and the job record exist before the fan-out message does,
so a message never points at nothing; a request that died before queueing it left a job that never ran,
and its retry (same ``Idempotency-Key``) or a new request starts another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from shared.domain.indicator import Indicator
from shared.domain.indicator_values import Key
from shared.indicators.jobs import IndicatorJob, JobMessage, Selection, new_job_id
from shared.indicators.service import JobKind


class JobRecords(Protocol):
    def create(self, job: IndicatorJob) -> None: ...


class Sets(Protocol):
    def put_indicators(self, indicators: Sequence[Indicator]) -> str: ...
    def put_targets(self, targets: Sequence[Sequence[Key]]) -> str: ...


class Messages(Protocol):
    def send(self, message: JobMessage, *, delay_seconds: int = 0) -> None: ...


def submit_job(
    *,
    jobs: JobRecords,
    sets: Sets,
    queue: Messages,
    kind: JobKind,
    selection: Selection,
    indicators: Sequence[Indicator] = (),
    targets: Sequence[Sequence[Key]] = (),
    dry_run: bool = False,
    requested_by: str,
    clock: Callable[[], datetime],
) -> IndicatorJob:
    if kind == "remove":
        set_name, size = sets.put_targets(targets), len(targets)
    else:
        set_name, size = sets.put_indicators(indicators), len(indicators)
    job = IndicatorJob(
        job_id=new_job_id(), kind=kind, dry_run=dry_run, selection=selection, set_name=set_name, size=size,
        created_at=clock(), requested_by=requested_by,
    )  # fmt: skip
    jobs.create(job)
    queue.send(JobMessage("fanout", job.job_id))
    return job
