"""Graph renderings of world records, made once per version: the record the filters read, and its JSON
with and without the evolvable enum members (a client without ``Prefer: include-unknown-enum-members``
sees ``unknownFutureValue``, https://learn.microsoft.com/graph/best-practices-concept).

An MDE alert version is never changed once a request can see it (updates make a new dict, see
``emulator/defender/store.py``), so its Graph rendering is cached by the identity of that dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.defender.jsonfmt import dumps
from emulator.defender.store import Alert, TenantData
from emulator.graph import enums
from emulator.graph.alerts import graph_alert


@dataclass(frozen=True)
class Rendered:
    record: dict[str, Any]  # real enum members, date-times as datetime (what $filter compares)
    full: bytes  # JSON with the real members (Prefer: include-unknown-enum-members)
    hidden: bytes  # JSON with evolvable members as unknownFutureValue

    def json(self, include_unknown: bool) -> bytes:
        return self.full if include_unknown else self.hidden


def render(record: dict[str, Any], evolvable: dict[str, frozenset[str]] | Any) -> Rendered:
    full = dumps(record).encode()
    hidden_record = enums.hide_evolvable(record, evolvable)
    hidden = full if hidden_record is record else dumps(hidden_record).encode()
    return Rendered(record, full, hidden)


class GraphViews:
    def __init__(self) -> None:
        self._alerts: dict[tuple[str, str], tuple[Alert, Rendered]] = {}

    def alert(self, data: TenantData, alert: Alert) -> Rendered:
        key = (data.tenant_id, alert["id"])
        cached = self._alerts.get(key)
        if cached is None or cached[0] is not alert:
            if len(self._alerts) > 500_000:
                self._alerts.clear()
            cached = self._alerts[key] = (alert, render(graph_alert(data, alert), enums.EVOLVABLE_ALERT_FIELDS))
        return cached[1]
