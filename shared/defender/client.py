"""The Defender client: alerts, incidents, machines and machine actions over a ``DefenderTransport``.

Routes, page limits and roles come from the catalogue (``shared.domain.catalogue``); the OData rules,
the schemas and their sources are in docs/microsoft-apis.md. Raw JSON stays a dict (the documented
shapes drift), with TypedDicts (``shared.defender.models``) naming the fields the relay reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from shared.defender.models import Alert, Incident, Machine, MachineAction
from shared.defender.odata import odata_datetime, odata_quote
from shared.defender.transport import ClientStats
from shared.domain.catalogue import ACTIONS_BY_NAME, FEED_SPECS, LOOKUP_ROLE, MACHINE_ACTIONS, ApiResource, FeedSpec
from shared.domain.errors import DefenderError
from shared.domain.tenant import Tenant

_BY_ROUTE = {spec.defender_path.lower(): spec for spec in MACHINE_ACTIONS}


# A Defender date-time as it appears in responses: up to 7 fractional digits, Z
# (docs/microsoft-apis.md §Requests and responses). Only such a value is put back into a filter unquoted,
# so a malformed one can never change the query.
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


class Transport(Protocol):
    """What the client needs of ``DefenderTransport`` (tests give it an in-memory one)."""

    stats: ClientStats

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

    def iter_pages(
        self,
        tenant: Tenant,
        resource: ApiResource,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int,
        required_roles: Iterable[str] = (),
    ) -> Iterator[list[dict[str, Any]]]: ...


class DefenderClient:
    """The Defender for Endpoint / Defender XDR API, typed: alerts, incidents, machines, machine actions.

    Built by composition over a ``DefenderTransport`` (hosts, tokens, retries, throttling, paging); the
    generic ``request``/``iter_pages`` stay available for ``check``'s probes. A Graph adapter can stand
    beside it behind the same use-case ports (``shared.ingest.runner.ChangeSource``,
    ``shared.actions.service.DefenderActions``).
    """

    def __init__(self, *, transport: Transport) -> None:
        self.transport = transport

    @property
    def stats(self) -> ClientStats:
        return self.transport.stats

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
        return self.transport.request(
            tenant, resource, method, path, params=params, json=json, required_roles=required_roles
        )

    def iter_pages(
        self,
        tenant: Tenant,
        resource: ApiResource,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int,
        required_roles: Iterable[str] = (),
    ) -> Iterator[list[dict[str, Any]]]:
        return self.transport.iter_pages(
            tenant, resource, path, params=params, page_size=page_size, required_roles=required_roles
        )

    def list_alerts_since(
        self, tenant: Tenant, since: datetime, until: datetime | None = None, *, page_size: int = 1000
    ) -> Iterator[list[Alert]]:
        """Alerts changed in [since, until], oldest change first, a page at a time."""
        yield from self._iter_changes(FEED_SPECS["mde-alerts"], tenant, since, until, page_size)  # type: ignore[misc]

    def list_incidents_since(
        self, tenant: Tenant, since: datetime, until: datetime | None = None, *, page_size: int = 100
    ) -> Iterator[list[Incident]]:
        yield from self._iter_changes(FEED_SPECS["xdr-incidents"], tenant, since, until, page_size)  # type: ignore[misc]

    def _iter_changes(
        self, feed: FeedSpec, tenant: Tenant, since: datetime, until: datetime | None, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset paging on ``lastUpdateTime``: each page asks for changes at or after the last one seen.

        Plain ``$skip`` offsets are unsafe on a live change feed: an item updated while we page leaves the
        result set, every later item shifts by one, and one is skipped; in a long backfill it can fall
        behind the overlap window and be lost. Re-anchoring each page on the newest timestamp seen only
        re-reads that timestamp's tie group (dropped here by id), and falls back to ``$skip`` inside a tie
        group larger than a page. ``$top`` is always sent, so no ``@odata.nextLink`` is expected
        (docs/microsoft-apis.md §Paging; §Known documentation inconsistencies, item 7).
        """
        resource, path, roles, id_field = feed.resource, feed.path, feed.roles, feed.id_field
        size = max(1, min(page_size, feed.max_top))
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
        """Machines by exact DNS name or by last IP address (never by prefix: shared/domain/machines.py re-checks)."""
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
        spec = ACTIONS_BY_NAME.get(action) or _BY_ROUTE.get(action.lower())
        route = spec.defender_path if spec else action
        path = f"/api/machines/{_segment(machine_id)}/{_segment(route)}"
        roles = [spec.role] if spec else []
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
        # Any one of the Machine.* action roles allows a cancel, Defender checks it
        # (docs/microsoft-apis.md §Action routes and permissions).
        path = f"/api/machineactions/{_segment(action_id)}/cancel"
        return self.request(tenant, "mde", "POST", path, json={"Comment": comment})  # type: ignore[return-value]
