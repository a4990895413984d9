"""Saved hunts: a query run on an NCRONTAB schedule by the timer, in Table storage (table ``huntschedules``).

One entity per saved hunt (PartitionKey ``schedule``, RowKey = its id). ``last_slot`` is the scheduled time of
its latest run; the timer moves it under the entity's ETag before starting the run, so a slot is started once
even when a restart makes the timer fire twice (and the hunt id of a slot is derived from it, see
``slot_hunt_id``, so a second start of the same slot finds the hunt already there).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain.errors import HuntNotFoundError, ValidationError

TABLE: Final = "huntschedules"
PARTITION: Final = "schedule"
_NAME = re.compile(r"[\w .:()/-]{1,100}")
_ID = re.compile(r"[a-f0-9]{16}")


@dataclass(frozen=True)
class SavedHunt:
    schedule_id: str
    name: str
    query: str
    schedule: str  # NCRONTAB, 6 fields, UTC
    timespan: str | None
    tenant_ids: tuple[str, ...] | None  # None: every enabled tenant
    created_by: str
    created_at: datetime
    enabled: bool = True
    last_slot: datetime | None = None
    last_hunt_id: str = ""
    etag: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "scheduleId": self.schedule_id, "name": self.name, "query": self.query, "schedule": self.schedule,
            "timespan": self.timespan, "tenants": "all" if self.tenant_ids is None else list(self.tenant_ids),
            "createdBy": self.created_by, "createdAt": _iso(self.created_at), "enabled": self.enabled,
            "lastRun": _iso(self.last_slot), "lastHuntId": self.last_hunt_id or None,
        }  # fmt: skip


def parse_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value.strip()):
        raise ValidationError("name must be 1 to 100 letters, digits, spaces or . : ( ) / - _", field="name")
    return value.strip()


def parse_schedule_id(value: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValidationError(f"scheduleId must be 16 hexadecimal digits (got {str(value)[:40]!r})", field="scheduleId")
    return value


def new_schedule_id() -> str:
    return uuid.uuid4().hex[:16]


def slot_hunt_id(schedule_id: str, slot: datetime) -> str:
    """The hunt id of one scheduled run: the same slot always gives the same id."""
    return f"{schedule_id}-{slot.astimezone(UTC):%Y%m%dt%H%M%S}"


class TableScheduleStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def add(self, saved: SavedHunt) -> SavedHunt:
        self._table.create_entity(_entity(saved))
        return self.get(saved.schedule_id)

    def get(self, schedule_id: str) -> SavedHunt:
        try:
            return _saved(self._table.get_entity(PARTITION, schedule_id))
        except ResourceNotFoundError:
            raise HuntNotFoundError(schedule_id, f"no saved hunt with id {schedule_id!r}") from None

    def list(self) -> list[SavedHunt]:
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})
        return sorted((_saved(e) for e in rows), key=lambda s: (s.name.lower(), s.schedule_id))

    def remove(self, schedule_id: str) -> SavedHunt:
        saved = self.get(schedule_id)
        self._table.delete_entity(PARTITION, schedule_id)
        return saved

    def mark_started(self, saved: SavedHunt, slot: datetime, hunt_id: str) -> bool:
        """Record ``slot`` as started; False when another timer run changed the saved hunt first."""
        entity = {"PartitionKey": PARTITION, "RowKey": saved.schedule_id, "last_slot": slot, "last_hunt_id": hunt_id}
        try:
            self._table.update_entity(
                entity, mode=UpdateMode.MERGE, etag=saved.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True


def started(saved: SavedHunt, slot: datetime, hunt_id: str) -> SavedHunt:
    return replace(saved, last_slot=slot, last_hunt_id=hunt_id)


def _entity(saved: SavedHunt) -> dict[str, Any]:
    tenants = "" if saved.tenant_ids is None else json.dumps(list(saved.tenant_ids))
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION, "RowKey": saved.schedule_id, "name": saved.name, "query": saved.query,
        "schedule": saved.schedule, "timespan": saved.timespan or "", "tenants": tenants,
        "created_by": saved.created_by, "created_at": saved.created_at, "enabled": saved.enabled,
        "last_hunt_id": saved.last_hunt_id,
    }  # fmt: skip
    if saved.last_slot is not None:
        entity["last_slot"] = saved.last_slot
    return entity


def _saved(entity: Mapping[str, Any]) -> SavedHunt:
    tenants = entity.get("tenants") or ""
    last = entity.get("last_slot")
    created = entity.get("created_at")
    return SavedHunt(
        schedule_id=str(entity["RowKey"]),
        name=str(entity.get("name", "")),
        query=str(entity.get("query", "")),
        schedule=str(entity.get("schedule", "")),
        timespan=str(entity.get("timespan") or "") or None,
        tenant_ids=tuple(json.loads(tenants)) if tenants else None,
        created_by=str(entity.get("created_by", "")),
        created_at=created.astimezone(UTC) if isinstance(created, datetime) else datetime.now(UTC),
        enabled=bool(entity.get("enabled", True)),
        last_slot=last.astimezone(UTC) if isinstance(last, datetime) else None,
        last_hunt_id=str(entity.get("last_hunt_id", "")),
        etag=str(getattr(entity, "metadata", {}).get("etag") or "") or None,
    )


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None
