"""Property-based fuzzing of the triage routes: malformed tenants, ids, machines, headers, query and bodies.

Every generated request starts from a valid one (a tenant that opted in to triage, an alert, incident and
machine that exist) and breaks exactly one part of it. Through the registered functions (real
``func.HttpRequest`` objects) each must be answered 4xx with problem+json, never 5xx, and must not reach
Graph or Defender: the fakes count every call. Derandomized, so a run is repeatable; over 600 requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.http.routes import TRIAGE_ROUTES, Route
from shared.triage import fields
from shared.triage.fields import ALERT_ENUMS, INCIDENT_ENUMS
from shared.triage.fields import _Enum as EnumSpec
from shared.triggers.http import use_http_api
from tests.fakes.actions import TENANT_T, Harness, build_harness
from tests.fakes.triage import graph_alert, graph_incident
from tests.functional.http_support import assert_refused, functions

ALERT, INCIDENT, MACHINE = "da637551227677560813_-961444813", "2972395", "1" * 40
INVALID_STATUSES = {400, 404, 405, 413, 415, 422}
EXAMPLES = 650
VALID_BODIES: dict[str, dict[str, Any]] = {
    "alert-update": {"status": "resolved"},
    "incident-update": {"status": "resolved", "customTags": ["case-1"]},
    "alert-comment": {"comment": "closed by playbook"},
    "incident-comment": {"comment": "closed by playbook"},
    "alert-batch-update": {"alertIds": [ALERT], "status": "resolved", "comment": "closed"},
    "machine-tag": {"value": "contained", "action": "Add"},
}
_SPECS: tuple[EnumSpec, ...] = (*ALERT_ENUMS, *INCIDENT_ENUMS)
ANY_ALLOWED = {value for spec in _SPECS for value in spec.allowed}

text = st.text(max_size=30)
not_an_enum = st.one_of(
    text.filter(lambda t: t not in ANY_ALLOWED), st.integers(), st.none(), st.lists(text, max_size=2)
)


def _field(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return values.map(lambda value: {name: value})


# Each is invalid for every triage route: where the route knows the field its value is wrong, elsewhere the
# field itself is unknown.
bad_fields = st.one_of(
    *(_field(name, not_an_enum) for name in ("status", "classification", "determination")),
    _field(
        "assignedTo",
        st.one_of(
            st.integers(), st.just(""), st.lists(text, max_size=2), st.text(alphabet="ab", min_size=257, max_size=260)
        ),
    ),
    _field(
        "customTags",
        st.one_of(
            text,
            st.integers(),
            st.lists(st.integers(), min_size=1),
            st.just(["dup", "dup"]),
            st.just([f"t{i}" for i in range(51)]),
        ),
    ),
    _field(
        "comment",
        st.one_of(st.just(""), st.integers(), st.lists(text), st.text(alphabet="ab", min_size=1001, max_size=1010)),
    ),
    _field(
        "alertIds",
        st.one_of(
            st.just([]),
            text,
            st.lists(st.integers(), min_size=1),
            st.just(["a", "a"]),
            st.just([f"a{i}" for i in range(101)]),
            st.lists(st.text(min_size=1).map(lambda t: t + "/"), min_size=1),
        ),
    ),
    _field("value", st.one_of(st.just(""), st.integers(), st.text(alphabet="ab", min_size=129, max_size=130))),
    _field("action", text.filter(lambda t: t not in fields.TAG_ACTIONS)),
    st.dictionaries(st.text(min_size=1, max_size=8).map(lambda k: "x_" + k), text, min_size=1, max_size=2),
)
whole_bodies = st.one_of(
    st.binary(max_size=120).filter(lambda b: not _is_json_object(b)),
    st.just(b"{}"),
    st.just(b'{"status": "resolved", "status": "new"}'),
    st.just(b"[" * 5000),
    st.just(b'{"comment": "' + b"x" * (64 * 1024) + b'"}'),
    st.lists(text, max_size=3).map(lambda items: json.dumps(items).encode()),
)
bad_alert_ids = st.one_of(st.text(max_size=140).filter(lambda s: not fields._ALERT_ID.fullmatch(s)), st.just("x" * 129))
bad_incident_ids = st.text(max_size=30).filter(lambda s: not s.isascii() or not s.isdigit() or len(s) > 19)
bad_tenants = st.text(max_size=60).filter(lambda s: len(s.replace("-", "")) != 32)
bad_machines = st.one_of(
    st.text(max_size=80).filter(lambda s: any(c in s for c in " '\"*/\\?#()&%=,;:\x00") or not s), st.just("a" * 254)
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
PARTS = ("tenant", "item", "body", "whole-body", "content-type", "params", "idempotency-key")


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


def _item_param(route: Route) -> str | None:
    return next((p for p in route.path_params if p in ("alertId", "incidentId", "machine")), None)


@st.composite
def malformed(draw: st.DrawFn) -> tuple[Route, func.HttpRequest]:
    route = draw(st.sampled_from(TRIAGE_ROUTES))
    values = {"tenantId": TENANT_T, "alertId": ALERT, "incidentId": INCIDENT, "machine": MACHINE}
    body: Any = dict(VALID_BODIES[route.operation])
    headers = {"Content-Type": "application/json", "Idempotency-Key": "fuzz-key"}
    params: dict[str, str] = {}
    broken = draw(st.sampled_from(PARTS))
    item = _item_param(route)
    if broken == "item" and item is None:
        broken = "tenant"
    if broken == "tenant":
        values["tenantId"] = draw(bad_tenants)
    elif broken == "item":
        strategy = {"alertId": bad_alert_ids, "incidentId": bad_incident_ids, "machine": bad_machines}[str(item)]
        values[str(item)] = draw(strategy)
    elif broken == "body":
        body = {**body, **draw(bad_fields)}
    elif broken == "whole-body":
        body = draw(whole_bodies)
    elif broken == "content-type":
        headers["Content-Type"] = draw(
            header_values.filter(lambda v: not v.strip().lower().startswith("application/json"))
        )
    elif broken == "params":
        params = draw(st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "code"), text, min_size=1,
                                      max_size=2))  # fmt: skip
    else:
        headers["Idempotency-Key"] = draw(st.one_of(st.just(""), st.just("k" * 256), text.map(lambda t: t + "\u00e9 ")))
    headers.update(draw(st.dictionaries(st.sampled_from(["X-Relay-Caller", "Accept"]), header_values, max_size=2)))
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    path = "/api/" + route.template.format(**values)
    request = func.HttpRequest(
        route.method, "https://relay.example" + path.replace(" ", "%20"), headers=headers, params=params,
        route_params={name: values[name] for name in route.path_params}, body=raw,
    )  # fmt: skip
    return route, request


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = build_harness()
    h.triage.add(TENANT_T, "alert", graph_alert(ALERT))
    h.triage.add(TENANT_T, "incident", graph_incident(INCIDENT))
    use_http_api(h.api)
    yield h
    use_http_api(None)


def test_the_valid_requests_the_fuzzer_starts_from_are_accepted() -> None:
    # GIVEN the unbroken request of every triage route WHEN it is sent THEN it succeeds (so every refusal
    # below is caused by the one part the fuzzer broke)
    h = build_harness()
    h.triage.add(TENANT_T, "alert", graph_alert(ALERT))
    h.triage.add(TENANT_T, "incident", graph_incident(INCIDENT))
    use_http_api(h.api)
    try:
        for route in TRIAGE_ROUTES:
            values = {"tenantId": TENANT_T, "alertId": ALERT, "incidentId": INCIDENT, "machine": MACHINE}
            request = func.HttpRequest(
                route.method, "https://relay.example/api/" + route.template.format(**values),
                headers={"Content-Type": "application/json", "Idempotency-Key": f"valid-{route.operation}"},
                route_params={name: values[name] for name in route.path_params},
                body=json.dumps(VALID_BODIES[route.operation]).encode(),
            )  # fmt: skip
            response = functions()[route.function_name].get_user_function()(request)
            assert response.status_code == 200, (route.operation, response.get_body()[:300])
    finally:
        use_http_api(None)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=malformed())
def test_malformed_triage_requests_are_4xx_problems_and_never_reach_upstream(
    harness: Harness, case: tuple[Route, func.HttpRequest]
) -> None:
    route, request = case
    assert_refused(route, request, statuses=INVALID_STATUSES, upstream_calls=lambda: harness.defender.total_calls)
