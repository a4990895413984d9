"""The OData options the Graph security lists document, and the paging they answer with.

``alerts_v2``: "$count, $filter, $skip, $top"; ``$filter`` on assignedTo, classification, determination,
createdDateTime, lastUpdateDateTime, severity, serviceSource and status; "Use @odata.nextLink for pagination"
(https://learn.microsoft.com/graph/api/security-list-alerts_v2). ``incidents``: the same plus ``$expand``
(``alerts``), ``$filter`` without serviceSource (https://learn.microsoft.com/graph/api/security-list-incidents).
Any other system query option (``$orderby``, ``$select``, ``$search`` …) is refused with 400 the way an
ASP.NET OData service refuses an option it does not allow: the emulator's choice, because the pages do not
document them (docs/contracts.md §1.7). ``$filter`` is parsed by the Defender OData parser with this set's
schema. Pages continue through an opaque ``$skiptoken`` on the real host name, like server-driven paging
(https://learn.microsoft.com/graph/paging).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multidict import MultiDict, MultiMapping
from yarl import URL

from emulator.defender.odata import ODataError, Predicate, Schema, parse_count, parse_filter
from emulator.graph.errors import GraphError

# System query options by the name ASP.NET OData gives them in its refusal message.
_OPTION_NAMES = {
    "$filter": "Filter", "$top": "Top", "$skip": "Skip", "$count": "Count", "$expand": "Expand",
    "$orderby": "OrderBy", "$select": "Select", "$search": "Search", "$format": "Format", "$apply": "Apply",
    "$compute": "Compute", "$levels": "Levels", "$deltatoken": "DeltaToken", "$index": "Index",
}  # fmt: skip


@dataclass(frozen=True)
class ListRules:
    entity_set: str  # path segment after /security/: alerts_v2 or incidents
    schema: Schema
    options: frozenset[str]  # the documented options (plus $skiptoken, which the service itself hands out)
    expandable: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ListQuery:
    predicate: Predicate | None
    top: int | None
    offset: int
    count: bool
    expand: frozenset[str]


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _refuse_unlisted(query: MultiMapping[str], rules: ListRules) -> None:
    for name in query:
        lowered = name.lower()
        if not lowered.startswith("$") or lowered in rules.options:
            continue
        option = _OPTION_NAMES.get(lowered)
        if option is not None:
            raise _bad(
                f"Query option '{option}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on "
                "EnableQueryAttribute or QueryValidationSettings."
            )
        raise _bad(f"The query parameter '{name}' is not supported.")


def _option(query: MultiMapping[str], name: str) -> str | None:
    """OData option names are case-insensitive for the service; the last one given wins."""
    values = [value for key, value in query.items() if key.lower() == name]
    return values[-1] if values else None


def _count(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw.strip().lower() not in ("true", "false"):
        raise _bad(f"'$count' query parameter value '{raw}' is not valid. Expected 'true' or 'false'.")
    return raw.strip().lower() == "true"


def _expand(raw: str | None, rules: ListRules) -> frozenset[str]:
    if raw is None:
        return frozenset()
    names = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    for name in names - rules.expandable:
        raise _bad(f"Could not find a property named '{name}' on type '{rules.schema.entity}'.")
    return names


def decode_skiptoken(raw: str) -> int:
    try:
        state = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        offset = state["o"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _bad("The $skiptoken value is not valid.") from exc
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise _bad("The $skiptoken value is not valid.")
    return offset


def encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def parse_list(query: MultiMapping[str], rules: ListRules, *, max_top: int) -> ListQuery:
    """The list request's options, or a :class:`GraphError` 400 naming what is wrong."""
    _refuse_unlisted(query, rules)
    try:
        top = parse_count("$top", _option(query, "$top"), maximum=max_top)
        skip = parse_count("$skip", _option(query, "$skip")) or 0
    except ODataError as exc:
        raise _bad(str(exc)) from exc
    text = _option(query, "$filter")
    try:
        predicate = parse_filter(text, rules.schema) if text is not None else None
    except ODataError as exc:
        raise _bad(f"Invalid filter clause: {exc}") from exc
    token = _option(query, "$skiptoken")
    offset = decode_skiptoken(token) if token is not None else skip
    expand = _expand(_option(query, "$expand"), rules)
    return ListQuery(predicate, top, offset, _count(_option(query, "$count")), expand)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    next_link: str | None


def page_of(
    items: Sequence[Any],
    list_query: ListQuery,
    *,
    page_size: int,
    next_base: str,
    query: Mapping[str, str],
) -> Page:
    """One page from the offset; the next link keeps the client's options and replaces $skip by $skiptoken."""
    size = min(list_query.top, page_size) if list_query.top is not None else page_size
    start = list_query.offset
    chosen = list(items[start : start + size])
    if start + size >= len(items) or size == 0:
        return Page(chosen, len(items), None)
    params: MultiDict[str] = MultiDict(
        (key, value) for key, value in query.items() if key.lower() not in ("$skip", "$skiptoken")
    )
    params["$skiptoken"] = encode_skiptoken(start + size)
    return Page(chosen, len(items), str(URL(next_base).with_query(params)))


def select(items: Sequence[Any], predicate: Predicate | None, record: Callable[[Any], Mapping[str, Any]]) -> list[Any]:
    if predicate is None:
        return list(items)
    return [item for item in items if predicate(record(item))]


def parse_entity(query: MultiMapping[str], rules: ListRules) -> frozenset[str]:
    """The options of a get-by-id request: ``$expand`` where the set has one, nothing else."""
    entity_rules = ListRules(rules.entity_set, rules.schema, rules.options & {"$expand"}, rules.expandable)
    _refuse_unlisted(query, entity_rules)
    return _expand(_option(query, "$expand"), entity_rules)
