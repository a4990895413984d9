"""The emulator as a process: free ports, parallel instances, clean stop, nothing left behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from localdev.emulator_process import ROOT, EmulatorInfo, running_emulator

pytestmark = pytest.mark.integration


def _ports(info: EmulatorInfo) -> set[int]:
    urls = [*info.hosts.values(), info.control_url]
    return {int(urlsplit(url).port or 0) for url in urls}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _emulator_children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if "emulator" in " ".join(p.cmdline())}


def test_two_emulators_run_side_by_side_and_leave_nothing_behind() -> None:
    # GIVEN two emulators started at once (beside any the session already runs)
    already_running = _emulator_children()
    with running_emulator(scenario="empty", seed=1) as first, running_emulator(scenario="empty", seed=2) as second:
        # THEN each has its own ports, CA and process, and both answer
        assert not _ports(first) & _ports(second)
        assert first.ca_cert != second.ca_cert
        assert first.pid != second.pid
        assert first.control("GET", "/health").json() == {"ok": True}
        assert second.control("GET", "/health").json() == {"ok": True}
        ports = _ports(first) | _ports(second)
        pids = [first.pid, second.pid]
    # WHEN both context managers have exited
    # THEN no port listens, no emulator process remains, and the state file is gone
    assert not [port for port in ports if _listening(port)]
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert _emulator_children() == already_running
    assert not first.path.exists()


def test_emulator_stops_when_its_parent_goes_away(tmp_path: Path) -> None:
    # GIVEN an emulator whose parent only holds its stdin (as running_emulator does)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--state-dir", str(tmp_path), "--scenario", "empty", "--watch-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("EMULATOR READY ")
        # WHEN the parent's end of the pipe closes (what the kernel does when a parent dies)
        assert proc.stdin is not None
        proc.stdin.close()
        # THEN the emulator exits by itself, cleanly
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_bad_command_line_names_the_option(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--state-dir", str(tmp_path), "--tenants", "-3"],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--tenants" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_it_within_seconds() -> None:
    with running_emulator(scenario="empty") as info:
        process = psutil.Process(info.pid)
        started = time.monotonic()
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
