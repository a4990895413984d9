"""Backfill memory benchmark: one tenant with 100,000 alerts to catch up, in a worker process of its own.

    .venv/bin/python -m bench.backfill_memory [--alerts 100000] [--page-size 1000]

The emulator generates the tenant's history (alerts over the last two days); the relay's first run of
the tenant (lookback 72 h) reads it page by page. The worker runs as ``python -m shared.ingest.drain`` in
a child process, so its peak RSS is measured alone (``getrusage(RUSAGE_CHILDREN)`` after it exits).
Pass: peak RSS < 256 MB and every alert version the API still shows was delivered.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from localdev.azurite import running_azurite
from localdev.emulator_process import running_emulator
from shared.domain.job import new_job
from tests.integration.ingest_support import add_tenants, counters, delivered_keys, relay_env, relay_services, trusting

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Backfill memory benchmark")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    overrides = {"RELAY_INITIAL_LOOKBACK_HOURS": "72", "RELAY_PAGE_SIZE": str(args.page_size)}
    with running_azurite() as azurite, running_emulator(scenario="empty") as emulator, trusting(emulator):
        relay = relay_services(azurite, emulator, **overrides)
        started = time.monotonic()
        (tenant,) = add_tenants(emulator, relay, 1, feeds=frozenset({"mde-alerts"}), alerts=args.alerts, machines=50)
        print(f"setup: 1 tenant with {args.alerts} alerts generated in {time.monotonic() - started:.1f}s")
        relay.job_queue.send(new_job(tenant.tenant_id, "mde-alerts", mode="backfill"))
        env = {**os.environ, **relay_env(azurite, emulator, **overrides), **emulator.env(), "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        worker = subprocess.run(
            [
                sys.executable,
                "-m",
                "shared.cli.drain",
                "--threads",
                "1",
                "--idle-seconds",
                "1",
                "--max-seconds",
                "1800",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1900,
            check=False,
        )
        wall = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"worker: exit={worker.returncode} {worker.stdout.strip()} wall={wall:.1f}s")
        if worker.returncode:
            print(worker.stderr[-3000:])
        calls = sum(n for key, n in counters(emulator)["api_calls"].items() if key.startswith(tenant.tenant_id))
        keys = delivered_keys(relay)
        visible = len({k.split("|")[2] for k in keys})
        print(
            f"result: delivered={len(keys)} distinct_alerts={visible} unique_versions={len(set(keys))} "
            f"api_calls={calls} alerts/s={len(keys) / wall:.0f}"
        )
        print(
            f"check: worker peak RSS = {peak_mb:.0f} MB (< 256 MB: {peak_mb < 256}); "
            f"all {args.alerts} alerts delivered: {visible == args.alerts}"
        )


if __name__ == "__main__":
    main()
