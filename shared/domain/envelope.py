"""Event items and the envelopes that carry them to consumers (docs/contracts.md §5, docs/event-consumers.md
"The envelope").

An envelope is UTF-8 JSON of at most ``MAX_ENVELOPE_BYTES`` (48 KB: a Storage queue message is 64 KB
after base64, docs/microsoft-apis.md §Queue trigger)::

    {"v": 1, "kind": "defender-relay.events", "tenant_id": "...", "feed": "graph-alerts",
     "batch_id": "...", "produced_at": "ISO",
     "items": [{"dedup_key": "tenant:alert:id:version", "kind": "alert", "id": "...", "version": "...",
                "api": "graph", "providerAlertId": "...", "incidentId": "...", "graphId": "...",
                "data": {...}},
               {"dedup_key": "...", "kind": "alert", "id": "...", "version": "...", "api": "mde", ...,
                "blob": "defender-payloads/<path>"}]}

An item too large to fit an envelope on its own goes to blob storage (claim check) and its entry
carries ``blob`` instead of ``data``. Delivery is at-least-once: a consumer drops an item whose
``dedup_key`` (tenant, kind, id, version) it has already processed.

``api`` says which API the item came from (``mde``, ``xdr``, ``graph``); ``providerAlertId``,
``incidentId`` and ``graphId`` let a consumer correlate an alert or incident across the switch from the
MDE/XDR feeds to Graph (docs/event-consumers.md "Correlating across the switch to Graph").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from shared.domain.catalogue import FEED_SPECS, Feed, ItemKind
from shared.domain.job import format_time

ENVELOPE_VERSION: Final = 1
ENVELOPE_KIND: Final = "defender-relay.events"
MAX_ENVELOPE_BYTES: Final = 48 * 1024
__all__ = ["EventItem", "ItemKind", "build_envelopes", "event_item", "payload_path"]


@dataclass(frozen=True)
class EventItem:
    tenant_id: str
    kind: ItemKind
    id: str
    version: str  # the change time (lastUpdateTime / lastUpdateDateTime) exactly as the API wrote it
    data: Mapping[str, Any]
    api: str = ""  # mde | xdr | graph
    provider_alert_id: str | None = None
    incident_id: str | None = None
    graph_id: str | None = None

    @property
    def dedup_key(self) -> str:
        return f"{self.tenant_id}:{self.kind}:{self.id}:{self.version}"

    def entry(self) -> dict[str, Any]:
        return {
            "dedup_key": self.dedup_key, "kind": self.kind, "id": self.id, "version": self.version, "api": self.api,
            "providerAlertId": self.provider_alert_id, "incidentId": self.incident_id, "graphId": self.graph_id,
        }  # fmt: skip


def event_item(tenant_id: str, feed: Feed, raw: Mapping[str, Any], version: str) -> EventItem:
    """The envelope item of one version read from ``feed``, with the ids that correlate it across APIs.

    An MDE alert's id is what Graph calls its ``providerAlertId``; an XDR incident's ``incidentId`` is the
    Graph incident's ``id`` (https://learn.microsoft.com/graph/api/resources/security-alert,
    .../security-incident). A Graph id is only known for Graph items.
    """
    spec = FEED_SPECS[feed]
    item_id = str(raw[spec.id_field])
    provider = graph = None
    if spec.resource == "graph":
        graph = item_id
        provider = _text(raw.get("providerAlertId")) if spec.kind == "alert" else None
        incident = item_id if spec.kind == "incident" else _text(raw.get("incidentId"))
    else:
        provider = item_id if spec.kind == "alert" else None
        incident = _text(raw.get("incidentId"))
    return EventItem(tenant_id, spec.kind, item_id, version, raw, spec.resource, provider, incident, graph)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


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
