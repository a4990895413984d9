"""Helpers for the Graph security API integration tests: tenants with Graph roles, Graph tokens, calls that
follow ``@odata.nextLink`` on the real host name through the emulator's host map (as the relay's
RELAY_HOST_OVERRIDES does)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.defender_support import ALL_ROLES, token
from tests.integration.emulator_support import add_tenant

GRAPH = "graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_READ = ["SecurityAlert.Read.All", "SecurityIncident.Read.All"]
WITH_GRAPH = {**ALL_ROLES, "graph": GRAPH_READ}
GRAPH_SCOPES = {
    "commercial": ("graph.microsoft.com", GRAPH_SCOPE),
    "gcc": ("graph.microsoft.com", GRAPH_SCOPE),
    "gcc-high": ("graph.microsoft.us", "https://graph.microsoft.us/.default"),
    "dod": ("dod-graph.microsoft.us", "https://dod-graph.microsoft.us/.default"),
}


def graph_tenant(emulator: EmulatorInfo, *, alerts: int = 8, **fields: Any) -> str:
    body: dict[str, Any] = {"roles": WITH_GRAPH, "machines": 4, "alerts": alerts, **fields}
    return add_tenant(emulator, **body)


def graph_token(emulator: EmulatorInfo, tenant_id: str, *, cloud: str = "commercial") -> str:
    return token(emulator, tenant_id, scope=GRAPH_SCOPES[cloud][1], cloud=cloud)


def real_to_emulated(emulator: EmulatorInfo, url: str) -> str:
    """``https://graph.microsoft.com/v1.0/...`` -> the emulated host's base URL + the same path and query."""
    parts = urlsplit(url)
    return emulator.hosts[parts.netloc] + parts.path + (f"?{parts.query}" if parts.query else "")


def graph_get(
    emulator: EmulatorInfo, path_or_url: str, bearer: str | None, *, host: str = GRAPH, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    headers.update(kwargs.pop("headers", {}))
    if path_or_url.startswith("https://"):
        url = real_to_emulated(emulator, path_or_url)
    else:
        url = emulator.hosts[host] + path_or_url
    return requests.get(url, headers=headers, timeout=15, **kwargs)


def graph_error(response: requests.Response) -> dict[str, Any]:
    """The Graph error object; asserts the shape {"error": {"code", "message", "innerError": {...}}}."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "innerError"}
    assert {"date", "request-id", "client-request-id"} <= set(body["error"]["innerError"])
    return dict(body["error"])


def read_all(emulator: EmulatorInfo, path: str, bearer: str, *, limit: int = 200, **kwargs: Any) -> list[Any]:
    """Every item of a Graph list, following @odata.nextLink (bounded: at most ``limit`` pages)."""
    items: list[Any] = []
    url: str | None = path
    for _ in range(limit):
        if url is None:
            return items
        response = graph_get(emulator, url, bearer, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["value"]
        url = body.get("@odata.nextLink")
        assert url is None or url.startswith(f"https://{GRAPH}/v1.0/security/"), url
    raise AssertionError(f"more than {limit} pages")
