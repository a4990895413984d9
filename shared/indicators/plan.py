"""What to do in one tenant: the difference between the wanted indicators and the ones Defender holds.

Pure (no I/O), so a dry run, a drift report and an applied sync show the same plan. Only indicators this
relay created (``createdBy`` = its app id) are ever updated or removed: one with the same type and value
created by someone else (a portal user, another app) is a *conflict*, reported and left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.domain.indicator import Indicator
from shared.domain.indicator_remote import ExistingIndicator
from shared.domain.indicator_values import Key, key_text


@dataclass(frozen=True)
class Update:
    wanted: Indicator
    existing: ExistingIndicator
    fields: tuple[str, ...]  # the API field names that differ


@dataclass
class TenantPlan:
    creates: list[Indicator] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    removes: list[ExistingIndicator] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[ExistingIndicator] = field(default_factory=list)  # same key, someone else's: untouched
    absent: list[Key] = field(default_factory=list)  # removal targets not found in the tenant
    active: int = 0  # active indicators the relay can see (all of them with Ti.ReadWrite.All)

    @property
    def writes(self) -> int:
        return len(self.creates) + len(self.updates) + len(self.removes)

    @property
    def active_after(self) -> int:
        return self.active - len(self.removes) + len(self.creates)

    def details(self, limit: int) -> dict[str, list[str]]:
        """The first ``limit`` entries of each kind, for the status route and the CLI."""
        return {
            "create": [key_text(i.key) for i in self.creates[:limit]],
            "update": [f"{key_text(u.wanted.key)} ({', '.join(u.fields)})" for u in self.updates[:limit]],
            "remove": [key_text(e.key) for e in self.removes[:limit]],
            "conflict": [f"{key_text(e.key)} (created by {e.created_by_source})" for e in self.conflicts[:limit]],
            "absent": [key_text(k) for k in self.absent[:limit]],
        }


def is_mine(existing: ExistingIndicator, owner: str) -> bool:
    """Created by this relay: ``createdBy`` is its app id (ti-indicator)."""
    return bool(owner) and existing.created_by.lower() == owner.lower()


def plan_upsert(
    wanted: Sequence[Indicator], existing: Sequence[ExistingIndicator], owner: str, *, remove_others: bool
) -> TenantPlan:
    """Push (``remove_others`` False) or sync to a baseline (True: the relay's own indicators not wanted go)."""
    by_key = {e.key: e for e in existing}
    plan = TenantPlan(active=len(existing))
    for indicator in wanted:
        found = by_key.get(indicator.key)
        if found is None:
            plan.creates.append(indicator)
        elif not is_mine(found, owner):
            plan.conflicts.append(found)
        else:
            # An indicator of ours changed in the portal (even to a legacy action) is brought back to what is wanted.
            fields = found.differences(indicator)
            if fields:
                plan.updates.append(Update(indicator, found, tuple(fields)))
            else:
                plan.unchanged += 1
    if remove_others:
        keys = {i.key for i in wanted}
        plan.removes.extend(e for e in existing if is_mine(e, owner) and e.key not in keys)
    return plan


def plan_removal(targets: Sequence[Sequence[Key]], existing: Sequence[ExistingIndicator], owner: str) -> TenantPlan:
    """Remove by value: each target is the keys one value can be (a 40-hex value: SHA-1 or thumbprint)."""
    by_key = {e.key: e for e in existing}
    plan = TenantPlan(active=len(existing))
    for keys in targets:
        matches = [by_key[k] for k in keys if k in by_key]
        if not matches:
            plan.absent.append(keys[0])
        plan.removes.extend(m for m in matches if is_mine(m, owner))
        plan.conflicts.extend(m for m in matches if not is_mine(m, owner))
    return plan
