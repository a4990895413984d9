"""DefenderClient against a tiny local HTTP server (real requests, real sockets; no patching)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.defender.client import DefenderClient
from shared.defender.odata import odata_quote
from shared.defender.rate_limit import RateLimiter, api_family, default_windows
from shared.defender.transport import MAX_RETRIES, DefenderTransport
from shared.domain.clouds import Cloud, Region
from shared.domain.errors import (
    ActionConflictError,
    DefenderError,
    DefenderForbiddenError,
    DefenderNotFoundError,
    DefenderUnavailableError,
    ThrottledError,
)
from shared.domain.tenant import Tenant
from shared.platform.settings import Settings

TENANT = Tenant(tenant_id="00000000-0000-0000-0000-00000000000a", display_name="Contoso", region=Region.US)
Reply = tuple[int, dict[str, str], Any]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    auth: str
    body: Any
    prefer: str = ""


@dataclass
class FakeDefender:
    """Answers every request with ``handler(seen)``; records what it saw."""

    handler: Callable[[Seen], Reply] = lambda seen: (200, {}, {"value": []})
    seen: list[Seen] = field(default_factory=list)


def serve(fake: FakeDefender) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command,
                parts.path,
                {k: v[0] for k, v in parse_qs(parts.query).items()},
                self.headers.get("Authorization", ""),
                json.loads(raw) if raw else None,
                self.headers.get("Prefer", ""),
            )
            fake.seen.append(seen)
            status, headers, body = fake.handler(seen)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


@dataclass
class FakeTokens:
    issued: int = 0
    invalidated: int = 0
    roles_asked: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, tenant: Tenant, resource: str, *, required_roles: Any = ()) -> Any:
        self.issued += 1
        self.roles_asked.append(tuple(required_roles))
        return type("T", (), {"token": f"tok{self.invalidated}"})()

    def invalidate(self, tenant: Tenant, resource: str) -> None:
        self.invalidated += 1


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeDefender]:
    f = FakeDefender()
    server = serve(f)
    f.port = server.server_address[1]  # type: ignore[attr-defined]
    yield f
    server.shutdown()
    server.server_close()


def make_client(
    port: int, clock: FakeClock | None = None, tokens: FakeTokens | None = None, limiter: RateLimiter | None = None
) -> DefenderClient:
    base = f"http://127.0.0.1:{port}"
    overrides = {
        "us.api.security.microsoft.com": base,
        "api-gov.securitycenter.microsoft.us": base,
        "graph.microsoft.com": base,
    }
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net",
            "RELAY_COMMERCIAL_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
            "RELAY_COMMERCIAL_CREDENTIAL": "secret:x",
            "RELAY_HOST_OVERRIDES": json.dumps(overrides),
        }
    )
    clock = clock or FakeClock()
    return DefenderClient(
        transport=DefenderTransport(
            tokens=tokens or FakeTokens(),
            host_overrides=settings.host_overrides,
            sleep=clock.sleep,
            clock=clock,
            jitter=lambda: 1.0,
            limiter=limiter,
        )
    )


def test_request_goes_to_the_tenant_region_host_with_a_bearer_token(fake):
    fake.handler = lambda seen: (200, {}, {"id": "m1"})
    tokens = FakeTokens()
    client = make_client(fake.port, tokens=tokens)
    assert client.request(TENANT, "mde", "GET", "/api/machines/m1", required_roles=["Machine.Read.All"]) == {"id": "m1"}
    assert fake.seen[0].auth == "Bearer tok0"
    assert tokens.roles_asked == [("Machine.Read.All",)]
    # a tenant of another region/cloud goes to another host: not the overridden one, so nothing arrives here
    assert client.transport.base_url(Tenant(tenant_id=TENANT.tenant_id, display_name="x", cloud=Cloud.GCC), "xdr") == (
        "https://api-gcc.security.microsoft.us"
    )


def test_paging_with_top_and_skip_when_the_service_sends_no_next_link(fake):
    items = [{"id": str(i)} for i in range(25)]

    def page(seen: Seen) -> Reply:
        top, skip = int(seen.query["$top"]), int(seen.query["$skip"])
        return 200, {}, {"value": items[skip : skip + top]}

    fake.handler = page
    client = make_client(fake.port)
    pages = list(client.iter_pages(TENANT, "mde", "/api/alerts", params={"$filter": "x"}, page_size=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [s.query["$skip"] for s in fake.seen] == ["0", "10", "20"]
    assert all(s.query["$filter"] == "x" for s in fake.seen)
    assert client.stats.snapshot()["pages"] == 3


def test_paging_follows_next_link_when_present(fake):
    def page(seen: Seen) -> Reply:
        if "$skip" in seen.query and seen.query["$skip"] == "3":
            return 200, {}, {"value": [{"id": "4"}]}
        link = f"http://127.0.0.1:{fake.port}/api/alerts?$skip=3"
        return 200, {}, {"value": [{"id": "1"}, {"id": "2"}, {"id": "3"}], "@odata.nextLink": link}

    fake.handler = page
    pages = list(make_client(fake.port).iter_pages(TENANT, "mde", "/api/alerts", page_size=3))
    assert [[i["id"] for i in p] for p in pages] == [["1", "2", "3"], ["4"]]


def test_next_link_to_another_host_is_not_followed(fake):
    fake.handler = lambda seen: (200, {}, {"value": [{"id": 1}], "@odata.nextLink": "https://evil.example/api/alerts"})
    with pytest.raises(DefenderError, match="another host"):
        list(make_client(fake.port).iter_pages(TENANT, "mde", "/api/alerts", page_size=1))


def test_server_errors_are_retried_with_growing_backoff_then_succeed(fake):
    replies = iter([(503, {}, None), (500, {}, None), (200, {}, {"ok": True})])
    fake.handler = lambda seen: next(replies)
    clock = FakeClock()
    client = make_client(fake.port, clock)
    assert client.request(TENANT, "mde", "GET", "/api/alerts") == {"ok": True}
    assert clock.slept == [0.5, 1.0]
    assert client.stats.retries == 2


def test_server_errors_give_up_after_the_bound(fake):
    fake.handler = lambda seen: (502, {}, None)
    with pytest.raises(DefenderUnavailableError, match=f"after {MAX_RETRIES + 1} attempts"):
        make_client(fake.port).request(TENANT, "mde", "GET", "/api/alerts")
    assert len(fake.seen) == MAX_RETRIES + 1


def test_a_post_is_not_repeated_after_a_server_error(fake):
    # GIVEN a machine action POST that fails with 500 THEN it is not sent twice (it might have started)
    fake.handler = lambda seen: (500, {}, None)
    with pytest.raises(DefenderUnavailableError):
        make_client(fake.port).post_machine_action(TENANT, "abc", "isolate", {"Comment": "c"})
    assert len(fake.seen) == 1


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeClock()
    with pytest.raises(DefenderUnavailableError, match="ConnectionError"):
        make_client(port, clock).request(TENANT, "mde", "GET", "/api/alerts")
    assert len(clock.slept) == MAX_RETRIES


def test_401_gets_one_fresh_token_then_fails(fake):
    fake.handler = lambda seen: (401, {}, None) if seen.auth == "Bearer tok0" else (200, {}, {"ok": 1})
    tokens = FakeTokens()
    client = make_client(fake.port, tokens=tokens)
    assert client.request(TENANT, "mde", "GET", "/api/alerts") == {"ok": 1}
    assert tokens.invalidated == 1
    fake.handler = lambda seen: (401, {}, {"error": {"code": "Unauthorized", "message": "expired"}})
    with pytest.raises(DefenderError) as info:
        client.request(TENANT, "mde", "GET", "/api/alerts")
    assert info.value.status == 401
    assert "tok" not in str(info.value)


def test_short_retry_after_is_slept_through(fake):
    replies = iter([(429, {"Retry-After": "2"}, {"error": {"code": "429"}}), (200, {}, {"ok": 1})])
    fake.handler = lambda seen: next(replies)
    clock = FakeClock()
    client = make_client(fake.port, clock)
    assert client.request(TENANT, "mde", "GET", "/api/alerts") == {"ok": 1}
    assert clock.slept == [2.0]
    assert client.stats.throttled == 1


def test_long_retry_after_becomes_throttled_until(fake):
    fake.handler = lambda seen: (429, {"Retry-After": "120"}, {"error": {"code": "429", "message": "quota"}})
    clock = FakeClock()
    with pytest.raises(ThrottledError) as info:
        make_client(fake.port, clock).request(TENANT, "mde", "GET", "/api/alerts")
    assert info.value.retry_at == datetime.fromtimestamp(clock.now + 120, UTC)
    assert info.value.tenant_id == TENANT.tenant_id
    assert clock.slept == []


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (404, "ResourceNotFound", DefenderNotFoundError),
        (403, "Forbidden", DefenderForbiddenError),
        (400, "ActiveRequestAlreadyExists", ActionConflictError),
        (400, "InvalidRequestBody", DefenderError),
    ],
)
def test_error_bodies_map_to_typed_errors(fake, status, code, error_type):
    fake.handler = lambda seen: (status, {}, {"error": {"code": code, "message": f"msg {code}", "target": "x"}})
    with pytest.raises(error_type) as info:
        make_client(fake.port).request(TENANT, "mde", "GET", "/api/machines/m")
    assert type(info.value) is error_type
    assert (info.value.status, info.value.code) == (status, code)
    assert f"msg {code}" in str(info.value)
    assert TENANT.tenant_id in str(info.value)


def test_client_side_limiter_keeps_incidents_under_50_a_minute(fake):
    # GIVEN a tenant whose incident calls use up the per-minute quota WHEN one more is made
    # THEN it is not sent: the job gets a ThrottledError to hand back to the queue
    fake.handler = lambda seen: (200, {}, {"value": []})
    clock = FakeClock()
    client = make_client(fake.port, clock)
    for _ in range(50):
        client.request(TENANT, "xdr", "GET", "/api/incidents")
    with pytest.raises(ThrottledError, match="client-side incidents quota"):
        client.request(TENANT, "xdr", "GET", "/api/incidents")
    assert len(fake.seen) == 50
    client.request(TENANT, "mde", "GET", "/api/alerts")  # the MDE quota is separate
    clock.now += 60
    client.request(TENANT, "xdr", "GET", "/api/incidents")
    assert len(fake.seen) == 52


def test_limiter_windows_per_minute_and_per_hour():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert all(limiter.reserve("t", "mde") == 0 for _ in range(100))
    assert limiter.reserve("t", "mde") == 60.0
    assert limiter.reserve("other", "mde") == 0
    for minute in range(1, 15):  # 1,500 per hour binds before 100 per minute does
        clock.now += 60
        for _ in range(100):
            assert limiter.reserve("t", "mde") == 0, minute
    clock.now += 60
    assert limiter.reserve("t", "mde") == pytest.approx(3600 - 15 * 60)


def test_odata_values_are_escaped_in_lookups(fake):
    assert odata_quote("O'Brien") == "'O''Brien'"
    fake.handler = lambda seen: (200, {}, {"value": [{"id": "m1"}]})
    found = make_client(fake.port).find_machines(TENANT, name="pc'1")
    assert found == [{"id": "m1"}]
    assert fake.seen[0].query["$filter"] == "computerDnsName eq 'pc''1'"


def test_alert_listing_reads_a_window_on_last_update_time_without_an_order(fake):
    fake.handler = lambda seen: (200, {}, {"value": [{"id": "a", "lastUpdateTime": "2026-01-01T10:00:00Z"}]})
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    pages = list(make_client(fake.port).list_changes(TENANT, "mde-alerts", since, until, page_size=500))
    assert [list(p.items) for p in pages] == [[{"id": "a", "lastUpdateTime": "2026-01-01T10:00:00Z"}]]
    q = fake.seen[0].query
    assert q["$filter"] == (
        "lastUpdateTime ge 2026-01-01T00:00:00.000000Z and lastUpdateTime lt 2026-01-02T00:00:00.000000Z"
    )
    assert "$orderby" not in q
    assert (q["$top"], fake.seen[0].path, fake.seen[0].prefer) == ("500", "/api/alerts", "")


def test_graph_alerts_go_to_graph_with_the_prefer_header_for_evolvable_enums(fake):
    # GIVEN Graph answering one alert WHEN the graph-alerts feed is read
    alert = {"id": "da1", "providerAlertId": "da1", "lastUpdateDateTime": "2026-01-01T10:00:00.1234567Z"}
    fake.handler = lambda seen: (200, {}, {"value": [alert]})
    tokens = FakeTokens()
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    pages = list(make_client(fake.port, tokens=tokens).list_changes(TENANT, "graph-alerts", since, until))
    # THEN it asked alerts_v2 for the window on lastUpdateDateTime, with Prefer: include-unknown-enum-members
    seen = fake.seen[0]
    assert (seen.path, seen.prefer) == ("/v1.0/security/alerts_v2", "include-unknown-enum-members")
    assert seen.query["$filter"].startswith("lastUpdateDateTime ge 2026-01-01T00:00:00.000000Z and ")
    assert seen.query["$top"] == "1000"
    assert tokens.roles_asked == [("SecurityAlert.Read.All",)]
    assert pages[0].items == [alert]


def test_graph_error_bodies_become_typed_errors_with_the_request_id(fake):
    message = "Missing application roles. API required roles: SecurityAlert.Read.All"
    inner = {"request-id": "5e0c7a4f-0000-4000-8000-000000000001", "date": "2026-01-01T00:00:00"}
    body = {"error": {"code": "Forbidden", "message": message, "innerError": inner}}
    fake.handler = lambda seen: (403, {}, body)
    with pytest.raises(DefenderForbiddenError) as caught:
        make_client(fake.port).request(TENANT, "graph", "GET", "/v1.0/security/alerts_v2")
    assert caught.value.code == "Forbidden"
    assert "Microsoft Graph GET /v1.0/security/alerts_v2 answered 403" in caught.value.message
    assert "SecurityAlert.Read.All" in caught.value.message
    assert "request-id 5e0c7a4f-0000-4000-8000-000000000001" in caught.value.message


def test_a_graph_429_without_retry_after_backs_off_exponentially(fake):
    # GIVEN Graph throttling twice without saying how long, then answering
    replies = iter([(429, {}, {"error": {"code": "TooManyRequests"}})] * 2 + [(200, {}, {"value": []})])
    fake.handler = lambda seen: next(replies)
    clock = FakeClock()
    # WHEN a call is made THEN it waited 2 s, then 4 s (the backoff doubles), and got the answer
    assert make_client(fake.port, clock).request(TENANT, "graph", "GET", "/v1.0/security/incidents") == {"value": []}
    assert clock.slept == [2.0, 4.0]


def test_the_graph_quota_is_its_own_and_set_by_the_caller(fake):
    # GIVEN a limiter allowing 3 Graph calls a minute (RELAY_GRAPH_CALLS_PER_MINUTE)
    clock = FakeClock()
    client = make_client(fake.port, clock, limiter=RateLimiter(clock, default_windows(graph_per_minute=3)))
    for _ in range(3):
        client.request(TENANT, "graph", "GET", "/v1.0/security/incidents")
    # WHEN a fourth comes within the minute THEN the job is handed back to the queue until a slot frees up
    with pytest.raises(ThrottledError, match="client-side graph quota"):
        client.request(TENANT, "graph", "GET", "/v1.0/security/incidents")
    assert len(fake.seen) == 3
    # AND Graph incidents do not count against the XDR incidents quota
    assert api_family("graph", "/v1.0/security/incidents") == "graph"
    assert api_family("xdr", "/api/incidents") == "incidents"


def test_a_graph_next_link_to_another_host_is_refused(fake):
    with pytest.raises(DefenderError, match="another host"):
        make_client(fake.port).follow(TENANT, "graph", "https://evil.example/v1.0/security/alerts_v2?$skip=10")


def test_machine_action_helpers_use_defender_routes(fake):
    fake.handler = lambda seen: (201, {}, {"id": "act", "status": "Pending"})
    tokens = FakeTokens()
    client = make_client(fake.port, tokens=tokens)
    client.post_machine_action(TENANT, "m1", "scan", {"Comment": "c", "ScanType": "Quick"})
    client.post_machine_action(TENANT, "m1", "StopAndQuarantineFile", {"Comment": "c", "Sha1": "0" * 40})
    client.cancel_machine_action(TENANT, "act", "stop")
    assert [(s.method, s.path) for s in fake.seen] == [
        ("POST", "/api/machines/m1/runAntiVirusScan"),
        ("POST", "/api/machines/m1/StopAndQuarantineFile"),
        ("POST", "/api/machineactions/act/cancel"),
    ]
    assert fake.seen[0].body == {"Comment": "c", "ScanType": "Quick"}
    assert tokens.roles_asked[:2] == [("Machine.Scan",), ("Machine.StopAndQuarantine",)]
