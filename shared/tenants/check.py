"""``check``: can the relay work for a tenant right now? Token, claims, roles, one cheap call per feed/action.

Each tenant ends in one status a partner can act on: ``ok``, or the kind of the first failure
(``not-consented``, ``missing-roles``, ``bad-credential``, ``unknown-tenant``, ``wrong-cloud``,
``throttled``, ...) with a remedy. The probes are ``$top=1`` reads: the cheapest calls that prove the
token is accepted by the API that serves the tenant (a token can be fine and still be refused by a
host of the wrong cloud or region, docs/microsoft-apis.md §Commercial hosts and regions, docs/contracts.md §1.3).

A tenant still on a retiring feed (``mde-alerts``, ``xdr-incidents``: the MDE and XDR APIs stop on
2027-02-01) gets ``warnings``: the date and the ``migrate`` command, and whether its Graph token already
has the roles the Graph feeds need (else the consent link). Warnings do not fail the check: today's
feeds still work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.catalogue import ACTIONS_BY_NAME, FEED_SPECS, INDICATORS, INDICATORS_PATH, missing_roles
from shared.domain.catalogue import ApiResource as Resource
from shared.domain.errors import DefenderForbiddenError, MissingRolesError, NotConsentedError, RelayError
from shared.domain.tenant import Tenant
from shared.tenants.permissions import allowed_actions, required_roles, triage_only_roles
from shared.tenants.readiness import migration_roles, retirement_warnings

THREADS = 8  # tenants checked at once: each check is a handful of sequential round trips


class Tokens(Protocol):
    def get_token(self, tenant: Tenant, resource: Resource, *, required_roles: Iterable[str] = ()) -> Any: ...


class Defender(Protocol):
    def request(
        self, tenant: Tenant, resource: Resource, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any: ...


@dataclass(frozen=True)
class Probe:
    name: str
    resource: Resource
    path: str


@dataclass
class CheckResult:
    tenant: Tenant
    status: str = "ok"
    message: str = ""
    remedy: str = ""
    granted: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    graph_ready: bool | None = None  # on a retiring feed: does the Graph token have the roles of its successor?
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    triage_only: frozenset[str] = frozenset()  # roles only triage needs (shared.tenants.permissions)

    @property
    def scope(self) -> str | None:
        """``"actions"`` when only response actions are affected: every feed's roles are there and its probe
        answered, so the failure is in what only ``check`` looks at (action roles, machine probes);
        ``"triage"`` when only triage's roles are missing (feeds and actions work). A sweep's success then
        keeps it on record instead of hiding it (``shared.domain.tenant.success_clears``)."""
        if self.ok:
            return None
        feeds = self.tenant.feeds
        feed_roles = {role for feed in feeds for role in FEED_SPECS[feed].roles}
        if self.missing:
            if feed_roles & set(self.missing):
                return None
            return "triage" if set(self.missing) <= self.triage_only else "actions"
        feed_probes = {FEED_SPECS[feed].probe for feed in feeds}
        return "actions" if feed_probes <= set(self.probes) and self.granted else None

    def to_json(self) -> dict[str, Any]:
        t = self.tenant
        return {
            "tenant_id": t.tenant_id, "display_name": t.display_name, "cloud": str(t.cloud), "region": str(t.region),
            "status": self.status, "message": self.message, "remedy": self.remedy, "granted_roles": self.granted,
            "missing_roles": self.missing, "probes": self.probes, "warnings": self.warnings,
            "graph_ready": self.graph_ready, "scope": self.scope, "duration_ms": self.duration_ms,
        }  # fmt: skip


def probes_for(tenant: Tenant, default_allowed: frozenset[str]) -> list[Probe]:
    probes = []
    for feed in sorted(tenant.feeds):
        spec = FEED_SPECS[feed]
        probes.append(Probe(spec.probe, spec.resource, spec.path))
    if any(a in ACTIONS_BY_NAME for a in allowed_actions(tenant, default_allowed)):
        probes.append(Probe("machines", "mde", "/api/machines"))
        probes.append(Probe("machineactions", "mde", "/api/machineactions"))
    if INDICATORS in allowed_actions(tenant, default_allowed):
        probes.append(Probe("indicators", "mde", INDICATORS_PATH))
    return probes


def check_tenant(
    tenant: Tenant, *, tokens: Tokens, defender: Defender, default_allowed: frozenset[str], hunting: bool = False
) -> CheckResult:
    """``hunting``: the Graph token must also carry ThreatHunting.Read.All (checked on the token only: a hunting
    query would spend the tenant's CPU quota, docs/hunting.md "Limits")."""
    started = time.monotonic()
    result = CheckResult(tenant, triage_only=triage_only_roles(tenant, default_allowed))
    needed = required_roles(tenant, default_allowed, hunting=hunting)
    try:
        for resource, roles in sorted(needed.items()):
            token = tokens.get_token(tenant, resource)  # tid / aud / roles-present checks happen here
            result.granted[resource] = sorted(token.roles)
            result.missing += sorted(missing_roles(roles, token.roles))
        if result.missing:
            # Ask again with the requirement (a cache hit) so the error and its remedy are auth's own.
            for resource, roles in sorted(needed.items()):
                tokens.get_token(tenant, resource, required_roles=roles)
        for probe in probes_for(tenant, default_allowed):
            defender.request(tenant, probe.resource, "GET", probe.path, params={"$top": "1"})
            result.probes.append(probe.name)
    except RelayError as exc:
        _fail(result, exc)
    _migration_warnings(result, tokens)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _migration_warnings(result: CheckResult, tokens: Tokens) -> None:
    """The retirement date and command; whether the Graph token has the roles for the move (no Graph read)."""
    tenant = result.tenant
    needed = migration_roles(tenant)
    if not needed:
        return
    result.warnings += retirement_warnings(tenant)
    try:
        tokens.get_token(tenant, "graph", required_roles=needed)
    except (MissingRolesError, NotConsentedError) as exc:
        result.graph_ready = False
        result.warnings.append(f"not ready for Graph: {exc.message}; {exc.remedy}")
        return
    except RelayError as exc:
        result.graph_ready = False
        result.warnings.append(f"not ready for Graph: {exc.message}")
        return
    result.graph_ready = True
    result.warnings.append(f"the Graph token has {', '.join(sorted(needed))}: ready to migrate")


def _fail(result: CheckResult, exc: RelayError) -> None:
    result.status = exc.kind
    result.message = exc.message
    result.remedy = str(getattr(exc, "remedy", "") or "")
    if isinstance(exc, MissingRolesError):
        result.missing = sorted(set(result.missing) | set(exc.missing))
    elif isinstance(exc, DefenderForbiddenError):
        result.remedy = result.remedy or (
            "Defender refused the call: check the tenant's cloud and region in the registry, "
            "and that the partner app's permissions were consented"
        )
    elif not result.remedy and exc.kind in ("throttled", "unavailable"):
        result.remedy = "transient: run the check again in a minute"


def check_all(
    tenants: list[Tenant],
    *,
    tokens: Tokens,
    defender: Defender,
    default_allowed: frozenset[str],
    on_done: Callable[[CheckResult], None] = lambda _r: None,
    hunting: bool = False,
) -> list[CheckResult]:
    """Check tenants in parallel; results in the order given. ``on_done`` runs as each one finishes."""

    def one(tenant: Tenant) -> CheckResult:
        result = check_tenant(
            tenant, tokens=tokens, defender=defender, default_allowed=default_allowed, hunting=hunting
        )
        on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="check") as pool:
        return list(pool.map(one, tenants))
