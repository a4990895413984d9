"""Where delivered items go, behind one small interface (``Sink``).

- ``QueueSink``: envelopes (shared/domain/envelope.py) on the Storage queue ``defender-events``, base64
  like every queue a Functions trigger reads; oversize items claim-checked to ``defender-payloads``.
- ``WebhookSink``: the same envelopes POSTed to an HTTPS URL, signed with HMAC-SHA256. Headers::

      Content-Type: application/json
      X-Relay-Batch-Id: <batch_id>
      X-Relay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

  A receiver recomputes the HMAC over ``f"{t}.".encode() + raw_body``, compares in constant time,
  and refuses a ``t`` older than a few minutes (replay).
- ``ArchiveSink``: NDJSON lines appended to ``defender-archive/<tenant>/<feed>/<YYYY-MM-DD>.ndjson``.

Any failure raises ``DeliveryError``: the worker does not move the checkpoint and the job is retried,
so every sink is at-least-once and consumers drop repeats by ``dedup_key``. Error messages never carry
the webhook URL (it may embed a key) or the signing secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.domain.envelope import EventItem


class Sink(Protocol):
    name: str

    def deliver(self, tenant_id: str, feed: str, items: Sequence[EventItem]) -> int:
        """Deliver every item or raise ``DeliveryError``. Returns the number of messages/requests sent."""
        ...
