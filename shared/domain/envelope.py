"""Event items and the envelopes that carry them to consumers (docs/contracts.md §5, docs/event-consumers.md
"The envelope").

An envelope is UTF-8 JSON of at most ``MAX_ENVELOPE_BYTES`` (48 KB: a Storage queue message is 64 KB
after base64, docs/microsoft-apis.md §Queue trigger)::

    {"v": 1, "kind": "defender-relay.events", "tenant_id": "...", "feed": "mde-alerts",
     "batch_id": "...", "produced_at": "ISO",
     "items": [{"dedup_key": "tenant:alert:id:version", "kind": "alert", "id": "...", "version": "...",
                "data": {...}},
               {"dedup_key": "...", "kind": "alert", "id": "...", "version": "...",
                "blob": "defender-payloads/<path>"}]}

An item too large to fit an envelope on its own goes to blob storage (claim check) and its entry
carries ``blob`` instead of ``data``. Delivery is at-least-once: a consumer drops an item whose
``dedup_key`` (tenant, kind, id, version) it has already processed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from shared.domain.job import format_time

ENVELOPE_VERSION: Final = 1
ENVELOPE_KIND: Final = "defender-relay.events"
MAX_ENVELOPE_BYTES: Final = 48 * 1024
ItemKind = Literal["alert", "incident"]


@dataclass(frozen=True)
class EventItem:
    tenant_id: str
    kind: ItemKind
    id: str
    version: str  # lastUpdateTime exactly as Defender wrote it
    data: Mapping[str, Any]

    @property
    def dedup_key(self) -> str:
        return f"{self.tenant_id}:{self.kind}:{self.id}:{self.version}"

    def entry(self) -> dict[str, Any]:
        return {"dedup_key": self.dedup_key, "kind": self.kind, "id": self.id, "version": self.version}


# Stores an item's full JSON and returns "container/path" for the envelope entry.
Offload = Callable[[EventItem, bytes], str]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _header(tenant_id: str, feed: str, now: datetime) -> dict[str, Any]:
    return {
        "v": ENVELOPE_VERSION,
        "kind": ENVELOPE_KIND,
        "tenant_id": tenant_id,
        "feed": feed,
        "batch_id": uuid.uuid4().hex,
        "produced_at": format_time(now),
    }


def _close(header: dict[str, Any], entries: list[str]) -> str:
    head = _dumps(header)
    return head[:-1] + ',"items":[' + ",".join(entries) + "]}"


def build_envelopes(
    tenant_id: str,
    feed: str,
    items: Iterable[EventItem],
    *,
    offload: Offload,
    max_bytes: int = MAX_ENVELOPE_BYTES,
    now: datetime | None = None,
) -> Iterator[str]:
    """Pack items, in order, into as few envelopes of at most ``max_bytes`` as they fit in."""
    produced = now or datetime.now(UTC)
    header = _header(tenant_id, feed, produced)
    base = len(_close(header, []).encode())
    entries: list[str] = []
    size = base
    for item in items:
        entry = _dumps({**item.entry(), "data": item.data})
        entry_bytes = len(entry.encode()) + 1  # + the comma between entries
        if base + entry_bytes > max_bytes:
            ref = offload(item, _dumps(item.data).encode())
            entry = _dumps({**item.entry(), "blob": ref})
            entry_bytes = len(entry.encode()) + 1
        if entries and size + entry_bytes > max_bytes:
            yield _close(header, entries)
            header = _header(tenant_id, feed, produced)
            entries, size = [], base
        entries.append(entry)
        size += entry_bytes
    if entries:
        yield _close(header, entries)


def payload_path(item: EventItem) -> str:
    """Blob name for a claim-checked item: stable, so a retried job overwrites instead of duplicating."""
    version = item.version.replace(":", "").replace(".", "")
    return f"{item.tenant_id}/{item.kind}/{item.id}/{version}.json"
