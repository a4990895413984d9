"""The HTTP functions as the Functions host indexes and calls them (fakes behind the ``HttpApi``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shared.http.openapi import build_document
from shared.http.routes import ROUTES, SEPARATE_OPERATIONS
from shared.triggers.http import use_http_api
from tests.fakes.actions import MACHINE_A1, TENANT_A, Harness, build_harness
from tests.functional.http_support import call, http_functions, json_body


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = build_harness()
    use_http_api(h.api)
    yield h
    use_http_api(None)


def test_every_route_is_a_registered_function_with_function_key_auth() -> None:
    registered = http_functions()
    assert set(registered) == {r.function_name for r in ROUTES}
    for route in ROUTES:
        trigger = json.loads(registered[route.function_name].get_function_json())["bindings"][0]
        assert trigger["type"] == "httpTrigger"
        assert trigger["authLevel"] == "FUNCTION"
        assert trigger["route"] == route.template
        assert trigger["methods"] == [route.method]


def test_every_route_has_a_handler_so_none_can_answer_500_for_a_missing_one(harness: Harness) -> None:
    # GIVEN the route table WHEN the HTTP API's handlers are compared with it
    served_here = {route.operation for route in ROUTES if route.operation not in SEPARATE_OPERATIONS}
    # THEN every route the HttpApi serves has a handler, and no handler is left without a route
    assert served_here == harness.api.operations


def test_openapi_document_lists_exactly_the_registered_routes_and_methods() -> None:
    document = build_document()
    assert document["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    registered = set()
    for function in http_functions().values():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        registered |= {(f"/api/{trigger['route']}", m) for m in trigger["methods"]}
    assert documented == registered
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_openapi_json_is_served(harness: Harness) -> None:
    response = call("GET", "openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json_body(response)["paths"]


def test_isolate_through_the_registered_function(harness: Harness) -> None:
    response = call("POST", f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", body={"comment": "alert 7"})
    assert response.status_code == 202
    body = json_body(response)
    assert body["action"]["type"] == "Isolate"
    assert response.headers["Location"] == body["statusUrl"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", f"tenants/not-a-guid/machines/{MACHINE_A1}/isolate", {"body": {"comment": "x"}}, 422),
        ("POST", f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", {"body": b"{", "headers": {}}, 400),
        ("POST", f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate",
         {"body": b'{"comment":"x"}', "headers": {"Content-Type": "text/plain"}}, 415),
        ("POST", f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", {"body": b"{" + b" " * 70000 + b"}"}, 413),
        ("POST", f"tenants/{TENANT_A}/machines/{MACHINE_A1}/offboard", {"body": {"comment": "x"}}, 403),
        ("GET", f"tenants/{TENANT_A}/actions/{'0' * 8}-0000-0000-0000-{'0' * 12}", {}, 404),
        ("POST", f"tenants/{TENANT_A}/machines/dup.contoso.com/isolate", {"body": {"comment": "x"}}, 409),
        ("GET", f"tenants/{TENANT_A}/machines", {"params": {"name": "web01", "ip": "10.0.0.1"}}, 422),
    ],
)  # fmt: skip
def test_errors_are_problem_json_with_the_right_status(
    harness: Harness, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    response = call(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = json_body(response)
    assert problem["status"] == status
    assert problem["detail"]
    assert "Traceback" not in response.get_body().decode()


def test_an_unexpected_error_is_a_500_problem_without_details(harness: Harness) -> None:
    harness.defender.fail_with = RuntimeError("secret internals /home/app/shared/defender.py line 12")
    response = call("POST", f"tenants/{TENANT_A}/machines/{MACHINE_A1}/isolate", body={"comment": "x"})
    assert response.status_code == 500
    assert "internals" not in response.get_body().decode()
    assert harness.audit.records[-1].outcome == "failed"
