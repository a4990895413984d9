"""The caller table: which tenants each Entra ID caller may reach (table ``callers``).

One entity per caller: PartitionKey ``caller``, RowKey = the app id (``appid``/``azp``) or object id
(``oid``) of the caller's token, lowercased. Columns: ``display_name`` (what the audit trail calls it),
``tenant_ids`` and ``tags`` (comma lists), ``all_tenants``. Managed with ``defender-relay callers
add|list|remove``. A token is matched by its ``oid`` first (one managed identity, service principal
or user), then by its app id (every principal of that app).

The table is read on every request, like the tenant registry (``shared.actions.service.TenantDirectory``):
a scope is allow/deny, and narrowing one (a compromised automation) must hold at once on every instance.
One query reads both candidate rows of the small ``caller`` partition.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.callers.scope import NO_TENANT, CallerScope
from shared.domain.errors import ValidationError
from shared.domain.tenant import is_guid, parse_tags

TABLE: Final = "callers"
PARTITION: Final = "caller"


@dataclass(frozen=True)
class CallerEntry:
    caller_id: str  # app id or object id, lowercased GUID
    display_name: str = ""
    scope: CallerScope = NO_TENANT

    def to_json(self) -> dict[str, Any]:
        return {
            "caller_id": self.caller_id,
            "display_name": self.display_name,
            "all_tenants": self.scope.all_tenants,
            "tenant_ids": sorted(self.scope.tenant_ids),
            "tags": sorted(self.scope.tags),
        }


class CallerDirectory(Protocol):
    def find(self, *caller_ids: str) -> CallerEntry | None:
        """The entry of the first of ``caller_ids`` that has one (most specific first), or None."""


def caller_entry(
    caller_id: str,
    *,
    display_name: str = "",
    tenant_ids: list[str] | tuple[str, ...] = (),
    tags: list[str] | tuple[str, ...] = (),
    all_tenants: bool = False,
) -> CallerEntry:
    """A checked entry; each error names the argument at fault."""
    cid = caller_id.strip().lower()
    if not is_guid(cid):
        raise ValidationError(f"caller id {caller_id[:60]!r} is not an app id or object id (GUID)", field="caller_id")
    bad = [t for t in tenant_ids if not is_guid(t.strip().lower())]
    if bad:
        raise ValidationError(f"--tenant {bad[0][:60]!r} is not a tenant id (GUID)", field="tenant_ids")
    if len(display_name) > 256:
        raise ValidationError("--name: at most 256 characters", field="display_name")
    scope = CallerScope(
        all_tenants=all_tenants,
        tenant_ids=frozenset(t.strip().lower() for t in tenant_ids),
        tags=parse_tags(list(tags), where="--tag"),
    )
    return CallerEntry(cid, display_name.strip(), scope)


class TableCallerStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, caller_id: str) -> CallerEntry | None:
        try:
            return _from_entity(self._table.get_entity(PARTITION, caller_id.lower()))
        except ResourceNotFoundError:
            return None

    def find(self, *caller_ids: str) -> CallerEntry | None:
        wanted = [c.lower() for c in caller_ids if is_guid(c.lower())]
        if not wanted:
            return None
        names = {f"id{i}": caller_id for i, caller_id in enumerate(wanted)}
        rows = self._table.query_entities(
            # Spaces around the parentheses: the SDK finds @names by splitting the filter on spaces.
            f"PartitionKey eq '{PARTITION}' and ( " + " or ".join(f"RowKey eq @{n}" for n in names) + " )",
            parameters=names,
        )
        found = {str(row["RowKey"]): row for row in rows}
        return next((_from_entity(found[c]) for c in wanted if c in found), None)

    def list(self) -> builtins.list[CallerEntry]:
        entries = [_from_entity(e) for e in self._table.query_entities(f"PartitionKey eq '{PARTITION}'")]
        return sorted(entries, key=lambda e: (e.display_name.lower(), e.caller_id))

    def upsert(self, entry: CallerEntry) -> None:
        """Create or replace the entry (a narrower scope replaces a wider one, never merges into it)."""
        self._table.upsert_entity(_to_entity(entry), mode=UpdateMode.REPLACE)

    def delete(self, caller_id: str) -> bool:
        """True when there was an entry to delete."""
        if self.get(caller_id) is None:
            return False
        self._table.delete_entity(PARTITION, caller_id.lower())
        return True


def _to_entity(entry: CallerEntry) -> dict[str, Any]:
    return {
        "PartitionKey": PARTITION,
        "RowKey": entry.caller_id,
        "display_name": entry.display_name,
        "all_tenants": entry.scope.all_tenants,
        "tenant_ids": ",".join(sorted(entry.scope.tenant_ids)),
        "tags": ",".join(sorted(entry.scope.tags)),
    }


def _from_entity(entity: Mapping[str, Any]) -> CallerEntry:
    def names(column: str) -> list[str]:
        return [v for v in str(entity.get(column) or "").split(",") if v]

    return caller_entry(
        str(entity["RowKey"]),
        display_name=str(entity.get("display_name") or ""),
        tenant_ids=names("tenant_ids"),
        tags=names("tags"),
        all_tenants=bool(entity.get("all_tenants", False)),
    )
