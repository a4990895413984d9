"""Indicator files (a baseline, or a set to push): CSV or JSON, every row checked before anything is sent.

JSON: a list of indicator objects, or ``{"indicators": [...]}``, with the API's own field names
(docs/indicators.md). CSV: a header row of those field names, one indicator per line; ``rbacGroupNames``
separated by ``;``, ``generateAlert`` ``true``/``false``, empty cells absent. A problem names the file's line
(JSON: the line where the object starts) and the field, and every problem of the file is listed at once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.domain.errors import ValidationError
from shared.domain.indicator import FIELDS, Indicator, IndicatorSetError, RowProblem, parse_indicators

Row = tuple[str, Mapping[str, Any]]


def load_indicator_file(path: str, *, now: datetime) -> list[Indicator]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM from spreadsheet exports is fine
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: cannot be read as UTF-8 text ({exc})", field="file") from None
    return parse_indicator_text(text, name=path, now=now)


def parse_indicator_text(text: str, *, name: str, now: datetime) -> list[Indicator]:
    """JSON when the first character is ``[`` or ``{``, else CSV. An empty set is refused."""
    stripped = text.lstrip()
    rows = list(json_rows(text, name) if stripped[:1] in ("[", "{") else csv_rows(text, name))
    if not rows:
        raise ValidationError(f"{name}: holds no indicators", field="file")
    return parse_indicators(rows, now=now)


def csv_rows(text: str, name: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    unknown = [h for h in header if h not in FIELDS]
    if unknown or not header:
        raise IndicatorSetError([RowProblem("line 1", unknown[0] if unknown else "header",
                                            f"the header names the fields: {', '.join(FIELDS)}")])  # fmt: skip
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            yield f"line {line}", {"row": f"{len(cells)} cells for {len(header)} columns"}
            continue
        yield f"line {line}", {h: c for h, c in zip(header, cells, strict=False) if c.strip()}


def json_rows(text: str, name: str) -> Iterator[Row]:
    """The indicator objects with the line each starts on (parsed one by one, so the line is known)."""
    decoder = json.JSONDecoder()
    try:
        position = _array_start(text, decoder)
        position = _skip(text, position + 1)
        if text[position : position + 1] == "]":
            return
        while True:
            item, end = decoder.raw_decode(text, position)
            yield f"line {text.count(chr(10), 0, position) + 1}", item
            position = _skip(text, end)
            if text[position : position + 1] == "]":
                return
            if text[position : position + 1] != ",":
                raise ValueError(f"expected ',' or ']' at line {text.count(chr(10), 0, position) + 1}")
            position = _skip(text, position + 1)
    except (ValueError, IndexError) as exc:
        raise ValidationError(f"{name}: not a JSON list of indicators ({exc})", field="file") from None


def _array_start(text: str, decoder: json.JSONDecoder) -> int:
    """Where the list starts: the document itself, or the ``indicators`` member of an object."""
    position = _skip(text, 0)
    if text[position] == "[":
        return position
    if text[position] != "{":
        raise ValueError("the document is neither a list nor an object")
    position = _skip(text, position + 1)
    while text[position] == '"':
        key, position = decoder.raw_decode(text, position)
        position = _skip(text, position)
        if text[position] != ":":
            raise ValueError("expected ':' after a key")
        position = _skip(text, position + 1)
        if key == "indicators":
            if text[position] != "[":
                raise ValueError('"indicators" must be a list')
            return position
        _, position = decoder.raw_decode(text, position)
        position = _skip(text, position)
        if text[position] == ",":
            position = _skip(text, position + 1)
    raise ValueError('the object has no "indicators" list')


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position
