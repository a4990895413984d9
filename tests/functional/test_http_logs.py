"""No secret in any log record of an HTTP action run: function key, signing secret, signatures, tokens."""

from __future__ import annotations

import logging
import time

import azure.functions as func
import pytest

from shared.domain.errors import DefenderUnavailableError
from shared.http.signing import SignatureVerifier, sign
from shared.triggers.http import use_http_api
from tests.fakes.actions import MACHINE_A1, TENANT_A, MemoryReplayGuard, build_harness
from tests.functional.http_support import functions

FUNCTION_KEY = "fk-Zm9vYmFyYmF6cXV4LWZ1bmN0aW9uLWtleQ"
SIGNING_SECRET = b"signing-secret-6f1d2c7e"


def test_an_action_run_logs_no_key_secret_or_signature(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN signed requests carrying a function key, one succeeding, one failing upstream, one forged
    h = build_harness(verifier=SignatureVerifier(secrets=[SIGNING_SECRET], replay_guard=MemoryReplayGuard()))
    use_http_api(h.api)
    path = f"/api/tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate"
    body = b'{"comment": "alert 99"}'
    signatures = []
    caplog.set_level(logging.DEBUG)
    try:
        for attempt in range(3):
            ts = str(int(time.time()) - attempt)
            signature = sign(SIGNING_SECRET if attempt < 2 else b"forged", "POST", path, ts, body)
            signatures.append(signature[3:])
            if attempt == 1:
                h.defender.fail_with = DefenderUnavailableError("Defender answered 503", status=503)
            request = func.HttpRequest(
                "POST", "https://relay.example" + path, body=body,
                headers={"Content-Type": "application/json", "x-functions-key": FUNCTION_KEY,
                         "X-Relay-Timestamp": ts, "X-Relay-Signature": signature},
                route_params={"tenantId": TENANT_A, "machine": MACHINE_A1},
            )  # fmt: skip
            functions()["http_isolate"].get_user_function()(request)
    finally:
        use_http_api(None)
    # THEN the run was logged, and no record holds any secret
    assert [r.status for r in h.audit.records] == [202, 503, 401]
    text = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "request_id=" in text
    for secret in (FUNCTION_KEY, SIGNING_SECRET.decode(), *signatures):
        assert secret not in text
