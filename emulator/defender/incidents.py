"""Incident merges: two open incidents of one machine grouped into one, as Defender XDR does.

The older one becomes ``Redirected`` with ``redirectIncidentId`` naming the one it went into
(https://learn.microsoft.com/defender-xdr/api-list-incidents, "Only populated in case an incident is being
grouped together with another incident"); its alerts move over, each as a new alert version whose
``incidentId`` is the surviving incident. How often Defender merges is not documented: here one chance in five
whenever an incident of a machine with another open incident changes.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING

from emulator.defender.store import after

if TYPE_CHECKING:
    from emulator.defender.store import DefenderStore, Incident, TenantData

MERGE_CHANCE = 0.2


def maybe_merge(store: DefenderStore, data: TenantData, incident: Incident, now: datetime) -> Incident | None:
    """Merge another open incident of ``incident``'s machine into it, sometimes; return the redirected one."""
    if incident.record["status"] != "Active":
        return None
    others = [
        other
        for other in data.incidents.values()
        if other is not incident and other.machine_id == incident.machine_id and other.record["status"] == "Active"
    ]
    if not others or data.rng.random() >= MERGE_CHANCE:
        return None
    older = min(others, key=lambda other: other.incident_id)
    for alert_id in older.alert_ids:
        moved = copy.deepcopy(data.alerts[alert_id])
        moved["incidentId"] = incident.incident_id
        moved["lastUpdateTime"] = after(moved["lastUpdateTime"], now)
        store.record_alert(data, moved)
        incident.alert_ids.append(alert_id)
    older.alert_ids = []
    older.record = {**older.record, "status": "Redirected", "redirectIncidentId": incident.incident_id}
    older.record["lastUpdateTime"] = after(older.record["lastUpdateTime"], now)
    return older
