"""Nothing lost: the events the sink received against the emulator's ground truth.

The Defender API shows an alert's current state only, so a version overwritten before the next sweep
can never be read by anyone; what the relay owes its consumers is the *latest* version of every alert
and incident of every tenant it may read. ``reconcile`` checks exactly that, per tenant, and lists
anything missing by (tenant, kind, id, version).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.storage.queue import QueueClient

from shared.domain.job import parse_time

ItemKey = tuple[str, str, str]  # (tenant_id, kind, id)
# Which emulator role lets the relay read which kind (docs/microsoft-apis.md §Alerts, §Defender XDR incidents).
READ_ROLE = {"alert": ("mde", "Alert.Read.All"), "incident": ("xdr", "Incident.Read.All")}


@dataclass
class Reconciliation:
    expected: int = 0  # latest versions the relay owes its consumers
    delivered_envelopes: int = 0
    delivered_versions: int = 0  # items in envelopes, repeats included
    lost: list[tuple[str, str, str, str]] = field(default_factory=list)
    per_tenant: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.lost


def consume_events(queue: QueueClient, *, max_batches: int = 10_000) -> tuple[int, dict[ItemKey, set[datetime]]]:
    """Read and delete every envelope on the sink queue; return (envelopes, versions seen per item)."""
    seen: dict[ItemKey, set[datetime]] = {}
    envelopes = 0
    for _ in range(max_batches):
        batch = list(queue.receive_messages(max_messages=32, visibility_timeout=120))
        if not batch:
            break
        for message in batch:
            envelope = json.loads(message.content)
            envelopes += 1
            for item in envelope["items"]:
                key = (envelope["tenant_id"], item["kind"], str(item["id"]))
                seen.setdefault(key, set()).add(parse_time(item["version"]))
            queue.delete_message(message)
    return envelopes, seen


def readable_tenants(tenants: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Per kind, the emulator tenants whose consent lets the relay read it (independent of the relay)."""
    readable: dict[str, set[str]] = {kind: set() for kind in READ_ROLE}
    for tenant in tenants:
        if tenant.get("consent") == "none":
            continue
        for kind, (resource, role) in READ_ROLE.items():
            if role in (tenant.get("roles") or {}).get(resource, []):
                readable[kind].add(str(tenant["tenant_id"]).lower())
    return readable


def latest_versions(ground_truth: Mapping[str, Any], readable: Mapping[str, set[str]]) -> dict[ItemKey, datetime]:
    latest: dict[ItemKey, datetime] = {}
    for kind, entries, id_field in (
        ("alert", ground_truth.get("alerts", []), "id"),
        ("incident", ground_truth.get("incidents", []), "incidentId"),
    ):
        for entry in entries:
            tenant_id = str(entry["tenant_id"]).lower()
            # a version replaced in the instant it was written was never observable: nobody owes it
            if tenant_id not in readable[kind] or not entry.get("readable", True):
                continue
            key = (tenant_id, kind, str(entry[id_field]))
            version = parse_time(entry["lastUpdateTime"])
            if key not in latest or version > latest[key]:
                latest[key] = version
    return latest


def reconcile(latest: Mapping[ItemKey, datetime], delivered: Mapping[ItemKey, set[datetime]]) -> Reconciliation:
    result = Reconciliation(expected=len(latest))
    result.delivered_versions = sum(len(v) for v in delivered.values())
    for key, version in sorted(latest.items()):
        tenant = result.per_tenant.setdefault(key[0], {"expected": 0, "delivered": 0, "lost": 0})
        tenant["expected"] += 1
        if version in delivered.get(key, set()):
            tenant["delivered"] += 1
        else:
            tenant["lost"] += 1
            result.lost.append((*key, version.isoformat()))
    return result
