"""The hunting use case the HTTP routes, the CLI and the timer share: start, status, results, saved hunts.

Starting a hunt writes one run per selected tenant, sends the probe job (the tenant that proves the query
first), then writes the hunt's header, which is what makes the hunt exist. In that order a failed start never
leaves a hunt without a job: a probe that finds no header waits a little, then gives up
(``shared.hunting.runner``). Nothing here calls Graph; the jobs do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shared.domain.errors import HuntFailedError, HuntingDisabledError, HuntNotFoundError, ValidationError
from shared.hunting.cron import latest_slot, parse_schedule
from shared.hunting.fanout import TenantFilter, plan_runs
from shared.hunting.job import HuntJob
from shared.hunting.model import Hunt, HuntSpec, TenantRun, new_hunt_id, parse_query, parse_timespan
from shared.hunting.ports import HuntJobSender, HuntStore, ResultStore, TenantDirectory
from shared.hunting.reader import Format, ResultPage, read_page, stream
from shared.hunting.schedules import SavedHunt, new_schedule_id, parse_name, slot_hunt_id

logger = logging.getLogger("defender_relay.hunting")
ENABLE_HINT = "hunting is switched off: set RELAY_HUNTING_ENABLED=1 once the customers consented ThreatHunting.Read.All"


class ScheduleStore(Protocol):
    def add(self, saved: SavedHunt) -> SavedHunt: ...
    def get(self, schedule_id: str) -> SavedHunt: ...
    def list(self) -> list[SavedHunt]: ...
    def remove(self, schedule_id: str) -> SavedHunt: ...
    def mark_started(self, saved: SavedHunt, slot: datetime, hunt_id: str) -> bool: ...


@dataclass(frozen=True)
class ScheduleRequest:
    name: str
    query: str
    schedule: str
    timespan: str | None = None
    tenant_ids: tuple[str, ...] | None = None
    created_by: str = "anonymous"


class HuntService:
    def __init__(
        self,
        *,
        hunts: HuntStore,
        results: ResultStore,
        tenants: TenantDirectory,
        jobs: HuntJobSender,
        schedules: ScheduleStore,
        enabled: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hunts, self._results, self._tenants, self._jobs = hunts, results, tenants, jobs
        self._schedules = schedules
        self.enabled = enabled
        self._clock = clock

    def require_enabled(self) -> None:
        if not self.enabled:
            raise HuntingDisabledError(ENABLE_HINT)

    def start(
        self, spec: HuntSpec, *, hunt_id: str | None = None, allow: TenantFilter | None = None, strict: bool = True
    ) -> Hunt:
        """Queue a hunt; ``allow`` narrows the tenants further (a caller's scope), ``strict=False`` drops named
        tenants that left the registry instead of refusing."""
        self.require_enabled()
        query, timespan = parse_query(spec.query), parse_timespan(spec.timespan)
        hunt_id = hunt_id or new_hunt_id()
        if spec.schedule_id is not None:
            try:
                return self._hunts.get(hunt_id)  # this slot was started already
            except HuntNotFoundError:
                pass
        runs = plan_runs(hunt_id, self._tenants.list_with_health(), spec.tenant_ids, allow=allow, strict=strict)
        self._hunts.put_runs(hunt_id, runs)
        now = self._clock()
        self._jobs.send(HuntJob(hunt_id, runs[0].tenant_id, probe=True, enqueued_at=now))
        hunt = Hunt(
            hunt_id=hunt_id, query=query, timespan=timespan, requested_by=spec.requested_by, created_at=now,
            tenant_count=len(runs), schedule_id=spec.schedule_id, name=spec.name,
        )  # fmt: skip
        self._hunts.create_header(hunt)
        logger.info("hunt %s started by %s in %d tenant(s)", hunt_id, spec.requested_by, len(runs))
        return hunt

    def status(self, hunt_id: str) -> tuple[Hunt, list[TenantRun]]:
        return self._hunts.get(hunt_id), self._hunts.list_runs(hunt_id)

    def _readable(self, hunt_id: str) -> tuple[Hunt, list[TenantRun]]:
        hunt, runs = self.status(hunt_id)
        if hunt.query_error:
            raise HuntFailedError(f"hunt {hunt_id} has no results: {hunt.query_error}")
        return hunt, runs

    def page(
        self, hunt_id: str, *, fmt: Format, cursor: str | None, limit: int
    ) -> tuple[Hunt, list[TenantRun], ResultPage]:
        hunt, runs = self._readable(hunt_id)
        return hunt, runs, read_page(self._results, hunt_id, runs, fmt=fmt, cursor=cursor, limit=limit)

    def stream(self, hunt_id: str, *, fmt: Format) -> Iterator[bytes]:
        _hunt, runs = self._readable(hunt_id)
        return stream(self._results, hunt_id, runs, fmt=fmt)

    # -- saved hunts ------------------------------------------------------------------------------
    def add_schedule(self, request: ScheduleRequest) -> SavedHunt:
        self.require_enabled()
        tenant_ids = request.tenant_ids
        if tenant_ids is not None:  # refuse unknown tenants now, while someone reads the answer
            plan_runs("check", self._tenants.list_with_health(), tenant_ids)
        saved = SavedHunt(
            schedule_id=new_schedule_id(), name=parse_name(request.name), query=parse_query(request.query),
            schedule=parse_schedule(request.schedule).text, timespan=parse_timespan(request.timespan),
            tenant_ids=tenant_ids, created_by=request.created_by, created_at=self._clock(),
        )  # fmt: skip
        return self._schedules.add(saved)

    def list_schedules(self) -> list[SavedHunt]:
        return self._schedules.list()

    def remove_schedule(self, schedule_id: str) -> SavedHunt:
        return self._schedules.remove(schedule_id)

    def run_due(self) -> list[str]:
        """Start every saved hunt whose schedule has a slot since its last run; returns the hunts started."""
        if not self.enabled:
            return []
        now = self._clock()
        started: list[str] = []
        for saved in self._schedules.list():
            slot = latest_slot(parse_schedule(saved.schedule), saved.last_slot or saved.created_at, now)
            if not saved.enabled or slot is None:
                continue
            hunt_id = slot_hunt_id(saved.schedule_id, slot)
            try:
                self.start(_spec(saved), hunt_id=hunt_id, strict=False)
            except (ValidationError, HuntingDisabledError) as exc:  # nothing to hunt in: do not retry every tick
                logger.warning("saved hunt %s (%s): slot %s not run: %s", saved.schedule_id, saved.name, slot, exc)
            except Exception:  # storage or a bug: this saved hunt only; the next tick tries the slot again
                logger.exception("saved hunt %s: slot %s could not start; the next tick tries again", saved.name, slot)
                continue
            if self._schedules.mark_started(saved, slot, hunt_id):
                started.append(hunt_id)
        return started


def _spec(saved: SavedHunt) -> HuntSpec:
    return HuntSpec(
        query=saved.query, timespan=saved.timespan, tenant_ids=saved.tenant_ids,
        requested_by=f"saved hunt {saved.name} ({saved.created_by})", schedule_id=saved.schedule_id, name=saved.name,
    )  # fmt: skip


def tenants_of(value: object) -> tuple[str, ...] | None:
    """A selection as callers write it: ``"all"`` / absent (every enabled tenant) or a list of tenant ids."""
    if value is None or value == "all":
        return None
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, Sequence) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError('tenants must be "all" or a non-empty list of tenant ids', field="tenants")
    return tuple(v.strip().lower() for v in value)
