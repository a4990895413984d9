"""Where indicator jobs live: the job record and per-tenant results (table ``indicatorjobs``), and the
indicator sets (container ``indicator-sets``).

Table: PartitionKey = job id; RowKey ``_job`` is the job, RowKey = tenant id is that tenant's latest
result (replaced by a retry, so a crash and a re-run leave one row per tenant). Reading a job's status is
one partition query. Blob: a set is stored once under the SHA-256 of its content, so every tenant job of
a push reads the same immutable blob, and a worker process keeps the sets it has read (a few at a time).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from shared.domain.errors import RelayError
from shared.domain.indicator import Indicator, parse_indicators
from shared.domain.indicator_values import Key
from shared.indicators.jobs import IndicatorJob, JobMessage, Selection, check_kind
from shared.indicators.service import FINAL_STATUSES, TenantResult

JOBS_TABLE: Final = "indicatorjobs"
SETS_CONTAINER: Final = "indicator-sets"
JOB_ROW: Final = "_job"
_MAX_DETAIL_CHARS: Final = 30_000  # a Table string property holds 64 KiB of UTF-16
_SETS_CACHED: Final = 8


class JobNotFoundError(RelayError):
    kind = "job-not-found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"indicator job {job_id} does not exist (job records are kept in table {JOBS_TABLE})")
        self.job_id = job_id


class TableJobStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def create(self, job: IndicatorJob) -> None:
        entity = {
            "PartitionKey": job.job_id, "RowKey": JOB_ROW, "Kind": job.kind, "DryRun": job.dry_run,
            "Selection": json.dumps(job.selection.to_json()), "SetName": job.set_name, "Size": job.size,
            "CreatedAt": job.created_at, "RequestedBy": job.requested_by[:256], "FannedOut": False,
        }  # fmt: skip
        self._table.create_entity(entity, response_preference="return-no-content")

    def get(self, job_id: str) -> IndicatorJob:
        try:
            e = self._table.get_entity(job_id, JOB_ROW)
        except ResourceNotFoundError:
            raise JobNotFoundError(job_id) from None
        planned = e.get("Planned")
        return IndicatorJob(
            job_id=job_id, kind=check_kind(str(e["Kind"])), dry_run=bool(e["DryRun"]),
            selection=Selection.from_json(json.loads(e["Selection"])), set_name=str(e["SetName"]), size=int(e["Size"]),
            created_at=e["CreatedAt"].astimezone(UTC), requested_by=str(e.get("RequestedBy", "")),
            planned=int(planned) if planned is not None else None, fanned_out=bool(e.get("FannedOut")),
        )  # fmt: skip

    def set_planned(self, job_id: str, planned: int) -> None:
        self._merge(job_id, Planned=planned)

    def mark_fanned_out(self, job_id: str) -> None:
        self._merge(job_id, FannedOut=True)

    def _merge(self, job_id: str, **values: Any) -> None:
        self._table.update_entity({"PartitionKey": job_id, "RowKey": JOB_ROW, **values}, mode=UpdateMode.MERGE)

    def save_result(self, job_id: str, result: TenantResult, *, now: datetime) -> None:
        data = result.to_json()
        details = _fit(data.pop("details"))
        entity = {k[0].upper() + k[1:]: v for k, v in data.items()}
        entity.update(PartitionKey=job_id, RowKey=result.tenant_id, UpdatedAt=now, Details=details)
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def results(self, job_id: str) -> list[TenantResult]:
        rows = self._table.query_entities(
            "PartitionKey eq @job and RowKey ne @row", parameters={"job": job_id, "row": JOB_ROW}
        )
        return [_result(e) for e in rows]

    def finished(self, job_id: str) -> set[str]:
        """Tenants of the job with a final result (a fan-out retry does not queue them again)."""
        return {r.tenant_id for r in self.results(job_id) if r.status in FINAL_STATUSES}


def _result(entity: Any) -> TenantResult:
    data = {k[0].lower() + k[1:]: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey", "UpdatedAt")}
    data["details"] = json.loads(entity.get("Details") or "{}")
    data["tenantId"] = entity["RowKey"]
    return TenantResult.from_json(data)


def _fit(details: dict[str, list[str]]) -> str:
    """The details as JSON within one Table property: fewer entries of each kind until they fit."""
    limit = max((len(v) for v in details.values()), default=0)
    while True:
        text = json.dumps({k: v[:limit] for k, v in details.items()})
        if len(text) <= _MAX_DETAIL_CHARS or limit == 0:
            return text
        limit //= 2


class BlobSetStore:
    """Indicator sets and removal targets by content hash (write once, read by every tenant job)."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def put_indicators(self, indicators: Sequence[Indicator]) -> str:
        return self._put({"v": 1, "indicators": [i.to_api() for i in indicators]})

    def put_targets(self, targets: Sequence[Sequence[Key]]) -> str:
        return self._put({"v": 1, "targets": [[list(k) for k in keys] for keys in targets]})

    def indicators(self, name: str, *, created_at: datetime) -> list[Indicator]:
        # Checked again as when the job was made (``now`` = its creation): the stored set is what was accepted.
        items = self._get(name).get("indicators") or []
        return parse_indicators(((f"indicators[{n}]", i) for n, i in enumerate(items)), now=created_at)

    def targets(self, name: str) -> list[list[Key]]:
        return [[(str(k[0]), str(k[1])) for k in keys] for keys in self._get(name).get("targets") or []]

    def _put(self, document: dict[str, Any]) -> str:
        data = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
        name = hashlib.sha256(data).hexdigest() + ".json"
        self._container.upload_blob(name, data, overwrite=True)  # same content, same name: a retry rewrites it
        return name

    def _get(self, name: str) -> dict[str, Any]:
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                self._cache.move_to_end(name)
                return cached
        document: dict[str, Any] = json.loads(self._container.download_blob(name).readall())
        with self._lock:
            self._cache[name] = document
            while len(self._cache) > _SETS_CACHED:
                self._cache.popitem(last=False)
        return document


class QueueJobMessages:
    """``indicator-jobs`` as the request, the fan-out and the throttle hand-back see it."""

    def __init__(self, queue: QueueClient) -> None:
        self._queue = queue  # from StorageClients.queue: base64, as the queue trigger expects

    def send(self, message: JobMessage, *, delay_seconds: int = 0) -> None:
        self._queue.send_message(message.to_json(), visibility_timeout=delay_seconds or None)
