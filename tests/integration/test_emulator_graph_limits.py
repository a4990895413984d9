"""Graph throttling and injected faults over real HTTPS.

Limits: "The following limits apply to any request on /security": 150 requests per minute per app per tenant
(https://learn.microsoft.com/graph/throttling-limits#security-detections-and-incidents-service-limits); the 429
carries Retry-After and the body of https://learn.microsoft.com/graph/throttling. Faults are the Defender
injector's (docs/contracts.md §1.5), on the routes ``graph-alerts`` and ``graph-incidents``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from localdev.emulator_process import EmulatorInfo
from tests.integration.graph_support import graph_error, graph_get, graph_tenant, graph_token

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("emulator_env")]


@pytest.fixture(scope="module")
def emulator(private_emulator: EmulatorInfo) -> EmulatorInfo:
    """Limits and faults are emulator-wide: this module changes them on an emulator of its own."""
    return private_emulator


@pytest.fixture
def faults(emulator: EmulatorInfo) -> Iterator[None]:
    yield
    emulator.control("DELETE", "/faults")


def test_150_calls_a_minute_per_tenant_and_app_then_429_with_retry_after(emulator: EmulatorInfo) -> None:
    # GIVEN a tenant whose client made the 150 calls a minute allows, alerts and incidents together
    tenant = graph_tenant(emulator, alerts=1)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {graph_token(emulator, tenant)}"
    base = emulator.hosts["graph.microsoft.com"] + "/v1.0/security/"
    codes = [session.get(base + ("alerts_v2" if i % 2 else "incidents"), timeout=10).status_code for i in range(150)]
    assert codes == [200] * 150
    # WHEN it makes one more
    refused = session.get(base + "alerts_v2", timeout=10)
    # THEN Graph refuses it with the documented 429
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    error = graph_error(refused)
    assert (error["code"], error["message"]) == ("TooManyRequests", "Please retry again later.")
    assert error["innerError"]["status"] == "429"
    assert emulator.control("GET", "/counters").json()["throttled"][tenant] == 1
    # AND another tenant of the same app is not affected
    other = graph_tenant(emulator, alerts=1)
    assert graph_get(emulator, "/v1.0/security/alerts_v2", graph_token(emulator, other)).status_code == 200


def test_limits_are_set_through_the_control_api(emulator: EmulatorInfo) -> None:
    # GIVEN a limit of 3 a minute
    assert emulator.control("PUT", "/graph/limits", json={"per_minute": 3}).json()["per_minute"] == 3
    try:
        tenant = graph_tenant(emulator, alerts=1)
        bearer = graph_token(emulator, tenant)
        codes = [graph_get(emulator, "/v1.0/security/alerts_v2", bearer).status_code for _ in range(4)]
        # THEN the fourth call is refused, and advancing the emulated clock a minute frees the window
        assert codes == [200, 200, 200, 429]
        assert emulator.control("POST", "/time/advance", json={"seconds": 61}).status_code == 200
        assert graph_get(emulator, "/v1.0/security/alerts_v2", bearer).status_code == 200
        # AND bad limits are refused naming the field
        bad = emulator.control("PUT", "/graph/limits", json={"per_minute": "many"})
        assert bad.status_code == 400
        assert "per_minute" in bad.json()["error"]
    finally:
        emulator.control("PUT", "/graph/limits", json={"per_minute": 150})
    assert emulator.control("GET", "/graph/limits").json() == {
        "per_minute": 150, "enabled": True, "alerts_page_size": 2000, "incidents_page_size": 50,
        "alerts_max_top": 2000, "incidents_max_top": 50,
    }  # fmt: skip


@pytest.mark.usefixtures("faults")
def test_injected_faults_answer_in_the_graph_shape(emulator: EmulatorInfo) -> None:
    tenant = graph_tenant(emulator, alerts=2)
    bearer = graph_token(emulator, tenant)
    rules = [
        {"route": "graph-alerts", "tenant_id": tenant, "p429": 1.0, "retry_after": 0, "count": 1},
        {"route": "graph-alerts", "tenant_id": tenant, "p503": 1.0, "retry_after": 2, "count": 1},
        {"route": "graph-alerts", "tenant_id": tenant, "p500": 1.0, "count": 1},
        {"route": "graph-incidents", "tenant_id": tenant, "preset": 1.0, "count": 1},
    ]
    assert emulator.control("PUT", "/faults", json={"rules": rules}).status_code == 200
    # A 429 without Retry-After (the client must back off on its own), then a 503 with one, then a 500
    first = graph_get(emulator, "/v1.0/security/alerts_v2", bearer)
    assert first.status_code == 429
    assert "Retry-After" not in first.headers
    assert graph_error(first)["code"] == "TooManyRequests"
    second = graph_get(emulator, "/v1.0/security/alerts_v2", bearer)
    assert (second.status_code, second.headers["Retry-After"]) == (503, "2")
    assert graph_error(second)["code"] == "serviceNotAvailable"
    third = graph_get(emulator, "/v1.0/security/alerts_v2", bearer)
    assert third.status_code == 500
    assert graph_error(third)["code"] == "generalException"
    assert graph_get(emulator, "/v1.0/security/alerts_v2", bearer).status_code == 200
    # A connection reset on the incidents route, then normal answers
    with pytest.raises(requests.ConnectionError):
        graph_get(emulator, "/v1.0/security/incidents", bearer)
    assert graph_get(emulator, "/v1.0/security/incidents", bearer).status_code == 200
    counted = emulator.control("GET", "/counters").json()["faults"]
    assert counted["429|graph-alerts"] >= 1
    assert counted["reset|graph-incidents"] >= 1
    log = emulator.control("GET", "/requests?limit=20").json()["requests"]
    assert {"host": "graph.microsoft.com", "path": "/v1.0/security/incidents", "status": 0} in [
        {k: r[k] for k in ("host", "path", "status")} for r in log
    ]
