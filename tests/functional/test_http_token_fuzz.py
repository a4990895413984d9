"""Property-based fuzzing of bearer tokens: every way a token can be wrong, on every route.

Each generated request carries a valid route, body and tenant, and a token that must not pass: a bad
signature, ``alg: none``, HS256 keyed with the public key, expired, not yet valid, another audience,
issuer or tenant, the wrong app roles, a tenant outside the caller's scope, a mutated token, an oversized
one, or garbage. Through the registered functions, each must be answered 401 or 403 problem+json, never
5xx, and reach nothing upstream (no Defender call, no job queued). Every token is handed to the session's
log guard, which fails the run if any of them appears in a log record. Over 1,000 requests per run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.callers.roles import ALL_ROLES
from shared.callers.store import caller_entry
from shared.callers.tokens import LEEWAY_SECONDS, MAX_TOKEN_CHARS
from shared.domain.tenant import Tenant
from shared.http.routes import ROUTES, SEPARATE_OPERATIONS, Route
from shared.triggers.http import use_http_api
from tests.fakes.actions import MACHINE_A1, TENANT_A, TENANT_B, Harness, build_harness
from tests.fakes.entra import API_CLIENT_ID, APP_ID_URI, PARTNER, SOAR_OID, FakeCallers, FakeEntra
from tests.functional.http_support import functions
from tests.log_guard import LogGuard

FUZZED = [r for r in ROUTES if r.operation != "openapi" and r.operation not in SEPARATE_OPERATIONS]
ACTION_ID = "11111111-2222-3333-4444-555555555555"
ENTRA = FakeEntra()
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = ENTRA.private_key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


def _hs256_with_public_key(claims: dict[str, Any]) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": ENTRA.kid}
    signing_input = ENTRA.unsigned(header, claims).rsplit(".", 1)[0].encode()
    return ENTRA.unsigned(header, claims, hmac.new(PUBLIC_PEM, signing_input, hashlib.sha256).digest())


Maker = Callable[[st.DrawFn, str, str], str]  # (draw, the route's role, token version) -> token


def _mutated(draw: st.DrawFn, role: str, version: str) -> str:
    token = ENTRA.token(version=version, roles=[role])
    # Only the header and claims: the signature covers them byte for byte, while the last character of the
    # signature part carries unused bits that a changed character may leave the same.
    at = draw(st.integers(0, len(token.rsplit(".", 1)[0]) - 1))
    at += 1 if token[at] == "." else 0
    return token[:at] + draw(st.sampled_from([c for c in B64 if c != token[at]])) + token[at + 1 :]


def _now() -> int:
    return int(time.time())


MAKERS: dict[str, Maker] = {
    "bad-signature": lambda d, role, v: ENTRA.token(key=OTHER_KEY, version=v, roles=[role]),
    "alg-none": lambda d, role, v: ENTRA.unsigned(
        {"alg": d(st.sampled_from(["none", "None", "NONE"])), "kid": ENTRA.kid}, ENTRA.claims(version=v, roles=[role])
    ),
    "hs256-public-key": lambda d, role, v: _hs256_with_public_key(ENTRA.claims(version=v, roles=[role])),
    "expired": lambda d, role, v: ENTRA.token(
        version=v, roles=[role], exp=_now() - d(st.integers(LEEWAY_SECONDS + 1, 10**7)), nbf=_now() - 10**7 - 3600
    ),
    "not-yet-valid": lambda d, role, v: ENTRA.token(
        # A minute past the leeway: the clock moves on between minting and checking
        version=v,
        roles=[role],
        nbf=_now() + d(st.integers(LEEWAY_SECONDS + 60, 10**7)),
    ),
    "wrong-aud": lambda d, role, v: ENTRA.token(
        version=v, roles=[role], aud=d(texts.filter(lambda a: a not in (APP_ID_URI, API_CLIENT_ID)))
    ),
    "wrong-iss": lambda d, role, v: ENTRA.token(
        roles=[role], iss=d(st.one_of(texts, st.just(f"https://login.microsoftonline.com/{PARTNER}/v2.0")))
    ),
    "wrong-tid": lambda d, role, v: ENTRA.token(
        version=v, roles=[role], tid=str(uuid.UUID(int=d(st.integers(0, 2**128 - 1))))
    ),
    "missing-role": lambda d, role, v: ENTRA.token(
        version=v, roles=d(st.lists(st.sampled_from(sorted(ALL_ROLES - {role})), max_size=5))
    ),
    "no-roles": lambda d, role, v: ENTRA.token(version=v),
    "mutated": _mutated,
    "oversized": lambda d, role, v: ENTRA.token(
        version=v, roles=[role], pad="x" * d(st.integers(MAX_TOKEN_CHARS, 20_000))
    ),
    "garbage": lambda d, role, v: d(
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=300)
    ),
    "jwt-shaped-garbage": lambda d, role, v: (
        "eyJ" + ".".join(d(st.lists(st.text(alphabet=B64, min_size=2, max_size=80), min_size=3, max_size=3)))
    ),
}


@st.composite
def requests_with_bad_tokens(draw: st.DrawFn) -> tuple[str, Route, func.HttpRequest, str]:
    route = draw(st.sampled_from(FUZZED))
    out_of_scope = draw(st.integers(0, 9)) == 0
    kind = "out-of-scope" if out_of_scope else draw(st.sampled_from(sorted(MAKERS)))
    if out_of_scope:  # a perfectly good token, for a tenant its caller may not reach
        token = ENTRA.token(roles=[route.role])
    else:
        token = MAKERS[kind](draw, route.role, draw(st.sampled_from(["1.0", "2.0"])))
    tenant = TENANT_B if out_of_scope else TENANT_A
    route_params = {
        "tenantId": tenant,
        "machine": MACHINE_A1,
        "actionId": ACTION_ID,
        "alertId": "da637",
        "incidentId": "42",
    }
    params = {"name": "web01.contoso.com"} if route.operation == "lookup" else {}
    scheme = draw(st.sampled_from(["Bearer", "bearer", "BEARER"]))
    request = func.HttpRequest(
        route.method, "https://relay.example/api/" + route.template.format(**route_params),
        headers={"Content-Type": "application/json", "Authorization": f"{scheme} {token}"}, params=params,
        route_params={k: route_params[k] for k in route.path_params},
        body=json.dumps({"comment": "valid comment"}).encode() if route.method == "POST" else b"",
    )  # fmt: skip
    return kind, route, request, token


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    emea, amer = Tenant(TENANT_A, "Contoso EU", tags=frozenset({"emea"})), Tenant(TENANT_B, "Fabrikam US")
    callers = FakeCallers(caller_entry(SOAR_OID, display_name="SOAR EMEA", tags=["emea"]))
    h = build_harness(tenants=(emea, amer), authenticator=ENTRA.authenticator(callers))
    use_http_api(h.api)
    yield h
    use_http_api(None)


@settings(
    max_examples=1100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=requests_with_bad_tokens())
def test_bad_tokens_are_401_or_403_problems_and_reach_nothing(
    harness: Harness, log_guard: LogGuard, case: tuple[str, Route, func.HttpRequest, str]
) -> None:
    kind, route, request, token = case
    if kind != "garbage":  # garbage may be any text: Hypothesis also draws the string constants of our code
        log_guard.remember(token)  # ("correlation_id" once), which other log lines rightly hold
    response = functions()[route.function_name].get_user_function()(request)
    expected = 403 if kind in ("missing-role", "no-roles", "out-of-scope") else 401
    assert response.status_code == expected, (kind, response.get_body()[:300])
    assert response.mimetype == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["status"] == response.status_code
    assert len(token) < 12 or token not in problem["detail"]  # a short garbage "token" may be any word
    assert harness.defender.total_calls == 0
    assert harness.jobs.sent == []
