"""``python -m emulator``: run the emulated Microsoft services until SIGTERM / SIGINT (docs/contracts.md §1.1).

Prints ``EMULATOR READY <path-to-emulator.json>`` once every host listens. With ``--watch-stdin`` it
also stops when its standard input closes, so a parent that dies without cleaning up (a killed test
run) never leaves an emulator behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

from emulator.server import start

SCENARIOS = ("demo", "test", "empty")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path, help="where ca.pem, emulator.json... go")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated ids and data")
    parser.add_argument("--scenario", choices=SCENARIOS, default="test", help="which tenants and data to create")
    parser.add_argument("--tenants", type=int, default=None, help="number of customer tenants (scenario default)")
    parser.add_argument("--watch-stdin", action="store_true", help="stop when standard input closes")
    args = parser.parse_args(argv)
    if args.tenants is not None and args.tenants < 0:
        parser.error("--tenants must be 0 or more")
    return args


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    def _wait_for_eof() -> None:
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the buffered reader
        # makes interpreter shutdown abort ("could not acquire lock ... at interpreter shutdown").
        while os.read(0, 4096):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=_wait_for_eof, name="stdin-watch", daemon=True).start()


async def _run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emulator = await start(args.state_dir.resolve(), seed=args.seed, scenario=args.scenario, tenants=args.tenants)
    try:
        print(f"EMULATOR READY {emulator.info_path}", flush=True)
        if args.watch_stdin:
            _watch_stdin(loop, stop)
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
