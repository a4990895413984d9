"""The emulator's shared state: the clock, the customer tenants, the partner's app registrations.

Everything the emulated services (Entra ID, Defender for Endpoint, Defender XDR, Key Vault, the
managed identity endpoint) agree on lives here. The services are aiohttp applications, one per
emulated host, all running in one event loop, so this state needs no locks: handlers must not await
between reading and writing it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

CloudName = Literal["commercial", "gcc", "gcc-high", "dod"]
AppFamily = Literal["commercial", "usgov"]
Resource = Literal["mde", "xdr", "graph"]

CLOUDS: tuple[CloudName, ...] = ("commercial", "gcc", "gcc-high", "dod")
REGIONS = ("auto", "us", "eu", "uk", "au", "swa", "ina")

MDE_ROLES_ALL: tuple[str, ...] = (
    "Alert.Read.All",
    "Alert.ReadWrite.All",
    "Machine.Read.All",
    "Machine.ReadWrite.All",
    "Machine.Isolate",
    "Machine.Scan",
    "Machine.RestrictExecution",
    "Machine.CollectForensics",
    "Machine.StopAndQuarantine",
    "Machine.Offboard",
    "File.Read.All",
    "Ip.Read.All",
    "URL.Read.All",
    "User.Read.All",
    "Vulnerability.Read.All",
    "Software.Read.All",
    "Ti.ReadWrite",
    "Ti.ReadWrite.All",
)
XDR_ROLES_ALL: tuple[str, ...] = ("Incident.Read.All",)
# Microsoft Graph security application permissions (least privileged first), from the Permissions tables of
# https://learn.microsoft.com/graph/api/security-list-alerts_v2 and
# https://learn.microsoft.com/graph/api/security-list-incidents. A tenant that consented before the partner app
# asked for them has no "graph" entry in its roles: its Graph token carries no roles claim.
GRAPH_READ_ROLES: tuple[str, ...] = ("SecurityAlert.Read.All", "SecurityIncident.Read.All")
GRAPH_ROLES_ALL: tuple[str, ...] = (*GRAPH_READ_ROLES, "SecurityAlert.ReadWrite.All", "SecurityIncident.ReadWrite.All")


def app_family(cloud: CloudName) -> AppFamily:
    """GCC High and DoD tenants live in the US Government cloud and need its own app registration."""
    return "usgov" if cloud in ("gcc-high", "dod") else "commercial"


@dataclass
class TenantSpec:
    tenant_id: str
    display_name: str
    cloud: CloudName = "commercial"
    region: str = "auto"
    # none: the partner app was never consented here (token endpoint answers AADSTS700016).
    # partial / full: consented; ``roles`` holds what was granted per resource (may be empty).
    consent: Literal["full", "partial", "none"] = "full"
    roles: dict[Resource, list[str]] = field(default_factory=dict)
    machines: int = 5
    note: str = ""
    # Verified domain names: the login hosts accept any of them in place of the tenant id ("in GUID or
    # domain-name format", https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
    # Empty: World.add_tenant gives the initial <name>.onmicrosoft.com domain every tenant has.
    domains: list[str] = field(default_factory=list)

    def granted(self, resource: Resource) -> list[str]:
        if self.consent == "none":
            return []
        return list(self.roles.get(resource, []))

    def to_json(self) -> dict[str, object]:
        return {
            "tenant_id": self.tenant_id,
            "display_name": self.display_name,
            "cloud": self.cloud,
            "region": self.region,
            "consent": self.consent,
            "roles": {k: list(v) for k, v in self.roles.items()},
            "machines": self.machines,
            "note": self.note,
            "domains": list(self.domains),
        }


@dataclass
class AppRegistration:
    """The partner's multi-tenant app in one cloud. Secrets are emulator-generated, per run."""

    family: AppFamily
    client_id: str
    client_secret: str
    expired_client_secret: str
    certificate_pem_path: str = ""
    thumbprint: str = ""  # SHA-1 hex of the DER certificate (x5t)
    thumbprint_sha256: str = ""  # SHA-256 hex (x5t#S256), MSAL >= 1.35 may send this instead
    public_key_pem: bytes = b""
    display_name: str = "defender-relay (emulated partner app)"
    # The partner's own tenant, where the app is registered (its credentials and FICs live there).
    home_tenant_id: str = ""
    # Federated identity credentials: principal (object) ids of user-assigned managed identities whose
    # tokens for api://AzureADTokenExchange the app accepts as client assertions, see
    # https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
    federated_subjects: list[str] = field(default_factory=list)


@dataclass
class ManagedIdentity:
    """The Function App's user-assigned managed identity, served at IDENTITY_ENDPOINT."""

    client_id: str
    principal_id: str
    tenant_id: str
    header: str  # the X-IDENTITY-HEADER value (IDENTITY_HEADER); a per-run random string
    display_name: str = "defender-relay-uami"


class Clock:
    """Emulated time: the real UTC clock. Advancing it ages the data instead of running ahead of real time.

    Each service that holds time stamps registers a listener (``on_advance``) that moves them into the past,
    so a relay running on real time still sees the data change (emulator/defender/aging.py).
    """

    def __init__(self) -> None:
        self._advanced = 0.0
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def on_advance(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time only moves forward")
        for listener in self._listeners:
            listener(seconds)
        self._advanced += seconds
        return self.now()

    @property
    def advanced_seconds(self) -> float:
        """Seconds the data has been aged by, in total (what advancing would have added to the clock)."""
        return self._advanced

    @property
    def offset_seconds(self) -> float:
        """How far the emulated clock runs ahead of real time: never, since advancing ages the data."""
        return 0.0


@dataclass
class Counters:
    """What tests and benchmarks read back through ``GET /_emulator/counters``."""

    token_requests: Counter[str] = field(default_factory=Counter)  # by tenant id
    api_calls: Counter[str] = field(default_factory=Counter)  # by "tenant|route"
    throttled: Counter[str] = field(default_factory=Counter)  # 429s served, by tenant id
    faults: Counter[str] = field(default_factory=Counter)  # injected faults, by "kind|route"
    keyvault_reads: Counter[str] = field(default_factory=Counter)  # by secret name
    managed_identity_tokens: int = 0

    def reset(self) -> None:
        self.token_requests.clear()
        self.api_calls.clear()
        self.throttled.clear()
        self.faults.clear()
        self.keyvault_reads.clear()
        self.managed_identity_tokens = 0

    def to_json(self) -> dict[str, object]:
        return {
            "token_requests": dict(self.token_requests),
            "api_calls": dict(self.api_calls),
            "throttled": dict(self.throttled),
            "faults": dict(self.faults),
            "keyvault_reads": dict(self.keyvault_reads),
            "managed_identity_tokens": self.managed_identity_tokens,
        }


@dataclass
class World:
    """All emulator state. Services receive the one instance at construction."""

    seed: int = 1
    clock: Clock = field(default_factory=Clock)
    tenants: dict[str, TenantSpec] = field(default_factory=dict)
    apps: dict[AppFamily, AppRegistration] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    # real host name -> "https://127.0.0.1:PORT", filled in once the sockets are bound
    hosts: dict[str, str] = field(default_factory=dict)
    # Key Vault secrets by name (the vault also serves versions: name -> list, newest last)
    secrets: dict[str, list[str]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    # The partner (MSSP) home tenant: the app registrations, the managed identity and the vault live there.
    partner_tenant_id: str = ""
    managed_identity: ManagedIdentity | None = None

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def tenant(self, tenant_id: str) -> TenantSpec | None:
        return self.tenants.get(tenant_id.lower())

    def tenant_by_name(self, name: str) -> TenantSpec | None:
        """A tenant by its id or by one of its domain names (case-insensitive, as DNS names are)."""
        lowered = name.lower()
        spec = self.tenants.get(lowered)
        if spec is not None or "." not in lowered:
            return spec
        return next((t for t in self.tenants.values() if lowered in t.domains), None)

    def domain_owner(self, domain: str) -> str | None:
        """The id of the tenant that holds ``domain``, if any."""
        spec = self.tenant_by_name(domain) if "." in domain else None
        return spec.tenant_id if spec is not None else None

    def add_tenant(self, spec: TenantSpec) -> TenantSpec:
        """Add or replace a tenant; a domain held by another tenant raises ValueError (a domain has one owner)."""
        spec.tenant_id = spec.tenant_id.lower()
        spec.domains = [d.lower() for d in spec.domains] or [self._initial_domain(spec)]
        self.check_domains(spec.tenant_id, spec.domains)
        self.tenants[spec.tenant_id] = spec
        return spec

    def check_domains(self, tenant_id: str, domains: list[str]) -> None:
        """Raise ValueError if another tenant holds one of ``domains``."""
        for domain in domains:
            owner = self.domain_owner(domain)
            if owner is not None and owner != tenant_id.lower():
                raise ValueError(f"domain {domain!r} already belongs to tenant {owner}")

    def _initial_domain(self, spec: TenantSpec) -> str:
        # Every Entra tenant gets <prefix>.onmicrosoft.com at creation; the prefix is unique in the cloud.
        stem = re.sub(r"[^a-z0-9]+", "", spec.display_name.lower())[:27] or "tenant"
        candidate = f"{stem}.onmicrosoft.com"
        owner = self.domain_owner(candidate)
        if owner is None or owner == spec.tenant_id:
            return candidate
        return f"{stem}{spec.tenant_id[:8]}.onmicrosoft.com"
