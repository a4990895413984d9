"""TypedDicts naming the fields of Defender machines and machine actions the relay reads.

Alerts and incidents stay raw JSON: the feeds hand them on whole (shared/ingest/sinks/payloads.py).

Responses carry more keys (docs/microsoft-apis.md §Machines, §MachineAction and its states);
``total=False`` because the client keeps raw JSON dicts and reads only these.
"""

from __future__ import annotations

from typing import TypedDict


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
