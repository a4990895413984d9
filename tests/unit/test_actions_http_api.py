"""The HTTP API layer over fakes: idempotency, audit of every attempt, problem details, throttling, auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.errors import DefenderForbiddenError, DefenderUnavailableError, MissingRolesError, ThrottledError
from shared.http.signing import SignatureVerifier, sign
from tests.fakes.actions import MACHINE_A1, TENANT_A, MemoryReplayGuard, api_request, build_harness

ISOLATE_PATH = f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate"
ISOLATE = {"comment": "alert 1234"}


def post(h: Any, path: str = ISOLATE_PATH, body: Any = None, **kw: Any) -> Any:
    route, request = api_request("POST", path, body=ISOLATE if body is None else body, **kw)
    return h.api.handle(route, request)


def test_same_idempotency_key_replays_the_result_without_a_second_defender_call() -> None:
    h = build_harness()
    first = post(h, headers={"Idempotency-Key": "soar-run-1"})
    second = post(h, headers={"Idempotency-Key": "soar-run-1"})
    assert second.status == first.status == 202
    assert second.body == first.body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert h.defender.calls["post_machine_action"] == 1
    assert [r.outcome for r in h.audit.records] == ["accepted", "replayed"]
    assert h.audit.records[1].upstream_action_id == first.body["action"]["id"]


def test_same_key_with_another_body_is_422_and_calls_nothing() -> None:
    h = build_harness()
    post(h, headers={"Idempotency-Key": "k"})
    other = post(h, body={"comment": "different"}, headers={"Idempotency-Key": "k"})
    assert other.status == 422
    assert "different request" in other.body["detail"]
    assert h.defender.calls["post_machine_action"] == 1


def test_a_failed_attempt_is_not_stored_so_the_retry_runs_again() -> None:
    h = build_harness()
    h.defender.fail_with = DefenderUnavailableError("Defender answered 503 three times", status=503)
    failed = post(h, headers={"Idempotency-Key": "k"})
    assert failed.status == 503
    assert failed.headers["Retry-After"]
    retried = post(h, headers={"Idempotency-Key": "k"})
    assert retried.status == 202
    assert [r.outcome for r in h.audit.records] == ["failed", "accepted"]


def test_throttling_is_429_with_retry_after() -> None:
    h = build_harness()
    h.defender.fail_with = ThrottledError("quota exceeded", retry_at=datetime.now(UTC) + timedelta(seconds=42))
    response = post(h)
    assert response.status == 429
    assert 40 <= int(response.headers["Retry-After"]) <= 43
    assert response.body["retryAfter"] == int(response.headers["Retry-After"])


def test_missing_permission_is_403_naming_the_role() -> None:
    h = build_harness()
    h.defender.fail_with = MissingRolesError(
        "token for tenant lacks Machine.Isolate", tenant_id=TENANT_A, missing=["Machine.Isolate"], remedy="grant it"
    )
    response = post(h)
    assert response.status == 403
    assert response.body["missingRoles"] == ["Machine.Isolate"]
    h.defender.fail_with = DefenderForbiddenError(
        "The application does not have any of the required application permissions (Machine.Isolate)", status=403
    )
    assert "Machine.Isolate" in post(h).body["detail"]


def test_every_attempt_is_audited_with_caller_and_outcome_and_never_the_key() -> None:
    h = build_harness()
    headers = {"X-Relay-Caller": "soar-playbook-7", "x-functions-key": "the-function-key-value"}
    post(h, headers=headers)  # accepted
    post(h, body={"comment": ""}, headers=headers)  # rejected: 422
    post(h, path=f"tenants/{TENANT_A}/machines/nope.contoso.com/isolate", headers=headers)  # rejected: 404
    outcomes = [(r.outcome, r.status) for r in h.audit.records]
    assert outcomes == [("accepted", 202), ("rejected", 422), ("rejected", 404)]
    first = h.audit.records[0]
    assert first.caller.startswith("soar-playbook-7 (key ")
    assert first.machine_id == MACHINE_A1
    assert first.comment == "alert 1234"
    assert first.upstream_action_id
    assert all("the-function-key-value" not in str(r) for r in h.audit.records)


def test_audit_failure_turns_a_success_into_503_naming_the_action() -> None:
    h = build_harness()
    h.audit.fail = True
    response = post(h)
    assert response.status == 503
    action_id = next(iter(h.defender.actions))
    assert action_id in response.body["detail"]


def test_problems_are_rfc9457_with_type_title_status_detail_instance() -> None:
    h = build_harness()
    response = post(h, body=b"{oops", headers={"content-type": "application/json"})
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    assert set(response.body) >= {"type", "title", "status", "detail", "instance"}
    assert response.body["type"] == "urn:defender-relay:problem:malformed-request"


def test_unknown_query_parameters_are_422_but_the_function_key_parameter_is_fine() -> None:
    h = build_harness()
    assert post(h, params={"code": "function-key"}).status == 202
    assert post(h, path=f"tenants/{TENANT_A}/machines/db01.contoso.com/isolate", params={"force": "1"}).status == 422


def test_sweep_queues_one_manual_job_per_feed_of_the_tenant() -> None:
    h = build_harness()
    response = post(h, path=f"tenants/{TENANT_A}/sweep", body=b"")
    assert response.status == 202
    assert [(j.tenant_id, j.feed, j.mode) for j in h.jobs.sent] == [
        (TENANT_A, "graph-alerts", "manual"),
        (TENANT_A, "graph-incidents", "manual"),
    ]


def test_audit_route_returns_the_records_of_that_tenant_only() -> None:
    h = build_harness()
    post(h)
    route, request = api_request("GET", f"tenants/{TENANT_A}/audit")
    response = h.api.handle(route, request)
    assert response.status == 200
    assert [r["action"] for r in response.body["records"]] == ["isolate"]


def test_signed_requests_good_bad_replayed_stale() -> None:
    now = datetime.now(UTC).timestamp()
    verifier = SignatureVerifier(secrets=[b"s3cret"], replay_guard=MemoryReplayGuard(), clock=lambda: now)
    h = build_harness(verifier=verifier)
    target = f"/api/{ISOLATE_PATH}"
    body = b'{"comment":"alert 1234"}'

    def signed(ts: float, secret: bytes = b"s3cret") -> dict[str, str]:
        return {
            "X-Relay-Timestamp": str(int(ts)),
            "X-Relay-Signature": sign(secret, "POST", target, str(int(ts)), body),
        }

    good = signed(now)
    assert post(h, body=body, headers=good).status == 202
    replayed = post(h, body=body, headers=good)
    bad = post(h, body=body, headers=signed(now, b"wrong"))
    stale = post(h, body=body, headers=signed(now - 600))
    assert [r.status for r in (replayed, bad, stale)] == [401, 401, 401]
    assert "already used" in replayed.body["detail"]
    assert h.defender.calls["post_machine_action"] == 1
    assert [r.outcome for r in h.audit.records] == ["accepted", "rejected", "rejected", "rejected"]
