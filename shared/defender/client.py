"""Typed helpers over ``DefenderClient.request`` / ``iter_pages``: alerts, incidents, machines, machine actions.

Routes, filters, page limits and permissions are those of reference/defender-api.md §3.2 (OData),
§4 (alerts), §5 (machines), §6 (machine actions), §8 (incidents). Raw JSON stays a dict (the
documented shapes drift; see §10), with TypedDicts naming the fields the relay reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from shared.defender.models import Alert, Incident, Machine, MachineAction
from shared.defender.odata import odata_datetime, odata_quote
from shared.domain.errors import DefenderError
from shared.domain.tenant import ACTION_ROLES, FEED_ROLES, LOOKUP_ROLE, Tenant

Resource = Literal["mde", "xdr"]


INCIDENTS_MAX_TOP = 100  # $top > 100 is a BadRequest on /api/incidents (reference §8)


ALERTS_MAX_TOP = 10_000  # reference §3.2


# Defender route segment (POST /api/machines/{id}/<segment>) -> the role it needs (reference §6.1).
_ACTION_ROUTES = {
    "isolate": "isolate",
    "unisolate": "unisolate",
    "scan": "runAntiVirusScan",
    "restrict": "restrictCodeExecution",
    "unrestrict": "unrestrictCodeExecution",
    "collect-package": "collectInvestigationPackage",
    "stop-and-quarantine": "StopAndQuarantineFile",
    "offboard": "offboard",
}


_ROUTE_ROLES = {route.lower(): ACTION_ROLES[name] for name, route in _ACTION_ROUTES.items()}


# A Defender date-time as it appears in responses (up to 7 fractional digits, Z; reference §3.1). Only such a
# value is put back into a filter unquoted, so a malformed one can never change the query.
_CHANGE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z")


MAX_CHANGE_PAGES = 100_000  # bound on one run's listing (far beyond a 10M-item backfill at 1,000 a page)


def _change_time(item: Mapping[str, Any], tenant: Tenant) -> str:
    value = str(item.get("lastUpdateTime") or "")
    if not _CHANGE_TIME.fullmatch(value):
        raise DefenderError(
            f"tenant {tenant.tenant_id}: the API returned an item without a valid lastUpdateTime ({value[:40]!r})",
            tenant_id=tenant.tenant_id,
        )
    return value


def _segment(value: str) -> str:
    return quote(str(value), safe="")


class DefenderApiMixin:
    """The typed helpers; ``DefenderClient`` provides ``request`` and ``iter_pages``."""

    def request(
        self,
        tenant: Tenant,
        resource: Resource,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        required_roles: Iterable[str] = (),
    ) -> dict[str, Any]:
        raise NotImplementedError

    def iter_pages(
        self,
        tenant: Tenant,
        resource: Resource,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int,
        required_roles: Iterable[str] = (),
    ) -> Iterator[list[dict[str, Any]]]:
        raise NotImplementedError

    def list_alerts_since(
        self, tenant: Tenant, since: datetime, until: datetime | None = None, *, page_size: int = 1000
    ) -> Iterator[list[Alert]]:
        """Alerts changed in [since, until], oldest change first, a page at a time."""
        size = max(1, min(page_size, ALERTS_MAX_TOP))
        roles = FEED_ROLES["mde-alerts"].roles
        yield from self._iter_changes(  # type: ignore[misc]
            tenant, "mde", "/api/alerts", since=since, until=until, size=size, roles=roles, id_field="id"
        )

    def list_incidents_since(
        self, tenant: Tenant, since: datetime, until: datetime | None = None, *, page_size: int = INCIDENTS_MAX_TOP
    ) -> Iterator[list[Incident]]:
        size = max(1, min(page_size, INCIDENTS_MAX_TOP))
        roles = FEED_ROLES["xdr-incidents"].roles
        yield from self._iter_changes(  # type: ignore[misc]
            tenant, "xdr", "/api/incidents", since=since, until=until, size=size, roles=roles, id_field="incidentId"
        )

    def _iter_changes(
        self,
        tenant: Tenant,
        resource: Resource,
        path: str,
        *,
        since: datetime,
        until: datetime | None,
        size: int,
        roles: Iterable[str],
        id_field: str,
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset paging on ``lastUpdateTime``: each page asks for changes at or after the last one seen.

        Plain ``$skip`` offsets are unsafe on a live change feed: an item updated while we page leaves the
        result set, every later item shifts by one, and one is skipped; in a long backfill it can fall
        behind the overlap window and be lost. Re-anchoring each page on the newest timestamp seen only
        re-reads that timestamp's tie group (dropped here by id), and falls back to ``$skip`` inside a tie
        group larger than a page. ``$top`` is always sent, so no ``@odata.nextLink`` is expected (§10.7).
        """
        anchor, skip, seen_at_anchor = odata_datetime(since), 0, set[str]()
        end = "" if until is None else f" and lastUpdateTime le {odata_datetime(until)}"
        for _ in range(MAX_CHANGE_PAGES):
            params = {
                "$filter": f"lastUpdateTime ge {anchor}{end}",
                "$orderby": "lastUpdateTime asc",
                "$top": size,
                "$skip": skip,
            }
            items = list(
                self.request(tenant, resource, "GET", path, params=params, required_roles=roles).get("value") or []
            )
            fresh = [i for i in items if str(i.get(id_field)) not in seen_at_anchor]
            if fresh:
                yield fresh
            if len(items) < size:
                return
            last = _change_time(items[-1], tenant)
            if last == anchor:  # the whole page is one tie group: step through it by offset
                skip += len(items)
                seen_at_anchor.update(str(i.get(id_field)) for i in items)
            else:
                anchor, skip = last, 0
                seen_at_anchor = {str(i.get(id_field)) for i in items if i.get("lastUpdateTime") == last}
        raise DefenderError(
            f"tenant {tenant.tenant_id}: {path} has more than {MAX_CHANGE_PAGES} pages of changes",
            tenant_id=tenant.tenant_id,
        )

    def get_machine(self, tenant: Tenant, machine_id: str) -> Machine:
        path = f"/api/machines/{_segment(machine_id)}"
        return self.request(tenant, "mde", "GET", path, required_roles=[LOOKUP_ROLE])  # type: ignore[return-value]

    def find_machines(self, tenant: Tenant, *, name: str | None = None, ip: str | None = None) -> list[Machine]:
        """Machines by exact DNS name or by last IP address (never by prefix: shared/machines.py re-checks)."""
        if (name is None) == (ip is None):
            raise ValueError("find_machines needs exactly one of name= or ip=")
        if name is not None:
            odata = f"computerDnsName eq {odata_quote(name.lower())}"
        else:
            odata = f"lastIpAddress eq {odata_quote(str(ip))}"
        found: list[Machine] = []
        pages = self.iter_pages(
            tenant, "mde", "/api/machines", params={"$filter": odata}, page_size=100, required_roles=[LOOKUP_ROLE]
        )
        for page in pages:
            found.extend(page)  # type: ignore[arg-type]
            if len(found) >= 1000:  # a lookup, not an export
                break
        return found

    def post_machine_action(
        self, tenant: Tenant, machine_id: str, action: str, body: Mapping[str, Any]
    ) -> MachineAction:
        """POST /api/machines/{id}/{route}. ``action`` is our name ("scan") or Defender's route ("runAntiVirusScan")."""
        route = _ACTION_ROUTES.get(action, action)
        role = _ROUTE_ROLES.get(route.lower())
        path = f"/api/machines/{_segment(machine_id)}/{_segment(route)}"
        roles = [role] if role else []
        return self.request(tenant, "mde", "POST", path, json=dict(body), required_roles=roles)  # type: ignore[return-value]

    def get_machine_action(self, tenant: Tenant, action_id: str) -> MachineAction:
        path = f"/api/machineactions/{_segment(action_id)}"
        return self.request(tenant, "mde", "GET", path, required_roles=[LOOKUP_ROLE])  # type: ignore[return-value]

    def list_machine_actions(
        self, tenant: Tenant, *, odata_filter: str | None = None, top: int = 100
    ) -> list[MachineAction]:
        params: dict[str, Any] = {"$top": max(1, min(top, 10_000))}
        if odata_filter:
            params["$filter"] = odata_filter
        data = self.request(tenant, "mde", "GET", "/api/machineactions", params=params, required_roles=[LOOKUP_ROLE])
        return list(data.get("value") or [])

    def cancel_machine_action(self, tenant: Tenant, action_id: str, comment: str) -> MachineAction:
        # Any one of the Machine.* action roles allows a cancel (reference §6.1): Defender checks it.
        path = f"/api/machineactions/{_segment(action_id)}/cancel"
        return self.request(tenant, "mde", "POST", path, json={"Comment": comment})  # type: ignore[return-value]
