"""Graph success bodies: OData collection and entity JSON with the headers Graph sends."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import dumps
from emulator.graph.enums import PREFER_UNKNOWN
from emulator.graph.errors import GRAPH_CONTENT_TYPE, id_headers
from emulator.graph.pipeline import GraphCtx


def json_response(ctx: GraphCtx, body: bytes, *, status: int = 200) -> web.Response:
    headers = {"Content-Type": GRAPH_CONTENT_TYPE, "OData-Version": "4.0", **id_headers(ctx.request)}
    if ctx.include_unknown:
        # RFC 7240: the service says which preference it applied.
        headers["Preference-Applied"] = PREFER_UNKNOWN
    return web.Response(body=body, status=status, headers=headers)


def collection_bytes(context: str, count: int | None, next_link: str | None, items: list[bytes]) -> bytes:
    """``{"@odata.context", ["@odata.count"], ["@odata.nextLink"], "value": [...]}`` from item JSON bytes."""
    head: dict[str, Any] = {"@odata.context": context}
    if count is not None:
        head["@odata.count"] = count
    if next_link is not None:
        head["@odata.nextLink"] = next_link
    return dumps(head).encode()[:-1] + b',"value":[' + b",".join(items) + b"]}"


def entity_bytes(context: str, entity_json: bytes) -> bytes:
    """``{"@odata.context": ..., <the entity's fields>}`` from the entity's JSON object bytes."""
    return dumps({"@odata.context": context}).encode()[:-1] + b"," + entity_json[1:]
