"""Reading a tenants file for ``tenants import``: every error names the file, the line and the field.

``load_tenants_json`` names entries by index (``tenants[3]``); an operator editing a 300-line file
needs the line, so each entry's starting line is found by decoding the array element by element.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from shared.domain.errors import ValidationError
from shared.domain.tenant import Tenant, parse_tenant

_TENANTS_KEY = re.compile(r'"tenants"\s*:\s*\[')


def read_tenant_file(path: str) -> list[Tenant]:
    name = "<stdin>" if path == "-" else path
    text = _read(path, name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{name} line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
    items = data.get("tenants") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationError(f'{name}: must be a JSON list of tenants or {{"tenants": [...]}}', field="tenants")
    lines = element_lines(text, isinstance(data, dict))
    tenants: list[Tenant] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        line = lines[index] if index < len(lines) else 0
        where = f"{name} line {line} (tenants[{index}])"
        tenant = parse_tenant(item, where=where)
        if tenant.tenant_id in seen:
            raise ValidationError(f"{where}.tenant_id: duplicate of line {seen[tenant.tenant_id]}", field="tenant_id")
        seen[tenant.tenant_id] = line
        tenants.append(tenant)
    if not tenants:
        raise ValidationError(f"{name}: no tenants in the file", field="tenants")
    return tenants


def _read(path: str, name: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{name}: no such file", field="file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{name}: cannot read ({exc})", field="file") from None


def element_lines(text: str, wrapped: bool) -> list[int]:
    """1-based line where each element of the tenants array starts (best effort; [] if not found)."""
    match = _TENANTS_KEY.search(text) if wrapped else re.compile(r"\s*\[").match(text)
    if match is None:
        return []
    decoder = json.JSONDecoder()
    pos = match.end()
    lines: list[int] = []
    while True:
        pos = _skip(text, pos, " \t\r\n")
        if pos >= len(text) or text[pos] == "]":
            return lines
        lines.append(text.count("\n", 0, pos) + 1)
        value: Any
        value, pos = decoder.raw_decode(text, pos)
        del value
        pos = _skip(text, pos, " \t\r\n,")


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos
