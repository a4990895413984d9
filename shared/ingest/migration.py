"""``migrate``: move a tenant from the retiring MDE/XDR feeds to their Graph successors without losing a version.

Per tenant (docs/operations.md "Migrating tenants to Microsoft Graph"):

1. Readiness (``shared.tenants.readiness.assess``): the Graph token has the roles and a Graph read of
   each successor works. A tenant that is not ready is not moved; the result says why and what to do.
2. The lease of each retiring feed is taken, so no job of it runs while its checkpoint is read (a job
   running right now: the tenant is not moved, run it again in a minute).
3. Each successor's checkpoint starts at the old cursor: its first run reads from the old cursor minus
   the overlap, so no version before, during or after the switch is missed. It also gets the old feed's
   delivered keys inside the overlap as ``handover`` (provider id + change time): a Graph version the old
   feed already delivered is dropped, so the switch repeats nothing the relay can match.
4. The registry switches the tenant's feeds. The old leases are not released: they lapse after
   ``hold``, longer than a worker's registry snapshot lives (30 s), so a worker that still sees the old
   feeds finds the lease held and does nothing.

A successor the tenant already has (it read Graph beside the old feed) keeps its own checkpoint.

``migrate --rollback`` (``shared.ingest.rollback``) is the same switch the other way (Graph feeds back to
their MDE/XDR predecessors): ``switch_feeds`` below does steps 2 to 4 for both directions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, cast

from shared.domain.catalogue import FEED_SPECS, Feed, FeedSpec, migrated, predecessor, retiring
from shared.domain.checkpoint import Checkpoint, Claim, carried_keys, delivered_versions
from shared.domain.errors import LeaseHeldError
from shared.domain.tenant import Tenant
from shared.ingest.checkpoint_table import CheckpointStore
from shared.tenants.readiness import Reader, Readiness, Tokens, assess

Outcome = Literal["moved", "would-move", "not-moved", "nothing-to-do"]
HOLD = timedelta(seconds=90)  # > RegistrySnapshot.max_age (30 s) + a job's start-up


class Registry(Protocol):
    def upsert(self, tenant: Tenant) -> None: ...


@dataclass(frozen=True)
class FeedMove:
    old: Feed
    new: Feed
    cursor: datetime | None  # where the new feed starts (None: the old one never ran; the initial lookback applies)
    handover: int  # delivered versions the new feed will drop
    seeded: bool  # False: the tenant already read the new feed, its checkpoint is kept

    def to_json(self) -> dict[str, Any]:
        cursor = self.cursor.isoformat() if self.cursor else None
        return {"from": self.old, "to": self.new, "cursor": cursor, "handover": self.handover, "seeded": self.seeded}


@dataclass
class MigrationResult:
    tenant: Tenant
    outcome: Outcome
    readiness: Readiness
    moves: list[FeedMove] = field(default_factory=list)
    message: str = ""
    action: str = ""
    target: frozenset[Feed] | None = None  # the feeds after a move (None: ``migrated``)
    stops: str = ""  # what the move stops delivering (rollback: the alerts only Graph serves)

    @property
    def feeds_after(self) -> frozenset[Feed]:
        if self.outcome not in ("moved", "would-move"):
            return self.tenant.feeds
        return migrated(self.tenant.feeds) if self.target is None else self.target

    def to_json(self) -> dict[str, Any]:
        t = self.tenant
        return {
            "tenant_id": t.tenant_id, "display_name": t.display_name, "outcome": self.outcome,
            "feeds_before": sorted(t.feeds), "feeds_after": sorted(self.feeds_after),
            "moves": [m.to_json() for m in self.moves], "message": self.message, "action": self.action,
            "stops": self.stops, "readiness": self.readiness.to_json(),
        }  # fmt: skip


@dataclass(frozen=True)
class MigrationDeps:
    registry: Registry
    checkpoints: CheckpointStore
    tokens: Tokens
    reader: Reader
    owner: str  # the lease owner the old feeds are held by ("migrate/<host>-<pid>")
    hold: timedelta = HOLD
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # rollback: is it past retirement?


def migrate_tenant(tenant: Tenant, *, deps: MigrationDeps, dry_run: bool = False) -> MigrationResult:
    readiness = assess(tenant, tokens=deps.tokens, reader=deps.reader)
    result = MigrationResult(tenant, "not-moved", readiness, message=readiness.message, action=readiness.action)
    if readiness.status == "migrated":
        result.outcome, result.action = "nothing-to-do", ""
        return result
    if readiness.status != "ready":
        return result
    if dry_run:
        return planned(tenant, deps, result, retiring(tenant.feeds), "move")
    return switch_feeds(tenant, deps, result, retiring(tenant.feeds), migrated(tenant.feeds))


def planned(
    tenant: Tenant, deps: MigrationDeps, result: MigrationResult, leaving: list[FeedSpec], verb: str
) -> MigrationResult:
    """The dry run: what ``switch_feeds`` would do, from the checkpoints as they are; nothing is written."""
    result.moves = [_planned(tenant, spec.name, deps.checkpoints.get(tenant.tenant_id, spec.name)) for spec in leaving]
    result.outcome, result.action = "would-move", f"run without --dry-run to {verb} {tenant.display_name}"
    result.message = "ready: nothing was changed (--dry-run)"
    return result


def switch_feeds(
    tenant: Tenant, deps: MigrationDeps, result: MigrationResult, leaving: list[FeedSpec], target: frozenset[Feed]
) -> MigrationResult:
    """Steps 2 to 4 of the module docstring: claim ``leaving``, seed each partner feed, switch to ``target``."""
    held: list[Claim] = []
    try:
        for spec in leaving:
            held.append(deps.checkpoints.claim(tenant.tenant_id, spec.name, owner=deps.owner, duration=deps.hold))
        result.moves = [_seed(tenant, claim, deps) for claim in held]
        deps.registry.upsert(replace(tenant, feeds=target))
    except LeaseHeldError:
        _release(deps, held)
        result.moves = []
        result.message = "a job of a feed being moved is running right now (or an earlier migrate still holds it)"
        result.message += ": nothing was changed"
        result.action = "run migrate again in a minute"
        return result
    except Exception:
        _release(deps, held)  # the old feeds go on as before; the error is what the operator must see
        raise
    # The old leases stay held until they lapse (``HOLD``): see the module docstring, step 4.
    result.outcome = "moved"
    result.message = ", ".join(f"{m.old} -> {m.new}" for m in result.moves)
    result.action = ""
    return result


def partner(feed: Feed) -> Feed:
    """The feed ``feed`` is switched to: its successor, or (rollback) the feed it succeeded."""
    return FEED_SPECS[feed].successor or predecessor(feed) or feed


def _planned(tenant: Tenant, old: Feed, checkpoint: Checkpoint) -> FeedMove:
    new = partner(old)
    return FeedMove(old, new, checkpoint.cursor, delivered_versions(checkpoint), seeded=new not in tenant.feeds)


def _seed(tenant: Tenant, claim: Claim, deps: MigrationDeps) -> FeedMove:
    """Start the partner feed where the old one stands (unless the tenant already reads it).

    The partner's own checkpoint, left from before an earlier switch, is overwritten: it is stale. When the
    old feed never ran (cursor None) the partner starts as new, with the initial lookback."""
    old = claim.checkpoint
    move = _planned(tenant, cast(Feed, old.feed), old)
    if not move.seeded:  # the tenant reads it already, beside the old feed: it keeps its own checkpoint
        return move
    new_claim = deps.checkpoints.claim(tenant.tenant_id, move.new, owner=deps.owner, duration=deps.hold)
    start = Checkpoint(tenant_id=tenant.tenant_id, feed=move.new, cursor=old.cursor, handover=carried_keys(old))
    deps.checkpoints.release(new_claim, start)
    return move


def _release(deps: MigrationDeps, claims: Iterable[Claim]) -> None:
    for claim in claims:
        deps.checkpoints.release(claim)
