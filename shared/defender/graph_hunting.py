"""Advanced hunting through Microsoft Graph: ``POST /v1.0/security/runHuntingQuery`` for one tenant.

The request is ``{"Query": "<KQL>", "Timespan": "<ISO 8601>"}`` (``Timespan`` optional: 30 days when left
out); the answer is ``huntingQueryResults`` = ``{"schema": [{"name", "type"}], "results": [{...}]}``; the
application permission is ``ThreatHunting.Read.All``
(https://learn.microsoft.com/graph/api/security-security-runhuntingquery, docs/microsoft-apis.md §Advanced
hunting). The page's own examples write the schema keys both ``name``/``type`` and ``Name``/``Type``: both
are read.

Refusals become errors the fan-out can act on (the transport has already mapped the HTTP status):

- 400 with a timeout or result-size message: ``HuntLimitError`` (this tenant's data is too large for the
  query; other tenants may be fine). The messages are the documented ones ("Query exceeded the timeout
  period.", "Result size limit exceeded ...", "Query execution has exceeded the allowed result size ...",
  "Query stopped due to excessive resource consumption.": https://learn.microsoft.com/defender-xdr/advanced-hunting-errors,
  https://learn.microsoft.com/defender-endpoint/api/run-advanced-query-api).
- Any other 400: ``HuntQueryError`` carrying Microsoft's own message (syntax or semantic error): the query
  is wrong, so no other tenant needs to be asked.
- 429 (request count or the CPU quota of the 15-minute cycle): ``ThrottledError`` from the transport when
  the wait is long, with ``Retry-After`` honoured.
- 403: ``DefenderForbiddenError`` (no role, or no advanced hunting in the tenant's licence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.defender.client import Transport
from shared.domain.catalogue import HUNTING_PATH, HUNTING_ROLE
from shared.domain.errors import DefenderError, HuntLimitError, HuntQueryError
from shared.domain.tenant import Tenant

# Documented limit messages (module docstring), lower-cased; the first match names the limit.
_LIMIT_MESSAGES: tuple[tuple[str, str], ...] = (
    ("timeout", "timeout"),
    ("timed out", "timeout"),
    ("result size", "result-size"),
    ("excessive resource", "resources"),
)
# How the transport words a refusal: "... answered 400 BadRequest: <Microsoft's message> (request-id ...)".
_UPSTREAM = re.compile(r"answered \d{3}(?: [A-Za-z]+)?: (?P<message>.*?)(?: \(request-id [^)]*\))?$", re.S)


@dataclass(frozen=True)
class HuntColumn:
    name: str
    type: str


@dataclass(frozen=True)
class HuntingAnswer:
    columns: tuple[HuntColumn, ...]
    rows: list[dict[str, Any]]


class GraphHuntingClient:
    """``run_query(tenant, query, timespan=)``: one runHuntingQuery call, its answer, or a typed error."""

    def __init__(self, *, transport: Transport) -> None:
        self._transport = transport

    def run_query(self, tenant: Tenant, query: str, *, timespan: str | None = None) -> HuntingAnswer:
        body: dict[str, str] = {"Query": query}
        if timespan:
            body["Timespan"] = timespan
        try:
            data = self._transport.request(
                tenant, "graph", "POST", HUNTING_PATH, json=body, required_roles=[HUNTING_ROLE]
            )
        except DefenderError as exc:
            if exc.status == 400 and type(exc) is DefenderError:
                raise refusal_error(exc) from exc
            raise
        return parse_answer(data)


def refusal_error(exc: DefenderError) -> DefenderError:
    """A 400 as the limit it names, or as an error of the query itself, with Microsoft's message."""
    matched = _UPSTREAM.search(exc.message)
    upstream = (matched.group("message") if matched else exc.message).strip() or "the query was refused"
    lowered = upstream.lower()
    for needle, limit in _LIMIT_MESSAGES:
        if needle in lowered:
            return HuntLimitError(upstream, limit=limit, status=exc.status, tenant_id=exc.tenant_id)
    return HuntQueryError(upstream, status=exc.status, code=exc.code, tenant_id=exc.tenant_id)


def parse_answer(data: dict[str, Any]) -> HuntingAnswer:
    """``huntingQueryResults`` (either key case); a column missing from the schema but present in rows is kept."""
    schema = data.get("schema") if "schema" in data else data.get("Schema")
    results = data.get("results") if "results" in data else data.get("Results")
    columns: list[HuntColumn] = []
    for item in schema if isinstance(schema, list) else []:
        if isinstance(item, dict):
            name = item.get("name", item.get("Name"))
            kind = item.get("type", item.get("Type"))
            if isinstance(name, str) and name:
                columns.append(HuntColumn(name, str(kind or "String")))
    rows = [row for row in (results if isinstance(results, list) else []) if isinstance(row, dict)]
    known = {c.name for c in columns}
    for row in rows[:1]:  # a schema that misses a column the rows carry still shows it (in row order)
        columns += [HuntColumn(key, "Dynamic") for key in row if key not in known]
    return HuntingAnswer(tuple(columns), rows)
