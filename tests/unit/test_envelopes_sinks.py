"""Envelopes (size, order, claim check) and the webhook sink's signature and failure handling."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
import requests

from shared.domain.envelope import MAX_ENVELOPE_BYTES, EventItem, build_envelopes, payload_path
from shared.domain.errors import DeliveryError
from shared.ingest.sinks.webhook import WebhookSink
from tests.fakes.ingest import T0, TENANT


def _item(n: int, size: int = 1500) -> EventItem:
    return EventItem(TENANT, "alert", f"da{n:06}", f"2026-11-01T12:00:{n % 60:02}.1234567Z", {"title": "x" * size})


def test_items_are_packed_in_order_into_envelopes_under_48_kb() -> None:
    items = [_item(n) for n in range(200)]
    envelopes = list(build_envelopes(TENANT, "mde-alerts", items, offload=lambda i, b: pytest.fail("no offload")))
    assert 5 <= len(envelopes) <= 8  # ~300 KB of items: a handful of messages, not 200
    assert all(len(e.encode()) <= MAX_ENVELOPE_BYTES for e in envelopes)
    parsed = [json.loads(e) for e in envelopes]
    assert [i["id"] for p in parsed for i in p["items"]] == [i.id for i in items]
    assert len({p["batch_id"] for p in parsed}) == len(parsed)
    assert parsed[0]["items"][0]["dedup_key"] == f"{TENANT}:alert:da000000:2026-11-01T12:00:00.1234567Z"


def test_an_item_too_large_for_an_envelope_goes_to_blob_and_the_entry_carries_its_reference() -> None:
    stored: dict[str, bytes] = {}

    def offload(item: EventItem, body: bytes) -> str:
        stored[payload_path(item)] = body
        return "defender-payloads/" + payload_path(item)

    big = _item(1, size=60_000)
    (envelope,) = build_envelopes(TENANT, "mde-alerts", [_item(0), big, _item(2)], offload=offload)
    entries = json.loads(envelope)["items"]
    assert [("data" in e, "blob" in e) for e in entries] == [(True, False), (False, True), (True, False)]
    assert entries[1]["blob"] == "defender-payloads/" + payload_path(big)
    assert json.loads(stored[payload_path(big)]) == big.data


class FakeSession(requests.Session):
    def __init__(self, status: int = 204, error: Exception | None = None) -> None:
        super().__init__()
        self.status, self.error = status, error
        self.posts: list[dict[str, Any]] = []

    def post(self, url: str | bytes, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self.error:
            raise self.error
        self.posts.append({"url": url, "body": data, "headers": kwargs["headers"]})
        response = requests.Response()
        response.status_code = self.status
        return response


def _sink(session: FakeSession) -> WebhookSink:
    return WebhookSink(
        url="https://hooks.example/ingest?code=SECRETKEY",
        secret=b"s3cret",
        payloads=lambda item, body: pytest.fail("no offload"),  # type: ignore[arg-type]
        session=session,
        clock=T0.timestamp,
    )


def test_the_webhook_body_is_signed_with_hmac_sha256_over_timestamp_and_body() -> None:
    session = FakeSession()
    assert _sink(session).deliver(TENANT, "mde-alerts", [_item(1)]) == 1
    (post,) = session.posts
    signature = post["headers"]["X-Relay-Signature"]
    t = signature.split(",")[0].removeprefix("t=")
    expected = hmac.new(b"s3cret", t.encode() + b"." + post["body"], hashlib.sha256).hexdigest()
    assert signature == f"t={int(T0.timestamp())},v1={expected}"
    assert post["headers"]["X-Relay-Batch-Id"] == json.loads(post["body"])["batch_id"]


@pytest.mark.parametrize("session", [FakeSession(status=500), FakeSession(error=requests.ConnectionError("refused"))])
def test_a_refused_or_failed_webhook_fails_the_delivery_without_leaking_the_url(session: FakeSession) -> None:
    with pytest.raises(DeliveryError) as caught:
        _sink(session).deliver(TENANT, "mde-alerts", [_item(1)])
    assert "SECRETKEY" not in str(caught.value)
    assert "hooks.example" not in str(caught.value)
