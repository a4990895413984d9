"""A caller's tenant scope, and the checks every use case calls before it touches a tenant.

A scope is a set of tenant ids and a set of tags (a tenant is in scope when its id is listed or it
carries one of the tags), or every tenant. An Entra ID caller's scope comes from the caller table
(``shared.callers.store``) and from app roles named ``Relay.Scope.*`` in its token; a caller with neither
has an empty scope and reaches no tenant. Function-key callers and the operator CLI reach every tenant.

``tenant_in_scope`` reads one tenant and returns it only if the caller may reach it (the one registry read
a request makes anyway, so a scope costs no extra round trip); ``check_scope`` decides without reading the
tenant's data where it can (listed ids); both run before any upstream call, so a refusal costs Defender
nothing. ``filter_in_scope`` trims a fan-out (a sweep over many tenants, later hunts and indicator pushes) to the
tenants in scope, so a use case never has to remember to skip the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from shared.domain.errors import OutOfScopeError, RelayError, TenantNotFoundError, ValidationError
from shared.domain.tenant import Tenant, is_guid, parse_tags

SCOPE_ROLE_PREFIX: Final = "Relay.Scope."
ALL_TENANTS_ROLE: Final = "Relay.Scope.All"
TAG_ROLE_PREFIX: Final = "Relay.Scope.Tag."
TENANT_ROLE_PREFIX: Final = "Relay.Scope.Tenant."


@dataclass(frozen=True)
class CallerScope:
    all_tenants: bool = False
    tenant_ids: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def union(self, other: CallerScope) -> CallerScope:
        return CallerScope(
            all_tenants=self.all_tenants or other.all_tenants,
            tenant_ids=self.tenant_ids | other.tenant_ids,
            tags=self.tags | other.tags,
        )

    def describe(self) -> str:
        """For messages and the CLI: ``every tenant``, ``tags emea, nordics; tenants 1111…``, ``no tenant``."""
        if self.all_tenants:
            return "every tenant"
        parts = []
        if self.tags:
            parts.append("tags " + ", ".join(sorted(self.tags)))
        if self.tenant_ids:
            parts.append("tenants " + ", ".join(sorted(self.tenant_ids)))
        return "; ".join(parts) or "no tenant"


EVERY_TENANT: Final = CallerScope(all_tenants=True)
NO_TENANT: Final = CallerScope()


def in_scope(scope: CallerScope, tenant: Tenant) -> bool:
    return scope.all_tenants or tenant.tenant_id in scope.tenant_ids or bool(scope.tags & tenant.tags)


def filter_in_scope(scope: CallerScope, tenants: Iterable[Tenant]) -> list[Tenant]:
    """The tenants of a fan-out the caller may reach, in their order."""
    return [tenant for tenant in tenants if in_scope(scope, tenant)]


def tenant_in_scope(scope: CallerScope, tenant_id: str, lookup: Callable[[str], Tenant]) -> Tenant:
    """The tenant ``lookup`` reads, if the caller may reach it; ``OutOfScopeError`` otherwise.

    A tenant that cannot be read (not registered, disabled) is ``TenantNotFoundError`` only for a caller
    whose scope names it (or every tenant); to any other caller it is out of scope like the rest, so a
    caller learns nothing about tenants it may not reach, not even whether they exist.
    """
    try:
        tenant = lookup(tenant_id)
    except TenantNotFoundError:
        if scope.all_tenants or tenant_id in scope.tenant_ids:
            raise
        raise _out_of_scope(scope, tenant_id) from None
    if not in_scope(scope, tenant):
        raise _out_of_scope(scope, tenant_id)
    return tenant


def covers(scope: CallerScope, tenant_ids: Iterable[str], registry: Iterable[Tenant]) -> bool:
    """True when every tenant named is in scope: for reading what a fan-out did (a job's or a hunt's
    per-tenant outcomes) or changing it. A tenant no longer registered is covered only when listed by id."""
    if scope.all_tenants:
        return True
    known = {tenant.tenant_id: tenant for tenant in registry}
    return all(t in scope.tenant_ids or (t in known and in_scope(scope, known[t])) for t in tenant_ids)


def check_scope(scope: CallerScope, tenant_id: str, lookup: Callable[[str], Tenant]) -> None:
    """Return when ``tenant_id`` is in scope; raise ``OutOfScopeError`` otherwise.

    The registry is read only when the answer depends on the tenant's tags. A tenant that cannot be read
    (not registered, disabled) is out of scope unless its id is listed: a caller learns nothing about
    tenants it may not reach, not even whether they exist.
    """
    if scope.all_tenants or tenant_id in scope.tenant_ids:
        return
    if scope.tags:
        try:
            tenant = lookup(tenant_id)
        except RelayError:  # missing or disabled: out of scope like any other tenant it may not reach
            tenant = None
        if tenant is not None and in_scope(scope, tenant):
            return
    raise _out_of_scope(scope, tenant_id)


def _out_of_scope(scope: CallerScope, tenant_id: str) -> OutOfScopeError:
    return OutOfScopeError(
        f"tenant {tenant_id} is outside this caller's scope ({scope.describe()}); the partner's operator "
        "grants tenants with `defender-relay callers add`",
        tenant_id=tenant_id,
    )


def scope_from_roles(roles: Iterable[str]) -> CallerScope:
    """The scope app roles grant: ``Relay.Scope.All``, ``Relay.Scope.Tag.<tag>``, ``Relay.Scope.Tenant.<id>``.

    Malformed scope roles are ignored rather than refused: an app role is configured by the partner's
    Entra administrator, and one typo must not lock a caller out of the tenants its other roles grant.
    """
    tenant_ids: set[str] = set()
    tags: set[str] = set()
    every = False
    for role in roles:
        if role == ALL_TENANTS_ROLE:
            every = True
        elif role.startswith(TENANT_ROLE_PREFIX) and is_guid(role[len(TENANT_ROLE_PREFIX) :].lower()):
            tenant_ids.add(role[len(TENANT_ROLE_PREFIX) :].lower())
        elif role.startswith(TAG_ROLE_PREFIX):
            try:
                tags |= parse_tags([role[len(TAG_ROLE_PREFIX) :]])
            except ValidationError:
                continue
    return CallerScope(all_tenants=every, tenant_ids=frozenset(tenant_ids), tags=frozenset(tags))
