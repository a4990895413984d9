"""The webhook sink at DEBUG logging: the key in the webhook URL reaches the receiver and no log or error.

A receiver on 127.0.0.1 (port 0) stands in for the consumer's webhook; the sink is the one bootstrap builds
from settings, and requests/urllib3 are the real ones, logging every request line at DEBUG.
"""

from __future__ import annotations

import http.server
import logging
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared.bootstrap import Services
from shared.domain.envelope import EventItem
from shared.domain.errors import DeliveryError
from shared.ingest.sinks.base import Sink
from shared.platform.settings import Settings
from shared.platform.storage import StorageClients
from tests.log_guard import WEBHOOK_URL_KEY

pytestmark = pytest.mark.integration

TENANT = "11111111-2222-3333-4444-555555555555"


class _Receiver(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:  # http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).paths.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep the receiver quiet
        pass


@pytest.fixture
def receiver() -> Iterator[http.server.ThreadingHTTPServer]:
    _Receiver.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _webhook_sink(url: str) -> Sink:
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # no storage call: nothing is large enough to offload
        "RELAY_COMMERCIAL_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        "RELAY_COMMERCIAL_CREDENTIAL": "secret:commercial-app-secret",
        "RELAY_CREDENTIALS_FROM_ENV": "1",
        "RELAY_SINKS": "webhook",
        "RELAY_WEBHOOK_URL": url,
        "RELAY_WEBHOOK_SECRET_NAME": "webhook-signing-secret",
        "RELAY_SECRET_WEBHOOK_SIGNING_SECRET": "webhook-hmac-secret-for-this-test",
    }
    storage = StorageClients.from_connection_string(env["AzureWebJobsStorage"])
    (sink,) = Services(Settings.from_env(env), storage=storage).sinks
    return sink


def _items() -> list[EventItem]:
    return [EventItem(TENANT, "alert", "da1", datetime(2026, 12, 1, tzinfo=UTC).isoformat(), {"id": "da1"})]


def test_a_debug_run_delivers_to_the_keyed_url_and_logs_no_key(
    receiver: http.server.ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the whole process at DEBUG (PYTHON_ENABLE_DEBUG_LOGGING), and a webhook URL with its key in the query
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    port = receiver.server_address[1]
    sink = _webhook_sink(f"http://127.0.0.1:{port}/hook?code={WEBHOOK_URL_KEY}")
    # WHEN a batch is delivered
    sink.deliver(TENANT, "mde-alerts", _items())
    # THEN the receiver got the key (the request itself is untouched)
    assert _Receiver.paths == [f"/hook?code={WEBHOOK_URL_KEY}"]
    # AND urllib3 logged the request line, without the key
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any('"POST /hook?code=' in line for line in lines), lines
    assert not [r.name for r in caplog.records if WEBHOOK_URL_KEY in r.getMessage()]


def test_a_failed_delivery_names_no_key_in_its_error_or_its_traceback(
    receiver: http.server.ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a webhook URL (key in the userinfo and the query) whose receiver has gone away
    caplog.set_level(logging.DEBUG, logger="urllib3")
    port = receiver.server_address[1]
    receiver.shutdown()
    receiver.server_close()
    sink = _webhook_sink(f"http://relay:{WEBHOOK_URL_KEY}@127.0.0.1:{port}/hook?code={WEBHOOK_URL_KEY}")
    # WHEN a delivery fails THEN the error, with everything the host would log of it, holds no key
    with pytest.raises(DeliveryError) as caught:
        sink.deliver(TENANT, "mde-alerts", _items())
    assert "ConnectionError" in str(caught.value)
    assert WEBHOOK_URL_KEY not in "".join(traceback.format_exception(caught.value))
    assert not [r.name for r in caplog.records if WEBHOOK_URL_KEY in r.getMessage()]
