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

``assess_rollback`` answers the same for the way back (``migrate --rollback``, until the MDE and XDR APIs
retire): ``ready`` when the MDE / XDR tokens carry the predecessors' roles (``Alert.Read.All``,
``Incident.Read.All``) and one read of each answers, ``not-on-graph`` when no feed has a predecessor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.domain.catalogue import (
    FEED_SPECS,
    MDE_XDR_RETIREMENT,
    Feed,
    FeedSpec,
    migrated,
    missing_roles,
    retiring,
    rolled_back,
    successors,
)
from shared.domain.errors import MissingRolesError, NotConsentedError, RelayError
from shared.domain.tenant import Tenant

Status = Literal["migrated", "ready", "needs-consent", "failing", "not-on-graph"]
Direction = Literal["graph", "rollback"]
_RETIRING_API = {"mde": "MDE", "xdr": "XDR"}  # how MC1220762 names them


class Tokens(Protocol):
    def get_token(self, tenant: Tenant, resource: Any, *, required_roles: Iterable[str] = ()) -> Any: ...


class Reader(Protocol):
    def request(
        self, tenant: Tenant, resource: Any, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any: ...


def migrate_command(tenant: Tenant, *, rollback: bool = False) -> str:
    return f"defender-relay migrate {'--rollback ' if rollback else ''}--tenant {tenant.tenant_id}"


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
    needed: list[str] = field(default_factory=list)  # roles of the feeds after the move (Graph; MDE/XDR for rollback)
    granted: list[str] = field(default_factory=list)  # roles the token(s) of those feeds carry
    missing: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # feeds after the move whose one-item read answered
    message: str = ""
    action: str = ""
    direction: Direction = "graph"

    @property
    def target_feeds(self) -> list[str]:
        return sorted(migrated(self.tenant.feeds) if self.direction == "graph" else rolled_back(self.tenant.feeds))

    @property
    def retiring(self) -> list[str]:
        return [spec.name for spec in retiring(self.tenant.feeds)]

    def to_json(self) -> dict[str, Any]:
        t = self.tenant
        api = "graph" if self.direction == "graph" else "mde_xdr"  # whose tokens and reads the fields describe
        return {
            "tenant_id": t.tenant_id, "display_name": t.display_name, "cloud": str(t.cloud), "enabled": t.enabled,
            "feeds": sorted(t.feeds), "retiring_feeds": self.retiring, "target_feeds": self.target_feeds,
            "status": self.status, f"{api}_roles_needed": self.needed, f"{api}_roles_granted": self.granted,
            f"{api}_roles_missing": self.missing, f"{api}_reads": self.reads, "message": self.message,
            "action": self.action,
        }  # fmt: skip


def assess(tenant: Tenant, *, tokens: Tokens, reader: Reader) -> Readiness:
    """The tenant's readiness: a Graph token (its roles), then one ``$top=1`` read per Graph feed it will have."""
    result = Readiness(tenant)
    targets = [FEED_SPECS[f] for f in sorted(migrated(tenant.feeds)) if FEED_SPECS[f].resource == "graph"]
    if not _probe(result, targets, tokens, reader):
        return result
    if retiring(tenant.feeds):
        result.status, result.action = "ready", migrate_command(tenant)
        result.message = "the Graph token has the roles and Graph answered"
    else:
        result.status, result.message, result.action = "migrated", "on Graph feeds only", ""
    return result


def assess_rollback(tenant: Tenant, *, tokens: Tokens, reader: Reader) -> Readiness:
    """Ready to go back: the MDE / XDR tokens carry each predecessor's roles and one read of each answers."""
    result = Readiness(tenant, direction="rollback")
    moving = successors(tenant.feeds)
    if not moving:
        result.status, result.message = "not-on-graph", "no feed of the tenant has an MDE/XDR predecessor"
        return result
    targets = [FEED_SPECS[f] for f in sorted(rolled_back(tenant.feeds)) if FEED_SPECS[f].retires_on]
    if not _probe(result, targets, tokens, reader):
        return result
    result.status, result.action = "ready", migrate_command(tenant, rollback=True)
    result.message = "the MDE/XDR tokens have the roles and the APIs answered"
    return result


def _probe(result: Readiness, targets: list[FeedSpec], tokens: Tokens, reader: Reader) -> bool:
    """Tokens with the targets' roles (per API), then one ``$top=1`` read each; False (and why) when not."""
    tenant = result.tenant
    needed: dict[str, set[str]] = {}
    for spec in targets:
        needed.setdefault(spec.resource, set()).update(spec.roles)
    result.needed = sorted(role for roles in needed.values() for role in roles)
    try:
        for resource, roles in sorted(needed.items()):
            token = tokens.get_token(tenant, resource)  # tid / aud / roles-present checks happen here
            result.granted += sorted(token.roles)
            result.missing += sorted(missing_roles(roles, token.roles))
        if result.missing:  # ask again with the requirement: the error (and its consent link) is auth's own
            for resource, roles in sorted(needed.items()):
                tokens.get_token(tenant, resource, required_roles=sorted(roles))
        for spec in targets:
            reader.request(tenant, spec.resource, "GET", spec.path, params={"$top": "1"})
            result.reads.append(spec.name)
    except (MissingRolesError, NotConsentedError) as exc:
        result.status, result.message, result.action = "needs-consent", exc.message, exc.remedy
        if isinstance(exc, MissingRolesError):
            result.missing = sorted(set(result.missing) | set(exc.missing))
        else:
            result.missing = list(result.needed)
        return False
    except RelayError as exc:
        result.status, result.message = "failing", exc.message
        result.action = str(getattr(exc, "remedy", "") or "") or "fix what the message says, then run the report again"
        return False
    return True


def summary_line(results: list[Readiness]) -> str:
    """``"212 of 240 tenants ready; 28 need consent"`` (+ failing, when any)."""
    ready = sum(1 for r in results if r.status in ("ready", "migrated"))
    consent = sum(1 for r in results if r.status == "needs-consent")
    failing = sum(1 for r in results if r.status == "failing")
    line = f"{ready} of {len(results)} tenants ready; {consent} need consent"
    return line + (f"; {failing} failing" if failing else "")
