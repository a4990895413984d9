"""Exact machine resolution: a caller's machine name or IP becomes exactly one Defender machine, or an error.

Peers matched hostnames by substring or prefix and isolated the wrong server. Here a name matches only
a machine whose ``computerDnsName`` is equal to it, ignoring case (and a trailing dot); an IP matches
only a machine with that exact address (last seen or on any interface). Defender is asked with an
``eq`` filter (OData-quoted) and every answer is checked again here, so a server-side filter that is
looser than ours (or an emulator) cannot widen a match. None -> 404; more than one -> 409 listing the
candidates. Machine ids are not looked up first: Defender itself answers 404 for an id that is not in
the tenant whose token is used, which is what keeps tenants apart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shared.domain.errors import AmbiguousMachineError, DefenderNotFoundError
from shared.domain.tenant import Tenant

Machine = Mapping[str, Any]


class MachineFinder(Protocol):
    def find_machines(self, tenant: Tenant, *, name: str | None = None, ip: str | None = None) -> Sequence[Machine]: ...


def summary(machine: Machine) -> dict[str, str | None]:
    """What a caller needs to pick the right machine: id, name, last seen (and where it was)."""
    return {
        "id": machine.get("id"),
        "computerDnsName": machine.get("computerDnsName"),
        "lastSeen": machine.get("lastSeen"),
        "lastIpAddress": machine.get("lastIpAddress"),
        "healthStatus": machine.get("healthStatus"),
    }


def find_exact(finder: MachineFinder, tenant: Tenant, ref: MachineRef) -> list[Machine]:
    """Every machine that exactly matches a name or IP reference (ids are not looked up here)."""
    if ref.kind == "name":
        found = finder.find_machines(tenant, name=ref.value)
        return _unique(m for m in found if _same_name(m.get("computerDnsName"), ref.value))
    if ref.kind == "ip":
        wanted = ipaddress.ip_address(ref.value)
        found = finder.find_machines(tenant, ip=ref.value)
        return _unique(m for m in found if wanted in _addresses(m))
    raise ValueError("machine ids are used as they are")


def resolve(finder: MachineFinder, tenant: Tenant, ref: MachineRef) -> Machine:
    """Exactly one machine for ``ref``; ids pass through as ``{"id": ...}``."""
    if ref.kind == "id":
        return {"id": ref.value}
    matches = find_exact(finder, tenant, ref)
    what = "named" if ref.kind == "name" else "with IP address"
    if not matches:
        raise DefenderNotFoundError(
            f"no machine {what} {ref.value!r} in tenant {tenant.tenant_id} (names are matched exactly, never by "
            "prefix: give the full DNS name, or the 40-hex machine id)",
            status=404,
            code="ResourceNotFound",
            tenant_id=tenant.tenant_id,
        )
    if len(matches) > 1:
        raise AmbiguousMachineError(
            f"{len(matches)} machines {what} {ref.value!r} in tenant {tenant.tenant_id}; "
            "repeat the request with the machine id of the one you mean",
            candidates=[summary(m) for m in matches],
        )
    return matches[0]


def _same_name(candidate: object, wanted: str) -> bool:
    return isinstance(candidate, str) and candidate.rstrip(".").casefold() == wanted.rstrip(".").casefold()


def _addresses(machine: Machine) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    raw = [machine.get("lastIpAddress")]
    raw += [entry.get("ipAddress") for entry in machine.get("ipAddresses") or [] if isinstance(entry, dict)]
    addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for value in raw:
        try:
            addresses.add(ipaddress.ip_address(str(value)))
        except ValueError:
            continue
    return addresses


def _unique(machines: Iterable[Machine]) -> list[Machine]:
    seen: dict[str, Machine] = {}
    for machine in machines:
        seen.setdefault(str(machine.get("id")), machine)
    return list(seen.values())


@dataclass(frozen=True)
class MachineRef:
    """What the caller named: a Defender machine id, a DNS name or an IP address."""

    kind: Literal["id", "name", "ip"]
    value: str  # ids lower-cased, IPs normalised; names exactly as given (matched case-insensitively)
