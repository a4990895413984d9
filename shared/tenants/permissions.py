"""Least privilege: which application permissions the partner app needs, from feeds and allowed actions.

WindowsDefenderATP (the MDE API) carries the alert and machine roles; Microsoft Threat Protection (the
XDR API) carries ``Incident.Read.All`` (docs/microsoft-apis.md §Token audience and scope, §Alerts,
§Action routes and permissions, §Defender XDR incidents). Resolving a machine by name and following an
action read machines, so any allowed action also needs ``Machine.Read.All``; cancel needs any Machine.*
action role, which an allowed action already brings. A tenant whose allow-list names ``triage`` also needs
the Graph write roles (``SecurityAlert.ReadWrite.All``, ``SecurityIncident.ReadWrite.All``) and
``Machine.ReadWrite.All`` for machine tags (shared/domain/catalogue.py ``TRIAGE_ROLES``). A tenant whose
allow-list names ``indicators`` needs ``Ti.ReadWrite`` (only the indicators this app created;
``Ti.ReadWrite.All`` also does, docs/microsoft-apis.md §Indicators); other tenants are never asked for it.
Hunting (``runHuntingQuery``, when ``RELAY_HUNTING_ENABLED`` is on) needs ``ThreatHunting.Read.All`` on
Microsoft Graph (docs/microsoft-apis.md §Advanced hunting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from shared.domain.catalogue import (
    ACTIONS_BY_NAME,
    EXPLICIT_ONLY,
    FEED_SPECS,
    HUNTING_ROLE,
    INDICATOR_ROLE,
    INDICATORS,
    LOOKUP_ROLE,
    TRIAGE,
    TRIAGE_ROLES,
)
from shared.domain.catalogue import ApiResource as Resource
from shared.domain.tenant import Tenant


def allowed_actions(tenant: Tenant, default_allowed: frozenset[str]) -> frozenset[str]:
    # Offboard is never granted by the default list (contracts §3): only a tenant's own list names it.
    return tenant.allowed_actions if tenant.allowed_actions is not None else default_allowed - EXPLICIT_ONLY


def required_roles(
    tenant: Tenant, default_allowed: frozenset[str], *, hunting: bool = False
) -> dict[Resource, frozenset[str]]:
    """Per API, the roles this tenant's token must carry for its feeds, actions and (``hunting``) hunts."""
    needed: dict[Resource, set[str]] = {}
    for feed in tenant.feeds:
        need = FEED_SPECS[feed]
        needed.setdefault(need.resource, set()).update(need.roles)
    allowed = allowed_actions(tenant, default_allowed)
    action_roles = {spec.role for name, spec in ACTIONS_BY_NAME.items() if name in allowed}
    if action_roles:
        needed.setdefault("mde", set()).update(action_roles | {LOOKUP_ROLE})
    if TRIAGE in allowed:
        for resource, roles in TRIAGE_ROLES.items():
            needed.setdefault(resource, set()).update(roles)
    if hunting:
        needed.setdefault("graph", set()).add(HUNTING_ROLE)
    if INDICATORS in allowed:  # only for tenants that allow indicators; Ti.ReadWrite.All also satisfies it
        needed.setdefault("mde", set()).add(INDICATOR_ROLE)
    return {resource: frozenset(roles) for resource, roles in needed.items()}


def union_roles(per_tenant: Iterable[Mapping[Resource, frozenset[str]]]) -> dict[Resource, list[str]]:
    merged: dict[Resource, set[str]] = {}
    for roles in per_tenant:
        for resource, names in roles.items():
            merged.setdefault(resource, set()).update(names)
    return {resource: sorted(names) for resource, names in sorted(merged.items())}


def triage_only_roles(tenant: Tenant, default_allowed: frozenset[str]) -> frozenset[str]:
    """The roles only triage needs for this tenant: without them its feeds and actions still work."""
    allowed = allowed_actions(tenant, default_allowed)
    if TRIAGE not in allowed:
        return frozenset()
    others = required_roles(replace(tenant, allowed_actions=allowed - {TRIAGE}), default_allowed)
    used = {role for roles in others.values() for role in roles}
    return frozenset(role for roles in TRIAGE_ROLES.values() for role in roles) - used
