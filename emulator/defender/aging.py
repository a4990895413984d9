"""Time travel for a relay that runs on real time: advancing the emulated clock ages the existing data.

``POST /_emulator/time/advance {"seconds": S}`` moves every time stamp the Defender data holds S seconds into
the past (alerts and their evidence and comments, machines, incidents, machine actions, the ground truth),
so the emulator's "now" stays the real now: new alerts are stamped with real time and a relay reading up to
its own ``now - settle`` sees them, while machine actions, rate-limit windows and everything else behave as
if S seconds had passed. The price: history is rewritten. A version a relay read before the advance shows
up again with its aged ``lastUpdateTime``, so advance before the relay's first sweep (or only to move machine
actions along) when checking that nothing was lost or repeated (docs/contracts.md §1.5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from emulator.defender.store import DefenderStore


def shifted(value: Any, delta: timedelta) -> Any:
    """``value`` with every datetime in it (in dicts and lists too) moved ``delta`` into the past."""
    if isinstance(value, datetime):
        return value - delta
    if isinstance(value, dict):
        return {key: shifted(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [shifted(item, delta) for item in value]
    return value


def age(store: DefenderStore, seconds: float) -> None:
    """Move every stored time stamp ``seconds`` into the past."""
    delta = timedelta(seconds=seconds)
    for tenant_id in store.known():
        data = store.find(tenant_id)
        if data is None:
            continue
        # New dicts, not edits in place: a version's cached JSON is keyed by the dict it rendered.
        data.alerts = {alert_id: shifted(alert, delta) for alert_id, alert in data.alerts.items()}
        data.rendered.clear()
        data.machines[:] = [shifted(machine, delta) for machine in data.machines]
        for incident in data.incidents.values():
            incident.record = shifted(incident.record, delta)
        for action in data.actions.values():
            action.created -= delta
            if action.cancelled is not None:
                action.cancelled -= delta
    for version in (*store.alert_versions, *store.incident_versions):
        version.last_update -= delta
