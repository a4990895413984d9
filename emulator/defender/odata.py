"""The OData subset the Defender APIs accept, compiled to Python predicates.

The operators and examples are those of
https://learn.microsoft.com/defender-endpoint/api/exposed-apis-odata-samples and of each list page
(e.g. https://learn.microsoft.com/defender-endpoint/api/get-alerts).

``$filter``: comparisons ``eq ne gt ge lt le``, ``in (...)``, ``and`` / ``or`` / ``not``, parentheses,
``startswith`` / ``endswith`` / ``contains(field,'x')``, ``tolower`` / ``toupper(field)``, lambdas over a
string collection (``machineTags/any(tag: tag eq 'ExampleTag')``, the first example of the OData samples
page in its earlier revisions, https://github.com/MicrosoftDocs/microsoft-365-docs history of
exposed-apis-odata-samples.md; ``all`` likewise; ``any()`` = not empty), string literals with ``''``
escaping, unquoted ISO date-times, numbers, ``null``, ``true`` / ``false``. ``$orderby``: ``field
[asc|desc]`` (comma list). ``$top`` / ``$skip``. Anything else is an :class:`ODataError` whose message
says what was wrong; the API answers it with 400 ``ODataError``. Literals are parsed, never spliced: a
quote inside a value cannot change the query.

String rules, the one place they are decided (the Defender pages are silent; docs/contracts.md §1.6a):
comparisons and ``startswith`` / ``endswith`` / ``contains`` are **case-sensitive**, as OData defines
them (https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html, 5.1.1.1 and
5.1.1.5); a client that wants a case-insensitive match says ``tolower(field) eq 'x'``. Property *names* are
matched case-insensitively (the get-alerts page itself writes ``InvestigationId`` beside ``incidentId``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from emulator.defender.ticks import tick_digit

FieldType = Literal["datetime", "string", "int", "bool", "strings"]  # strings: a collection of strings
Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

_NEVER = object()  # an `in` value no record holds
_ELEMENT = "$element"  # where a lambda's predicate finds the collection element it tests
MAX_DEPTH = 40  # nesting deeper than this is refused instead of exhausting the Python stack
_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
_EDM = {
    "datetime": "Edm.DateTimeOffset", "string": "Edm.String", "int": "Edm.Int64", "bool": "Edm.Boolean",
    "strings": "Collection(Edm.String)",
}  # fmt: skip
_STRING_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "startswith": str.startswith,
    "endswith": str.endswith,
    "contains": lambda value, part: part in value,
}
_CASE_FUNCTIONS: dict[str, Callable[[str], str]] = {"tolower": str.lower, "toupper": str.upper}
Getter = Callable[[Record], Any]


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
    | (?P<punct>[(),/:])
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
class DateTimeLiteral:
    """A date-time literal: its microsecond, and where its ticks fall beside the stamp written for it.

    ``offset`` 0: the literal is that written stamp; -1 / +1: just before / after it (between two stamps
    the emulator can write, so it equals none of them).
    """

    when: datetime
    offset: int


def tick_offset(text: str) -> int:
    """-1, 0 or +1: the literal's 100 ns tick against the one the emulator writes for its microsecond."""
    match = _DT.match(text)
    frac = (match.group(7) or "") if match else ""
    micro = int(frac[:6].ljust(6, "0"))
    given = int(frac[6]) if len(frac) > 6 else 0
    written = tick_digit(micro)
    return (given > written) - (given < written)


# (operator, offset) -> the operator that gives the same answer on microseconds, for a literal between stamps.
_SHIFTED = {
    ("gt", 1): "gt", ("ge", 1): "gt", ("lt", 1): "le", ("le", 1): "le",
    ("gt", -1): "ge", ("ge", -1): "ge", ("lt", -1): "lt", ("le", -1): "lt",
}  # fmt: skip


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
            value = DateTimeLiteral(parse_datetime(raw), tick_offset(raw))
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
        self.scope: str | None = None  # the range variable of the lambda being parsed (lowercase)

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
        name = str(tok.value)
        if self._at("(") and name.lower() in _STRING_FUNCTIONS:
            return self._function(name.lower())
        if self._at("/"):
            return self._lambda(name, depth)
        getter, kind = self._operand(name)
        return self._comparison(getter, kind)

    def _at(self, char: str) -> bool:
        return (
            self.pos < len(self.tokens)
            and self.tokens[self.pos].kind == "punct"
            and self.tokens[self.pos].value == char
        )

    def _operand(self, name: str) -> tuple[Getter, FieldType]:
        """A property, the lambda's range variable, or ``tolower(...)`` / ``toupper(...)`` of one."""
        lowered = name.lower()
        if lowered in _CASE_FUNCTIONS and self._at("("):
            self._expect_punct("(")
            inner_tok = self._next("a property name")
            if inner_tok.kind != "ident":
                raise ODataError(f"{lowered} expects a property name, found '{inner_tok.text}'.")
            inner, kind = self._operand(str(inner_tok.value))
            self._expect_punct(")")
            if kind != "string":
                raise ODataError(f"{lowered} needs a string property; found {_EDM[kind]}.")
            convert = _CASE_FUNCTIONS[lowered]
            return (lambda r: convert(v) if isinstance(v := inner(r), str) else v), "string"
        if self._at("("):
            raise ODataError(f"Unknown function '{name}'.")
        if self.scope is not None and lowered == self.scope:
            return (lambda r: r.get(_ELEMENT)), "string"
        field, kind = self.schema.resolve(name)
        return (lambda r: r.get(field)), kind

    def _function(self, name: str) -> Predicate:
        self._expect_punct("(")
        field_tok = self._next("a property name")
        if field_tok.kind != "ident":
            raise ODataError(f"{name} expects a property name first, found '{field_tok.text}'.")
        getter, kind = self._operand(str(field_tok.value))
        if kind != "string":
            raise ODataError(f"{name} needs a string property; '{field_tok.text}' is {_EDM[kind]}.")
        self._expect_punct(",")
        literal = self._next("a string literal")
        if literal.kind != "str":
            raise ODataError(f"{name} expects a string literal, found '{literal.text}'.")
        self._expect_punct(")")
        test, part = _STRING_FUNCTIONS[name], str(literal.value)
        return lambda r: isinstance(v := getter(r), str) and test(v, part)

    def _lambda(self, name: str, depth: int) -> Predicate:
        """``machineTags/any(tag: tag eq 'x')``, ``.../all(...)``, ``.../any()``."""
        if self.scope is not None and name.lower() == self.scope:
            raise ODataError(f"Syntax error: any / all apply to a collection property; '{name}' is one Edm.String.")
        field, kind = self.schema.resolve(name)
        self._expect_punct("/")
        op_tok = self._next("any or all")
        op = str(op_tok.value).lower() if op_tok.kind == "ident" else ""
        if op not in ("any", "all") or kind != "strings":
            what = f"'{op_tok.text}'" if op not in ("any", "all") else f"{_EDM[kind]} property '{field}'"
            raise ODataError(f"Syntax error: any / all apply to a collection property; found {what}.")
        self._expect_punct("(")
        if op == "any" and self._at(")"):
            self.pos += 1
            return lambda r: bool(r.get(field))
        var_tok = self._next("a range variable")
        if var_tok.kind != "ident" or self.scope is not None:
            raise ODataError(f"Syntax error: expected a range variable in '{self.text}'.")
        self._expect_punct(":")
        self.scope = str(var_tok.value).lower()
        inner = self._or(depth + 1)
        self.scope = None
        self._expect_punct(")")
        quantifier = any if op == "any" else all
        return lambda r: quantifier(inner({_ELEMENT: e}) for e in (r.get(field) or ()))

    def _comparison(self, getter: Getter, kind: FieldType) -> Predicate:
        op_tok = self._next("an operator")
        op = str(op_tok.value).lower() if op_tok.kind == "ident" else ""
        if op == "in":
            return self._in(getter, kind)
        if op not in _OPS:
            raise ODataError(f"Syntax error: expected one of {', '.join(_OPS)}, in; found '{op_tok.text}'.")
        if kind == "strings":
            raise ODataError(
                "A collection property cannot be compared: use any() or all() (e.g. tags/any(t: t eq 'x'))."
            )
        value = self._literal(op_tok.text, kind)
        if isinstance(value, DateTimeLiteral):
            if value.offset == 0:
                return _compare(getter, op, value.when)
            if op in ("eq", "ne"):  # between two stamps: equal to none of them
                return (lambda r: True) if op == "ne" else (lambda r: False)
            return _compare(getter, _SHIFTED[(op, value.offset)], value.when)
        return _compare(getter, op, value)

    def _in(self, getter: Getter, kind: FieldType) -> Predicate:
        """``status in ('New', 'InProgress')`` (OData 4.01 ``in``)."""
        self._expect_punct("(")
        values = [self._literal("in", kind)]
        while self._at(","):
            self.pos += 1
            values.append(self._literal("in", kind))
        self._expect_punct(")")
        allowed = tuple((v.when if v.offset == 0 else _NEVER) if isinstance(v, DateTimeLiteral) else v for v in values)
        return lambda r: getter(r) in allowed

    def _literal(self, field: str, kind: FieldType) -> Any:
        tok = self._next("a value")
        if tok.kind == "ident" and str(tok.value).lower() == "null":
            return None
        found = {"str": "string", "dt": "datetime", "num": "int"}.get(tok.kind)
        if tok.kind == "ident" and str(tok.value).lower() in ("true", "false"):
            found = "bool"
            tok = _Tok("bool", str(tok.value).lower() == "true", tok.text)
        if found is None:
            raise ODataError(f"Syntax error: expected a literal value after '{field}', found '{tok.text}'.")
        if found != kind:
            raise ODataError(
                f"The types '{_EDM[kind]}' and '{_EDM[found]}' are not compatible (after '{field}', value {tok.text})."
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


def _compare(getter: Getter, op: str, value: Any) -> Predicate:
    if op == "eq":
        return lambda r: bool(getter(r) == value)
    if op == "ne":
        return lambda r: bool(getter(r) != value)
    if value is None:
        return lambda r: False  # ordering against null is never true in OData
    ordering = _ORDERING[op]
    return lambda r: (v := getter(r)) is not None and ordering(v, value)


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
