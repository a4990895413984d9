"""What a SOAR tool and the rate limiter see of the indicator routes: the OpenAPI document describes their
bodies and 202 answers, and the client-side limiter gives import and BatchDelete their own 30 a minute."""

from __future__ import annotations

from shared.defender.rate_limit import RateLimiter, api_family
from shared.domain.indicator_values import INDICATOR_TYPES
from shared.http.openapi import build_document


def test_the_openapi_document_describes_the_indicator_bodies_and_answers() -> None:
    paths = build_document()["paths"]
    push = paths["/api/indicators/push"]["post"]
    schema = push["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["tenants", "indicators"]
    item = schema["properties"]["indicators"]["items"]
    assert item["properties"]["indicatorType"]["enum"] == list(INDICATOR_TYPES)
    assert "AlertAndBlock" not in item["properties"]["action"]["enum"]
    assert {"202", "422", "409"} <= set(push["responses"])
    assert (
        "dryRun"
        in paths["/api/indicators/sync"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    assert "Idempotency-Key" in {p["name"] for p in paths["/api/indicators/remove"]["post"]["parameters"]}
    assert {p["name"] for p in paths["/api/indicators/jobs/{jobId}"]["get"]["parameters"]} >= {"jobId"}


def test_import_and_batch_delete_have_their_own_quota_of_30_a_minute() -> None:
    assert api_family("mde", "/api/indicators/import") == "indicator-import"
    assert api_family("mde", "/api/indicators/BatchDelete") == "indicator-batchdelete"
    assert api_family("mde", "/api/indicators") == "mde"
    now = [1000.0]
    limiter = RateLimiter(lambda: now[0])
    waits = [limiter.reserve("tenant", "indicator-import") for _ in range(31)]
    assert waits[:30] == [0.0] * 30
    assert 59.0 < waits[30] <= 60.0
    # AND the other indicator routes are not held back by the import quota
    assert limiter.reserve("tenant", "mde") == 0.0
