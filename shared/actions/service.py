"""Response actions, the use case behind the HTTP API: authorize against the tenant's allow-list, resolve
the machine exactly, call Defender with that tenant's token, and follow the action if asked to.

The service is HTTP-agnostic: ``shared.http.api`` validates input, handles ``Idempotency-Key`` and writes
the audit record around each call. What the service learns along the way (resolved machine, Defender's
action id) goes into the ``AuditNote`` the caller passes, so a failure halfway is audited with it.

Defender facts (docs/microsoft-apis.md §Machine actions): one active action per machine and type, a
second one is 400 ``ActiveRequestAlreadyExists`` (§Error body, §Action routes and permissions) — answered
as 409 with the pending action looked up, never retried blindly; final states
Succeeded/Failed/TimeOut/Cancelled (§MachineAction and its states); cancel needs any one Machine.* action
permission (§Action routes and permissions).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from shared.defender.odata import odata_quote
from shared.domain import machines
from shared.domain.catalogue import ACTIVE_STATUSES, CANCEL, EXPLICIT_ONLY, FINAL_STATUSES, ActionSpec
from shared.domain.errors import (
    ActionConflictError,
    ActionNotAllowedError,
    DefenderError,
    PendingActionError,
    TenantNotFoundError,
)
from shared.domain.machines import MachineRef
from shared.domain.tenant import Tenant

MAX_WAIT_SECONDS: Final = 200  # the Functions front end cuts HTTP responses at 230 s
_POLL_FIRST: Final = 1.0
_POLL_MAX: Final = 5.0
_ACTION_FIELDS: Final = (
    "id", "type", "scope", "status", "machineId", "computerDnsName", "requestor", "requestorComment",
    "creationDateTimeUtc", "lastUpdateDateTimeUtc", "cancellationRequestor", "cancellationComment",
    "cancellationDateTimeUtc", "title", "relatedFileInfo", "errorHResult",
)  # fmt: skip


class DefenderActions(machines.MachineFinder, Protocol):
    def post_machine_action(
        self, tenant: Tenant, machine_id: str, action: str, body: Mapping[str, Any]
    ) -> Mapping[str, Any]: ...

    def get_machine_action(self, tenant: Tenant, action_id: str) -> Mapping[str, Any]: ...

    def cancel_machine_action(self, tenant: Tenant, action_id: str, comment: str) -> Mapping[str, Any]: ...

    def list_machine_actions(self, tenant: Tenant, *, odata_filter: str) -> Sequence[Mapping[str, Any]]: ...


class TenantDirectory(Protocol):
    """The registry, read on every call: allow/deny must never come from a cache.

    Disabling a tenant or narrowing its allow-list (offboarding, a compromised automation) has to hold
    from that moment on every instance, and one point read of Table storage is small next to the
    Defender call it guards (bench/results/isolate_bench.txt).
    """

    def get(self, tenant_id: str) -> Tenant: ...


@dataclass
class AuditNote:
    """Facts gathered during one call, for its audit record (filled as they become known)."""

    machine_id: str = ""
    upstream_action_id: str = ""


@dataclass(frozen=True)
class ActionResult:
    action: dict[str, Any]
    final: bool
    machine: dict[str, str | None] = field(default_factory=dict)


class ActionService:
    def __init__(
        self,
        *,
        tenants: TenantDirectory,
        defender: DefenderActions,
        default_allowed: frozenset[str],
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tenants = tenants
        self._defender = defender
        self._default_allowed = default_allowed - EXPLICIT_ONLY
        self._sleep = sleep
        self._monotonic = monotonic

    def authorize(self, tenant_id: str, action: str) -> Tenant:
        """The tenant, if it exists, is enabled and allows ``action`` (offboard only when named by the tenant)."""
        tenant = self.tenant(tenant_id)
        allowed = tenant.allowed_actions if tenant.allowed_actions is not None else self._default_allowed
        if action not in allowed:
            why = "it must be named in the tenant's own allow-list" if action in EXPLICIT_ONLY else "not allowed"
            raise ActionNotAllowedError(
                f"action {action!r} is not allowed for tenant {tenant_id} ({why}; allowed: "
                f"{', '.join(sorted(allowed)) or 'none'})",
                tenant_id=tenant_id,
                action=action,
            )
        return tenant

    def tenant(self, tenant_id: str) -> Tenant:
        """The tenant, if it is in the registry and enabled (a disabled tenant is answered like a missing one)."""
        tenant = self._tenants.get(tenant_id)
        if not tenant.enabled:
            raise TenantNotFoundError(tenant_id, f"tenant {tenant_id} is disabled in the registry")
        return tenant

    def run_machine_action(
        self,
        tenant: Tenant,
        ref: MachineRef,
        spec: ActionSpec,
        data: ActionInput,
        *,
        note: AuditNote,
        wait_seconds: int,
    ) -> ActionResult:
        machine = machines.resolve(self._defender, tenant, ref)
        note.machine_id = str(machine["id"])
        body = {"Comment": data.comment, **data.options}
        try:
            action = self._defender.post_machine_action(tenant, note.machine_id, spec.defender_path, body)
        except ActionConflictError as exc:
            raise self._pending_conflict(tenant, note.machine_id, spec, exc) from exc
        note.upstream_action_id = str(action.get("id", ""))
        return self._follow(tenant, action, wait_seconds, machine=machines.summary(machine))

    def get_action(self, tenant: Tenant, action_id: str, *, wait_seconds: int) -> ActionResult:
        return self._follow(tenant, self._defender.get_machine_action(tenant, action_id), wait_seconds)

    def cancel_action(self, tenant: Tenant, action_id: str, comment: str, *, note: AuditNote) -> ActionResult:
        note.upstream_action_id = action_id
        action = self._defender.cancel_machine_action(tenant, action_id, comment)
        note.machine_id = str(action.get("machineId") or "")
        return ActionResult(public_action(action), final=action.get("status") in FINAL_STATUSES)

    def lookup(self, tenant: Tenant, ref: MachineRef) -> list[dict[str, str | None]]:
        return [machines.summary(m) for m in machines.find_exact(self._defender, tenant, ref)]

    def _follow(
        self,
        tenant: Tenant,
        action: Mapping[str, Any],
        wait_seconds: int,
        *,
        machine: dict[str, str | None] | None = None,
    ) -> ActionResult:
        """Poll until final or ``wait_seconds`` pass (0: no polling). Bounded in time and in polls."""
        deadline = self._monotonic() + min(wait_seconds, MAX_WAIT_SECONDS)
        interval = _POLL_FIRST
        while action.get("status") not in FINAL_STATUSES and self._monotonic() + interval <= deadline:
            self._sleep(interval)
            action = self._defender.get_machine_action(tenant, str(action["id"]))
            interval = min(interval * 1.5, _POLL_MAX)
        return ActionResult(public_action(action), final=action.get("status") in FINAL_STATUSES, machine=machine or {})

    def _pending_conflict(
        self, tenant: Tenant, machine_id: str, spec: ActionSpec, exc: ActionConflictError
    ) -> PendingActionError:
        """Look up the action Defender says is already active, so the caller can follow it instead."""
        pending: dict[str, str | None] = {}
        try:
            candidates = self._defender.list_machine_actions(
                tenant,
                odata_filter=f"machineId eq {odata_quote(machine_id)} and type eq {odata_quote(spec.defender_type)}",
            )
            active = [a for a in candidates if a.get("status") in ACTIVE_STATUSES]
            active.sort(key=lambda a: str(a.get("creationDateTimeUtc") or ""), reverse=True)
            if active:
                pending = {"id": active[0].get("id"), "status": active[0].get("status"),
                           "creationDateTimeUtc": active[0].get("creationDateTimeUtc")}  # fmt: skip
        except DefenderError:
            pass  # the 409 stands on its own; the lookup only adds detail
        what = f"{pending['id']} ({pending['status']})" if pending else "(not found in the action list)"
        return PendingActionError(
            f"a {spec.defender_type} action is already pending for machine {machine_id}: {what}; "
            f"Defender answered {exc.code or 'ActiveRequestAlreadyExists'} — follow that action instead of retrying",
            pending_action=pending,
            tenant_id=tenant.tenant_id,
        )


def public_action(action: Mapping[str, Any]) -> dict[str, Any]:
    """A MachineAction without OData annotations; unknown extra fields are dropped, not passed through."""
    return {name: action[name] for name in _ACTION_FIELDS if name in action}


__all__ = ["CANCEL", "ActionResult", "ActionService", "AuditNote", "public_action"]


@dataclass(frozen=True)
class ActionInput:
    comment: str
    options: dict[str, str] = field(default_factory=dict)  # Defender body names -> values (IsolationType, Sha1)
