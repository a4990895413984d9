"""In-memory fakes for the triage ports: Graph alerts and incidents, machine reads and tags.

They keep what the use case relies on (404 for an id the tenant does not have, ``lastUpdateDateTime`` moving on
every write, comments kept in order, tags added once) and count every call into the counter they are given,
so the HTTP harness's "no upstream call" assertion covers them too.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.errors import DefenderNotFoundError
from shared.domain.tenant import Tenant

_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def graph_alert(alert_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": alert_id, "providerAlertId": alert_id, "incidentId": "42", "title": f"alert {alert_id}",
            "severity": "medium", "status": "new", "classification": "unknown", "determination": "unknown",
            "assignedTo": None, "serviceSource": "microsoftDefenderForEndpoint",
            "createdDateTime": "2026-11-20T08:00:00Z", "lastUpdateDateTime": "2026-11-20T08:00:00Z",
            "comments": [], "evidence": [], **extra}  # fmt: skip


def graph_incident(incident_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": incident_id, "displayName": f"incident {incident_id}", "severity": "high", "status": "active",
            "classification": "unknown", "determination": "unknown", "assignedTo": None, "customTags": [],
            "createdDateTime": "2026-11-20T08:00:00Z", "lastUpdateDateTime": "2026-11-20T08:00:00Z",
            "comments": []}  # fmt: skip


@dataclass
class FakeTriageWrites:
    """Graph items per (tenant, kind); machines are the ``FakeDefender``'s (``machines`` is the same dict)."""

    calls: Counter[str] = field(default_factory=Counter)
    items: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    machines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    finder: Any = None  # FakeDefender: machines are found by name / IP the way the actions find them
    fail_at: dict[int, Exception] = field(default_factory=dict)  # call number (1-based, this fake's) -> error
    writes: int = 0
    own_calls: int = 0

    def add(self, tenant_id: str, kind: str, *records: dict[str, Any]) -> None:
        self.items.setdefault((tenant_id, kind), {}).update({r["id"]: r for r in records})

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        self.own_calls += 1
        error = self.fail_at.pop(self.own_calls, None)
        if error is not None:
            raise error

    def _item(self, tenant: Tenant, kind: str, item_id: str) -> dict[str, Any]:
        item = self.items.get((tenant.tenant_id, kind), {}).get(item_id)
        if item is None:
            raise DefenderNotFoundError(f"{kind} {item_id} was not found", status=404, code="NotFound")
        return item

    def _stamp(self, item: dict[str, Any]) -> None:
        self.writes += 1
        item["lastUpdateDateTime"] = (_START + timedelta(seconds=self.writes)).isoformat().replace("+00:00", "Z")

    def get_item(self, tenant: Tenant, kind: str, item_id: str) -> dict[str, Any]:
        self._enter("get_item")
        return copy.deepcopy(self._item(tenant, kind, item_id))

    def update_item(self, tenant: Tenant, kind: str, item_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._enter("update_item")
        item = self._item(tenant, kind, item_id)
        item.update(copy.deepcopy(dict(body)))
        self._stamp(item)
        return copy.deepcopy(item)

    def comment_item(self, tenant: Tenant, kind: str, item_id: str, comment: str) -> list[dict[str, Any]]:
        self._enter("comment_item")
        item = self._item(tenant, kind, item_id)
        item["comments"].append({"comment": comment, "createdByDisplayName": "MSSP relay",
                                 "createdDateTime": item["lastUpdateDateTime"]})  # fmt: skip
        self._stamp(item)
        return copy.deepcopy(item["comments"])

    def _machine(self, tenant: Tenant, machine_id: str) -> dict[str, Any]:
        for machine in self.machines.get(tenant.tenant_id, []):
            if machine["id"] == machine_id:
                return machine
        raise DefenderNotFoundError(f"Machine {machine_id} was not found", status=404, code="ResourceNotFound")

    def find_machines(self, tenant: Tenant, *, name: str | None = None, ip: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.finder.find_machines(tenant, name=name, ip=ip)
        return found

    def get_machine(self, tenant: Tenant, machine_id: str) -> dict[str, Any]:
        self._enter("get_machine")
        return copy.deepcopy(self._machine(tenant, machine_id))

    def tag_machine(self, tenant: Tenant, machine_id: str, value: str, action: str) -> dict[str, Any]:
        self._enter("tag_machine")
        machine = self._machine(tenant, machine_id)
        tags = machine.setdefault("machineTags", [])
        if action == "Add" and value not in tags:
            tags.append(value)
        elif action == "Remove" and value in tags:
            tags.remove(value)
        return copy.deepcopy(machine)
