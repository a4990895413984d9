"""``GET /api/tenants`` and ``/api/tenants/{id}/health`` through the registered functions, over fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.http.tenants_api import TenantsApi
from shared.triggers.http_tenants import use_tenants_api
from tests.fakes.ingest import TENANT, FakeCheckpoints, FakeClock, FakeTenants
from tests.functional.http_support import call, json_body


@pytest.fixture
def registry() -> Iterator[FakeTenants]:
    tenants = FakeTenants()
    tenants.add(TENANT)
    use_tenants_api(TenantsApi(registry=tenants, checkpoints=FakeCheckpoints(FakeClock())))
    yield tenants
    use_tenants_api(None)


@pytest.mark.parametrize("path", ["tenants", f"tenants/{TENANT}/health"])
def test_an_unknown_query_parameter_is_refused_with_422_like_on_every_other_route(
    registry: FakeTenants, path: str
) -> None:
    # GIVEN a registry with one tenant WHEN a caller adds a query parameter the route does not take
    refused = call("GET", path, params={"x": "1"})
    # THEN it is a 422 problem naming the parameter, not a 200 that silently ignored it
    assert refused.status_code == 422
    assert refused.mimetype == "application/problem+json"
    assert json_body(refused)["detail"].startswith("unknown query parameter 'x'")
    # AND the same request without it is answered
    assert call("GET", path).status_code == 200
