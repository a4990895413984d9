"""Running a parsed query (``kql_parse``) over the emulator's hunting tables: rows in, schema and rows out.

Semantics follow the KQL reference for the operators of the subset (https://learn.microsoft.com/kusto/query/):
``==``/``!=`` are case-sensitive and ``=~``/``!~`` are not; ``has`` matches a whole term, ``contains`` any
substring, both case-insensitive unless ``_cs``; ``startswith``/``endswith`` are case-insensitive; ``in`` is
case-sensitive, ``in~`` not; an absent string is the empty string (Kusto strings are never null), and any other
absent value makes a comparison false; ``order by`` is descending unless
``asc``, with empty values last when descending and first when ascending; ``summarize count()`` names its
column ``count_``. A column the query names that the table (or an earlier stage) does not have is the
semantic error Kusto reports: "'where' operator: Failed to resolve scalar expression named 'X'".
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.graph.kql_parse import Column, Compare, Condition, KqlError, Literal_, Logical, Operand, Query

_TERM_EDGE = r"(?<![A-Za-z0-9]){}(?![A-Za-z0-9])"
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": op.eq, "!=": op.ne, "<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge,
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    name: str
    columns: Mapping[str, str]  # name -> Graph schema type (String, DateTime, Int64, Boolean, Dynamic)
    rows: list[dict[str, Any]]


def run(query: Query, tables: Mapping[str, Table], now: datetime) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    table = tables.get(query.table.name)
    if table is None:
        raise KqlError(f"Failed to resolve table or column expression named '{query.table.name}'")
    columns = dict(table.columns)
    rows: Iterable[dict[str, Any]] = table.rows
    for stage in query.stages:
        if stage.kind == "where" and stage.condition is not None:
            _check(stage.condition, columns, "where")
            condition = stage.condition
            rows = [row for row in rows if _holds(condition, row, now)]
        elif stage.kind == "project":
            _known(stage.columns, columns, "project")
            names = [c.name for c in stage.columns]
            columns = {name: columns[name] for name in names}
            rows = [{name: row.get(name) for name in names} for row in rows]
        elif stage.kind == "take":
            rows = list(rows)[: stage.count]
        elif stage.kind == "summarize":
            columns, rows = _summarize(stage.columns, stage.alias, columns, rows)
        elif stage.kind == "order":
            _known([c for c, _ in stage.order], columns, "order")
            rows = _ordered_rows(list(rows), stage.order)
    return list(columns.items()), list(rows)


def _ordered_rows(rows: list[dict[str, Any]], keys: tuple[tuple[Column, bool], ...]) -> list[dict[str, Any]]:
    for column, descending in reversed(keys):  # stable sorts, last key first
        name = column.name
        rows.sort(key=lambda row: _sort_key(row.get(name)), reverse=descending)  # used at once
    return rows


def _known(names: Iterable[Column], columns: Mapping[str, str], operator: str) -> None:
    for column in names:
        if column.name not in columns:
            raise KqlError(f"'{operator}' operator: Failed to resolve scalar expression named '{column.name}'")


def _check(condition: Condition, columns: Mapping[str, str], operator: str) -> None:
    if isinstance(condition, Logical):
        for part in condition.parts:
            _check(part, columns, operator)
        return
    operands = [condition.left] + ([condition.right] if not isinstance(condition.right, tuple) else [])
    _known([o for o in operands if isinstance(o, Column)], columns, operator)


def _summarize(
    by: tuple[Column, ...], alias: str, columns: Mapping[str, str], rows: Iterable[dict[str, Any]]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    _known(by, columns, "summarize")
    names = [c.name for c in by]
    groups: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(_hashable(row.get(name)) for name in names)
        groups[key] = groups.get(key, 0) + 1
    if not names and not groups:
        groups[()] = 0  # KQL: summarize without ``by`` over no rows is one row with count 0
    out_columns = {name: columns[name] for name in names} | {alias: "Int64"}
    return out_columns, [{**dict(zip(names, key, strict=True)), alias: count} for key, count in groups.items()]


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def _holds(condition: Condition, row: dict[str, Any], now: datetime) -> bool:
    if isinstance(condition, Logical):
        results = (_holds(part, row, now) for part in condition.parts)
        if condition.operator == "and":
            return all(results)
        if condition.operator == "or":
            return any(results)
        return not next(results)
    return _compare(condition, row, now)


def _value(operand: Operand, row: dict[str, Any], now: datetime) -> Any:
    if isinstance(operand, Column):
        return row.get(operand.name)
    if isinstance(operand, Literal_):
        return operand.value
    if operand.name == "now":
        return now
    if operand.name == "ago":
        if not isinstance(operand.argument, timedelta):
            raise KqlError("ago() takes a timespan, e.g. ago(7d)")
        return now - operand.argument
    return _datetime(str(operand.argument))


def _datetime(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KqlError(f"datetime(): '{text}' is not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(condition: Compare, row: dict[str, Any], now: datetime) -> bool:
    left = _value(condition.left, row, now)
    operator = condition.operator
    if isinstance(condition.right, tuple):  # in / in~ / !in / !in~
        values = condition.right
        if operator in ("in~", "!in~"):
            found = str(left).lower() in {str(v).lower() for v in values} if left is not None else False
        else:
            found = left in values
        return found != operator.startswith("!")
    right = _value(condition.right, row, now)
    if left is None and isinstance(right, str):
        left = ""  # a Kusto string is never null: an absent one is the empty string
    if left is None or right is None:
        return operator in ("!=", "!~") and left != right
    if isinstance(left, datetime) != isinstance(right, datetime):
        left, right = _as_datetime(left), _as_datetime(right)
    negate = operator.startswith("!") and operator not in ("!=", "!~")
    word = operator.lstrip("!")
    if word in ("has", "has_cs", "contains", "contains_cs", "startswith", "endswith"):
        return _text_match(word, str(left), str(right)) != negate
    return _ordered(operator, left, right)


def _as_datetime(value: Any) -> Any:
    return _datetime(value) if isinstance(value, str) else value


def _text_match(word: str, left: str, right: str) -> bool:
    flags = 0 if word.endswith("_cs") else re.IGNORECASE
    if word.startswith("has"):
        return re.search(_TERM_EDGE.format(re.escape(right)), left, flags) is not None
    if word.startswith("contains"):
        return (right in left) if flags == 0 else (right.lower() in left.lower())
    if word == "startswith":
        return left.lower().startswith(right.lower())
    return left.lower().endswith(right.lower())


def _ordered(operator: str, left: Any, right: Any) -> bool:
    if operator in ("=~", "!~"):
        same = str(left).lower() == str(right).lower()
        return same if operator == "=~" else not same
    try:
        return bool(_OPERATORS[operator](left, right))
    except TypeError:
        raise KqlError(f"cannot compare {type(left).__name__} with {type(right).__name__} using '{operator}'") from None
