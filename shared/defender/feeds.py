"""Change feeds read in windows (shared/domain/windows.py): complete whatever order the service returns.

One request per window: ``$filter`` on the feed's change time (``ge`` start, ``lt`` end), plus the creation
time for a tie, plus the tenant's Graph options; ``$top`` = the page size; no ``$orderby`` (documented on
none of these lists: docs/microsoft-apis.md §OData subset, §Graph query options and paging). A window
answered in one short page is complete; a full one is split. Routes, fields and limits come from the
catalogue (``FeedSpec``).

- ``mde-alerts``: ``GET /api/alerts`` on ``lastUpdateTime`` / ``alertCreationTime`` (§Alerts).
- ``xdr-incidents``: ``GET /api/incidents`` on ``lastUpdateTime`` / ``createdTime``, ``$top`` <= 100.
- ``graph-alerts``: ``GET /v1.0/security/alerts_v2`` on ``lastUpdateDateTime`` / ``createdDateTime``, and
  ``serviceSource`` when the tenant limits it.
- ``graph-incidents``: ``GET /v1.0/security/incidents``, with ``$expand=alerts`` when the tenant asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from shared.defender.odata import odata_datetime, odata_quote
from shared.domain.catalogue import ApiResource, FeedSpec
from shared.domain.errors import DefenderError
from shared.domain.job import parse_time
from shared.domain.tenant import Tenant
from shared.domain.windows import ChangePage, Window, WindowPlan

MAX_WINDOWS: Final = 20_000  # requests one run spends on windows; past it the run stops where it is complete
MAX_TIE_PAGES: Final = 1_000  # pages of one instant that shares a change and a creation time (last resort)

# A date-time as the services write it: up to 7 fractional digits, Z (docs/microsoft-apis.md §Requests and
# responses). An item whose change time is anything else cannot be placed in a window.
_CHANGE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z")


class Requests(Protocol):
    """The part of ``DefenderTransport`` a feed read uses."""

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
    ) -> dict[str, Any]: ...

    def follow(
        self, tenant: Tenant, resource: ApiResource, link: str, *, required_roles: Iterable[str] = ()
    ) -> dict[str, Any]: ...


def read_changes(
    requests: Requests,
    tenant: Tenant,
    feed: FeedSpec,
    since: datetime,
    until: datetime,
    *,
    page_size: int,
    max_windows: int = MAX_WINDOWS,
) -> Iterator[ChangePage]:
    """Every version of ``feed`` changed in ``[since, until)``, a completely read window at a time.

    Pages come in time order of their windows; each says how far the read is complete. The last page
    carries the final ``complete_until`` (``until``, or where a read cut short by ``max_windows`` stopped);
    a read that finds nothing yields one empty page.
    """
    reader = _WindowReader(requests, tenant, feed, max(1, min(page_size, feed.max_top)))
    plan = WindowPlan.of(since, until)
    held: ChangePage | None = None  # the last page with items, sent on when the next one (or the end) is known
    windows = 0
    for window in plan:
        if windows >= max_windows:
            plan.pending.append(window)  # not read: the read is complete only up to its start
            break
        windows += 1
        items, complete = reader.first(window)
        if not complete:
            if plan.split(window, *reader.sample(items)):
                continue
            items = reader.rest(window, items)
        if items:
            if held is not None:
                yield held
            held, windows = ChangePage(items, plan.complete_until, windows), 0
    final = plan.complete_until
    yield ChangePage(held.items if held else [], final, (held.windows if held else 0) + windows)


class _WindowReader:
    def __init__(self, requests: Requests, tenant: Tenant, feed: FeedSpec, size: int) -> None:
        self._requests = requests
        self._tenant = tenant
        self._feed = feed
        self._size = size
        self._roles = feed.roles

    def first(self, window: Window) -> tuple[list[dict[str, Any]], bool]:
        """The window's first page, and whether that one answer holds the whole window."""
        page = self._get({**self._params(window), "$top": self._size})
        items = self._items(page)
        return items, len(items) < self._size and not page.get("@odata.nextLink")

    def sample(self, items: list[dict[str, Any]]) -> tuple[list[datetime], list[datetime]]:
        """The change and creation times of a full page: where to split its window."""
        changed = [parse_time(str(i[self._feed.time_field])) for i in items]
        created = []
        for item in items:
            value = item.get(self._feed.created_field)
            if isinstance(value, str) and _CHANGE_TIME.fullmatch(value):
                created.append(parse_time(value))
        return changed, created

    def rest(self, window: Window, first: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The pages after the first of a window that cannot be split (one change and one creation time)."""
        items = list(first)
        params = self._params(window)
        link: str | None = None
        for _ in range(MAX_TIE_PAGES):
            if link:
                page = self._requests.follow(self._tenant, self._feed.resource, link, required_roles=self._roles)
            else:
                page = self._get({**params, "$top": self._size, "$skip": len(items)})
            more = self._items(page)
            items.extend(more)
            link = str(page.get("@odata.nextLink") or "") or None
            if not link and len(more) < self._size:
                return _unique(items, self._feed.id_field)
        raise DefenderError(
            f"tenant {self._tenant.tenant_id}: {self._feed.path} has more than {MAX_TIE_PAGES} pages of items "
            f"sharing the change time {odata_datetime(window.start)}",
            tenant_id=self._tenant.tenant_id,
        )

    def _params(self, window: Window) -> dict[str, Any]:
        feed = self._feed
        clauses = [
            f"{feed.time_field} ge {odata_datetime(window.start)}",
            f"{feed.time_field} lt {odata_datetime(window.end)}",
        ]
        if window.created is not None:
            low, high = window.created
            clauses += [
                f"{feed.created_field} ge {odata_datetime(low)}",
                f"{feed.created_field} lt {odata_datetime(high)}",
            ]
        sources = self._tenant.service_sources
        if feed.name == "graph-alerts" and sources:
            clauses.append("(" + " or ".join(f"serviceSource eq {odata_quote(s)}" for s in sorted(sources)) + ")")
        params: dict[str, Any] = {"$filter": " and ".join(clauses)}
        if feed.name == "graph-incidents" and self._tenant.expand_incident_alerts:
            params["$expand"] = "alerts"
        return params

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        feed = self._feed
        return self._requests.request(
            self._tenant, feed.resource, "GET", feed.path, params=params, required_roles=self._roles
        )

    def _items(self, page: Mapping[str, Any]) -> list[dict[str, Any]]:
        items = [item for item in page.get("value") or [] if isinstance(item, dict)]
        for item in items:
            value = str(item.get(self._feed.time_field) or "")
            if not _CHANGE_TIME.fullmatch(value):
                raise DefenderError(
                    f"tenant {self._tenant.tenant_id}: {self._feed.path} returned an item without a valid "
                    f"{self._feed.time_field} ({value[:40]!r})",
                    tenant_id=self._tenant.tenant_id,
                )
        return items


def _unique(items: list[dict[str, Any]], id_field: str) -> list[dict[str, Any]]:
    """Paging an instant can return an item twice (an offset that moved): keep each (id, version) once."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = str(item.get(id_field))
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept
