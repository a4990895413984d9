"""An in-memory feed API that answers in any order: the ``Requests`` port of ``shared.defender.feeds``.

It speaks the OData the readers send and nothing more: ``$filter`` with ``ge``/``lt`` on the feed's change
and creation times (and a ``serviceSource`` group), ``$top``, ``$skip``, and Graph's ``@odata.nextLink``.
It never sorts: each answer is the matching items shuffled afresh (``order="random"``), newest first
(``order="newest"``, what the XDR and Graph pages say they do) or as stored. ``before_answer`` runs before
each answer, so a test can write while a reader is between two requests, as Defender does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from shared.defender.transport import ClientStats
from shared.domain.catalogue import ApiResource, FeedSpec
from shared.domain.job import parse_time
from shared.domain.tenant import Tenant

Order = Literal["random", "newest", "stored"]
_CLAUSE = re.compile(r"(\w+) (ge|lt|le|eq) ('[^']*'|\S+)")


class FakeFeedApi:
    def __init__(self, spec: FeedSpec, *, order: Order = "random", seed: int = 7, next_links: bool = False) -> None:
        self.spec = spec
        self.items: list[dict[str, Any]] = []
        self.order = order
        self.rng = random.Random(seed)
        self.next_links = next_links  # answer with at most ``server_page`` items and a nextLink, as Graph may
        self.server_page = 10**9
        self.calls: list[dict[str, Any]] = []
        self.before_answer: Callable[[int], None] | None = None
        self.stats = ClientStats()

    def put(self, item_id: str, changed: datetime | str, created: datetime | str | None = None, **extra: Any) -> None:
        """Add a version (replacing the item's previous one, as an update does)."""
        self.items = [i for i in self.items if i[self.spec.id_field] != item_id]
        item = {self.spec.id_field: item_id, self.spec.time_field: _stamp(changed), **extra}
        item[self.spec.created_field] = _stamp(created if created is not None else changed)
        self.items.append(item)

    def request(
        self,
        tenant: Tenant,
        resource: ApiResource,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        required_roles: Iterable[str] = (),
    ) -> dict[str, Any]:
        assert (method, path, resource) == ("GET", self.spec.path, self.spec.resource)
        assert params is not None
        assert "$orderby" not in params, "a reader must not depend on $orderby"
        return self._answer(dict(params))

    def follow(
        self, tenant: Tenant, resource: ApiResource, link: str, *, required_roles: Iterable[str] = ()
    ) -> dict[str, Any]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        return self._answer({**query, "$top": int(query["$top"]), "$skip": int(query.get("$skip", 0))})

    def _answer(self, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(params)
        if self.before_answer is not None:
            self.before_answer(len(self.calls))
        matching = [dict(i) for i in self.items if _matches(i, params["$filter"])]
        if self.order == "random":
            self.rng.shuffle(matching)
        elif self.order == "newest":
            matching.sort(key=lambda i: parse_time(i[self.spec.time_field]), reverse=True)
        skip, top = int(params.get("$skip", 0)), int(params["$top"])
        size = min(top, self.server_page) if self.next_links else top
        page: dict[str, Any] = {"value": matching[skip : skip + size]}
        if self.next_links and skip + size < len(matching):
            query = {**params, "$skip": skip + size}
            page["@odata.nextLink"] = "https://graph.microsoft.com" + self.spec.path + "?" + urlencode(query)
        return page


def _stamp(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _matches(item: Mapping[str, Any], text: str) -> bool:
    for part in text.replace("(", "").replace(")", "").split(" and "):
        options = [_CLAUSE.fullmatch(o.strip()) for o in part.split(" or ")]
        assert all(options), f"unsupported filter clause {part!r}"
        if not any(_holds(item, m.group(1), m.group(2), m.group(3)) for m in options if m):
            return False
    return True


def _holds(item: Mapping[str, Any], name: str, op: str, literal: str) -> bool:
    value = item.get(name)
    if literal.startswith("'"):
        return op == "eq" and value == literal[1:-1]
    if value is None:
        return False
    try:
        left, right = parse_time(str(value)), parse_time(literal)
    except ValueError:
        return True  # junk the service stored: it comes back, and the reader must refuse it

    return {"ge": left >= right, "lt": left < right, "le": left <= right, "eq": left == right}[op]
