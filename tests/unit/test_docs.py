"""The partner / SOAR / consumer guides in docs/ say what the code does: the route table, the
permissions table, the problem types, the envelope example, and the signing and verification examples
(which are run here against the relay's own signing code)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalogue import FEED_SPECS, LOOKUP_ROLE, MACHINE_ACTIONS, TRIAGE_ROLES
from shared.domain.envelope import EventItem, event_item, payload_path
from shared.domain.errors import SignatureError
from shared.http.problems import PROBLEM_TYPES, Problem
from shared.http.routes import ROUTES
from shared.http.signing import SignatureVerifier
from shared.ingest.sinks.webhook import sign as sign_webhook

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ("partner-setup.md", "onboarding.md", "soar-integration.md", "event-consumers.md", "operations.md",
          "architecture.md", "local-development.md")  # fmt: skip
SECRET = "9f1c0e4b7a2d5c8e1f3a6b9d0c2e4f6a8b1d3f5a7c9e0b2d4f6a8c0e2b4d6f8a"


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _blocks(name: str, language: str, after: str) -> list[str]:
    """The ```language code blocks of a doc that follow the heading or line containing ``after``."""
    text = _text(name)
    return re.findall(rf"```{language}\n(.*?)```", text[text.index(after) :], re.S)


class MemoryReplayGuard:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_use(self, signature: str, *, expires_at: datetime) -> bool:
        new = signature not in self.seen
        self.seen.add(signature)
        return new


def _verifier() -> SignatureVerifier:
    return SignatureVerifier(secrets=[SECRET.encode()], replay_guard=MemoryReplayGuard())


def test_route_table_is_the_app_route_table() -> None:
    documented = set(re.findall(r"^\| (GET|POST|PATCH) \| `(/api/[^`]+)` \|", _text("soar-integration.md"), re.M))
    served = {(r.method, f"/api/{r.template}") for r in ROUTES}
    assert documented == served, {"undocumented": served - documented, "not served": documented - served}


def test_python_signing_example_is_accepted_by_the_relay() -> None:
    # GIVEN the doc's signed_headers() WHEN it signs a request THEN the relay's verifier accepts it
    namespace: dict[str, Any] = {}
    exec(_blocks("soar-integration.md", "python", "### Signing in Python")[0], namespace)  # noqa: S102
    path = "/api/tenants/6b1c2f0e-1d3a-4c55-9a8e-3f1f0c2b7d11/machines/ws-042/isolate?wait=true"
    body = b'{"comment":"case 4711","isolationType":"Full"}'
    headers = {k.lower(): v for k, v in namespace["signed_headers"](SECRET, "POST", path, body).items()}
    _verifier().verify("POST", path, headers, body)
    # AND a changed body is refused
    with pytest.raises(SignatureError):
        _verifier().verify("POST", path, headers, body + b" ")


def test_python_signing_example_lets_a_tool_send_one_request_twice_in_the_same_second() -> None:
    # GIVEN the doc's signed_headers() and one verifier (one replay memory, like the relay's table)
    namespace: dict[str, Any] = {}
    exec(_blocks("soar-integration.md", "python", "### Signing in Python")[0], namespace)  # noqa: S102
    path = "/api/tenants/6b1c2f0e-1d3a-4c55-9a8e-3f1f0c2b7d11/machines/ws-042/isolate"
    body = b'{"comment":"case 4711"}'
    verifier = _verifier()
    # WHEN an identical request is signed twice as fast as a retry loop can go (same clock second)
    attempts = [{k.lower(): v for k, v in namespace["signed_headers"](SECRET, "POST", path, body).items()}
                for _ in range(2)]  # fmt: skip
    # THEN both attempts are accepted (each signature is new), and replaying one is still refused
    for headers in attempts:
        verifier.verify("POST", path, headers, body)
    with pytest.raises(SignatureError, match="already used"):
        verifier.verify("POST", path, attempts[0], body)


def test_curl_openssl_signing_example_is_accepted_by_the_relay() -> None:
    script = _blocks("soar-integration.md", "bash", "### Signing with curl and openssl")[0]
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET": SECRET,
        "TENANT": "6b1c2f0e-1d3a-4c55-9a8e-3f1f0c2b7d11",
        "MACHINE": "ws-042",
    }
    out = subprocess.run(
        ["bash", "-c", script + '\necho "$TS $NONCE $SIG $PATH_Q"\nprintf %s "$BODY"'],
        env=env, capture_output=True, text=True, timeout=20, check=True,
    ).stdout  # fmt: skip
    first, body = out.split("\n", 1)
    timestamp, nonce, signature, path = first.split(" ")
    headers = {"x-relay-timestamp": timestamp, "x-relay-nonce": nonce, "x-relay-signature": "v1=" + signature}
    _verifier().verify("POST", path, headers, body.encode())


def test_webhook_verification_example_accepts_the_relay_signature_only() -> None:
    namespace: dict[str, Any] = {}
    exec(_blocks("event-consumers.md", "python", "## The webhook")[0], namespace)  # noqa: S102
    verify = namespace["verify_webhook"]
    body = b'{"v":1,"kind":"defender-relay.events","items":[]}'
    now = str(int(time.time()))
    header = f"t={now},v1={sign_webhook(SECRET.encode(), now, body)}"
    assert verify(SECRET.encode(), header, body) is True
    assert verify(SECRET.encode(), header, body + b"x") is False
    assert verify(b"another secret", header, body) is False
    old = str(int(time.time()) - 3600)
    assert verify(SECRET.encode(), f"t={old},v1={sign_webhook(SECRET.encode(), old, body)}", body) is False
    assert verify(SECRET.encode(), "garbage", body) is False


def test_envelope_example_keys_and_blob_paths_follow_the_code() -> None:
    example = _blocks("event-consumers.md", "json", "## The envelope")[0]
    envelope = json.loads(example)
    assert envelope["v"] == 1
    assert envelope["kind"] == "defender-relay.events"
    for entry in envelope["items"]:
        item = EventItem(envelope["tenant_id"], entry["kind"], entry["id"], entry["version"], {})
        assert entry["dedup_key"] == item.dedup_key
        if "blob" in entry:
            assert entry["blob"] == "defender-payloads/" + payload_path(item)
        else:  # the correlation fields are what the relay writes for that item of that feed
            built = event_item(envelope["tenant_id"], envelope["feed"], entry["data"], entry["version"])
            assert {k: v for k, v in entry.items() if k != "data"} == built.entry()
        assert set(entry) - {"data", "blob"} == set(item.entry())


def test_permissions_table_is_the_code_catalogue() -> None:
    section = _text("partner-setup.md").split("## 2.", 1)[1].split("## 3.", 1)[0]
    documented = set(re.findall(r"`((?:Alert|Incident|Machine|SecurityAlert|SecurityIncident)\.[A-Za-z.]+)`", section))
    needed = {r for feed in FEED_SPECS.values() for r in feed.roles}
    needed |= {spec.role for spec in MACHINE_ACTIONS} | {LOOKUP_ROLE}
    needed |= {role for roles in TRIAGE_ROLES.values() for role in roles}
    assert documented == needed


def test_error_table_lists_every_problem_type() -> None:
    # GIVEN the problem types the API can answer with (a Problem of any other type cannot be built)
    # WHEN the SOAR guide's error table is read THEN it lists exactly those, no more and no fewer
    section = _text("soar-integration.md").split("## Errors", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    documented = {slug for row in rows for slug in re.findall(r"`([a-z]+(?:-[a-z]+)*)`", row.split("|")[2])}
    assert documented == set(PROBLEM_TYPES), (
        f"missing from the table: {sorted(set(PROBLEM_TYPES) - documented)}; "
        f"documented but never answered: {sorted(documented - set(PROBLEM_TYPES))}"
    )


def test_a_problem_type_outside_the_documented_set_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="not in PROBLEM_TYPES"):
        Problem(500, "surprise", "an undocumented type")


@pytest.mark.parametrize("name", GUIDES)
def test_relative_links_resolve(name: str) -> None:
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", _text(name))
    missing = [link for link in links if not (DOCS / link).exists()]
    assert missing == [], f"{name} links to missing {missing}"


@pytest.mark.parametrize(
    ("path", "section"), [("../README.md", "## What it guarantees"), ("ingestion.md", "## What is guaranteed")]
)
def test_the_ingestion_guarantee_is_stated_exactly(path: str, section: str) -> None:
    # GIVEN the API shows only an item's current version WHEN the guarantee is read in the README and ingestion.md
    text = _text(path)
    assert section in text, f"{path} has no {section!r} section"
    body = " ".join(text.split(section, 1)[1].split("\n## ", 1)[0].split())
    # THEN it promises what a poller can keep, and says what no poller can see
    assert "Every version present at a read" in body or "every version present at a read" in body
    assert "once per dedup key" in body
    assert "latest version of every item" in body
    assert "overwritten between two reads is never seen" in body
    assert "never a gap" not in body
