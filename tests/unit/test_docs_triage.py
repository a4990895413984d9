"""The SOAR guide's triage examples (close-and-comment in Python and with curl) run against the relay's own
HTTP API: signed, idempotent, and they close what they say they close."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.http.api import ApiRequest
from shared.http.signing import SignatureVerifier
from tests.fakes.actions import TENANT_T, Harness, MemoryReplayGuard, build_harness, match_route
from tests.fakes.triage import graph_alert, graph_incident

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "soar-integration.md"
SECRET = "9f1c0e4b7a2d5c8e1f3a6b9d0c2e4f6a8b1d3f5a7c9e0b2d4f6a8c0e2b4d6f8a"
ALERTS = ["da637551227677560813_-961444813", "da637551227677560813_-961444814"]
INCIDENT = "2972395"


def _block(language: str, after: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text[text.index(after) :], re.S)[0]


def _harness() -> Harness:
    h = build_harness(verifier=SignatureVerifier(secrets=[SECRET.encode()], replay_guard=MemoryReplayGuard()))
    h.triage.add(TENANT_T, "alert", *(graph_alert(a) for a in ALERTS))
    h.triage.add(TENANT_T, "incident", graph_incident(INCIDENT))
    return h


class _Answer:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self._body = status, body

    def json(self) -> Any:
        return self._body

    def raise_for_status(self) -> None:
        assert self.status_code < 400, self._body


class RelaySession:
    """``requests.Session.request`` as far as the example uses it, answered by the relay's ``HttpApi``."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.sent: list[tuple[str, str, int]] = []

    def request(self, method: str, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> _Answer:
        path = urlsplit(url).path
        route, params = match_route(method, path.removeprefix("/api/"))
        request = ApiRequest(method, path, params, {}, {k.lower(): v for k, v in headers.items()}, data)
        response = self.h.api.handle(route, request)
        self.sent.append((method, path, response.status))
        return _Answer(response.status, response.body)


def _assert_closed(h: Harness) -> None:
    alerts = h.triage.items[(TENANT_T, "alert")]
    assert [alerts[a]["status"] for a in ALERTS] == ["resolved", "resolved"]
    assert all(alerts[a]["comments"][-1]["comment"].startswith("SOAR case 4711") for a in ALERTS)
    incident = h.triage.items[(TENANT_T, "incident")][INCIDENT]
    assert (incident["status"], incident["determination"]) == ("resolved", "malware")
    assert incident["comments"][-1]["comment"] == "SOAR case 4711: closed by the playbook"


def test_python_close_and_comment_example_closes_the_alerts_and_the_incident() -> None:
    # GIVEN the guide's signing helper and its close-and-comment flow, and a relay that checks signatures
    namespace: dict[str, Any] = {"function_key": "key-1", "signing_secret": SECRET}
    exec(_block("python", "### Signing in Python"), namespace)  # noqa: S102
    exec(_block("python", "### A playbook's close-and-comment flow in Python"), namespace)  # noqa: S102
    h = _harness()
    session = RelaySession(h)
    # WHEN the playbook runs it
    not_closed = namespace["close_and_comment"](session, "https://relay.example", TENANT_T, INCIDENT, ALERTS, 4711)
    # THEN three signed requests were accepted, every alert closed and the incident resolved and commented
    assert not_closed == []
    assert [status for *_, status in session.sent] == [200, 200, 200]
    _assert_closed(h)
    assert [r.action for r in h.audit.records] == ["alert-batch-update", "incident-update", "incident-comment"]


def test_curl_close_and_comment_example_is_accepted_by_the_relay(tmp_path: Path) -> None:
    # GIVEN the guide's curl flow with curl replaced by a recorder of its arguments
    calls = tmp_path / "calls"
    recorder = f'curl() {{ printf "%s\\0" "$@" >> {calls}; printf "\\n\\0" >> {calls}; }}\n'
    env = {"PATH": "/usr/bin:/bin", "SECRET": SECRET, "HOST": "relay.example", "FUNC_KEY": "key-1",
           "TENANT": TENANT_T, "INCIDENT": INCIDENT, "ALERT1": ALERTS[0], "ALERT2": ALERTS[1]}  # fmt: skip
    script = recorder + _block("bash", "### The same flow with curl")
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=20, capture_output=True)
    h = _harness()
    # WHEN each recorded request is sent to the relay as curl would send it
    statuses = []
    for raw in calls.read_bytes().split(b"\n\0")[:-1]:
        args = [a.decode() for a in raw.split(b"\0") if a]
        method, url = args[args.index("-X") + 1], args[args.index("-X") + 2]
        headers = dict(args[i + 1].split(": ", 1) for i, a in enumerate(args) if a == "-H")
        body = args[args.index("--data-raw") + 1].encode()
        statuses.append(RelaySession(h).request(method, url, data=body, headers=headers, timeout=60).status_code)
    # THEN the relay accepted all three (signatures, keys, bodies) and closed what they name
    assert statuses == [200, 200, 200]
    _assert_closed(h)
    assert json.loads(h.audit.records[0].changes)[0]["status"] == {"from": "new", "to": "resolved"}
