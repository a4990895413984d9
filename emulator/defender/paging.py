"""Collection responses: OData options applied to a list of records, and the page envelope.

``$top`` caps the page and, when given, no ``@odata.nextLink`` comes back (seen in real answers, not
documented: https://github.com/MicrosoftDocs/microsoft-365-docs/issues/8316), so the page is ``$top`` records
whatever the page-size settings say; without ``$top`` the service pages by itself (the control API's
``alerts_page_size`` / ``incidents_page_size``) and links the next page with ``$skip`` added. The link
names the real host (``https://api.security.microsoft.com/api/...``) as ``@odata.context`` does: a client
maps it through its host overrides, as it maps the first request.

``$select`` and ``$count=true`` are OData V4 options: honoured where the route's page says it "Supports
OData V4 queries" (the MDE lists), refused with 400 where the page lists its operators and they are not
among them (XDR incidents: "$filter ..., $top ..., $skip"), see :class:`CollectionRules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiDict

from emulator.defender.jsonfmt import ApiError
from emulator.defender.odata import ODataError, Record, Schema, apply_orderby, parse_count, parse_filter, parse_orderby
from emulator.defender.ordering import OrderMode

_SAFE = "$,'():"  # left as they are in a next link's query, as real links show them


@dataclass(frozen=True)
class CollectionRules:
    schema: Schema
    max_top: int  # larger $top -> 400 (alerts/machines/actions 10,000; incidents 100)
    # XDR answers an oversized $top with BadRequest (https://github.com/demisto/content/pull/12434)
    top_error_code: str = "ODataError"
    default_order: tuple[tuple[str, bool], ...] = ()
    # Every property of the entity, in the API's order ($select names them); empty: $select is refused.
    properties: tuple[str, ...] = ()
    count: bool = True  # $count=true answered with @odata.count; False: refused
    key_field: str = "id"  # what the order-ignoring mode hashes


@dataclass(frozen=True)
class Page:
    items: list[Record]
    next_link: str | None
    count: int | None  # @odata.count, when $count=true
    fields: tuple[str, ...] | None  # $select, in the entity's order; None: every property

    def shape(self, record: Mapping[str, Any], *, keep: tuple[str, ...] = ()) -> dict[str, Any]:
        """The record with only the selected properties (and ``keep``, e.g. an expanded ``evidence``)."""
        if self.fields is None:
            return dict(record)
        wanted = set(self.fields) | set(keep)
        return {name: value for name, value in record.items() if name in wanted}


def _not_allowed(option: str) -> ApiError:
    # ASP.NET OData's words for a query option a route does not enable.
    name = option.lstrip("$").capitalize()
    return ApiError(
        400,
        "ODataError",
        f"Invalid ODataQuery: Query option '{name}' is not allowed. To allow it, set the 'AllowedQueryOptions' "
        "property on EnableQueryAttribute or QueryValidationSettings.",
    )


def _selected(raw: str | None, rules: CollectionRules) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not rules.properties:
        raise _not_allowed("$select")
    names: set[str] = set()
    by_lower = {name.lower(): name for name in rules.properties}
    for part in raw.split(","):
        name = by_lower.get(part.strip().lower())
        if name is None:
            raise ApiError(
                400,
                "ODataError",
                f"Invalid ODataQuery: Could not find a property named '{part.strip()}' "
                f"on type '{rules.schema.entity}'.",
            )
        names.add(name)
    return tuple(name for name in rules.properties if name in names)


def _counted(raw: str | None, rules: CollectionRules) -> bool:
    if raw is None:
        return False
    if not rules.count:
        raise _not_allowed("$count")
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise ApiError(400, "ODataError", f"Invalid ODataQuery: '{raw}' is not a valid count option.")
    return value == "true"


def query(
    request: web.Request,
    records: Sequence[Record],
    rules: CollectionRules,
    page_size: int,
    *,
    host: str,
    ordering: OrderMode | None = None,
) -> Page:
    """Every OData option of a list request applied to ``records``; links name the real ``host``.

    In the order-ignoring mode (``ordering.ignore_order``) ``$orderby`` is still checked but not applied.
    """
    params = request.rel_url.query
    fields = _selected(params.get("$select"), rules)
    counted = _counted(params.get("$count"), rules)
    chosen, top, skip = _filtered(request, records, rules, ordering)
    count = len(chosen) if counted else None
    if top is not None:
        return Page(list(chosen[skip : skip + top]), None, count, fields)
    page = list(chosen[skip : skip + page_size])
    if skip + page_size >= len(chosen):
        return Page(page, None, count, fields)
    following = MultiDict(params)
    following.popall("$skip", None)
    following["$skip"] = str(skip + page_size)
    return Page(
        page,
        f"https://{host}{request.path}?{urlencode(list(following.items()), quote_via=quote, safe=_SAFE)}",
        count,
        fields,
    )


def count_only(request: web.Request, records: Sequence[Record], rules: CollectionRules) -> int:
    """The ``/$count`` segment: how many records the ``$filter`` keeps (a bare number in the body)."""
    return len(_filtered(request, records, rules)[0])


def _filtered(
    request: web.Request, records: Sequence[Record], rules: CollectionRules, ordering: OrderMode | None = None
) -> tuple[Sequence[Record], int | None, int]:
    """``$filter`` and ``$orderby`` applied; with the parsed ``$top`` and ``$skip``."""
    query_params = request.rel_url.query
    try:
        top = parse_count("$top", query_params.get("$top"), maximum=rules.max_top)
        skip = parse_count("$skip", query_params.get("$skip")) or 0
        chosen: Sequence[Record] = records
        if (text := query_params.get("$filter")) is not None:
            predicate = parse_filter(text, rules.schema)
            chosen = [record for record in chosen if predicate(record)]
        text_order = query_params.get("$orderby")
        order = parse_orderby(text_order, rules.schema) if text_order is not None else list(rules.default_order)
        if ordering is not None and ordering.ignore_order:
            chosen = ordering.arrange(chosen, lambda record: record.get(rules.key_field))
        elif order:
            chosen = apply_orderby(chosen, order)
    except ODataError as exc:
        code = rules.top_error_code if "for Top query" in str(exc) else "ODataError"
        raise ApiError(400, code, f"Invalid ODataQuery: {exc}") from exc
    return chosen, top, skip


def envelope(
    context: str,
    items: list[Record],
    next_link: str | None,
    render: Callable[[Record], Any],
    *,
    count: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.context": context}
    if count is not None:
        body["@odata.count"] = count
    body["value"] = [render(item) for item in items]
    if next_link:
        body["@odata.nextLink"] = next_link
    return body
