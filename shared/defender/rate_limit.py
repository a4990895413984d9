"""Client-side sliding-window limiter per (tenant, API), so the relay itself never exceeds Defender's quotas.

Defender counts calls per application + tenant (docs/microsoft-apis.md §Throttling;
https://github.com/MicrosoftDocs/microsoft-365-docs/issues/10124): 100 calls/min and 1,500/hour for the
MDE routes; 50/min and 1,500/hour for XDR incidents (§Throttling, §Defender XDR incidents). Microsoft
Graph: "The following limits apply to any request on /security": 150 requests per minute per app per
tenant (https://learn.microsoft.com/graph/throttling-limits, §Graph errors and throttling; the row names
``alert``, and whether it covers ``alerts_v2``/``incidents`` is not stated, so the documented figure is
the default of ``RELAY_GRAPH_CALLS_PER_MINUTE``). Advanced hunting (``runHuntingQuery``) has its own quota:
"You can make up to at least 45 calls per minute per tenant" (https://learn.microsoft.com/defender-xdr/api-advanced-hunting,
docs/microsoft-apis.md §Advanced hunting), the default of ``RELAY_HUNT_CALLS_PER_MINUTE``.
The limiter is per worker process: several instances can still add up past a quota, which is what the
429 handling (Retry-After, hand the job back to the queue) is for. The limiter keeps the common case,
one worker paging through a busy tenant, from ever seeing a 429.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    seconds: float
    calls: int


MDE_WINDOWS = (Window(60.0, 100), Window(3600.0, 1500))
INCIDENT_WINDOWS = (Window(60.0, 50), Window(3600.0, 1500))
GRAPH_CALLS_PER_MINUTE = 150
HUNTING_CALLS_PER_MINUTE = 45


def graph_windows(per_minute: int = GRAPH_CALLS_PER_MINUTE) -> tuple[Window, ...]:
    return (Window(60.0, per_minute),)


# Indicator import and BatchDelete: 30 calls/min (and 1,500/hour, given for BatchDelete; assumed for import)
# (docs/microsoft-apis.md §Indicators), each its own quota beside the 100/min of the other MDE routes.
INDICATOR_WRITE_WINDOWS = (Window(60.0, 30), Window(3600.0, 1500))
_INDICATOR_WRITES = {"/indicators/import": "indicator-import", "/indicators/batchdelete": "indicator-batchdelete"}


def default_windows(
    graph_per_minute: int = GRAPH_CALLS_PER_MINUTE, hunting_per_minute: int = HUNTING_CALLS_PER_MINUTE
) -> dict[str, tuple[Window, ...]]:
    return {
        "mde": MDE_WINDOWS, "incidents": INCIDENT_WINDOWS, "graph": graph_windows(graph_per_minute),
        "hunting": (Window(60.0, hunting_per_minute),),
        "indicator-import": INDICATOR_WRITE_WINDOWS, "indicator-batchdelete": INDICATOR_WRITE_WINDOWS,
    }  # fmt: skip


def api_family(resource: str, path: str) -> str:
    """Which quota a call counts against: Graph hunting and Graph their own, XDR incidents and indicator writes
    theirs, the rest MDE's."""
    lowered = path.lower()
    if resource == "graph":
        return "hunting" if lowered.rstrip("/").endswith("/runhuntingquery") else "graph"
    for suffix, family in _INDICATOR_WRITES.items():
        if lowered.endswith(suffix):
            return family
    return "incidents" if resource == "xdr" or "/incidents" in lowered else "mde"


class RateLimiter:
    """``reserve(key)`` takes a slot now and returns 0, or returns how long until a slot frees up."""

    def __init__(
        self,
        clock: Callable[[], float],
        windows: dict[str, tuple[Window, ...]] | None = None,
    ) -> None:
        self._clock = clock
        self._windows = windows or default_windows()
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, tenant_id: str, family: str) -> float:
        windows = self._windows[family]
        longest = max(w.seconds for w in windows)
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault((tenant_id, family), deque())
            while calls and calls[0] <= now - longest:
                calls.popleft()
            wait = max((self._wait(calls, w, now) for w in windows), default=0.0)
            if wait <= 0:
                calls.append(now)
            return wait

    @staticmethod
    def _wait(calls: deque[float], window: Window, now: float) -> float:
        """Time until fewer than ``window.calls`` calls fall inside the last ``window.seconds``."""
        if len(calls) < window.calls:
            return 0.0
        # Calls are in time order: the one that must leave the window is calls[-window.calls].
        oldest_that_counts = calls[len(calls) - window.calls]
        in_window = oldest_that_counts > now - window.seconds
        return (oldest_that_counts + window.seconds - now) if in_window else 0.0
