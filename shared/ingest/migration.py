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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from shared.domain.catalogue import FEED_SPECS, Feed, migrated, retiring
from shared.domain.checkpoint import Checkpoint, Claim, handover_key
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
    cursor: datetime | None  # where the new feed starts (None: it has never run; the initial lookback applies)
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

    def to_json(self) -> dict[str, Any]:
        t = self.tenant
        after = migrated(t.feeds) if self.outcome in ("moved", "would-move") else t.feeds
        return {
            "tenant_id": t.tenant_id, "display_name": t.display_name, "outcome": self.outcome,
            "feeds_before": sorted(t.feeds), "feeds_after": sorted(after),
            "moves": [m.to_json() for m in self.moves], "message": self.message, "action": self.action,
            "readiness": self.readiness.to_json(),
        }  # fmt: skip


@dataclass(frozen=True)
class MigrationDeps:
    registry: Registry
    checkpoints: CheckpointStore
    tokens: Tokens
    reader: Reader
    owner: str  # the lease owner the old feeds are held by ("migrate/<host>-<pid>")
    hold: timedelta = HOLD


def migrate_tenant(tenant: Tenant, *, deps: MigrationDeps, dry_run: bool = False) -> MigrationResult:
    readiness = assess(tenant, tokens=deps.tokens, reader=deps.reader)
    result = MigrationResult(tenant, "not-moved", readiness, message=readiness.message, action=readiness.action)
    if readiness.status == "migrated":
        result.outcome, result.action = "nothing-to-do", ""
        return result
    if readiness.status != "ready":
        return result
    if dry_run:
        result.moves = [
            _planned(tenant, spec.name, deps.checkpoints.get(tenant.tenant_id, spec.name))
            for spec in retiring(tenant.feeds)
        ]
        result.outcome, result.action = "would-move", f"run without --dry-run to move {tenant.display_name}"
        result.message = "ready: nothing was changed (--dry-run)"
        return result
    return _move(tenant, deps, result)


def _move(tenant: Tenant, deps: MigrationDeps, result: MigrationResult) -> MigrationResult:
    held: list[Claim] = []
    try:
        for spec in retiring(tenant.feeds):
            held.append(deps.checkpoints.claim(tenant.tenant_id, spec.name, owner=deps.owner, duration=deps.hold))
        result.moves = [_seed(tenant, claim, deps) for claim in held]
        deps.registry.upsert(replace(tenant, feeds=migrated(tenant.feeds)))
    except LeaseHeldError:
        _release(deps, held)
        result.moves = []
        result.message = "a job of a retiring feed is running right now: nothing was changed"
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


def _planned(tenant: Tenant, old: Feed, checkpoint: Checkpoint) -> FeedMove:
    new = FEED_SPECS[old].successor or old
    return FeedMove(old, new, checkpoint.cursor, len(checkpoint.seen), seeded=new not in tenant.feeds)


def _seed(tenant: Tenant, claim: Claim, deps: MigrationDeps) -> FeedMove:
    """Start the successor where the old feed stands (unless the tenant already reads it)."""
    old = claim.checkpoint
    move = _planned(tenant, cast(Feed, old.feed), old)
    if not move.seeded or old.cursor is None:  # already read beside it, or never ran: nothing to carry over
        return replace(move, seeded=False)
    new_claim = deps.checkpoints.claim(tenant.tenant_id, move.new, owner=deps.owner, duration=deps.hold)
    keys = frozenset(handover_key(item_id, version) for item_id, version in old.seen)
    start = Checkpoint(tenant_id=tenant.tenant_id, feed=move.new, cursor=old.cursor, handover=keys)
    deps.checkpoints.release(new_claim, start)
    return move


def _release(deps: MigrationDeps, claims: Iterable[Claim]) -> None:
    for claim in claims:
        deps.checkpoints.release(claim)
