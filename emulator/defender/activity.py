"""A tenant's Defender data from its first use (its machines), and what happens to its alerts over
emulated time: new alerts, updates (including several with one exact ``lastUpdateTime`` and late
writes stamped minutes in the past), analyst changes through ``PATCH``, and the XDR incidents that
group them (https://learn.microsoft.com/defender-xdr/api-incident).
"""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from typing import Any

from emulator.defender import generator, incidents
from emulator.defender.store import Alert, DefenderStore, Incident, TenantData, after

_SEVERITY_RANK = {"UnSpecified": 0, "Informational": 1, "Low": 2, "Medium": 3, "High": 4}
_STEP_MS = (5, 250)  # spacing of consecutive writes in one batch


def tenant_data(store: DefenderStore, tenant_id: str) -> TenantData:
    """The tenant's data, made on first use, with the machines its spec asks for (more if it now asks more)."""
    tenant_id = tenant_id.lower()
    data = store.find(tenant_id)
    spec = store.world.tenant(tenant_id)
    if data is None:
        # Seeded by (world seed, tenant): the same scenario seed gives the same machines and alerts.
        rng = random.Random(f"{store.world.seed}:{tenant_id}")
        name = spec.display_name if spec else tenant_id[:8]
        data = store.add(TenantData(tenant_id=tenant_id, rng=rng, domain=generator.domain_for(name)))
        data.next_incident_id = rng.randint(1000, 90_000)
    wanted = spec.machines if spec else 0
    while len(data.machines) < wanted:
        data.machines.append(generator.make_machine(data, len(data.machines), store.world.clock.now()))
    return data


def _write_times(data: TenantData, now: datetime, slots: list[Alert | None], ties: int) -> list[datetime]:
    """Increasing times ending near ``now``, one per slot; a block of ``ties`` of them share one value.

    The shared value is late enough for every alert updated inside the block: a version only moves forward
    (``_progress``), so a stamp before an updated alert's current one would be bumped out of the tie.
    """
    count = len(slots)
    times: list[datetime] = []
    stamp = now
    for _ in range(count):
        times.append(stamp)
        stamp -= timedelta(milliseconds=data.rng.randint(*_STEP_MS), microseconds=data.rng.randint(0, 999))
    times.reverse()
    ties = min(ties, count)
    if ties > 1:
        start = data.rng.randint(0, count - ties)
        block = slots[start : start + ties]
        floors = [alert["lastUpdateTime"] + timedelta(microseconds=1) for alert in block if alert]
        shared = max(times[start], min(max(floors, default=times[start]), now))
        times[start : start + ties] = [shared] * ties
    return times


def _new_alert(data: TenantData, last_update: datetime) -> Alert:
    machine = data.rng.choice(data.machines)
    created = last_update - timedelta(milliseconds=data.rng.randint(100, 2_000))
    return generator.make_alert(data, machine, created, last_update)


def _progress(data: TenantData, alert: Alert, last_update: datetime) -> Alert:
    """An analyst or the service changed the alert: a new version with a new ``lastUpdateTime``."""
    changed = copy.deepcopy(alert)
    step = {"New": "InProgress", "InProgress": "Resolved"}.get(str(alert["status"]))
    if step:
        changed["status"] = step
    if changed["assignedTo"] is None:
        changed["assignedTo"] = f"soc-analyst{data.rng.randint(1, 5)}@mssp.example"
    if changed["status"] == "Resolved" and changed["resolvedTime"] is None:
        changed["resolvedTime"] = last_update
        changed["classification"] = data.rng.choice(("TruePositive", "FalsePositive"))
        changed["determination"] = "Malware" if changed["classification"] == "TruePositive" else "Clean"
    changed["lastUpdateTime"] = after(alert["lastUpdateTime"], last_update)  # versions only move forward
    return changed


def generate(
    store: DefenderStore,
    data: TenantData,
    *,
    new_alerts: int = 0,
    updates: int = 0,
    ties: int = 0,
    late: int = 0,
    late_seconds: float = 180.0,
    incidents: bool = True,
    merges: bool = False,
) -> dict[str, int]:
    """One batch of activity at the emulated now (docs/contracts.md §1.5 ``POST /_emulator/generate``)."""
    now = store.world.clock.now()
    if not data.machines:
        return {"alerts_created": 0, "alerts_updated": 0, "incidents_changed": 0}
    existing = list(data.alerts.values())
    to_update = data.rng.sample(existing, min(updates, len(existing)))
    slots: list[Alert | None] = [None] * new_alerts + list(to_update)
    data.rng.shuffle(slots)
    written: list[Alert] = []
    for slot, stamp in zip(slots, _write_times(data, now, slots, ties), strict=True):
        written.append(_new_alert(data, stamp) if slot is None else _progress(data, slot, stamp))
    for _ in range(late):  # delivered now, stamped in the past (what an overlap window is for)
        stamp = now - timedelta(seconds=late_seconds, milliseconds=data.rng.randint(0, 999))
        written.append(_new_alert(data, stamp))
    for alert in written:
        store.record_alert(data, alert)
    # Merges re-stamp the alerts they move: opt-in, so a batch of tied writes stays tied.
    changed = group_into_incidents(store, data, written, now, merges=merges) if incidents else 0
    created = new_alerts + late
    return {"alerts_created": created, "alerts_updated": len(to_update), "incidents_changed": changed}


def group_into_incidents(
    store: DefenderStore, data: TenantData, alerts: list[Alert], now: datetime, *, merges: bool = True
) -> int:
    """Attach new alerts to an open incident of their machine (or a new one); refresh the rest.

    A new incident is open to the alerts after it in the same batch, so incidents hold several alerts and
    grow over later batches too; now and then two open incidents of one machine are merged
    (https://learn.microsoft.com/defender-xdr/api-list-incidents: ``redirectIncidentId`` "Only populated in case
    an incident is being grouped together with another incident").
    """
    touched: dict[int, Incident] = {}
    created: set[int] = set()
    for alert in alerts:
        incident = data.incidents.get(alert["incidentId"]) if alert["incidentId"] is not None else None
        if incident is None:
            incident = _open_incident_for(data, alert["machineId"])
            if incident is None:
                incident = _new_incident(data, alert)
                data.incidents[incident.incident_id] = incident  # open to the rest of this batch
                created.add(incident.incident_id)
            alert["incidentId"] = incident.incident_id
            incident.alert_ids.append(alert["id"])
        touched[incident.incident_id] = incident
    for incident in list(touched.values()) if merges else ():
        merged = incidents.maybe_merge(store, data, incident, now)
        if merged is not None:
            touched[merged.incident_id] = merged
    for incident in touched.values():
        if incident.record["status"] != "Redirected":
            _refresh(data, incident, now, new=incident.incident_id in created)
        store.record_incident(data, incident)
    return len(touched)


def _open_incident_for(data: TenantData, machine_id: str) -> Incident | None:
    for incident in reversed(data.incidents.values()):
        if incident.machine_id == machine_id and incident.record["status"] == "Active":
            return incident if data.rng.random() < 0.6 else None
    return None


def _new_incident(data: TenantData, alert: Alert) -> Incident:
    incident_id = data.next_incident_id
    data.next_incident_id += 1
    record: dict[str, Any] = {
        "incidentId": incident_id,
        "incidentUri": f"https://security.microsoft.com/incidents/{incident_id}?tid={data.tenant_id}",
        "redirectIncidentId": None,
        "incidentName": f"{alert['title']} on one endpoint",
        "createdTime": alert["alertCreationTime"],
        "lastUpdateTime": alert["lastUpdateTime"],
        "assignedTo": None,
        "classification": "Unknown",
        "determination": "NotAvailable",
        "status": "Active",
        "severity": alert["severity"],
        "tags": [],
        "comments": [],
    }
    return Incident(record=record, machine_id=alert["machineId"])


def _refresh(data: TenantData, incident: Incident, now: datetime, *, new: bool) -> None:
    """Severity, status and ``lastUpdateTime`` follow the incident's alerts.

    The incident changes a few seconds after its newest alert (so update times spread like the alerts'),
    never after ``now``; a change to an incident already seen (a late alert) is stamped ``now``: its version
    must be newer than the last one a reader saw.
    """
    alerts = [data.alerts[i] for i in incident.alert_ids if i in data.alerts]
    record = incident.record
    record["severity"] = max((a["severity"] for a in alerts), key=_SEVERITY_RANK.__getitem__)
    record["status"] = "Resolved" if all(a["status"] == "Resolved" for a in alerts) else "Active"
    newest: datetime = max(a["lastUpdateTime"] for a in alerts)
    stamp = min(now, newest + timedelta(milliseconds=data.rng.randint(200, 20_000)))
    if not new and stamp <= record["lastUpdateTime"]:
        stamp = after(record["lastUpdateTime"], now)
    record["lastUpdateTime"] = stamp


def update_alert(
    store: DefenderStore, data: TenantData, alert: Alert, changes: dict[str, Any], requestor: str
) -> Alert:
    """Apply a validated ``PATCH /api/alerts/{id}`` body as a new version.

    https://learn.microsoft.com/defender-endpoint/api/update-alert
    """
    now = store.world.clock.now()
    changed = copy.deepcopy(alert)
    for name in ("status", "assignedTo", "classification", "determination"):
        if name in changes:
            changed[name] = changes[name]
    if changes.get("status") == "Resolved" and changed["resolvedTime"] is None:
        changed["resolvedTime"] = now
    if "comment" in changes:
        changed["comments"].append({"comment": changes["comment"], "createdBy": requestor, "createdTime": now})
    changed["lastUpdateTime"] = now
    store.record_alert(data, changed)
    if changed["incidentId"] is not None:
        # no merge here: the answer to the PATCH must stay the alert's current version
        group_into_incidents(store, data, [changed], now, merges=False)
    return changed


def update_incident(
    store: DefenderStore, data: TenantData, incident: Incident, changes: dict[str, Any], requestor: str
) -> Incident:
    """Apply a validated ``PATCH /api/incidents/{id}`` body (XDR names) as a new version: the record is replaced,
    so a list already rendered keeps the old one. https://learn.microsoft.com/defender-xdr/api-update-incidents
    """
    now = store.world.clock.now()
    record = copy.deepcopy(incident.record)
    for name in ("status", "assignedTo", "classification", "determination", "tags"):
        if name in changes:
            record[name] = changes[name]
    if "comment" in changes:
        record["comments"].append({"comment": changes["comment"], "createdBy": requestor, "createdTime": now})
    record["lastUpdateTime"] = now
    incident.record = record
    store.record_incident(data, incident)
    return incident


def backfill(store: DefenderStore, data: TenantData, *, alerts: int, span_seconds: float = 2 * 86_400) -> int:
    """History for a new tenant: ``alerts`` alerts over the past ``span_seconds``, about a third of
    them worked on since, grouped into incidents."""
    now = store.world.clock.now()
    if not data.machines or alerts <= 0:
        return 0
    written: list[Alert] = []
    for index in range(alerts):
        offset = span_seconds * (1 - index / alerts) - data.rng.uniform(0, span_seconds / alerts / 2)
        alert = _new_alert(data, now - timedelta(seconds=max(offset, 1.0)))
        written.append(alert)
        store.record_alert(data, alert)
    group_into_incidents(store, data, written, now)
    worked_on: list[Alert] = []
    for alert in written:
        if data.rng.random() < 0.33:
            current = data.alerts[alert["id"]]  # (grouping may have written a newer version already)
            age = (now - current["lastUpdateTime"]).total_seconds()
            stamp = current["lastUpdateTime"] + timedelta(seconds=data.rng.uniform(0, age), microseconds=1)
            worked_on.append(_progress(data, current, min(stamp, now)))  # (_progress keeps it after current)
            store.record_alert(data, worked_on[-1])
    group_into_incidents(store, data, worked_on, now)
    return alerts
