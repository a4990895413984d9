"""The use case: bring one tenant's indicators to what a push, a sync or a removal asks for.

Per tenant: one list call (what this relay already created, and what it can see), the plan
(``shared.indicators.plan``), then only the writes the plan needs: removals by BatchDelete (up to 500 ids a
call), creates and updates by import (up to 500 a call). Pushing the same set twice writes nothing the
second time. A dry run stops after the plan. Before anything is written the cap is checked: the relay's
view of the tenant's active indicators, minus removals, plus creates, must stay within 15,000
(docs/microsoft-apis.md §Indicators) or ``IndicatorCapError`` says so with the count and nothing is sent.

Defender's import answers per indicator; refused ones are reported with Defender's reason (the cap counted
by Defender itself, when the relay cannot see other creators' indicators with ``Ti.ReadWrite``, shows
up that way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.domain.catalogue import INDICATOR_DELETE_MAX, INDICATOR_IMPORT_MAX, MAX_ACTIVE_INDICATORS
from shared.domain.errors import DefenderNotFoundError, IndicatorCapError
from shared.domain.indicator import Indicator
from shared.domain.indicator_remote import ExistingIndicator
from shared.domain.indicator_values import Key, key_text
from shared.domain.tenant import Tenant
from shared.indicators.plan import TenantPlan, is_mine, plan_removal, plan_upsert
from shared.indicators.ports import IndicatorApi, IndicatorAudit

JobKind = Literal["push", "sync", "remove"]
JOB_KINDS: tuple[JobKind, ...] = ("push", "sync", "remove")
DETAIL_LIMIT = 200  # entries of each kind kept per tenant result (the counts are always exact)
Status = Literal["done", "planned", "failed", "skipped", "retrying"]
FINAL_STATUSES: frozenset[str] = frozenset({"done", "planned", "failed", "skipped"})  # "retrying" is not final


@dataclass
class TenantResult:
    tenant_id: str
    status: Status
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    conflicts: int = 0
    absent: int = 0
    failed: int = 0
    details: dict[str, list[str]] = field(default_factory=dict)
    error_kind: str = ""
    message: str = ""
    remedy: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id, "status": self.status, "created": self.created, "updated": self.updated,
            "removed": self.removed, "unchanged": self.unchanged, "conflicts": self.conflicts, "absent": self.absent,
            "failed": self.failed, "details": self.details, "errorKind": self.error_kind, "message": self.message,
            "remedy": self.remedy,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TenantResult:
        counts = {n: int(data.get(n) or 0) for n in COUNTS}
        return cls(
            tenant_id=str(data["tenantId"]), status=data["status"], details=dict(data.get("details") or {}),
            error_kind=str(data.get("errorKind") or ""), message=str(data.get("message") or ""),
            remedy=str(data.get("remedy") or ""), **counts,
        )  # fmt: skip


COUNTS = ("created", "updated", "removed", "unchanged", "conflicts", "absent", "failed")


@dataclass(frozen=True)
class Work:
    """What one job asks of every tenant: the wanted set (push, sync) or the values to remove."""

    job_id: str
    kind: JobKind
    dry_run: bool = False
    indicators: Sequence[Indicator] = ()
    targets: Sequence[Sequence[Key]] = ()  # remove: per value, the keys it can be
    requested_by: str = ""  # the caller of the request that made the job (for the audit record)


class IndicatorService:
    def __init__(self, *, api: IndicatorApi, audit: IndicatorAudit, max_active: int = MAX_ACTIVE_INDICATORS) -> None:
        self._api = api
        self._audit = audit
        self._max_active = max_active

    def inventory(self, tenant: Tenant) -> tuple[list[ExistingIndicator], int]:
        """The relay's own indicators in the tenant, and how many others it can see."""
        existing = self._api.list_indicators(tenant)
        owner = self._api.owner(tenant)
        mine = [e for e in existing if is_mine(e, owner)]
        return mine, len(existing) - len(mine)

    def plan(self, tenant: Tenant, work: Work) -> TenantPlan:
        existing = self._api.list_indicators(tenant)
        owner = self._api.owner(tenant)
        if work.kind == "remove":
            return plan_removal(work.targets, existing, owner)
        return plan_upsert(work.indicators, existing, owner, remove_others=work.kind == "sync")

    def run(self, tenant: Tenant, work: Work) -> TenantResult:
        """Plan, and unless it is a dry run, apply; one removal retry if an indicator went meanwhile."""
        plan = self.plan(tenant, work)
        if work.dry_run or plan.writes == 0:
            return _result(tenant, plan, "planned" if work.dry_run else "done", applied=False)
        if plan.creates and plan.active_after > self._max_active:
            raise IndicatorCapError(
                tenant.tenant_id,
                active=plan.active - len(plan.removes),
                adding=len(plan.creates),
                limit=self._max_active,
            )
        # Audited before the first write: a change never happens without its record (a failed audit write
        # fails the run before Defender is touched, and the retry plans again).
        self._record_plan(tenant, work, plan)
        try:
            self._remove(tenant, plan)
        except DefenderNotFoundError:  # BatchDelete is all or nothing: someone removed one meanwhile; look again
            plan = self.plan(tenant, work)
            self._remove(tenant, plan)
        failures = self._import(tenant, [*plan.creates, *(u.wanted for u in plan.updates)])
        result = _result(tenant, plan, "done", applied=True, failures=failures)
        if failures:
            lines = [f"failed {key_text(k)}: {reason}" for k, reason in failures.items()]
            self._audit.record(tenant.tenant_id, job_id=work.job_id, caller=work.requested_by, kind=work.kind,
                               outcome="failed", detail=summary(result), changes=lines)  # fmt: skip
        return result

    def _remove(self, tenant: Tenant, plan: TenantPlan) -> None:
        ids = [e.id for e in plan.removes]
        for start in range(0, len(ids), INDICATOR_DELETE_MAX):
            self._api.delete_indicators(tenant, ids[start : start + INDICATOR_DELETE_MAX])

    def _import(self, tenant: Tenant, indicators: list[Indicator]) -> dict[Key, str]:
        """Import in calls of up to 500; returns the refused indicators with Defender's reason."""
        failures: dict[Key, str] = {}
        for start in range(0, len(indicators), INDICATOR_IMPORT_MAX):
            batch = indicators[start : start + INDICATOR_IMPORT_MAX]
            for indicator, outcome in zip(batch, self._api.import_indicators(tenant, batch), strict=True):
                if outcome.failed:
                    failures[indicator.key] = outcome.reason or "refused without a reason"
        return failures

    def _record_plan(self, tenant: Tenant, work: Work, plan: TenantPlan) -> None:
        changes = [f"create {key_text(i.key)}" for i in plan.creates]
        changes += [f"update {key_text(u.wanted.key)} ({', '.join(u.fields)})" for u in plan.updates]
        changes += [f"remove {key_text(e.key)}" for e in plan.removes]
        detail = f"create {len(plan.creates)}, update {len(plan.updates)}, remove {len(plan.removes)}"
        self._audit.record(tenant.tenant_id, job_id=work.job_id, caller=work.requested_by, kind=work.kind,
                           outcome="accepted", detail=detail, changes=changes)  # fmt: skip


def _result(
    tenant: Tenant, plan: TenantPlan, status: Status, *, applied: bool, failures: dict[Key, str] | None = None
) -> TenantResult:
    failures = failures or {}
    details = plan.details(DETAIL_LIMIT)
    if failures:
        details["failed"] = [f"{key_text(k)}: {r}" for k, r in list(failures.items())[:DETAIL_LIMIT]]
    creates = sum(1 for i in plan.creates if i.key not in failures)
    updates = sum(1 for u in plan.updates if u.wanted.key not in failures)
    return TenantResult(
        tenant_id=tenant.tenant_id, status=status, created=creates if applied else len(plan.creates),
        updated=updates if applied else len(plan.updates), removed=len(plan.removes), unchanged=plan.unchanged,
        conflicts=len(plan.conflicts), absent=len(plan.absent), failed=len(failures), details=details,
    )  # fmt: skip


def summary(result: TenantResult) -> str:
    """``created 3, updated 1, removed 0, unchanged 40, conflicts 0, failed 0`` (the counts that apply)."""
    return ", ".join(f"{name} {getattr(result, name)}" for name in COUNTS if getattr(result, name) or name != "absent")
