"""In-memory fakes for the HTTP API's ports: tenants, Defender, audit, idempotency, job queue, replay guard.

They keep the behaviour the use case relies on (Defender's one-active-action-per-type rule, its 404 for
a machine of another tenant, the idempotency claim states) and count every call, so tests can assert
"no Defender call" instead of trusting it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.actions.audit import AuditRecord
from shared.actions.idempotency import StoredResponse
from shared.domain.errors import (
    ActionConflictError,
    DefenderNotFoundError,
    IdempotencyConflictError,
    TenantNotFoundError,
)
from shared.domain.job import Job
from shared.domain.tenant import Tenant

TENANT_A = "11111111-1111-1111-1111-111111111111"
TENANT_B = "22222222-2222-2222-2222-222222222222"
TENANT_T = "33333333-3333-3333-3333-333333333333"  # its own allow-list names triage
MACHINE_A1 = "a" * 40
MACHINE_B1 = "b" * 40
ACTION_TYPES = {
    "isolate": "Isolate", "unisolate": "Unisolate", "runAntiVirusScan": "RunAntiVirusScan",
    "restrictCodeExecution": "RestrictCodeExecution", "unrestrictCodeExecution": "UnrestrictCodeExecution",
    "collectInvestigationPackage": "CollectInvestigationPackage", "StopAndQuarantineFile": "StopAndQuarantineFile",
    "offboard": "Offboard",
}  # fmt: skip


def machine(machine_id: str, name: str, ip: str = "10.0.0.1", **extra: Any) -> dict[str, Any]:
    return {"id": machine_id, "computerDnsName": name, "lastSeen": "2026-11-21T10:00:00Z", "lastIpAddress": ip,
            "healthStatus": "Active", "ipAddresses": [{"ipAddress": ip}], **extra}  # fmt: skip


class FakeTenants:
    def __init__(self, *tenants: Tenant) -> None:
        self.tenants = {t.tenant_id: t for t in tenants}

    def get(self, tenant_id: str) -> Tenant:
        try:
            return self.tenants[tenant_id.lower()]
        except KeyError:
            raise TenantNotFoundError(tenant_id) from None


@dataclass
class FakeDefender:
    """Machines per tenant; actions advance one status per ``get_machine_action`` call."""

    machines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    fail_with: Exception | None = None  # raised by the next post/get/cancel
    progression: tuple[str, ...] = ("Pending", "InProgress", "Succeeded")
    tokens_used: list[str] = field(default_factory=list)  # tenant ids whose "token" was used

    def _enter(self, name: str, tenant: Tenant) -> None:
        self.calls[name] += 1
        self.tokens_used.append(tenant.tenant_id)
        if self.fail_with is not None:
            exc, self.fail_with = self.fail_with, None
            raise exc

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def find_machines(self, tenant: Tenant, *, name: str | None = None, ip: str | None = None) -> list[dict[str, Any]]:
        self._enter("find_machines", tenant)
        found = self.machines.get(tenant.tenant_id, [])
        # Deliberately loose, like a server-side startswith: the resolver must re-check exactly.
        if name is not None:
            return [m for m in found if str(m["computerDnsName"]).lower().startswith(name.lower())]
        return [m for m in found if str(m["lastIpAddress"]).startswith(str(ip))]

    def post_machine_action(self, tenant: Tenant, machine_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("post_machine_action", tenant)
        if machine_id not in {m["id"] for m in self.machines.get(tenant.tenant_id, [])}:
            raise DefenderNotFoundError(f"Machine {machine_id} was not found", status=404, code="ResourceNotFound")
        kind = ACTION_TYPES[action]
        for existing in self.actions.values():
            same = existing["machineId"] == machine_id and existing["type"] == kind
            if same and existing["status"] in ("Pending", "InProgress"):
                raise ActionConflictError(
                    "Action is already in progress", status=400, code="ActiveRequestAlreadyExists"
                )
        action_id = str(uuid.uuid4())
        self.actions[action_id] = {
            "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#MachineActions/$entity",
            "id": action_id, "type": kind, "status": "Pending", "machineId": machine_id, "tenant": tenant.tenant_id,
            "requestorComment": body["Comment"], "creationDateTimeUtc": datetime.now(UTC).isoformat(), "body": body,
        }  # fmt: skip
        return dict(self.actions[action_id])

    def get_machine_action(self, tenant: Tenant, action_id: str) -> dict[str, Any]:
        self._enter("get_machine_action", tenant)
        action = self._own(tenant, action_id)
        index = self.progression.index(action["status"]) if action["status"] in self.progression else -1
        if 0 <= index < len(self.progression) - 1:
            action["status"] = self.progression[index + 1]
        return dict(action)

    def cancel_machine_action(self, tenant: Tenant, action_id: str, comment: str) -> dict[str, Any]:
        self._enter("cancel_machine_action", tenant)
        action = self._own(tenant, action_id)
        action.update(status="Cancelled", cancellationComment=comment)
        return dict(action)

    def list_machine_actions(self, tenant: Tenant, *, odata_filter: str) -> list[dict[str, Any]]:
        self._enter("list_machine_actions", tenant)
        return [
            dict(a) for a in self.actions.values() if a["tenant"] == tenant.tenant_id and a["machineId"] in odata_filter
        ]

    def _own(self, tenant: Tenant, action_id: str) -> dict[str, Any]:
        action = self.actions.get(action_id)
        if action is None or action["tenant"] != tenant.tenant_id:
            raise DefenderNotFoundError(f"MachineAction {action_id} was not found", status=404, code="ResourceNotFound")
        return action


class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.fail = False

    def write(self, record: AuditRecord) -> None:
        if self.fail:
            raise OSError("audit table unreachable")
        self.records.append(record)

    def list(self, tenant_id: str, *, since: datetime, limit: int) -> list[AuditRecord]:
        return [r for r in self.records if r.tenant_id == tenant_id and r.time >= since][:limit]


class MemoryIdempotency:
    """Same states as the Table store: pending claim, done with a stored response, released."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}

    def claim(self, tenant_id: str, key: str, fingerprint: str, *, now: datetime) -> StoredResponse | None:
        entry = self.entries.get((tenant_id, key))
        if entry is None:
            self.entries[(tenant_id, key)] = {"fingerprint": fingerprint, "response": None}
            return None
        if entry["fingerprint"] != fingerprint:
            raise IdempotencyConflictError("Idempotency-Key was already used for a different request", status=422)
        if entry["response"] is None:
            raise IdempotencyConflictError("a request with this Idempotency-Key is still being processed", status=409)
        response: StoredResponse = entry["response"]
        return response

    def complete(self, tenant_id: str, key: str, response: StoredResponse) -> None:
        self.entries[(tenant_id, key)]["response"] = response

    def release(self, tenant_id: str, key: str) -> None:
        self.entries.pop((tenant_id, key), None)


class FakeJobs:
    def __init__(self) -> None:
        self.sent: list[Job] = []

    def send(self, job: Job, *, delay_seconds: int = 0) -> None:
        self.sent.append(job)


class MemoryReplayGuard:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_use(self, signature: str, *, expires_at: datetime) -> bool:
        if signature in self.seen:
            return False
        self.seen.add(signature)
        return True


@dataclass
class Harness:
    """An ``HttpApi`` over fakes: tenant A (default allow-list) with machines, tenant B with its own."""

    defender: FakeDefender
    audit: MemoryAudit
    idempotency: MemoryIdempotency
    jobs: FakeJobs
    api: Any
    sleeps: list[float]
    triage: Any = None  # tests.fakes.triage.FakeTriageWrites (its calls count in defender.total_calls)


def build_harness(*, verifier: Any = None, tenants: tuple[Tenant, ...] | None = None) -> Harness:
    from shared.actions.service import ActionService
    from shared.domain.catalogue import DEFAULT_ALLOWED_ACTIONS, TRIAGE
    from shared.http.api import HttpApi
    from shared.triage.service import TriageService
    from tests.fakes.triage import FakeTriageWrites

    defender = FakeDefender(
        machines={
            TENANT_A: [
                machine(MACHINE_A1, "web01.contoso.com", "10.0.0.1"),
                machine("c" * 40, "web01.contoso.com.evil", "10.0.0.11"),  # shares the prefix: never matched
                machine("d" * 40, "db01.contoso.com", "10.0.0.2"),
                machine("e" * 40, "dup.contoso.com", "10.0.0.3"),
                machine("f" * 40, "DUP.contoso.com", "10.0.0.4"),
            ],
            TENANT_B: [machine(MACHINE_B1, "web01.fabrikam.com", "10.0.0.1")],
            TENANT_T: [machine("1" * 40, "ws01.tailspin.com", "10.1.0.1", machineTags=["vip"])],
        }
    )
    clock = {"t": 0.0}
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock["t"] += seconds

    service = ActionService(
        tenants=FakeTenants(*(tenants or _default_tenants(frozenset(DEFAULT_ALLOWED_ACTIONS) | {TRIAGE}))),
        defender=defender,
        default_allowed=frozenset(DEFAULT_ALLOWED_ACTIONS),
        sleep=sleep,
        monotonic=lambda: clock["t"],
    )
    audit, idempotency, jobs = MemoryAudit(), MemoryIdempotency(), FakeJobs()
    writes = FakeTriageWrites(calls=defender.calls, machines=defender.machines, finder=defender)
    triage = TriageService(graph=writes, machines=writes, tags=writes)
    api = HttpApi(service=service, triage=triage, audit=audit, idempotency=idempotency, jobs=jobs, verifier=verifier)
    return Harness(defender, audit, idempotency, jobs, api, sleeps, writes)


def _default_tenants(triage_allowed: frozenset[str]) -> tuple[Tenant, ...]:
    return (
        Tenant(TENANT_A, "Contoso"),
        Tenant(TENANT_B, "Fabrikam"),
        Tenant(TENANT_T, "Tailspin", allowed_actions=triage_allowed),
    )


def api_request(
    method: str,
    path: str,
    *,
    body: bytes | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    """An ``ApiRequest`` for a route path like ``tenants/{t}/machines/{m}/isolate`` (route params parsed from it)."""
    import json

    from shared.http.api import ApiRequest

    route, route_params = match_route(method, path)
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    hdrs = {"content-type": "application/json"} if raw else {}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
    target = f"/api/{path}" + (f"?{query}" if query else "")
    return route, ApiRequest(method, target, route_params, dict(params or {}), hdrs, raw)


def match_route(method: str, path: str) -> tuple[Any, dict[str, str]]:
    from shared.http.routes import ROUTES

    parts = path.split("/")
    for route in ROUTES:
        template = route.template.split("/")
        if route.method != method or len(template) != len(parts):
            continue
        params: dict[str, str] = {}
        for t, p in zip(template, parts, strict=True):
            if t.startswith("{"):
                params[t[1:-1]] = p
            elif t != p:
                break
        else:
            return route, params
    raise LookupError(f"no route for {method} {path}")


class FakeInterleavedTable:
    """A real ``TableClient`` with one interleaving forced: before this table's first ``get_entity`` the row
    is deleted through ``other`` (another instance releasing its ``Idempotency-Key`` claim at that moment)."""

    def __init__(self, table: Any, other: Any) -> None:
        self._table = table
        self._other = other
        self.interleaved = 0

    def get_entity(self, partition_key: str, row_key: str, **kwargs: Any) -> Any:
        if not self.interleaved:
            self.interleaved += 1
            self._other.delete_entity(partition_key, row_key)
        return self._table.get_entity(partition_key, row_key, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)
