"""``python -m shared.cli.drain``: the one drain (``shared.ingest.drain``) as a process of its own.

For the benchmarks and the tests that need a worker in another process (memory, SIGKILL):

    python -m shared.cli.drain [--threads 8] [--idle-seconds 3] [--max-seconds 600] [--report FILE]

reads the settings from the environment like the Function App does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from dataclasses import asdict
from typing import TextIO

from shared.bootstrap import Services
from shared.ingest.drain import drain
from shared.ingest.runner import JobResult
from shared.platform.settings import Settings


def main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drain tenant-jobs in-process with N worker threads.")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--report", help="append one JSON line per job (status, start, end) to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    services = Services(Settings.from_env(os.environ))
    report = open(args.report, "a", encoding="utf-8") if args.report else None  # noqa: SIM115
    write_lock = threading.Lock()

    def record(result: JobResult, started: float, ended: float) -> None:
        if report is not None:
            with write_lock:
                row = {**asdict(result), "start": started, "end": ended, "pid": os.getpid()}
                report.write(json.dumps(row, default=str) + "\n")
                report.flush()

    try:
        stats = drain(
            services,
            threads=args.threads,
            idle_seconds=args.idle_seconds,
            max_seconds=args.max_seconds,
            on_result=record,
        )
    finally:
        if report is not None:
            report.close()
    print(json.dumps({"jobs": stats.jobs, "failures": stats.failures, "statuses": dict(stats.statuses)}), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
