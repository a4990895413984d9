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
Api = str  # "mde" (MDE alerts, XDR incidents) or "graph"
# Which emulator role lets the relay read which kind on which API (docs/microsoft-apis.md §Alerts,
# §Defender XDR incidents, §Graph calls and permissions), and where the ground truth lists its versions.
READ_ROLE = {
    ("alert", "mde"): ("mde", "Alert.Read.All"),
    ("incident", "mde"): ("xdr", "Incident.Read.All"),
    ("alert", "graph"): ("graph", "SecurityAlert.Read.All"),
    ("incident", "graph"): ("graph", "SecurityIncident.Read.All"),
}
TRUTH = {
    ("alert", "mde"): ("alerts", "id", "lastUpdateTime"),
    ("incident", "mde"): ("incidents", "incidentId", "lastUpdateTime"),
    ("alert", "graph"): ("graph_alerts", "id", "lastUpdateDateTime"),
    ("incident", "graph"): ("graph_incidents", "id", "lastUpdateDateTime"),
}
_OLD_FEEDS = frozenset({"mde-alerts", "xdr-incidents"})


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


def readable_tenants(
    tenants: Iterable[Mapping[str, Any]], feeds: Mapping[str, Iterable[str]] | None = None
) -> dict[str, dict[str, Api]]:
    """Per kind, the emulator tenants whose consent lets the relay read it, and from which API: the
    tenant's feeds (``feeds`` by tenant id; default the MDE and XDR ones) decide, independent of the relay."""
    readable: dict[str, dict[str, Api]] = {"alert": {}, "incident": {}}
    for tenant in tenants:
        tenant_id = str(tenant["tenant_id"]).lower()
        if tenant.get("consent") == "none":
            continue
        enabled = set((feeds or {}).get(tenant_id, _OLD_FEEDS))
        for kind, graph_feed in (("alert", "graph-alerts"), ("incident", "graph-incidents")):
            api = "graph" if graph_feed in enabled else "mde"
            resource, role = READ_ROLE[(kind, api)]
            if role in (tenant.get("roles") or {}).get(resource, []):
                readable[kind][tenant_id] = api
    return readable


def latest_versions(
    ground_truth: Mapping[str, Any], readable: Mapping[str, Mapping[str, Api]]
) -> dict[ItemKey, datetime]:
    """The latest version of every item of every readable tenant, from the API the tenant reads it from.

    An MDE alert's Graph twin has the same id and times, so a tenant moved to Graph is owed the latest
    version whichever API delivered it.
    """
    latest: dict[ItemKey, datetime] = {}
    for (kind, api), (section, id_field, time_field) in TRUTH.items():
        for entry in ground_truth.get(section, []):
            tenant_id = str(entry["tenant_id"]).lower()
            # a version replaced in the instant it was written was never observable: nobody owes it
            if readable[kind].get(tenant_id) != api or not entry.get("readable", True):
                continue
            key = (tenant_id, kind, str(entry[id_field]))
            version = parse_time(entry[time_field])
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
