"""Per-tenant Defender data: alerts (with every version kept as ground truth), machines, machine
actions and incidents.

Alerts and machines are plain dicts in the API's own field order, holding ``datetime`` objects for
date-time fields: OData filters compare them directly and :mod:`jsonfmt` writes them out. Every write
of an alert or incident goes through :meth:`DefenderStore.record_alert` / ``record_incident`` so the
ground truth (docs/contracts.md §1.5) holds each version exactly once. This module holds data only:
:mod:`activity` makes a tenant's data (with machines from :mod:`generator`) and changes it over time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from emulator.defender.indicator_book import IndicatorBook
from emulator.defender.jsonfmt import dumps, format_datetime
from emulator.defender.machine_actions import ActionTiming, MachineAction
from emulator.world import World

Alert = dict[str, Any]
Machine = dict[str, Any]


@dataclass
class Incident:
    record: dict[str, Any]  # the incident's own fields, API order, without ``alerts``
    alert_ids: list[str] = field(default_factory=list)
    machine_id: str | None = None  # the device the incident grew around (for grouping)

    @property
    def incident_id(self) -> int:
        return int(self.record["incidentId"])


@dataclass
class TenantData:
    tenant_id: str
    rng: random.Random
    domain: str
    alerts: dict[str, Alert] = field(default_factory=dict)
    machines: list[Machine] = field(default_factory=list)
    actions: dict[str, MachineAction] = field(default_factory=dict)
    incidents: dict[int, Incident] = field(default_factory=dict)
    next_incident_id: int = 1000
    # Requests served for this tenant per collection ("alert", "incident"): a version replaced before its
    # collection's count moved was never observable by anyone (ground truth marks it unreadable). Counted per
    # collection, not per tenant: a read of the incidents cannot have seen an alert version, so it must not
    # make that version count as one the alert feed should have delivered.
    reads: dict[str, int] = field(default_factory=lambda: {"alert": 0, "incident": 0})
    indicators: IndicatorBook = field(default_factory=IndicatorBook)  # emulator/defender/indicators.py
    # alert id -> (the alert version rendered, its JSON, its JSON without evidence). A version is never
    # changed once a request can see it (updates make a new dict), so its JSON can be reused.
    rendered: dict[str, tuple[Alert, bytes, bytes]] = field(default_factory=dict)

    def alert_json(self, alert: Alert) -> tuple[bytes, bytes]:
        """The alert's JSON with and without evidence, encoded once per version."""
        cached = self.rendered.get(alert["id"])
        if cached is None or cached[0] is not alert:
            full = dumps(alert).encode()
            cached = self.rendered[alert["id"]] = (alert, full, dumps({**alert, "evidence": []}).encode())
        return cached[1], cached[2]

    def machine(self, key: str) -> Machine | None:
        """By machine id, or by computer name: the get-machine API accepts either.

        https://learn.microsoft.com/defender-endpoint/api/get-machine-by-id
        """
        lowered = key.lower()
        for machine in self.machines:
            if machine["id"] == lowered or str(machine["computerDnsName"]).lower() == lowered:
                return machine
        return None

    def active_action(self, machine_id: str, action_type: str, now: datetime) -> MachineAction | None:
        for action in self.actions.values():
            if action.machine_id == machine_id and action.type == action_type and action.is_active(now):
                return action
        return None


def after(previous: datetime, at: datetime) -> datetime:
    """``at``, or just after ``previous``: a new version of an item is always newer than the one before it
    (a stamp at or before the current one would be taken for it, or read as a late write)."""
    return max(at, previous + timedelta(microseconds=1))


# The routes whose answers show versions of a collection (MDE and Graph alerts share one version history).
# Related-entity and write routes count too: any answer about an alert was served after its last write.
_OBSERVES = {"alerts": "alert", "graph-alerts": "alert", "incidents": "incident", "graph-incidents": "incident"}


def count_read(data: TenantData, route_name: str) -> None:
    """A request of ``route_name`` was served: what it may see of its collection was observable."""
    collection = _OBSERVES.get(route_name)
    if collection is not None:
        data.reads[collection] += 1


@dataclass
class Version:
    tenant_id: str
    id: str
    last_update: datetime
    written_at: int = 0  # the tenant's ``reads`` of this version's collection when it was written
    readable: bool = True  # False once replaced with no read of its collection served in between


V = TypeVar("V", bound=Version)


class Readability:
    """Marks a version unreadable when the next version of its item is written before any read of its collection.

    One per version history (the MDE-born versions here, the Graph-only ones in emulator/graph/other_sources.py).
    """

    def __init__(self) -> None:
        self._current: dict[tuple[str, str, str], Version] = {}  # (kind, tenant, id) -> its newest version

    def written(self, data: TenantData, kind: str, version: V) -> V:
        reads = data.reads[kind]
        key = (kind, data.tenant_id, version.id)
        previous = self._current.get(key)
        if previous is not None and previous.written_at == reads:
            previous.readable = False  # replaced in the same instant: no request could have seen it
        version.written_at = reads
        self._current[key] = version
        return version


class DefenderStore:
    def __init__(self, world: World) -> None:
        self.world = world
        self.timing = ActionTiming()
        self._tenants: dict[str, TenantData] = {}
        self.alert_versions: list[Version] = []
        self.incident_versions: list[Version] = []
        self._readability = Readability()

    def find(self, tenant_id: str) -> TenantData | None:
        """The tenant's data, if it was added (:func:`activity.tenant_data` adds it on first use)."""
        return self._tenants.get(tenant_id.lower())

    def add(self, data: TenantData) -> TenantData:
        self._tenants[data.tenant_id] = data
        return data

    def known(self) -> list[str]:
        return list(self._tenants)

    def record_alert(self, data: TenantData, alert: Alert) -> None:
        data.alerts[alert["id"]] = alert
        self.alert_versions.append(self._version(data, "alert", alert["id"], alert["lastUpdateTime"]))

    def record_incident(self, data: TenantData, incident: Incident) -> None:
        data.incidents[incident.incident_id] = incident
        incident_id = str(incident.incident_id)
        self.incident_versions.append(self._version(data, "incident", incident_id, incident.record["lastUpdateTime"]))

    def _version(self, data: TenantData, kind: str, item_id: str, last_update: datetime) -> Version:
        return self._readability.written(data, kind, Version(data.tenant_id, item_id, last_update))

    def ground_truth(self, tenant_id: str | None) -> dict[str, list[dict[str, Any]]]:
        wanted = tenant_id.lower() if tenant_id else None
        alerts = [
            {"tenant_id": v.tenant_id, "id": v.id, "lastUpdateTime": format_datetime(v.last_update),
             "readable": v.readable}
            for v in self.alert_versions
            if wanted is None or v.tenant_id == wanted
        ]  # fmt: skip
        incidents = [
            {"tenant_id": v.tenant_id, "incidentId": int(v.id), "lastUpdateTime": format_datetime(v.last_update),
             "readable": v.readable}
            for v in self.incident_versions
            if wanted is None or v.tenant_id == wanted
        ]  # fmt: skip
        return {"alerts": alerts, "incidents": incidents}
