"""The merged result of a hunt: every done tenant's rows, one tenant after another, as NDJSON or CSV.

Rows are read one stored chunk at a time (``shared.hunting.results``), so a reader holds one chunk however
large the result: ``stream`` for a whole result (CLI, files), ``read_page`` for an HTTP page of at most
``limit`` rows with an opaque cursor to the next one. Tenants come in name order (then id), each tenant's rows
in Graph's order. Every row starts with ``tenantId`` and ``tenantName``.

CSV: the header is ``tenantId,tenantName`` and then every column any tenant's schema named, in the order
they first appear; values that are objects or lists are written as JSON, a missing value as an empty cell.
Every CSV page starts with the header line, so each page is a CSV file of its own.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from shared.domain.errors import ValidationError
from shared.hunting.model import TenantRun
from shared.hunting.ports import ResultStore

Format = Literal["ndjson", "csv"]
FORMATS: Final[tuple[Format, ...]] = ("ndjson", "csv")
CONTENT_TYPES: Final[dict[Format, str]] = {"ndjson": "application/x-ndjson", "csv": "text/csv"}
LEAD_COLUMNS: Final = ("tenantId", "tenantName")


@dataclass(frozen=True)
class Position:
    tenant: int = 0  # index into the hunt's done runs in reading order
    chunk: int = 0
    line: int = 0

    def cursor(self) -> str:
        raw = f"v1.{self.tenant}.{self.chunk}.{self.line}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class ResultPage:
    body: bytes
    rows: int
    next_cursor: str | None
    content_type: str


def parse_format(value: str | None) -> Format:
    if value is None or value == "":
        return "ndjson"
    if value not in FORMATS:
        raise ValidationError(f"format must be ndjson or csv (got {value[:20]!r})", field="format")
    return value


def parse_cursor(value: str | None) -> Position:
    if not value:
        return Position()
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        version, *numbers = text.split(".")
        tenant, chunk, line = (int(n) for n in numbers)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor is not one this API handed out", field="cursor") from None
    if version != "v1" or min(tenant, chunk, line) < 0:
        raise ValidationError("cursor is not one this API handed out", field="cursor")
    return Position(tenant, chunk, line)


def reading_order(runs: Sequence[TenantRun]) -> list[TenantRun]:
    done = [run for run in runs if run.state == "done" and run.chunks > 0]
    return sorted(done, key=lambda run: (run.tenant_name.lower(), run.tenant_id))


def csv_columns(runs: Sequence[TenantRun]) -> list[str]:
    columns = list(LEAD_COLUMNS)
    seen = set(columns)
    for run in runs:
        for name, _type in run.columns:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    return columns


def _lines(
    results: ResultStore, hunt_id: str, runs: Sequence[TenantRun], start: Position
) -> Iterator[tuple[Position, bytes]]:
    """Every stored line from ``start`` on, with its own position."""
    for index in range(start.tenant, len(runs)):
        run = runs[index]
        first_chunk = start.chunk if index == start.tenant else 0
        for chunk in range(first_chunk, run.chunks):
            lines = results.read_chunk(hunt_id, run.tenant_id, run.attempt, chunk)
            first_line = start.line if (index, chunk) == (start.tenant, start.chunk) else 0
            for number in range(first_line, len(lines)):
                yield Position(index, chunk, number), lines[number]


class _Csv:
    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def header(self) -> bytes:
        return self._row(self.columns)

    def line(self, raw: bytes) -> bytes:
        row: dict[str, Any] = json.loads(raw)
        return self._row([_cell(row.get(name)) for name in self.columns])

    def _row(self, cells: list[str]) -> bytes:
        self._writer.writerow(cells)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def stream(results: ResultStore, hunt_id: str, runs: Sequence[TenantRun], *, fmt: Format) -> Iterator[bytes]:
    """The whole merged result, a line at a time (each ends with a newline)."""
    ordered = reading_order(runs)
    writer = _Csv(csv_columns(ordered)) if fmt == "csv" else None
    if writer is not None:
        yield writer.header()
    for _position, raw in _lines(results, hunt_id, ordered, Position()):
        yield writer.line(raw) if writer is not None else raw + b"\n"


def read_page(
    results: ResultStore, hunt_id: str, runs: Sequence[TenantRun], *, fmt: Format, cursor: str | None, limit: int
) -> ResultPage:
    """At most ``limit`` rows from ``cursor`` on, and the cursor of the next page (None: this is the last)."""
    ordered = reading_order(runs)
    writer = _Csv(csv_columns(ordered)) if fmt == "csv" else None
    body = bytearray(writer.header() if writer is not None else b"")
    count = 0
    for position, raw in _lines(results, hunt_id, ordered, parse_cursor(cursor)):
        if count == limit:
            return ResultPage(bytes(body), count, position.cursor(), CONTENT_TYPES[fmt])
        body += writer.line(raw) if writer is not None else raw + b"\n"
        count += 1
    return ResultPage(bytes(body), count, None, CONTENT_TYPES[fmt])
