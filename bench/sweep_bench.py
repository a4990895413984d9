"""Sweep benchmark: how long the timer takes to enqueue one job per tenant against Azurite.

    .venv/bin/python -m bench.sweep_bench [--tenants 1000] [--feeds 1|2]

Starts its own Azurite, registers N tenants in the real ``tenants`` table, runs the real sweep
(``Services.run_sweep``: read the registry, plan, parallel base64 sends) three times and reports the
wall time of each and the queue depth it produced. No Defender calls are made by a sweep.
"""

from __future__ import annotations

import argparse
import time
import uuid

from localdev.azurite import running_azurite
from shared.bootstrap import Services
from shared.domain.tenant import Tenant
from shared.platform.settings import Settings
from shared.platform.storage import JOBS_QUEUE, StorageClients


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--feeds", type=int, choices=(1, 2), default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    feeds = frozenset({"mde-alerts", "xdr-incidents"} if args.feeds == 2 else {"mde-alerts"})
    with running_azurite() as azurite:
        settings = Settings.from_env(
            {
                "AzureWebJobsStorage": azurite.connection_string,
                "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net",
                "RELAY_COMMERCIAL_CLIENT_ID": str(uuid.uuid4()),
                "RELAY_COMMERCIAL_CREDENTIAL": "secret:unused",
            }
        )
        services = Services(settings, storage=StorageClients.from_connection_string(azurite.connection_string))
        services.ensure_storage()
        started = time.monotonic()
        for n in range(args.tenants):
            services.tenants.upsert(
                Tenant(tenant_id=str(uuid.UUID(int=n + 1)), display_name=f"Tenant {n:04}", feeds=feeds)  # type: ignore[arg-type]
            )
        print(f"registered {args.tenants} tenants in {time.monotonic() - started:.1f} s")
        queue = services.storage.queue(JOBS_QUEUE)
        for run in range(1, args.runs + 1):
            queue.clear_messages()
            started = time.monotonic()
            result = services.run_sweep()
            wall = time.monotonic() - started
            depth = queue.get_queue_properties().approximate_message_count
            print(
                f"sweep {run}: tenants={result.tenants} jobs={result.jobs} wall={wall:.2f}s "
                f"jobs/s={result.jobs / wall:.0f} queue_depth={depth} "
                f"interval={settings.sweep_interval_seconds}s"
            )


if __name__ == "__main__":
    main()
