"""Tenant objects of the control API (docs/contracts.md §1.2) to and from ``TenantSpec``, with field-named errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, cast

from emulator.world import CLOUDS, REGIONS, CloudName, Resource, TenantSpec

CONSENTS = ("full", "partial", "none")
_FIELDS = {
    "tenant_id", "display_name", "cloud", "region", "consent", "roles", "machines", "note", "domains", "alerts",
}  # fmt: skip
_DNS_NAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class TenantFieldError(ValueError):
    """A tenant object is invalid; the message names the field."""


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    if value not in allowed:
        raise TenantFieldError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _roles(value: Any) -> dict[Resource, list[str]]:
    if not isinstance(value, dict):
        raise TenantFieldError('roles must be an object like {"mde": [...], "xdr": [...], "graph": [...]}')
    out: dict[Resource, list[str]] = {}
    for key, names in value.items():
        if key not in ("mde", "xdr", "graph"):
            raise TenantFieldError(f"roles.{key} is not a resource: use mde, xdr or graph")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TenantFieldError(f"roles.{key} must be a list of role names")
        out[cast(Resource, key)] = list(names)
    return out


def _check_fields(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TenantFieldError("the tenant must be a JSON object")
    unknown = set(data) - _FIELDS
    if unknown:
        raise TenantFieldError(f"unknown tenant fields: {', '.join(sorted(unknown))}")
    return data


def _tenant_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise TenantFieldError(f"tenant_id must be a GUID, got {value!r}") from exc


def _machines(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TenantFieldError(f"machines must be a non-negative integer, got {value!r}")
    return value


def _domains(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise TenantFieldError('domains must be a list of domain names like ["contoso.onmicrosoft.com"]')
    names = [d.strip().lower() for d in value]
    bad = [d for d in names if not _DNS_NAME.match(d)]
    if bad:
        raise TenantFieldError(f"domains: {bad[0]!r} is not a domain name")
    return list(dict.fromkeys(names))


def tenant_from_json(data: Any) -> TenantSpec:
    """A new tenant from a full tenant object (POST)."""
    data = _check_fields(data)
    if "tenant_id" not in data:
        raise TenantFieldError("tenant_id is required")
    tenant_id = _tenant_id(data["tenant_id"])
    return TenantSpec(
        tenant_id=tenant_id,
        display_name=str(data.get("display_name", tenant_id)),
        cloud=cast(CloudName, _choice(data, "cloud", CLOUDS, "commercial")),
        region=_choice(data, "region", REGIONS, "auto"),
        consent=cast(Any, _choice(data, "consent", CONSENTS, "full")),
        roles=_roles(data.get("roles", {})),
        machines=_machines(data.get("machines", 5)),
        note=str(data.get("note", "")),
        domains=_domains(data.get("domains", [])),
    )


def apply_patch(spec: TenantSpec, data: Any, *, check_domains: Callable[[str, list[str]], None]) -> None:
    """Change the given fields of an existing tenant (PATCH); validates everything before changing.

    ``check_domains(tenant_id, domains)`` raises ValueError when another tenant holds one of them.
    """
    data = _check_fields(data)
    if "tenant_id" in data and _tenant_id(data["tenant_id"]) != spec.tenant_id:
        raise TenantFieldError("tenant_id cannot be changed")
    merged = {**spec.to_json(), **{k: v for k, v in data.items() if k != "alerts"}}
    fresh = tenant_from_json(merged)
    if not fresh.domains:
        raise TenantFieldError("domains: a tenant keeps at least one domain")
    try:
        check_domains(spec.tenant_id, fresh.domains)
    except ValueError as exc:
        raise TenantFieldError(str(exc)) from exc
    for name in ("display_name", "cloud", "region", "consent", "roles", "machines", "note", "domains"):
        setattr(spec, name, getattr(fresh, name))
