"""Is a tenant ready for the Graph feeds? Retiring feeds, Graph roles, one Graph read per feed.

Microsoft retires the MDE and XDR APIs on 2027-02-01 (MC1220762, docs/microsoft-apis.md §Retirement of
the MDE and XDR APIs): ``mde-alerts`` and ``xdr-incidents`` stop working then. Their successors read
Microsoft Graph (``graph-alerts``, ``graph-incidents``) and need Graph application permissions, which a
customer who consented before the partner app asked for them has not granted: their Graph token carries
no roles, or not these. ``assess`` answers, per tenant, what ``defender-relay migrate --report`` prints
and what ``migrate`` checks before it moves a tenant:

- ``migrated``: on Graph feeds only, and they read.
- ``ready``: on a retiring feed; the Graph token has the roles and a Graph read of each successor works.
- ``needs-consent``: the Graph token lacks the roles (or has none): the customer's admin must consent again.
- ``failing``: anything else (credential, tenant, a Graph read refused): the message says what.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.domain.catalogue import FEED_SPECS, MDE_XDR_RETIREMENT, Feed, migrated, retiring
from shared.domain.errors import MissingRolesError, NotConsentedError, RelayError
from shared.domain.tenant import Tenant

Status = Literal["migrated", "ready", "needs-consent", "failing"]
_RETIRING_API = {"mde": "MDE", "xdr": "XDR"}  # how MC1220762 names them


class Tokens(Protocol):
    def get_token(self, tenant: Tenant, resource: Any, *, required_roles: Iterable[str] = ()) -> Any: ...


class Reader(Protocol):
    def request(
        self, tenant: Tenant, resource: Any, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any: ...


def migrate_command(tenant: Tenant) -> str:
    return f"defender-relay migrate --tenant {tenant.tenant_id}"


def graph_roles(feeds: Iterable[Feed]) -> frozenset[str]:
    """The Graph roles the Graph feeds among ``feeds`` need."""
    return frozenset(role for f in feeds if FEED_SPECS[f].resource == "graph" for role in FEED_SPECS[f].roles)


def migration_roles(tenant: Tenant) -> frozenset[str]:
    """The Graph roles the tenant needs once its retiring feeds are moved (empty when none retire)."""
    return graph_roles(migrated(tenant.feeds)) if retiring(tenant.feeds) else frozenset()


def retirement_warnings(tenant: Tenant) -> list[str]:
    """One line per retiring feed: what stops when, and the command that moves it."""
    return [
        f"{spec.name} stops working on {spec.retires_on or MDE_XDR_RETIREMENT} (Microsoft retires the "
        f"{_RETIRING_API.get(spec.resource, spec.api)} API, MC1220762): move it to {spec.successor} with "
        f"`{migrate_command(tenant)}`"
        for spec in retiring(tenant.feeds)
    ]


@dataclass
class Readiness:
    tenant: Tenant
    status: Status = "ready"
    needed: list[str] = field(default_factory=list)  # Graph roles of the feeds after the move
    granted: list[str] = field(default_factory=list)  # roles the Graph token carries
    missing: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # Graph feeds whose one-item read answered
    message: str = ""
    action: str = ""

    @property
    def target_feeds(self) -> list[str]:
        return sorted(migrated(self.tenant.feeds))

    @property
    def retiring(self) -> list[str]:
        return [spec.name for spec in retiring(self.tenant.feeds)]

    def to_json(self) -> dict[str, Any]:
        t = self.tenant
        return {
            "tenant_id": t.tenant_id, "display_name": t.display_name, "cloud": str(t.cloud), "enabled": t.enabled,
            "feeds": sorted(t.feeds), "retiring_feeds": self.retiring, "target_feeds": self.target_feeds,
            "status": self.status, "graph_roles_needed": self.needed, "graph_roles_granted": self.granted,
            "graph_roles_missing": self.missing, "graph_reads": self.reads, "message": self.message,
            "action": self.action,
        }  # fmt: skip


def assess(tenant: Tenant, *, tokens: Tokens, reader: Reader) -> Readiness:
    """The tenant's readiness: a Graph token (its roles), then one ``$top=1`` read per Graph feed it will have."""
    result = Readiness(tenant)
    targets = [FEED_SPECS[f] for f in sorted(migrated(tenant.feeds)) if FEED_SPECS[f].resource == "graph"]
    result.needed = sorted(graph_roles(migrated(tenant.feeds)))
    try:
        if targets:
            token = tokens.get_token(tenant, "graph")  # tid / aud / roles-present checks happen here
            result.granted = sorted(token.roles)
            result.missing = sorted(set(result.needed) - set(token.roles))
            if result.missing:  # ask again with the requirement: the error (and its consent link) is auth's own
                tokens.get_token(tenant, "graph", required_roles=result.needed)
            for spec in targets:
                reader.request(tenant, "graph", "GET", spec.path, params={"$top": "1"})
                result.reads.append(spec.name)
    except (MissingRolesError, NotConsentedError) as exc:
        result.status, result.message, result.action = "needs-consent", exc.message, exc.remedy
        if isinstance(exc, MissingRolesError):
            result.missing = sorted(set(result.missing) | set(exc.missing))
        else:
            result.missing = list(result.needed)
        return result
    except RelayError as exc:
        result.status, result.message = "failing", exc.message
        result.action = str(getattr(exc, "remedy", "") or "") or "fix what the message says, then run the report again"
        return result
    if retiring(tenant.feeds):
        result.status, result.action = "ready", migrate_command(tenant)
        result.message = "the Graph token has the roles and Graph answered"
    else:
        result.status, result.message, result.action = "migrated", "on Graph feeds only", ""
    return result


def summary_line(results: list[Readiness]) -> str:
    """``"212 of 240 tenants ready; 28 need consent"`` (+ failing, when any)."""
    ready = sum(1 for r in results if r.status in ("ready", "migrated"))
    consent = sum(1 for r in results if r.status == "needs-consent")
    failing = sum(1 for r in results if r.status == "failing")
    line = f"{ready} of {len(results)} tenants ready; {consent} need consent"
    return line + (f"; {failing} failing" if failing else "")
