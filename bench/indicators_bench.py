"""Indicators pushed across tenants, end to end against Azurite and the emulator (docs/indicators.md).

    .venv/bin/python -m bench.indicators_bench [--tenants 1000] [--indicators 500] [--latency-ms 50] [--threads 4]

1. N tenants across clouds and regions in the emulator (consented ``Ti.ReadWrite`` only) and in the relay's
   registry (``RELAY_DEFAULT_ALLOWED_ACTIONS=indicators``); every Defender answer is delayed by
   ``--latency-ms``. Tokens are fetched once before the runs (a worker that also ingests has them cached;
   not timed, reported).
2. push: one job for "all" with ``--indicators`` indicators, drained by ``--threads`` worker threads running
   the real worker code (``shared.ingest.drain``: the Functions host's receive, concurrency and completion).
   Expected per tenant: 1 list + 1 import call. Check: wall <= 1.5 x (calls x latency / threads).
3. re-push: the same set again. Expected per tenant: 1 list call and no write (no import, no BatchDelete);
   the emulator's ground truth of a sample of tenants still counts each indicator created once.
4. bare: the push's calls (a list and an import of the same 500 per tenant) from a plain thread pool with
   tokens in hand and a prepared body: what this machine manages meanwhile, with no relay around them.

Reported per run: wall, API calls by route and per tenant, the bound, results by status, and the CPU
seconds of this process, Azurite and the emulator with the CPU floor (that CPU spread over the cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.ingest_bench import _cpu_line, _cpu_seconds, _let_azurite_settle
from localdev.azurite import running_azurite
from localdev.emulator_process import EmulatorInfo, running_emulator
from shared.bootstrap import Services
from shared.domain.clouds import rewrite_url
from shared.domain.tenant import Tenant
from tests.integration.indicator_support import hashes, run_jobs, start, status
from tests.integration.ingest_support import add_tenants, counters, relay_services, trusting

SAMPLE = 10  # tenants whose ground truth is read back after the re-push


def _calls(emulator: EmulatorInfo, tenants: list[Tenant]) -> Counter[str]:
    ids = {t.tenant_id for t in tenants}
    by_route: Counter[str] = Counter()
    for key, count in counters(emulator)["api_calls"].items():
        tenant_id, _, route = key.partition("|")
        if tenant_id in ids:
            by_route[route] += int(count)
    return by_route


def _run(name: str, relay: Services, emulator: EmulatorInfo, tenants: list[Tenant], args: Any) -> dict[str, Any]:
    emulator.control("DELETE", "/counters")
    cpu = _cpu_seconds()
    load = os.getloadavg()[0]
    started = time.monotonic()
    job = start(relay, "push", None, indicators=hashes(args.indicators))
    stats = run_jobs(relay, threads=args.threads, idle_seconds=0.3, max_seconds=1800)
    wall = time.monotonic() - started
    cpu_line = _cpu_line(cpu, len(tenants))
    document = status(relay, job)
    calls = _calls(emulator, tenants)
    total = sum(calls.values())
    bound = 1.5 * total * args.latency_ms / 1000 / args.threads
    statuses = dict(Counter(r["status"] for r in document["results"]))
    print(
        f"{name:>8}: tenants={len(tenants)} complete={document['complete']} statuses={statuses} "
        f"failures={stats.failures} wall={wall:.2f}s api_calls={total} ({dict(calls)}) "
        f"calls/tenant={total / len(tenants):.2f} totals={ {k: v for k, v in document['totals'].items() if v} } "
        f"bound=1.5*calls*latency/threads={bound:.2f}s within_bound={wall <= bound}"
    )
    # The machine is shared: the load average says how much else wanted the same two cores meanwhile.
    print(f"          {cpu_line}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    _let_azurite_settle()
    return {"wall": wall, "calls": calls, "bound": bound, "document": document}


def _bare(relay: Services, emulator: EmulatorInfo, tenants: list[Tenant], args: Any) -> float:
    body = json.dumps({"Indicators": [i.to_api() for i in hashes(args.indicators)]}).encode()
    tokens = {t.tenant_id: relay.tokens.get_token(t, "mde").token for t in tenants}
    session = requests.Session()
    session.mount("https://", requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=args.threads * 2))

    def one(tenant: Tenant) -> None:
        base = rewrite_url(relay.defender.transport.base_url(tenant, "mde"), relay.settings.host_overrides)
        headers = {"Authorization": f"Bearer {tokens[tenant.tenant_id]}", "Content-Type": "application/json"}
        session.get(base + "/api/indicators", params={"$top": 10000, "$skip": 0}, headers=headers,
                    timeout=60).raise_for_status()  # fmt: skip
        session.post(base + "/api/indicators/import", data=body, headers=headers, timeout=60).raise_for_status()

    load = os.getloadavg()[0]
    cpu = _cpu_seconds()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(one, tenants))
    wall = time.monotonic() - started
    print(f"    bare: calls={2 * len(tenants)} wall={wall:.2f}s (the push's calls from a plain loop)")
    print(f"          {_cpu_line(cpu, len(tenants))}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    return wall


def _warm_tokens(relay: Services, tenants: list[Tenant], threads: int) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda t: relay.tokens.get_token(t, "mde"), tenants))
    print(f"  tokens: {len(tenants)} fetched in {time.monotonic() - started:.1f}s before the runs (not timed)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Indicators pushed across tenants")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--indicators", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with (
        running_azurite(access_log=False) as azurite,
        running_emulator(scenario="empty") as emulator,
        trusting(emulator),
    ):
        relay = relay_services(azurite, emulator, RELAY_DEFAULT_ALLOWED_ACTIONS="indicators")
        started = time.monotonic()
        tenants = add_tenants(emulator, relay, args.tenants, feeds=frozenset({"mde-alerts"}),
                              roles={"mde": ["Ti.ReadWrite"]})  # fmt: skip
        print(f"   setup: {args.tenants} tenants in {time.monotonic() - started:.1f}s, threads={args.threads}, "
              f"latency={args.latency_ms}ms, {args.indicators} indicators per push")  # fmt: skip
        _warm_tokens(relay, tenants, args.threads)
        emulator.control("PUT", "/faults", json={"rules": [], "latency_ms": args.latency_ms})
        first = _run("push", relay, emulator, tenants, args)
        again = _run("re-push", relay, emulator, tenants, args)
        n = len(tenants)
        print(f"   check: push calls = {first['calls']['indicators']} list + {first['calls']['indicators-import']} "
              f"import for {n} tenants (expected {n} + {n}); wall {first['wall']:.2f}s <= {first['bound']:.2f}s: "
              f"{first['wall'] <= first['bound']}")  # fmt: skip
        writes = again["calls"]["indicators-import"] + again["calls"]["indicators-batchdelete"]
        truths = [
            emulator.control("GET", f"/tenants/{t.tenant_id}/indicators").json()["writes"] for t in tenants[:SAMPLE]
        ]
        print(f"   check: re-push calls = {again['calls']['indicators']} list, {writes} writes (expected {n}, 0); "
              f"unchanged={again['document']['totals']['unchanged']}; ground truth of {SAMPLE} tenants: "
              f"{Counter(str(w) for w in truths)}")  # fmt: skip
        bare = _bare(relay, emulator, tenants, args)  # after the ground truth: its imports are writes
        print(f"   check: push wall / bare wall = {first['wall'] / bare:.2f}")


if __name__ == "__main__":
    main()
