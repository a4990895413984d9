"""Helpers for the triage integration tests: tenants with the write roles, Graph writes over HTTPS."""

from __future__ import annotations

from typing import Any

import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import ALL_MDE
from tests.integration.emulator_support import add_tenant
from tests.integration.graph_support import GRAPH, GRAPH_READ

GRAPH_WRITE = ["SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All"]
TAG_ROLE = "Machine.ReadWrite.All"
WRITE_ROLES = {"mde": [*ALL_MDE, TAG_ROLE], "xdr": ["Incident.Read.All"], "graph": [*GRAPH_READ, *GRAPH_WRITE]}


def triage_tenant(emulator: EmulatorInfo, *, alerts: int = 6, roles: dict[str, list[str]] | None = None) -> str:
    return add_tenant(emulator, roles=roles or WRITE_ROLES, machines=4, alerts=alerts)


def graph_send(
    emulator: EmulatorInfo, method: str, path: str, bearer: str, body: Any = None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}", **kwargs.pop("headers", {})}
    return requests.request(method, emulator.hosts[GRAPH] + path, headers=headers, json=body, timeout=15, **kwargs)
