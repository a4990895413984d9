"""Helpers for the ingestion integration tests and benchmarks: the real stack wired to Azurite + the emulator."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.domain.job import parse_time
from shared.domain.tenant import Tenant, parse_tenant
from shared.ingest.sweep import run_sweep
from shared.platform.settings import Settings
from shared.platform.storage import JOBS_QUEUE, StorageClients

FULL_ROLES = {
    "mde": ["Alert.Read.All", "Machine.Read.All"],
    "xdr": ["Incident.Read.All"],
    "graph": ["SecurityAlert.Read.All", "SecurityIncident.Read.All"],
}
GRAPH_FEEDS = frozenset({"graph-alerts", "graph-incidents"})
CLOUD_REGIONS = [
    ("commercial", "auto"),
    ("commercial", "eu"),
    ("commercial", "us"),
    ("commercial", "uk"),
    ("commercial", "au"),
    ("gcc", "auto"),
    ("gcc-high", "auto"),
    ("dod", "auto"),
]


def relay_env(azurite: AzuriteEndpoints, emulator: EmulatorInfo, **overrides: str) -> dict[str, str]:
    """Settings for the relay against Azurite and the emulator, secrets from env (no vault round trip)."""
    apps = emulator.apps
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net",
        "RELAY_COMMERCIAL_CLIENT_ID": apps["commercial"]["client_id"],
        "RELAY_COMMERCIAL_CREDENTIAL": "secret:commercial-app-secret",
        "RELAY_USGOV_CLIENT_ID": apps["usgov"]["client_id"],
        "RELAY_USGOV_CREDENTIAL": "secret:usgov-app-secret",
        "RELAY_CREDENTIALS_FROM_ENV": "1",
        "RELAY_SECRET_COMMERCIAL_APP_SECRET": apps["commercial"]["client_secret"],
        "RELAY_SECRET_USGOV_APP_SECRET": apps["usgov"]["client_secret"],
        "RELAY_HOST_OVERRIDES": json.dumps(emulator.hosts),
        "RELAY_SETTLE_SECONDS": "0",
        "RELAY_OVERLAP_SECONDS": "600",
        "RELAY_PAGE_SIZE": "1000",
        "RELAY_LEASE_SECONDS": "60",
    }
    env.update(overrides)
    return env


@contextmanager
def trusting(emulator: EmulatorInfo) -> Iterator[None]:
    """This process trusts the emulator's CA (REQUESTS_CA_BUNDLE overrides Session.verify) for a block."""
    saved = {k: os.environ.get(k) for k in emulator.env()}
    os.environ.update(emulator.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def relay_services(azurite: AzuriteEndpoints, emulator: EmulatorInfo, **overrides: str) -> Services:
    settings = Settings.from_env(relay_env(azurite, emulator, **overrides))
    services = Services(
        settings,
        storage=StorageClients.from_connection_string(azurite.connection_string),
        clock=emulator_clock(emulator),
    )
    services.ensure_storage()
    # Azurite is shared by the tests of this worker: start from an empty registry and empty queues, so
    # a sweep sees only this test's tenants.
    for name in (JOBS_QUEUE, settings.events_queue):
        services.storage.queue(name).clear_messages()
    for tenant in services.tenants.list():
        services.tenants.delete(tenant.tenant_id)
    return services


def add_tenants(
    emulator: EmulatorInfo,
    services: Services,
    count: int,
    *,
    feeds: frozenset[str] = frozenset({"mde-alerts", "xdr-incidents"}),
    alerts: int = 0,
    **spec: Any,
) -> list[Tenant]:
    """``count`` fresh tenants across clouds and regions, in the emulator and in the relay's registry."""
    tenants = []
    for n in range(count):
        cloud, region = CLOUD_REGIONS[n % len(CLOUD_REGIONS)]
        tenant_id = str(uuid.uuid4())
        body = {
            "tenant_id": tenant_id,
            "display_name": f"Bench {tenant_id[:8]}",
            "cloud": cloud,
            "region": region,
            "consent": "full",
            "machines": 2,
            "roles": FULL_ROLES,
            **spec,
        }
        if alerts:
            body["alerts"] = alerts
        response = emulator.control("POST", "/tenants", json=body)
        assert response.status_code == 201, response.text
        fields = {"tenant_id": tenant_id, "display_name": body["display_name"], "cloud": cloud, "region": region}
        tenant = parse_tenant({**fields, "feeds": sorted(feeds)}, where=f"bench tenant {n}")
        services.tenants.upsert(tenant)
        tenants.append(tenant)
    return tenants


def ground_truth(
    emulator: EmulatorInfo, tenant_ids: Iterable[str], *, api: str = "mde", readable_only: bool = True
) -> set[str]:
    """Every version the emulator produced for these tenants on one API (``mde``: MDE alerts and XDR incidents;
    ``graph``: Graph alerts and incidents) that a request could read, as relay dedup keys (time normalised).

    A version replaced before any request could read it (``"readable": false``) was never observable;
    ``readable_only=False`` lists those too (the API's whole history).
    """
    wanted = set(tenant_ids)
    truth = emulator.control("GET", "/ground-truth").json()
    if api == "graph":
        alerts, incidents, time_field, incident_id = "graph_alerts", "graph_incidents", "lastUpdateDateTime", "id"
    else:
        alerts, incidents, time_field, incident_id = "alerts", "incidents", "lastUpdateTime", "incidentId"
    keys = {
        normalised_key(a["tenant_id"], "alert", a["id"], a[time_field])
        for a in truth[alerts]
        if a["readable"] or not readable_only
    }
    keys |= {
        normalised_key(i["tenant_id"], "incident", str(i[incident_id]), i[time_field])
        for i in truth[incidents]
        if i["readable"] or not readable_only
    }
    return {k for k in keys if k.split("|")[0] in wanted}


def normalised_key(tenant_id: str, kind: str, item_id: str, version: str) -> str:
    return f"{tenant_id}|{kind}|{item_id}|{parse_time(version).isoformat()}"


def current_alert_versions(services: Services, tenants: Iterable[Tenant]) -> set[str]:
    """The version of every alert that Defender (the emulator) serves now, read through the relay's own
    client: exactly what a read at this moment can return."""
    return {
        normalised_key(tenant.tenant_id, "alert", alert["id"], alert["lastUpdateTime"])
        for tenant in tenants
        for page in services.defender.iter_pages(tenant, "mde", "/api/alerts", page_size=1000)
        for alert in page
    }


def delivered_keys(services: Services) -> list[str]:
    """Every item in defender-events (drained), as normalised keys; repeats are kept."""
    return [key for key, _ in delivered_items(services)]


def delivered_items(services: Services) -> list[tuple[str, str]]:
    """Every item in defender-events (drained) as (normalised key, digest of its data and dedup_key)."""
    items: list[tuple[str, str]] = []
    for tenant_id, item in delivered_entries(services):
        key = normalised_key(tenant_id, item["kind"], item["id"], item["version"])
        body = json.dumps([item["dedup_key"], item.get("data")], sort_keys=True).encode()
        items.append((key, hashlib.sha256(body).hexdigest()))
    return items


def delivered_entries(services: Services) -> list[tuple[str, dict[str, Any]]]:
    """Every envelope item in defender-events (drained), with its tenant id."""
    queue = services.storage.queue(services.settings.events_queue)
    entries: list[tuple[str, dict[str, Any]]] = []
    for _ in range(100_000):
        batch = list(queue.receive_messages(messages_per_page=32, visibility_timeout=60))
        if not batch:
            return entries
        for message in batch:
            envelope = json.loads(message.content)
            entries += [(envelope["tenant_id"], item) for item in envelope["items"]]
            queue.delete_message(message)
    return entries


def emulator_clock(emulator: EmulatorInfo) -> Callable[[], datetime]:
    """The relay's clock follows the emulator's (another test may have moved emulated time forward)."""
    offset = timedelta(seconds=float(emulator.control("GET", "/time").json()["offset_seconds"]))
    return lambda: datetime.now(UTC) + offset


def sweep_now(services: Services) -> int:
    """One sweep with no visibility delay (tests cannot wait out a real interval); returns jobs enqueued."""
    return run_sweep(tenants=services.tenants, queue=services.job_queue, interval_seconds=0, clock=services.clock).jobs


def counters(emulator: EmulatorInfo) -> dict[str, Any]:
    return dict(emulator.control("GET", "/counters").json())


def api_calls_by_tenant_feed(emulator: EmulatorInfo, tenant_ids: Iterable[str]) -> dict[tuple[str, str], int]:
    wanted = set(tenant_ids)
    calls: dict[tuple[str, str], int] = {}
    for key, count in counters(emulator)["api_calls"].items():
        tenant_id, _, route = key.partition("|")
        if tenant_id in wanted:
            feed = route if route.startswith("graph-") else "xdr-incidents" if "incident" in route else "mde-alerts"
            calls[(tenant_id, feed)] = calls.get((tenant_id, feed), 0) + int(count)
    return calls
