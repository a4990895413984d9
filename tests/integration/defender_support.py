"""Helpers for the Defender API integration tests: tenants with data, tokens, API calls over HTTPS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.emulator_support import MDE_SCOPE, XDR_SCOPE, add_tenant, post_token, secret_form

ALL_MDE = [
    "Alert.Read.All", "Alert.ReadWrite.All", "Machine.Read.All", "Machine.Isolate", "Machine.Scan",
    "Machine.RestrictExecution", "Machine.CollectForensics", "Machine.StopAndQuarantine", "Machine.Offboard",
]  # fmt: skip
ALL_ROLES = {"mde": ALL_MDE, "xdr": ["Incident.Read.All"]}
GLOBAL = "api.security.microsoft.com"
ODATA_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
# Seven fractional digits at most, trailing zeros trimmed, UTC "Z" (docs/microsoft-apis.md §Requests and responses).
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?Z$")


def tenant_with_data(emulator: EmulatorInfo, *, alerts: int = 12, **fields: Any) -> str:
    body: dict[str, Any] = {"roles": ALL_ROLES, "machines": 4, "alerts": alerts, **fields}
    return add_tenant(emulator, **body)


def token(emulator: EmulatorInfo, tenant_id: str, *, scope: str = MDE_SCOPE, cloud: str = "commercial") -> str:
    family = "usgov" if cloud in ("gcc-high", "dod") else "commercial"
    response = post_token(emulator, tenant_id, secret_form(emulator, family=family, scope=scope), cloud=cloud)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def xdr_token(emulator: EmulatorInfo, tenant_id: str) -> str:
    return token(emulator, tenant_id, scope=XDR_SCOPE)


def call(
    emulator: EmulatorInfo, method: str, path: str, bearer: str | None, *, host: str = GLOBAL, **kwargs: Any
) -> requests.Response:
    """``path`` on ``host``, or an absolute URL of a real host (a next link) mapped as a client's host override does."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if path.startswith("https://"):
        parts = urlsplit(path)
        url = emulator.hosts.get(parts.hostname or "", f"https://{parts.netloc}") + parts.path
        url += f"?{parts.query}" if parts.query else ""
    else:
        url = emulator.hosts[host] + path
    return requests.request(method, url, headers=headers, timeout=15, **kwargs)


def error_of(response: requests.Response) -> dict[str, Any]:
    """The MDE error object; asserts the documented shape {"error": {"code", "message", "target"}}."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "target"}
    return dict(body["error"])


def machines(emulator: EmulatorInfo, tenant_id: str, bearer: str) -> list[dict[str, Any]]:
    response = call(emulator, "GET", "/api/machines", bearer)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


@contextmanager
def action_timing(emulator: EmulatorInfo, *, pending_seconds: float, in_progress_seconds: float) -> Iterator[None]:
    """Machine actions with these durations while the block runs, the emulator's defaults (2 s, 3 s) after."""
    timing = {"pending_seconds": pending_seconds, "in_progress_seconds": in_progress_seconds}
    assert emulator.control("PUT", "/actions/timing", json=timing).status_code == 200
    try:
        yield
    finally:
        emulator.control("PUT", "/actions/timing", json={"pending_seconds": 2, "in_progress_seconds": 3})
