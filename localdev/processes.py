"""Stopping the local servers we start (Azurite, the emulator) and everything they started.

Each server runs in its own session/process group (``start_new_session=True``), so one signal to the group
also reaches its children (Azurite's Node workers). SIGTERM first for a clean stop, SIGKILL if it hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process_group(proc: subprocess.Popen[str], *, timeout: float = 10) -> None:
    """Stop ``proc`` and its process group, then close the pipes we hold. Safe to call twice."""
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()  # a server watching its stdin (the emulator's --watch-stdin) stops on EOF
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
