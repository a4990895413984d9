"""``WebhookSink``: envelopes POSTed to an HTTPS URL with an HMAC-SHA256 ``X-Relay-Signature`` (``sign``);
any non-2xx answer is a ``DeliveryError``, so the job is retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence

import requests

from shared.domain.envelope import EventItem, build_envelopes
from shared.domain.errors import DeliveryError
from shared.ingest.sinks.payloads import BlobPayloads


class WebhookSink:
    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: bytes,
        payloads: BlobPayloads,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._secret = secret
        self._payloads = payloads
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        sent = 0
        for envelope in build_envelopes(tenant_id, feed, items, offload=self._payloads):
            self._post(tenant_id, envelope.encode())
            sent += 1
        return sent

    def _post(self, tenant_id: str, body: bytes) -> None:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Relay-Batch-Id": json.loads(body)["batch_id"],
            "X-Relay-Signature": f"t={timestamp},v1={sign(self._secret, timestamp, body)}",
        }
        try:
            response = self._session.post(self._url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            # ``from None``: requests puts the URL, key included, into its messages, and the Functions host
            # logs a failed invocation's exception with its whole chain.
            raise DeliveryError(f"webhook delivery for tenant {tenant_id} failed: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook refused events of tenant {tenant_id}: HTTP {response.status_code}")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
