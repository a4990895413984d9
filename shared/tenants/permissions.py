"""Least privilege: which application permissions the partner app needs, from feeds and allowed actions.

WindowsDefenderATP (the MDE API) carries the alert and machine roles; Microsoft Threat Protection (the
XDR API) carries ``Incident.Read.All`` (reference defender-api.md §1.3, §4.1, §6.1, §8). Resolving a
machine by name and following an action read machines, so any allowed action also needs
``Machine.Read.All``; cancel needs any Machine.* action role, which an allowed action already brings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from shared.domain.catalogue import EXPLICIT_ONLY
from shared.domain.tenant import ACTION_ROLES, FEED_ROLES, LOOKUP_ROLE, Tenant

Resource = Literal["mde", "xdr"]
API_NAMES: Mapping[Resource, str] = {"mde": "WindowsDefenderATP", "xdr": "Microsoft Threat Protection"}


def allowed_actions(tenant: Tenant, default_allowed: frozenset[str]) -> frozenset[str]:
    # Offboard is never granted by the default list (contracts §3): only a tenant's own list names it.
    return tenant.allowed_actions if tenant.allowed_actions is not None else default_allowed - EXPLICIT_ONLY


def required_roles(tenant: Tenant, default_allowed: frozenset[str]) -> dict[Resource, frozenset[str]]:
    """Per API, the roles this tenant's token must carry for its feeds and actions (empty APIs left out)."""
    needed: dict[Resource, set[str]] = {}
    for feed in tenant.feeds:
        need = FEED_ROLES[feed]
        needed.setdefault(need.resource, set()).update(need.roles)
    action_roles = {ACTION_ROLES[a] for a in allowed_actions(tenant, default_allowed) if a in ACTION_ROLES}
    if action_roles:
        needed.setdefault("mde", set()).update(action_roles | {LOOKUP_ROLE})
    return {resource: frozenset(roles) for resource, roles in needed.items()}


def union_roles(per_tenant: Iterable[Mapping[Resource, frozenset[str]]]) -> dict[Resource, list[str]]:
    merged: dict[Resource, set[str]] = {}
    for roles in per_tenant:
        for resource, names in roles.items():
            merged.setdefault(resource, set()).update(names)
    return {resource: sorted(names) for resource, names in sorted(merged.items())}
