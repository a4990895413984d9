"""The triage use case: update or comment on one alert or incident, tag one machine.

Every update reads the item first: the audit record then says what changed from what to what, and a request
that changes nothing is answered without a write (no new version for ingestion to deliver). Machines are
resolved exactly as the response actions resolve them (``shared.domain.machines``): a name or IP that matches
no machine is 404 and one that matches several is 409, never a prefix match.

The service is HTTP-agnostic: ``shared.http.triage_api`` validates input (``shared.triage.fields``), checks
the tenant's allow-list and ``Idempotency-Key``, and writes the audit record from the ``TriageNote`` the
service fills as facts become known, so a failure halfway is audited with what was learnt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from shared.domain import machines
from shared.domain.catalogue import ItemKind
from shared.domain.machines import MachineRef
from shared.domain.tenant import Tenant
from shared.triage.fields import Changes, TagChange

# What a caller sees of an item after a write (the full Graph entity carries evidence and more).
PUBLIC_FIELDS: Final[Mapping[ItemKind, tuple[str, ...]]] = {
    "alert": (
        "id", "providerAlertId", "incidentId", "title", "severity", "status", "classification", "determination",
        "assignedTo", "serviceSource", "createdDateTime", "lastUpdateDateTime", "resolvedDateTime", "alertWebUrl",
    ),
    "incident": (
        "id", "displayName", "severity", "status", "classification", "determination", "assignedTo", "customTags",
        "createdDateTime", "lastUpdateDateTime", "incidentWebUrl",
    ),
}  # fmt: skip


class GraphTriage(Protocol):
    """The Graph writes (``shared.defender.triage_client.TriageClient``)."""

    def get_item(self, tenant: Tenant, kind: ItemKind, item_id: str) -> Mapping[str, Any]: ...

    def update_item(
        self, tenant: Tenant, kind: ItemKind, item_id: str, body: Mapping[str, Any]
    ) -> Mapping[str, Any]: ...

    def comment_item(
        self, tenant: Tenant, kind: ItemKind, item_id: str, comment: str
    ) -> Sequence[Mapping[str, Any]]: ...


class MachineReader(machines.MachineFinder, Protocol):
    """Finding and reading machines (``DefenderClient``), as the response actions do."""

    def get_machine(self, tenant: Tenant, machine_id: str) -> Mapping[str, Any]: ...


class MachineTagger(Protocol):
    def tag_machine(self, tenant: Tenant, machine_id: str, value: str, action: str) -> Mapping[str, Any]: ...


@dataclass
class TriageNote:
    """Facts gathered during one request, for its audit record (filled as they become known)."""

    target: str = ""  # "alert da63…", "incident 2972395", "machine 1e5b…", "3 alerts"
    machine_id: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)  # per item: id, outcome, field -> {from, to}


@dataclass(frozen=True)
class UpdateResult:
    kind: ItemKind
    item: dict[str, Any]
    changes: dict[str, dict[str, Any]]  # name -> {"from": old, "to": new}; empty: nothing needed changing


@dataclass(frozen=True)
class TagResult:
    machine: dict[str, Any]
    changes: dict[str, dict[str, Any]]


def public(kind: ItemKind, item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in PUBLIC_FIELDS[kind] if name in item}


def diff(before: Mapping[str, Any], changes: Changes) -> dict[str, dict[str, Any]]:
    """The properties ``changes`` would really change, with their current and new values."""
    wanted = changes.as_body()
    return {
        name: {"from": before.get(name), "to": value} for name, value in wanted.items() if before.get(name) != value
    }


class TriageService:
    def __init__(self, *, graph: GraphTriage, machines: MachineReader, tags: MachineTagger) -> None:
        self._graph = graph
        self._machines = machines
        self._tags = tags

    def update(
        self, tenant: Tenant, kind: ItemKind, item_id: str, changes: Changes, *, note: TriageNote
    ) -> UpdateResult:
        note.target = note.target or f"{kind} {item_id}"
        before = self._graph.get_item(tenant, kind, item_id)
        changed = diff(before, changes)
        if not changed:
            note.changes.append({"id": item_id, "outcome": "unchanged"})
            return UpdateResult(kind, public(kind, before), {})
        after = self._graph.update_item(tenant, kind, item_id, {name: changes.as_body()[name] for name in changed})
        note.changes.append({"id": item_id, "outcome": "updated", **changed})
        return UpdateResult(kind, public(kind, after), changed)

    def comment(
        self, tenant: Tenant, kind: ItemKind, item_id: str, comment: str, *, note: TriageNote
    ) -> list[dict[str, Any]]:
        note.target = note.target or f"{kind} {item_id}"
        comments = [dict(c) for c in self._graph.comment_item(tenant, kind, item_id, comment)]
        note.changes.append({"id": item_id, "outcome": "commented"})
        return comments

    def tag(self, tenant: Tenant, ref: MachineRef, tag: TagChange, *, note: TriageNote) -> TagResult:
        found = machines.resolve(self._machines, tenant, ref)
        machine_id = str(found["id"])
        note.machine_id, note.target = machine_id, f"machine {machine_id}"
        # A machine named by id was not read yet (resolve passes ids through): read it for its tags now.
        current = found if ref.kind != "id" else self._machines.get_machine(tenant, machine_id)
        before = [str(t) for t in current.get("machineTags") or []]
        if (tag.value in before) == (tag.action == "Add"):
            note.changes.append({"id": machine_id, "outcome": "unchanged"})
            return TagResult(_machine_view(current, before), {})
        after = self._tags.tag_machine(tenant, machine_id, tag.value, tag.action)
        tags = [str(t) for t in after.get("machineTags") or []]
        changed = {"machineTags": {"from": before, "to": tags}}
        note.changes.append({"id": machine_id, "outcome": "updated", **changed})
        return TagResult(_machine_view(after, tags), changed)


def _machine_view(machine: Mapping[str, Any], tags: list[str]) -> dict[str, Any]:
    return {**machines.summary(machine), "machineTags": tags}
