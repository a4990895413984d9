"""The Defender and Graph client: change feeds, machines and machine actions over a ``DefenderTransport``.

Routes, page limits and roles come from the catalogue (``shared.domain.catalogue``); the OData rules,
the schemas and their sources are in docs/microsoft-apis.md. Raw JSON stays a dict (the documented
shapes drift), with TypedDicts (``shared.defender.models``) naming the fields the relay reads.
Change feeds (MDE alerts, XDR incidents, Graph alerts_v2 and incidents) are read in windows that do not
depend on the order the service answers in (``shared.defender.feeds``). Machines and machine actions stay
on the MDE API: Graph v1.0 has no app-only equivalent (docs/microsoft-apis.md §Retirement of the MDE and
XDR APIs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from shared.defender.feeds import Requests, read_changes
from shared.defender.models import Machine, MachineAction
from shared.defender.odata import odata_quote
from shared.defender.transport import ClientStats
from shared.domain.catalogue import ACTIONS_BY_NAME, FEED_SPECS, LOOKUP_ROLE, MACHINE_ACTIONS, ApiResource, Feed
from shared.domain.tenant import Tenant
from shared.domain.windows import ChangePage

_BY_ROUTE = {spec.defender_path.lower(): spec for spec in MACHINE_ACTIONS}


def _segment(value: str) -> str:
    return quote(str(value), safe="")


class Transport(Requests, Protocol):
    """What the client needs of ``DefenderTransport`` (tests give it an in-memory one): a feed read's
    requests and follow-ups, and paging."""

    stats: ClientStats

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
    """Defender for Endpoint, Defender XDR and the Graph security API, typed: change feeds, machines, actions.

    Built by composition over a ``DefenderTransport`` (hosts, tokens, retries, throttling, paging); the
    generic ``request``/``iter_pages`` stay available for ``check``'s probes. Machine actions use the MDE
    API; a Graph adapter can replace them behind ``shared.actions.service.DefenderActions`` when Graph
    has an app-only equivalent.
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

    def follow(
        self, tenant: Tenant, resource: ApiResource, link: str, *, required_roles: Iterable[str] = ()
    ) -> dict[str, Any]:
        return self.transport.follow(tenant, resource, link, required_roles=required_roles)

    def list_changes(
        self, tenant: Tenant, feed: Feed, since: datetime, until: datetime, *, page_size: int = 1000
    ) -> Iterator[ChangePage]:
        """Every version of ``feed`` changed in ``[since, until)``, window by window (``shared.defender.feeds``)."""
        return read_changes(self.transport, tenant, FEED_SPECS[feed], since, until, page_size=page_size)

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
