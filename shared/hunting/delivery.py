"""A saved hunt's new rows, delivered to the sinks as ``hunt-row`` events (docs/event-consumers.md "Hunt rows").

Each run of a saved hunt returns every row its query matches in the timespan, so most rows come back run after
run. A row is delivered once: the run remembers, per (saved hunt, tenant), a hash of every row delivered, and
hands the sinks only the rows it has not seen. The hash is of the row's canonical JSON, so the dedup key
``<tenant>:hunt-row:<saved hunt>:<hash>`` is the same for the same row whichever run found it; a consumer
drops a repeat by it (a run that fails after delivering retries, and delivers those rows again).

Hashes are kept ``KEEP`` long: advanced hunting reaches 30 days back (docs/microsoft-apis.md §Advanced hunting),
so a row older than that cannot come back. The set is one blob per (saved hunt, tenant), written under its
ETag: two overlapping runs of one saved hunt merge their sets instead of one overwriting the other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.domain.envelope import EventItem
from shared.domain.errors import DeliveryError
from shared.domain.tenant import Tenant
from shared.hunting.ports import RowSink, SeenRows

KEEP: Final = timedelta(days=31)
_SAVE_TRIES: Final = 5


def row_hash(row: dict[str, Any]) -> str:
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def hunt_feed(schedule_id: str) -> str:
    """The ``feed`` the sinks see for a saved hunt (envelope ``feed``, archive folder)."""
    return f"hunt-{schedule_id}"


def row_item(schedule_id: str, tenant: Tenant, row: dict[str, Any], digest: str) -> EventItem:
    data = {"tenantId": tenant.tenant_id, "tenantName": tenant.display_name, **row}
    return EventItem(tenant.tenant_id, "hunt-row", schedule_id, digest, data, api="graph")


class SinkDelivery:
    """``deliver_new``: the rows no earlier run of the saved hunt delivered, to every sink, then remembered."""

    def __init__(
        self,
        *,
        sinks: Sequence[RowSink],
        seen: SeenRows,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sinks = tuple(sinks)
        self._seen = seen
        self._clock = clock

    def deliver_new(self, schedule_id: str, tenant: Tenant, rows: Sequence[dict[str, Any]]) -> int:
        delivered = 0
        for _ in range(_SAVE_TRIES):
            seen, etag = self._seen.load(schedule_id, tenant.tenant_id)
            stamp = self._clock().astimezone(UTC).isoformat(timespec="seconds")
            fresh: list[EventItem] = []
            for row in rows:
                digest = row_hash(row)
                if digest not in seen:
                    seen[digest] = stamp
                    fresh.append(row_item(schedule_id, tenant, row, digest))
            if fresh:
                for sink in self._sinks:
                    sink.deliver(tenant.tenant_id, hunt_feed(schedule_id), fresh)
            delivered += len(fresh)
            if self._seen.save(schedule_id, tenant.tenant_id, _recent(seen, self._clock()), etag):
                return delivered
        raise DeliveryError(f"saved hunt {schedule_id}: the delivered rows of tenant {tenant.tenant_id} kept changing")


def _recent(seen: dict[str, str], now: datetime) -> dict[str, str]:
    cutoff = (now - KEEP).astimezone(UTC).isoformat(timespec="seconds")
    return {digest: stamp for digest, stamp in seen.items() if stamp >= cutoff}


class BlobSeenRows:
    """The delivered-row hashes as ``_schedules/<saved hunt>/<tenant>.json`` in ``hunt-results``."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    @staticmethod
    def _name(schedule_id: str, tenant_id: str) -> str:
        return f"_schedules/{schedule_id}/{tenant_id}.json"

    def load(self, schedule_id: str, tenant_id: str) -> tuple[dict[str, str], str | None]:
        try:
            downloader = self._container.download_blob(self._name(schedule_id, tenant_id))
            data, etag = downloader.readall(), downloader.properties.etag
        except ResourceNotFoundError:
            return {}, None
        except AzureError as exc:
            raise DeliveryError(f"could not read the delivered rows of saved hunt {schedule_id}") from exc
        seen = json.loads(data or b"{}")
        return ({str(k): str(v) for k, v in seen.items()} if isinstance(seen, dict) else {}), etag

    def save(self, schedule_id: str, tenant_id: str, seen: dict[str, str], etag: str | None) -> bool:
        body = json.dumps(seen, separators=(",", ":")).encode()
        name = self._name(schedule_id, tenant_id)
        try:
            if etag is None:
                self._container.upload_blob(name, body, overwrite=False)
            else:
                self._container.upload_blob(
                    name, body, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        except AzureError as exc:
            raise DeliveryError(f"could not record the delivered rows of saved hunt {schedule_id}") from exc
        return True
