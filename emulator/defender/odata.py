"""The OData subset the Defender APIs accept, compiled to Python predicates.

The operators and examples are those of
https://learn.microsoft.com/defender-endpoint/api/exposed-apis-odata-samples and of each list page
(e.g. https://learn.microsoft.com/defender-endpoint/api/get-alerts).

``$filter``: comparisons ``eq ne gt ge lt le``, ``and`` / ``or`` / ``not``, parentheses,
``startswith(field,'x')``, string literals with ``''`` escaping, unquoted ISO date-times, numbers,
``null``, ``true`` / ``false``. ``$orderby``: ``field [asc|desc]`` (comma list). ``$top`` / ``$skip``.
Anything else is an :class:`ODataError` whose message says what was wrong; the API answers it with
400 ``ODataError``. Literals are parsed, never spliced: a quote inside a value cannot change the query.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

FieldType = Literal["datetime", "string", "int", "bool"]
Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

MAX_DEPTH = 40  # nesting deeper than this is refused instead of exhausting the Python stack
_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
_EDM = {"datetime": "Edm.DateTimeOffset", "string": "Edm.String", "int": "Edm.Int64", "bool": "Edm.Boolean"}


class ODataError(Exception):
    """An invalid OData query option; ``str()`` is the message the API returns."""


@dataclass(frozen=True)
class Schema:
    """The filterable / sortable fields of one entity set, by canonical (case-exact) name."""

    entity: str
    fields: Mapping[str, FieldType]

    def resolve(self, name: str) -> tuple[str, FieldType]:
        # The get-alerts page lists "InvestigationId" next to "incidentId": match case-insensitively.
        for canonical, kind in self.fields.items():
            if canonical.lower() == name.lower():
                return canonical, kind
        raise ODataError(f"Could not find a property named '{name}' on type '{self.entity}'.")


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<badstr>'.*)
    | (?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)?(?:Z|[+-]\d{2}:\d{2})?)(?![\w:.-])
    | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),])
    | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_DT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|([+-])(\d{2}):(\d{2}))?$"
)


def parse_datetime(text: str) -> datetime:
    """An OData DateTimeOffset literal (``2019-11-22T00:00:00Z``, ``2018-08-01Z``, 7 digits allowed)."""
    match = _DT.match(text)
    if not match:
        raise ODataError(
            f"The DateTimeOffset text '{text}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'."
        )
    year, month, day, hour, minute, second, frac, zone, sign, zh, zm = match.groups()
    tz: timezone = UTC
    if zone and zone != "Z":
        offset = timedelta(hours=int(zh), minutes=int(zm))
        tz = timezone(offset if sign == "+" else -offset)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz)
    except ValueError as exc:
        raise ODataError(f"The DateTimeOffset text '{text}' is not a valid date-time: {exc}.") from exc
    return value.astimezone(UTC)


@dataclass(frozen=True)
class _Tok:
    kind: str  # str, dt, num, ident, punct
    value: Any
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:  # only trailing whitespace left
            break
        pos = match.end()
        kind = match.lastgroup or "bad"
        raw = match.group(kind)
        if kind == "badstr":
            raise ODataError(f"There is an unterminated string literal at position {match.start(kind)} in '{text}'.")
        if kind == "bad":
            raise ODataError(
                f"Syntax error: character '{raw}' is not valid at position {match.start(kind)} in '{text}'."
            )
        value: Any = raw
        if kind == "str":
            value = raw[1:-1].replace("''", "'")
        elif kind == "dt":
            value = parse_datetime(raw)
        elif kind == "num":
            value = float(raw) if "." in raw else int(raw)
        tokens.append(_Tok(kind, value, raw))
    return tokens


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.text = text
        self.schema = schema
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Predicate:
        if not self.tokens:
            raise ODataError("The $filter query option is empty.")
        predicate = self._or(0)
        if self.pos != len(self.tokens):
            raise ODataError(
                f"Syntax error at position {self._where()} in '{self.text}': '{self.tokens[self.pos].text}'."
            )
        return predicate

    def _where(self) -> int:
        return sum(len(t.text) + 1 for t in self.tokens[: self.pos])

    def _peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos].kind == "ident":
            return str(self.tokens[self.pos].value).lower()
        return None

    def _next(self, what: str) -> _Tok:
        if self.pos >= len(self.tokens):
            raise ODataError(f"Syntax error: expected {what} at the end of '{self.text}'.")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _expect_punct(self, char: str) -> None:
        tok = self._next(f"'{char}'")
        if tok.kind != "punct" or tok.value != char:
            raise ODataError(f"Syntax error: expected '{char}' but found '{tok.text}' in '{self.text}'.")

    def _or(self, depth: int) -> Predicate:
        parts = [self._and(depth)]
        while self._peek_word() == "or":
            self.pos += 1
            parts.append(self._and(depth))
        return parts[0] if len(parts) == 1 else _any_of(tuple(parts))

    def _and(self, depth: int) -> Predicate:
        parts = [self._unary(depth)]
        while self._peek_word() == "and":
            self.pos += 1
            parts.append(self._unary(depth))
        return parts[0] if len(parts) == 1 else _all_of(tuple(parts))

    def _unary(self, depth: int) -> Predicate:
        if depth > MAX_DEPTH:
            raise ODataError(f"The $filter nests deeper than {MAX_DEPTH} levels.")
        if self._peek_word() == "not":
            self.pos += 1
            inner = self._unary(depth + 1)
            return lambda r: not inner(r)
        tok = self._next("a comparison")
        if tok.kind == "punct" and tok.value == "(":
            inner = self._or(depth + 1)
            self._expect_punct(")")
            return inner
        if tok.kind != "ident":
            raise ODataError(f"Syntax error: expected a property name but found '{tok.text}' in '{self.text}'.")
        if self.pos < len(self.tokens) and self.tokens[self.pos].text == "(":
            return self._function(str(tok.value))
        return self._comparison(str(tok.value))

    def _function(self, name: str) -> Predicate:
        if name.lower() != "startswith":
            raise ODataError(f"Unknown function '{name}'.")
        self._expect_punct("(")
        field_tok = self._next("a property name")
        if field_tok.kind != "ident":
            raise ODataError(f"startswith expects a property name first, found '{field_tok.text}'.")
        field, kind = self.schema.resolve(str(field_tok.value))
        if kind != "string":
            raise ODataError(f"startswith needs a string property; '{field}' is {_EDM[kind]}.")
        self._expect_punct(",")
        literal = self._next("a string literal")
        if literal.kind != "str":
            raise ODataError(f"startswith expects a string literal, found '{literal.text}'.")
        self._expect_punct(")")
        prefix: str = literal.value
        return lambda r: isinstance(v := r.get(field), str) and v.startswith(prefix)

    def _comparison(self, name: str) -> Predicate:
        field, kind = self.schema.resolve(name)
        op_tok = self._next("an operator")
        op = str(op_tok.value).lower() if op_tok.kind == "ident" else ""
        if op not in _OPS:
            raise ODataError(f"Syntax error: expected one of {', '.join(_OPS)} after '{field}', found '{op_tok.text}'.")
        value = self._literal(field, kind)
        return _compare(field, op, value)

    def _literal(self, field: str, kind: FieldType) -> Any:
        tok = self._next("a value")
        if tok.kind == "ident" and str(tok.value).lower() == "null":
            return None
        found = {"str": "string", "dt": "datetime", "num": "int"}.get(tok.kind)
        if tok.kind == "ident" and str(tok.value).lower() in ("true", "false"):
            found = "bool"
            tok = _Tok("bool", str(tok.value).lower() == "true", tok.text)
        if found is None:
            raise ODataError(f"Syntax error: expected a literal value for '{field}', found '{tok.text}'.")
        if found != kind:
            raise ODataError(
                f"The types '{_EDM[kind]}' and '{_EDM[found]}' are not compatible for property '{field}' "
                f"(value {tok.text})."
            )
        return tok.value


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda r: any(p(r) for p in parts)


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    return lambda r: all(p(r) for p in parts)


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _compare(field: str, op: str, value: Any) -> Predicate:
    if op == "eq":
        return lambda r: bool(r.get(field) == value)
    if op == "ne":
        return lambda r: bool(r.get(field) != value)
    if value is None:
        return lambda r: False  # ordering against null is never true in OData
    ordering = _ORDERING[op]
    return lambda r: (v := r.get(field)) is not None and ordering(v, value)


def parse_filter(text: str, schema: Schema) -> Predicate:
    return _Parser(text, schema).parse()


def parse_orderby(text: str, schema: Schema) -> list[tuple[str, bool]]:
    """``[(field, descending)]`` from ``lastUpdateTime desc, id``."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"Syntax error in $orderby '{text}': expected 'property [asc|desc]'.")
        field, _ = schema.resolve(words[0])
        keys.append((field, len(words) == 2 and words[1].lower() == "desc"))
    return keys


def apply_orderby(records: Iterable[Record], keys: list[tuple[str, bool]]) -> list[Record]:
    result = list(records)
    for field, descending in reversed(keys):  # stable sorts, last key first
        # None sorts first ascending (it never meets a real value in the comparison: the flag differs).
        result.sort(key=_sort_key(field), reverse=descending)
    return result


def _sort_key(field: str) -> Callable[[Record], tuple[bool, Any]]:
    return lambda r: (r.get(field) is not None, r.get(field))


def parse_count(name: str, raw: str | None, *, maximum: int | None = None) -> int | None:
    """``$top`` / ``$skip``: a non-negative integer, at most ``maximum``; None when absent."""
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise ODataError(
            f"Invalid value '{raw}' for {name} query option found. "
            f"The {name} query option requires a non-negative integer value."
        )
    value = int(raw)
    if maximum is not None and value > maximum:
        raise ODataError(
            f"The limit of '{maximum}' for {name.lstrip('$').capitalize()} query has been exceeded. "
            f"The value from the incoming request is '{value}'."
        )
    return value
