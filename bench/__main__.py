"""``make bench`` / ``python -m bench``: the project's benchmarks, with their commands and results files.

    python -m bench                 # list them (running all takes about 15-20 minutes on 2 cores)
    python -m bench NAME [ARGS...]  # run one, e.g. ``python -m bench ingest --tenants 300``
    python -m bench all             # run every one with its recorded arguments, one after the other

Each is also a module of its own (``python -m bench.ingest_bench ...``) and needs nothing on
``PYTHONPATH`` when run from the repository root. Results are recorded by hand in
``bench/results/<module>.txt`` with the command on the first line.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bench:
    module: str
    args: tuple[str, ...]  # the arguments of the recorded run
    minutes: int  # rough duration on 2 shared cores
    what: str

    def command(self, args: tuple[str, ...] | None = None) -> list[str]:
        return [sys.executable, "-m", f"bench.{self.module}", *(self.args if args is None else args)]


BENCHES: dict[str, Bench] = {
    "ingest": Bench(
        "ingest_bench",
        ("--tenants", "1000", "--alerts", "20", "--latency-ms", "50", "--threads", "4", "--warm-runs", "3"),
        7,
        "1,000 tenants x 20 alerts through sweep + queue worker vs a bare fetch loop (wall, alerts/s, CPU)",
    ),
    "backfill": Bench(
        "backfill_memory", ("--alerts", "100000", "--page-size", "1000"), 3, "100k-alert backfill in flat memory"
    ),
    "sweep": Bench("sweep_bench", ("--tenants", "1000", "--feeds", "2"), 1, "sweep of 1,000 tenants x 2 feeds"),
    "isolate": Bench("isolate_bench", ("--calls", "1000", "--warmup", "200"), 2, "isolate over the HTTP API"),
    "emulator": Bench("emulator_throughput", ("--seconds", "10"), 1, "emulator requests/s (never the bottleneck)"),
    "indicators": Bench(
        "indicators_bench",
        ("--tenants", "1000", "--indicators", "500", "--latency-ms", "50", "--threads", "4"),
        5,
        "1,000 tenants x 500 indicators pushed (1 list + 1 import each), then pushed again (no write)",
    ),
    "hunting": Bench(
        "hunting_bench",
        ("--tenants", "1000", "--rows", "100", "--latency-ms", "200", "--threads", "8", "--reader-rows", "1000000"),
        4,
        "one hunt across 1,000 tenants (wall vs tenants x latency / threads, every row once); reader RSS, 1M rows",
    ),
}


def _list() -> int:
    print("benchmarks (python -m bench NAME [ARGS] runs one; `all` runs every one, ~15-20 minutes):")
    for name, bench in BENCHES.items():
        print(f"  {name:<9} ~{bench.minutes} min  {bench.what}")
        print(f"            {' '.join(['.venv/bin/python', *bench.command()[1:]])}")
        print(f"            results: bench/results/{bench.module}.txt")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "list"}:
        return _list()
    if argv[0] == "all":
        failed = [name for name, bench in BENCHES.items() if subprocess.call(bench.command(), cwd=ROOT) != 0]
        if failed:
            print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0
    bench = BENCHES.get(argv[0])
    if bench is None:
        print(f"unknown benchmark '{argv[0]}'; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    sys.argv = [f"bench.{bench.module}", *(argv[1:] or bench.args)]
    runpy.run_module(f"bench.{bench.module}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
