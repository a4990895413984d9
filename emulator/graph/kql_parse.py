"""The KQL subset the emulated ``runHuntingQuery`` answers, parsed into stages (docs/hunting.md "The KQL subset").

    Table
    | where <condition>            and / or / not(...), parentheses; == != =~ !~ < <= > >=,
                                   has !has has_cs contains !contains contains_cs startswith endswith,
                                   in (...) / in~ (...) / !in (...); ago(7d), datetime(...), now(), timespans
    | project Col1, Col2
    | take N  /  limit N
    | summarize count() by Col1, Col2     (also Name = count(), or no ``by``)
    | order by Col [asc|desc], ...  /  sort by ...

Anything else is refused with ``KqlError``: a parse error names the place ("Query could not be parsed at
'…' on line [1,col]", the form Kusto uses), an operator outside the subset is named as such. The grammar of
each operator is that of the KQL reference (https://learn.microsoft.com/kusto/query/), narrowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

SUPPORTED = "where, project, take, limit, summarize count() [by ...], order by, sort by"
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<datetime>datetime\(\s*[^)]*\))
  | (?P<timespan>\d+(?:\.\d+)?(?:ms|d|h|m|s)\b)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op>==|!=|=~|!~|<=|>=|<|>|=|\||,|\(|\)|in~|!in~|!in\b
           |!has_cs\b|!has\b|!contains_cs\b|!contains\b|!startswith\b|!endswith\b)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.X,
)
_UNITS = {"d": 86_400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
WORD_OPERATORS = frozenset({"has", "has_cs", "contains", "contains_cs", "startswith", "endswith", "in"})


class KqlError(ValueError):
    """The query is outside the subset or malformed; the message is what Graph's 400 carries."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int  # 1-based, as Kusto counts


@dataclass(frozen=True)
class Column:
    name: str
    column: int


@dataclass(frozen=True)
class Literal_:
    value: Any


@dataclass(frozen=True)
class Call:
    name: Literal["ago", "datetime", "now"]
    argument: Any = None


Operand = Column | Literal_ | Call


@dataclass(frozen=True)
class Compare:
    left: Operand
    operator: str
    right: Operand | tuple[Any, ...]


@dataclass(frozen=True)
class Logical:
    operator: Literal["and", "or", "not"]
    parts: tuple[Condition, ...]


Condition = Compare | Logical


@dataclass(frozen=True)
class Stage:
    kind: Literal["where", "project", "take", "summarize", "order"]
    condition: Condition | None = None
    columns: tuple[Column, ...] = ()
    count: int = 0
    alias: str = "count_"
    order: tuple[tuple[Column, bool], ...] = ()  # (column, descending)


@dataclass
class Query:
    table: Column
    stages: list[Stage] = field(default_factory=list)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _parse_error(text[position : position + 10], position + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    return tokens


def _parse_error(near: str, column: int) -> KqlError:
    return KqlError(f"Query could not be parsed at '{near}' on line [1,{column}]")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text.replace("\r", " ").replace("\n", " "))
        self.index = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1] if self.tokens else Token("end", "", 1)
            raise _parse_error("<end>", last.column + len(last.text))
        self.index += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text.lower() != text:
            raise _parse_error(token.text, token.column)
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.text.lower() == text

    def name(self) -> Column:
        token = self.take()
        if token.kind != "name":
            raise _parse_error(token.text, token.column)
        return Column(token.text, token.column)


def parse(text: str) -> Query:
    parser = _Parser(text)
    query = Query(parser.name())
    while parser.peek() is not None:
        parser.expect("|")
        query.stages.append(_stage(parser))
    return query


def _stage(p: _Parser) -> Stage:
    token = p.take()
    word = token.text.lower()
    if word == "where":
        return Stage("where", condition=_or(p))
    if word == "project":
        return Stage("project", columns=_names(p))
    if word in ("take", "limit"):
        number = p.take()
        if number.kind != "number" or "." in number.text:
            raise _parse_error(number.text, number.column)
        return Stage("take", count=int(number.text))
    if word == "summarize":
        return _summarize(p)
    if word in ("order", "sort"):
        p.expect("by")
        return Stage("order", order=_order(p))
    if token.kind == "name":
        raise KqlError(
            f"The '{token.text}' operator is not in the subset of KQL this emulator answers ({SUPPORTED}); "
            "see docs/hunting.md"
        )
    raise _parse_error(token.text, token.column)


def _names(p: _Parser) -> tuple[Column, ...]:
    names = [p.name()]
    while p.at(","):
        p.take()
        names.append(p.name())
    return tuple(names)


def _summarize(p: _Parser) -> Stage:
    alias = "count_"
    if p.peek(1) is not None and p.peek(1).text == "=":  # type: ignore[union-attr]
        alias = p.name().name
        p.take()
    function = p.take()
    if function.text.lower() != "count":
        raise KqlError(f"summarize: only count() is in the subset this emulator answers, not '{function.text}'")
    p.expect("(")
    p.expect(")")
    columns: tuple[Column, ...] = ()
    if p.at("by"):
        p.take()
        columns = _names(p)
    return Stage("summarize", columns=columns, alias=alias)


def _order(p: _Parser) -> tuple[tuple[Column, bool], ...]:
    keys = []
    while True:
        column = p.name()
        descending = True  # KQL's default for order by
        if p.at("asc") or p.at("desc"):
            descending = p.take().text.lower() == "desc"
        keys.append((column, descending))
        if not p.at(","):
            return tuple(keys)
        p.take()


def _or(p: _Parser) -> Condition:
    parts = [_and(p)]
    while p.at("or"):
        p.take()
        parts.append(_and(p))
    return parts[0] if len(parts) == 1 else Logical("or", tuple(parts))


def _and(p: _Parser) -> Condition:
    parts = [_unary(p)]
    while p.at("and"):
        p.take()
        parts.append(_unary(p))
    return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))


def _unary(p: _Parser) -> Condition:
    if p.at("not"):
        p.take()
        p.expect("(")
        inner = _or(p)
        p.expect(")")
        return Logical("not", (inner,))
    if p.at("("):
        p.take()
        inner = _or(p)
        p.expect(")")
        return inner
    left = _operand(p)
    operator = p.take()
    text = operator.text.lower()
    if text in ("in", "in~", "!in", "!in~"):
        return Compare(left, text, _list(p))
    symbolic = operator.kind == "op" and text in ("==", "!=", "=~", "!~", "<", "<=", ">", ">=")
    if symbolic or text.lstrip("!") in WORD_OPERATORS:
        return Compare(left, text, _operand(p))
    raise _parse_error(operator.text, operator.column)


def _list(p: _Parser) -> tuple[Any, ...]:
    p.expect("(")
    values = [_literal(p.take())]
    while p.at(","):
        p.take()
        values.append(_literal(p.take()))
    p.expect(")")
    return tuple(values)


def _operand(p: _Parser) -> Operand:
    token = p.take()
    if token.kind == "datetime":  # datetime(2024-02-01T08:00:00Z): the text inside the parentheses
        return Call("datetime", token.text[token.text.index("(") + 1 : -1].strip().strip("\"'"))
    if token.kind == "name" and token.text.lower() in ("ago", "now") and p.at("("):
        p.take()
        if token.text.lower() == "now":
            p.expect(")")
            return Call("now")
        argument = _literal(p.take())
        p.expect(")")
        return Call("ago", argument)
    if token.kind == "name" and token.text.lower() in ("true", "false"):
        return Literal_(token.text.lower() == "true")
    if token.kind == "name":
        return Column(token.text, token.column)
    return Literal_(_literal(token))


def _literal(token: Token) -> Any:
    if token.kind == "string":
        body = token.text[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    if token.kind == "number":
        return float(token.text) if "." in token.text else int(token.text)
    if token.kind == "timespan":
        unit = "ms" if token.text.endswith("ms") else token.text[-1]
        return timedelta(seconds=float(token.text[: -len(unit)]) * _UNITS[unit])
    raise _parse_error(token.text, token.column)
