"""Hunting benchmark: one query across many tenants, and the merged reader over a million rows.

    .venv/bin/python -m bench.hunting_bench [--tenants 1000] [--rows 100] [--latency-ms 200] [--threads 8]
                                            [--reader-rows 1000000]

1. N tenants in the emulator (with ``ThreatHunting.Read.All``) and the relay's registry; the emulated
   ``runHuntingQuery`` answers each tenant's query in ``--latency-ms`` with ``--rows`` rows.
2. Cold run: one hunt across all of them (``HuntService.start``), its ``hunt-jobs`` run by ``--threads``
   invocations of the real worker code on the host stand-in (``shared.platform.queue_host``: the host's
   receive, concurrency and completion); tokens are fetched here. Warm run: the same again, tokens cached.
   Checked: wall <= 1.5 x (tenants x latency / threads); every tenant done (0 lost); every row present once.
3. Reader: a hunt of ``--reader-rows`` rows over ``--tenants`` tenants written straight to the result store,
   then read back whole as CSV by ``hunt results`` in a process of its own. Checked: its peak RSS < 256 MB and
   every row read.

Reported per run: wall, rows and rows/s, upstream calls and token requests, the CPU seconds of this process,
Azurite and the emulator with the CPU floor (that CPU spread over every core: no schedule can finish sooner).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.ingest_bench import _cpu_line, _cpu_seconds, _let_azurite_settle, _peak_rss_mb
from localdev.azurite import running_azurite
from localdev.emulator_process import EmulatorInfo, running_emulator
from shared.bootstrap import Services
from shared.domain.tenant import Tenant
from shared.hunting.hunt_queue import drain_hunts
from shared.hunting.model import FINAL_STATES, Hunt, HuntSpec, TenantRun, hunt_state
from shared.hunting.results import BlobResultStore
from shared.hunting.runner import HuntJobResult
from shared.hunting.store import TABLE, TableHuntStore
from shared.platform.queue_host import HostOptions
from shared.platform.storage import HUNT_RESULTS_CONTAINER
from tests.integration.hunting_support import hunting_calls, hunting_services, hunting_tenants
from tests.integration.ingest_support import relay_env, trusting

QUERY = (
    "DeviceProcessEvents | project Timestamp, DeviceId, DeviceName, FileName, FolderPath, SHA256, "
    "ProcessCommandLine, AccountName, InitiatingProcessFileName, ReportId"
)
RSS_LIMIT_MB = 256


def _run(name: str, relay: Services, emulator: EmulatorInfo, tenants: list[Tenant], args: Any) -> tuple[bool, bool]:
    """One hunt across every tenant; returns (within the wall bound, every tenant done and every row once)."""
    emulator.control("DELETE", "/counters")
    ids = [t.tenant_id for t in tenants]
    cpu = _cpu_seconds()
    finished: list[float] = []
    durations: list[float] = []

    def outcome(result: HuntJobResult, start: float, end: float) -> None:
        durations.append(end - start)
        if result.status in FINAL_STATES:
            finished.append(end)

    started, started_wall = time.monotonic(), time.time()
    hunt = relay.hunt_service().start(HuntSpec(QUERY, timespan="P30D", requested_by="bench"))
    options = HostOptions(threads=args.threads, idle_seconds=2.0, max_seconds=1800, retry_delay=1)
    stats = drain_hunts(relay.storage, relay.hunt_deps, options=options, on_result=outcome)
    # The hunt is over when its last tenant has an outcome; the host stand-in then idles 2 s before it stops.
    wall = (max(finished) - started_wall) if finished else time.monotonic() - started
    cpu_text = _cpu_line(cpu, len(tenants))
    header, runs = relay.hunt_service().status(hunt.hunt_id)
    done = sum(1 for run in runs if run.state == "done")
    keys = [(r["tenantId"], r["DeviceId"], r["ReportId"]) for r in _rows(relay, hunt.hunt_id)]
    per_tenant_ok = all(run.rows == args.rows for run in runs if run.state == "done")
    tokens = sum(n for tid, n in emulator.control("GET", "/counters").json()["token_requests"].items() if tid in ids)
    bound = 1.5 * len(tenants) * args.latency_ms / 1000 / args.threads
    once = len(keys) == len(set(keys)) == len(tenants) * args.rows and per_tenant_ok
    complete = done == len(tenants) and once and hunt_state(header, runs) == "done"
    print(
        f"{name:>5}: tenants={len(tenants)} done={done} lost={len(tenants) - done} wall={wall:.2f}s "
        f"rows={len(keys)} distinct={len(set(keys))} rows/s={len(keys) / wall:.0f} "
        f"upstream_calls={hunting_calls(emulator, ids)} token_requests={tokens} retried={stats.failures} "
        f"job_ms={1000 * sum(durations) / max(1, len(durations)):.0f} "
        f"peak_rss={_peak_rss_mb():.0f}MB wall_bound=1.5*tenants*latency/threads={bound:.2f}s "
        f"within_bound={wall <= bound} every_row_once={once}"
    )
    print(f"       {cpu_text}")
    _let_azurite_settle()
    return wall <= bound, complete


def _rows(relay: Services, hunt_id: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in relay.hunt_service().stream(hunt_id, fmt="ndjson")]


def _synthetic_hunt(relay: Services, tenants: int, rows: int) -> str:
    """A finished hunt of ``rows`` rows over ``tenants`` tenants, written straight to the result store."""
    hunts = TableHuntStore(relay.storage.table(TABLE))
    results = BlobResultStore(relay.storage.container(HUNT_RESULTS_CONTAINER))
    hunt_id = "bench" + uuid.uuid4().hex[:12]
    each = rows // tenants
    runs = []
    for n in range(tenants):
        tenant_id = str(uuid.UUID(int=n + 1))
        lines = (
            json.dumps({"tenantId": tenant_id, "tenantName": f"Customer {n:04d}", "Timestamp": "2026-11-21T10:00:00Z",
                        "DeviceName": f"ws-{i % 50:03d}.corp.local", "FileName": "powershell.exe", "ReportId": i},
                       separators=(",", ":")).encode()
            for i in range(each)
        )  # fmt: skip
        chunks, count = results.write(hunt_id, tenant_id, "a1", lines)
        columns = (("Timestamp", "DateTime"), ("DeviceName", "String"), ("FileName", "String"), ("ReportId", "Int64"))
        runs.append(TenantRun(hunt_id, tenant_id, f"Customer {n:04d}", n, "done", count, chunks, "a1", columns))
    hunts.put_runs(hunt_id, runs)
    hunts.create_header(Hunt(hunt_id, "synthetic", None, "bench", datetime.now(UTC), tenants, fanned_out=True))
    return hunt_id


def _reader(relay_environ: dict[str, str], hunt_id: str, rows: int) -> tuple[bool, bool]:
    """``hunt results`` in a process of its own, reading the whole result as CSV; its peak RSS is measured."""
    command = [sys.executable, "-m", "bench.hunting_bench", "--read", hunt_id]
    started = time.monotonic()
    done = subprocess.run(command, env={**os.environ, **relay_environ}, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    report = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
    read = int(report.get("rows", -1))
    rss = float(report.get("peak_rss_mb", 1e9))
    print(
        f"reader: rows={read} of {rows} wall={wall:.2f}s rows/s={read / wall:.0f} peak_rss={rss:.0f}MB "
        f"(< {RSS_LIMIT_MB}MB: {rss < RSS_LIMIT_MB}) format=csv exit={done.returncode}"
    )
    if done.returncode != 0:
        print(done.stderr[-2000:])
    return rss < RSS_LIMIT_MB, read == rows


def _read_only(hunt_id: str) -> int:
    """The reader process: every row of the hunt as CSV to /dev/null; prints its count and peak RSS.

    Peak RSS is ``VmHWM`` of /proc/self/status: ``ru_maxrss`` would include the memory of the benchmark process
    this one was forked from (it survives ``exec`` on Linux).
    """
    from shared.platform.settings import Settings

    relay = Services(Settings.from_env(os.environ))
    count = -1  # the CSV header line
    with open(os.devnull, "wb") as sink:
        for line in relay.hunt_service().stream(hunt_id, fmt="csv"):
            sink.write(line)
            count += 1
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"rows": count, "peak_rss_mb": round(peak, 1)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Hunting benchmark")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100, help="rows each tenant answers")
    parser.add_argument("--latency-ms", type=int, default=200, help="emulated time of one hunting query")
    # 8: host.json batchSize, the concurrency one Functions instance runs hunt-jobs with (the CLI's too)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--reader-rows", type=int, default=1_000_000)
    parser.add_argument("--read", metavar="HUNT_ID", help=argparse.SUPPRESS)  # the reader process
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.read:
        return _read_only(args.read)
    with running_azurite(access_log=False) as azurite, running_emulator(scenario="empty") as emulator:
        with trusting(emulator):
            relay = hunting_services(azurite, emulator)
            started = time.monotonic()
            emulator.control("PUT", "/graph/hunting", json={"process_events_per_machine": args.rows // 2})
            tenants = hunting_tenants(emulator, relay, args.tenants)
            print(f"setup: {args.tenants} tenants in {time.monotonic() - started:.1f}s, threads={args.threads}, "
                  f"latency={args.latency_ms}ms, {args.rows} rows per tenant")  # fmt: skip
            emulator.control("PUT", "/graph/hunting", json={"latency_ms": args.latency_ms})
            cold = _run("cold", relay, emulator, tenants, args)
            warm = _run("warm", relay, emulator, tenants, args)
            hunt_id = _synthetic_hunt(relay, args.tenants, args.reader_rows)
            environ = relay_env(azurite, emulator, RELAY_HUNTING_ENABLED="1")
            reader = _reader({**environ, **emulator.env()}, hunt_id, args.reader_rows)
        checks = {
            "cold wall <= 1.5 x tenants x latency / threads (tokens fetched)": cold[0],
            "warm wall <= 1.5 x tenants x latency / threads (tokens cached)": warm[0],
            "every tenant done, every row once (cold and warm)": cold[1] and warm[1],
            f"reader peak RSS < {RSS_LIMIT_MB} MB for {args.reader_rows:,} rows": reader[0],
            "reader read every row": reader[1],
        }
        for text, passed in checks.items():
            print(f"check: {text}: {'PASS' if passed else 'FAIL'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
