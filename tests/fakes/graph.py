"""Fakes for the move to Graph: tokens per API with the roles a tenant granted, a reader, and a world where
every MDE alert and XDR incident has a Graph twin (as the emulator and Microsoft have).

``FakeTokens`` raises the same typed errors as ``shared.auth.tokens.TokenProvider`` (built by
``shared.auth.entra_errors``), so a remedy carries the real consent link.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.auth.entra_errors import missing_roles_error, no_roles_error
from shared.defender.feeds import read_changes
from shared.domain.catalogue import FEED_SPECS, ApiResource
from shared.domain.clouds import AppFamily
from shared.domain.errors import DefenderForbiddenError
from shared.domain.tenant import Tenant
from shared.domain.windows import ChangePage
from shared.platform.settings import AppSettings, CredentialSpec
from tests.fakes.feed import FakeFeedApi

APP = AppSettings(
    AppFamily.COMMERCIAL, "0e5c4d1a-7b0f-4a53-9d55-6a1f0c2b7d11", CredentialSpec("secret", "s"), "RELAY_COMMERCIAL"
)
ALL_ROLES: dict[ApiResource, frozenset[str]] = {
    "mde": frozenset({"Alert.Read.All", "Machine.Read.All"}),
    "xdr": frozenset({"Incident.Read.All"}),
    "graph": frozenset({"SecurityAlert.Read.All", "SecurityIncident.Read.All"}),
}


@dataclass(frozen=True)
class FakeToken:
    token: str
    roles: frozenset[str]


@dataclass
class FakeTokens:
    """Roles granted per (tenant, API); a tenant missing from ``roles`` has all of ``ALL_ROLES``."""

    roles: dict[tuple[str, ApiResource], frozenset[str]] = field(default_factory=dict)
    asked: list[tuple[str, ApiResource]] = field(default_factory=list)

    def grant(self, tenant_id: str, resource: ApiResource, roles: Iterable[str]) -> None:
        self.roles[(tenant_id, resource)] = frozenset(roles)

    def get_token(self, tenant: Tenant, resource: ApiResource, *, required_roles: Iterable[str] = ()) -> FakeToken:
        self.asked.append((tenant.tenant_id, resource))
        roles = self.roles.get((tenant.tenant_id, resource), ALL_ROLES[resource])
        if not roles:
            raise no_roles_error(tenant, APP, resource)
        missing = set(required_roles) - roles
        if missing:
            raise missing_roles_error(tenant, resource, sorted(missing), APP)
        return FakeToken(f"token-{resource}", roles)


@dataclass
class FakeReader:
    """``request`` of the Defender client for probes: answers ``{"value": []}`` or refuses listed paths."""

    refused: set[str] = field(default_factory=set)
    calls: list[tuple[str, ApiResource, str]] = field(default_factory=list)

    def request(
        self, tenant: Tenant, resource: Any, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any:
        self.calls.append((tenant.tenant_id, resource, path))
        if path in self.refused:
            raise DefenderForbiddenError(
                f"tenant {tenant.tenant_id}: Microsoft Graph GET {path} answered 403 Forbidden"
            )
        return {"value": []}


class TwinWorld:
    """One tenant's alerts and incidents as all four feeds serve them: an MDE alert ``da…`` is the Graph alert
    ``ga…`` with ``providerAlertId`` ``da…`` and the same change time (Graph writes 7 digits, MDE trims zeros)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.apis = {name: FakeFeedApi(spec, order="random") for name, spec in FEED_SPECS.items()}
        self.truth: set[tuple[str, str, str]] = set()  # (kind, provider id, normalised change time)
        self._n = 0
        self._incidents: dict[int, datetime] = {}

    def produce(self, count: int, *, ago: float = 0.0, incident: int = 7001) -> None:
        """``count`` new alerts of one incident, written ``ago`` seconds in the past (late writes when > 0); the
        incident gets one new version, at its newest alert's time."""
        times = []
        for _ in range(count):
            self._n += 1
            when: datetime = self.clock() - timedelta(seconds=ago, milliseconds=count - len(times))
            mde_id, graph_id = f"da{self._n:06d}", f"ga{self._n:06d}"
            self.apis["mde-alerts"].put(mde_id, _mde(when), incidentId=incident)
            self.apis["graph-alerts"].put(graph_id, _graph(when), providerAlertId=mde_id, incidentId=str(incident))
            self.truth.add(("alert", mde_id, _mde(when)))
            times.append(when)
        if times:  # a late alert still changes its incident now: an incident's versions only move forward
            last = self._incidents.get(incident)
            changed = max(times) if last is None or max(times) > last else self.clock()
            self._incidents[incident] = changed
            self.apis["xdr-incidents"].put(str(incident), _mde(changed))
            self.apis["graph-incidents"].put(str(incident), _graph(changed))
            self.truth.add(("incident", str(incident), _mde(changed)))

    def source(self) -> TwinSource:
        return TwinSource(self)


class TwinSource:
    """The worker's ``ChangeSource`` over the world: the real windowed reader on each feed's fake API."""

    def __init__(self, world: TwinWorld) -> None:
        self.world = world

    def iter_changes(
        self, tenant: Tenant, feed: str, since: datetime, until: datetime, *, page_size: int
    ) -> Iterator[ChangePage]:
        api = self.world.apis[feed]
        return read_changes(api, tenant, FEED_SPECS[feed], since, until, page_size=page_size)  # type: ignore[index]

    def throttle_count(self) -> int:
        return 0


def _mde(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _graph(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")  # 7 digits, as Graph writes them
