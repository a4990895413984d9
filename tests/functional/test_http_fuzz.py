"""Property-based fuzzing of the HTTP functions: malformed paths, headers and bodies.

Every generated request has at least one invalid part. Through the registered functions (real
``func.HttpRequest`` objects), each must be answered 4xx with problem+json, never 5xx, and must not
reach Defender (the fake counts every call). Over 1,000 requests per run, in a few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.http.routes import ROUTES, SEPARATE_OPERATIONS, TRIAGE_OPERATIONS, Route
from shared.http.signing import SignatureVerifier
from shared.triggers.http import use_http_api
from tests.fakes.actions import MACHINE_A1, TENANT_A, Harness, MemoryReplayGuard, build_harness
from tests.functional.http_support import assert_refused, functions

# The triage routes have their own bodies and route parameters: tests/functional/test_http_triage_fuzz.py.
FUZZED = [r for r in ROUTES if r.operation != "openapi" and r.operation not in SEPARATE_OPERATIONS | TRIAGE_OPERATIONS]
GUID = "11111111-2222-3333-4444-555555555555"
KNOWN_PARAMS = ("code", "wait", "waitSeconds", "name", "ip", "since", "limit")
INVALID_STATUSES = {400, 401, 404, 405, 413, 415, 422}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
bad_tenant = st.text(max_size=60).filter(lambda s: len(s.replace("-", "")) != 32)
bad_machine = st.one_of(
    st.text(max_size=80).filter(lambda s: any(c in s for c in " '\"*/\\?#()&%=,;:\x00") or not s),
    st.just("a" * 254),
    st.text(alphabet="0123456789abcdef", min_size=41, max_size=60).map(lambda s: s + "!"),
)
bad_bodies = st.one_of(
    st.binary(max_size=200).filter(lambda b: not _is_json_object(b)),
    st.dictionaries(st.text(min_size=1, max_size=10).map(lambda k: "x_" + k), json_values, min_size=1, max_size=3).map(
        lambda d: {"comment": "ok", **d}
    ),
    st.one_of(st.just(""), st.integers(), st.lists(st.text()), st.text(min_size=1001, max_size=1100)).map(
        lambda c: {"comment": c}
    ),
    st.text(max_size=10)
    .filter(lambda t: t not in ("Full", "Selective", "Quick"))
    .map(lambda t: {"comment": "ok", "isolationType": t, "scanType": t}),
    st.just(b"[" * 5000),
    st.just(b'{"comment": "' + b"x" * (64 * 1024) + b'"}'),
)
bad_params = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in KNOWN_PARAMS),
    st.text(max_size=10),
    min_size=1,
    max_size=2,
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


@st.composite
def malformed_requests(draw: st.DrawFn) -> tuple[Route, func.HttpRequest]:
    route = draw(st.sampled_from(FUZZED))
    tenant, machine, action_id = TENANT_A, MACHINE_A1, GUID
    body: Any = {"comment": "valid comment"} if route.method == "POST" else b""
    headers = {"Content-Type": "application/json"}
    params: dict[str, str] = {"name": "web01.contoso.com"} if route.operation == "lookup" else {}
    broken = draw(
        st.sampled_from(["tenant", "machine", "body", "content-type", "params", "idempotency-key", "action-id"])
    )
    if broken == "machine" and "machine" not in route.path_params:
        broken = "tenant"
    if broken == "action-id" and "actionId" not in route.path_params:
        broken = "params"
    if broken in ("body", "content-type", "idempotency-key") and route.method == "GET":
        broken = "params"
    if broken == "tenant":
        tenant = draw(bad_tenant)
    elif broken == "machine":
        machine = draw(bad_machine)
    elif broken == "action-id":
        action_id = draw(bad_tenant)
    elif broken == "body":
        # A blank body is "no body": valid where the body is optional (sweep), so it is not malformed there.
        optional_body = route.operation == "sweep"
        body = draw(bad_bodies.filter(lambda b: not (optional_body and isinstance(b, bytes) and not b.strip())))
    elif broken == "content-type":
        headers["Content-Type"] = draw(
            header_values.filter(lambda v: not v.strip().lower().startswith("application/json"))
        )
    elif broken == "idempotency-key":
        headers["Idempotency-Key"] = draw(
            st.one_of(st.just(""), st.text(min_size=1, max_size=5).map(lambda t: t + "\u00e9 "), st.just("k" * 256))
        )
    else:
        params.update(draw(bad_params))
    headers.update(
        draw(
            st.dictionaries(st.sampled_from(["X-Relay-Caller", "Accept", "X-Forwarded-For"]), header_values, max_size=2)
        )
    )
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    route_params = {"tenantId": tenant, "machine": machine, "actionId": action_id}
    path = "/api/" + route.template.format(**route_params)
    request = func.HttpRequest(
        route.method,
        "https://relay.example" + path.replace(" ", "%20"),
        headers=headers,
        params=params,
        route_params={k: route_params[k] for k in route.path_params},
        body=raw,
    )
    return route, request


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = build_harness()
    use_http_api(h.api)
    yield h
    use_http_api(None)


def _assert_refused(h: Harness, route: Route, request: func.HttpRequest) -> None:
    assert_refused(route, request, statuses=INVALID_STATUSES, upstream_calls=lambda: h.defender.total_calls)


@settings(
    max_examples=1100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=malformed_requests())
def test_malformed_requests_are_4xx_problems_and_never_reach_defender(
    harness: Harness, case: tuple[Route, func.HttpRequest]
) -> None:
    _assert_refused(harness, *case)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from([r for r in FUZZED if r.method == "POST"]),
    timestamp=st.one_of(st.integers(min_value=0, max_value=2**40).map(str), header_values),
    signature=st.one_of(
        st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("v1=".__add__), header_values
    ),
)
def test_forged_signatures_are_401_and_never_reach_defender(route: Route, timestamp: str, signature: str) -> None:
    h = build_harness(verifier=SignatureVerifier(secrets=[b"fuzz-secret"], replay_guard=MemoryReplayGuard()))
    use_http_api(h.api)
    try:
        params = {"tenantId": TENANT_A, "machine": MACHINE_A1, "actionId": GUID}
        request = func.HttpRequest(
            "POST",
            "https://relay.example/api/" + route.template.format(**params),
            headers={
                "Content-Type": "application/json",
                "X-Relay-Timestamp": timestamp,
                "X-Relay-Signature": signature,
            },
            route_params={k: params[k] for k in route.path_params},
            body=b'{"comment": "valid"}',
        )
        response = functions()[route.function_name].get_user_function()(request)
        assert response.status_code == 401
        assert h.defender.total_calls == 0
    finally:
        use_http_api(None)
