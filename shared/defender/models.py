"""TypedDicts naming the fields of Defender alerts, incidents, machines and machine actions the relay reads.

Responses carry more keys (docs/microsoft-apis.md §Alerts, §Machines, §MachineAction and its states);
``total=False`` because the client keeps raw JSON dicts and reads only these.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Alert(TypedDict, total=False):
    id: str
    incidentId: int | None
    lastUpdateTime: str
    alertCreationTime: str
    severity: str
    status: str
    machineId: str
    title: str


class Incident(TypedDict, total=False):
    incidentId: int
    lastUpdateTime: str
    createdTime: str
    status: str
    severity: str
    alerts: list[dict[str, Any]]


class Machine(TypedDict, total=False):
    id: str
    computerDnsName: str
    lastIpAddress: str
    osPlatform: str
    healthStatus: str


class MachineAction(TypedDict, total=False):
    id: str
    type: str
    status: str
    machineId: str
    creationDateTimeUtc: str
    lastUpdateDateTimeUtc: str
