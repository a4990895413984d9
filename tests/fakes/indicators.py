"""In-memory fakes for the indicator use case's ports: a tenant's indicators API and the audit trail.

``FakeIndicatorApi`` keeps Defender's rules the use case relies on (one indicator per type and value,
submit-or-update, ``createdBy`` = the caller, BatchDelete all or nothing with 404, the per-call limits)
and counts every call, so a test asserts "no import call" instead of trusting it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.domain.catalogue import INDICATOR_DELETE_MAX, INDICATOR_IMPORT_MAX
from shared.domain.errors import DefenderNotFoundError
from shared.domain.indicator import Indicator
from shared.domain.indicator_remote import ExistingIndicator, ImportOutcome, existing_from_api
from shared.domain.tenant import Tenant

OWNER = "0d6b1a3e-5c4f-4e21-9b7a-2f8c9d0e1a2b"  # the relay's app id in these tests
OTHER = "analyst@customer.example"


@dataclass
class FakeIndicatorApi:
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # tenant -> id -> record
    calls: Counter[str] = field(default_factory=Counter)
    refuse: dict[str, str] = field(default_factory=dict)  # value -> failure reason of an import
    next_id: int = 1

    def owner(self, tenant: Tenant) -> str:
        return OWNER

    def add(self, tenant_id: str, indicator: Indicator, *, created_by: str = OTHER) -> str:
        ident = str(self.next_id)
        self.next_id += 1
        record = {**indicator.to_api(), "id": ident, "createdBy": created_by, "createdBySource": created_by}
        self.records.setdefault(tenant_id, {})[ident] = record
        return ident

    def list_indicators(self, tenant: Tenant) -> list[ExistingIndicator]:
        self.calls["list"] += 1
        found = (existing_from_api(r) for r in self.records.get(tenant.tenant_id, {}).values())
        return [e for e in found if e is not None]

    def import_indicators(self, tenant: Tenant, batch: Sequence[Indicator]) -> list[ImportOutcome]:
        assert 1 <= len(batch) <= INDICATOR_IMPORT_MAX
        self.calls["import"] += 1
        outcomes = []
        book = self.records.setdefault(tenant.tenant_id, {})
        for indicator in batch:
            if indicator.value in self.refuse:
                outcomes.append(ImportOutcome(indicator.value, None, True, self.refuse[indicator.value]))
                continue
            same = [i for i, r in book.items() if (r["indicatorType"], r["indicatorValue"]) == indicator.key]
            ident = same[0] if same else self.add(tenant.tenant_id, indicator, created_by=OWNER)
            book[ident].update(indicator.to_api())
            outcomes.append(ImportOutcome(indicator.value, ident, False))
        return outcomes

    def delete_indicators(self, tenant: Tenant, ids: Sequence[str]) -> None:
        assert 1 <= len(ids) <= INDICATOR_DELETE_MAX
        self.calls["delete"] += 1
        book = self.records.get(tenant.tenant_id, {})
        if any(i not in book for i in ids):
            raise DefenderNotFoundError("not found", status=404, tenant_id=tenant.tenant_id)
        for ident in ids:
            del book[ident]

    def values(self, tenant_id: str) -> set[str]:
        return {r["indicatorValue"] for r in self.records.get(tenant_id, {}).values()}


@dataclass
class FakeIndicatorAudit:
    records: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self, tenant_id: str, *, job_id: str, caller: str, kind: str, outcome: str, detail: str, changes: Sequence[str]
    ) -> None:
        self.records.append({"tenant_id": tenant_id, "job_id": job_id, "kind": kind, "outcome": outcome,
                             "detail": detail, "changes": list(changes)})  # fmt: skip
