"""JSON as the Defender APIs write it: OData headers, 7-digit date-times, the one error body shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator.defender.ticks import tick_digit

# Response headers as captured real answers show them. Compression and chunking are left to the client's
# Accept-Encoding handling in aiohttp; they carry no information a client should depend on.
ODATA_CONTENT_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
BASE_HEADERS = {
    "OData-Version": "4.0",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


_FORMATTED: dict[datetime, str] = {}  # the same timestamps are written out again and again


def format_datetime(value: datetime) -> str:
    """Seven fractional digits (the seventh from :mod:`ticks`), UTC ``Z``; whole seconds without a fraction.

    https://learn.microsoft.com/defender-endpoint/api/alerts
    """
    text = _FORMATTED.get(value)
    if text is None:
        if len(_FORMATTED) > 200_000:
            _FORMATTED.clear()
        text = _FORMATTED[value] = _format(value)
    return text


def _format(value: datetime) -> str:
    value = value.astimezone(UTC)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        base += f".{value.microsecond:06d}{tick_digit(value.microsecond)}"
    return base + "Z"


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(body: Any) -> str:
    return json.dumps(body, default=_default, separators=(",", ":"))


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return raw_json_response(dumps(body).encode(), status=status, headers=headers)


def raw_json_response(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"Content-Type": ODATA_CONTENT_TYPE, **BASE_HEADERS}
    if headers:
        all_headers.update(headers)
    return web.Response(body=body, status=status, headers=all_headers)


def entity_bytes(context: str, entity_json: bytes) -> bytes:
    """``{"@odata.context": ..., <the entity's fields>}`` from the entity's own JSON object bytes."""
    return b'{"@odata.context":' + dumps(context).encode() + b"," + entity_json[1:]


def collection_bytes(context: str, items: list[bytes], next_link: str | None, *, count: int | None = None) -> bytes:
    head = b'{"@odata.context":' + dumps(context).encode()
    if count is not None:
        head += b',"@odata.count":' + str(count).encode()
    tail = b',"@odata.nextLink":' + dumps(next_link).encode() if next_link else b""
    return head + b',"value":[' + b",".join(items) + b"]" + tail + b"}"


def error_response(
    status: int, code: str, message: str, target: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    """The MDE / XDR error body: ``target`` is a correlation id or the tenant.

    https://learn.microsoft.com/defender-endpoint/api/common-errors
    """
    return json_response(
        {"error": {"code": code, "message": message, "target": target}}, status=status, headers=headers
    )


class ApiError(Exception):
    """Raised by handlers; the pipeline turns it into :func:`error_response`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
