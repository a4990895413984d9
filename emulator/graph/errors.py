"""Graph error answers: ``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.

The shape is https://learn.microsoft.com/graph/errors; the ``innerError`` members and their format
(``date`` without fraction or zone) are those of real security API answers (e.g. the 403 bodies quoted in
https://github.com/wazuh/wazuh-documentation/issues/7300). Every Graph answer carries ``request-id`` and
``client-request-id`` headers; the client's own ``client-request-id`` is echoed when it sent one.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from aiohttp import web

# What Graph sends for an OData JSON body (the security API answers with the same).
GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


class GraphError(Exception):
    """Raised by Graph handlers and checks; the pipeline turns it into :func:`error_response`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        inner: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.inner = dict(inner or {})  # extra innerError members (the 429 example has code, message, status)


def request_ids(request: web.Request) -> tuple[str, str]:
    """(request-id, client-request-id) for one request: the client's id is echoed, else it is the request id."""
    request_id = str(uuid.uuid4())
    return request_id, request.headers.get("client-request-id") or request_id


def id_headers(request: web.Request) -> dict[str, str]:
    request_id, client_id = request_ids(request)
    return {"request-id": request_id, "client-request-id": client_id}


def error_response(request: web.Request, error: GraphError, now: datetime) -> web.Response:
    request_id, client_id = request_ids(request)
    inner = {
        **error.inner,
        "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_id,
    }
    body = {"error": {"code": error.code, "message": error.message, "innerError": inner}}
    headers = {"request-id": request_id, "client-request-id": client_id, **error.headers}
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=error.status,
        headers={"Content-Type": GRAPH_CONTENT_TYPE, **headers},
    )


def too_many_requests(retry_after: int | None) -> GraphError:
    """The 429 of https://learn.microsoft.com/graph/throttling ("Please retry again later.").

    ``retry_after`` None (or 0 from a fault rule) leaves the header out: "If no Retry-After header is provided by
    the response, we recommend implementing an exponential backoff retry policy" (same page).
    """
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    inner = {"code": "429", "message": "Please retry after", "status": "429"}
    return GraphError(429, "TooManyRequests", "Please retry again later.", headers=headers, inner=inner)
