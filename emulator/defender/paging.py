"""Collection responses: OData options applied to a list of records, and the page envelope.

``$top`` caps the page and, when given, no ``@odata.nextLink`` comes back (seen in real answers, not
documented: https://github.com/MicrosoftDocs/microsoft-365-docs/issues/8316); without ``$top`` the service
pages by itself and links the next page with ``$skip`` added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict

from emulator.defender.jsonfmt import ApiError
from emulator.defender.odata import ODataError, Record, Schema, apply_orderby, parse_count, parse_filter, parse_orderby
from emulator.defender.ordering import OrderMode


@dataclass(frozen=True)
class CollectionRules:
    schema: Schema
    max_top: int  # larger $top -> 400 (alerts/machines/actions 10,000; incidents 100)
    # XDR answers an oversized $top with BadRequest (https://github.com/demisto/content/pull/12434)
    top_error_code: str = "ODataError"
    default_order: tuple[tuple[str, bool], ...] = ()
    key_field: str = "id"  # what the order-ignoring mode hashes


def select(
    request: web.Request,
    records: Sequence[Record],
    rules: CollectionRules,
    page_size: int,
    *,
    ordering: OrderMode | None = None,
) -> tuple[list[Record], str | None]:
    """Filter, order and page ``records``; return the page and the next link (or None).

    In the order-ignoring mode (``ordering.ignore_order``) ``$orderby`` is still checked but not applied.
    """
    query = request.rel_url.query
    try:
        top = parse_count("$top", query.get("$top"), maximum=rules.max_top)
        skip = parse_count("$skip", query.get("$skip")) or 0
        chosen: Sequence[Record] = records
        if (text := query.get("$filter")) is not None:
            predicate = parse_filter(text, rules.schema)
            chosen = [record for record in chosen if predicate(record)]
        order = parse_orderby(query["$orderby"], rules.schema) if "$orderby" in query else list(rules.default_order)
        if ordering is not None and ordering.ignore_order:
            chosen = ordering.arrange(chosen, lambda record: record.get(rules.key_field))
        elif order:
            chosen = apply_orderby(chosen, order)
    except ODataError as exc:
        code = rules.top_error_code if "for Top query" in str(exc) else "ODataError"
        raise ApiError(400, code, f"Invalid ODataQuery: {exc}") from exc
    if top is not None:
        return list(chosen[skip : skip + top]), None
    page = list(chosen[skip : skip + page_size])
    if skip + page_size >= len(chosen):
        return page, None
    params = MultiDict(query)
    params.popall("$skip", None)
    params["$skip"] = str(skip + page_size)
    return page, str(request.url.with_query(params))


def envelope(
    context: str, items: list[Record], next_link: str | None, render: Callable[[Record], Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.context": context, "value": [render(item) for item in items]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body
