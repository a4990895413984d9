"""Sliding-window rate limits per (tenant, app, route family), as Defender applies them.

Limits apply "always on the combination of application+tenant" (Microsoft's answer in
https://github.com/MicrosoftDocs/microsoft-365-docs/issues/10124). Most MDE routes allow 100 calls/min
and 1,500 calls/hour (e.g. https://learn.microsoft.com/defender-endpoint/api/get-alerts), the XDR
incidents list 50/min (https://learn.microsoft.com/defender-xdr/api-list-incidents). A refused call is
not counted (it did no work). The 429 body carries ``"code":"429"`` as real traffic does (bodies in
https://github.com/MicrosoftDocs/microsoft-365-docs/issues/4616), not the ``TooManyRequests`` of
https://learn.microsoft.com/defender-endpoint/api/common-errors.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MINUTE = 60.0
HOUR = 3600.0


# Routes whose page states a limit of its own (calls per minute, per hour), under
# https://learn.microsoft.com/defender-endpoint/api/: batch-update-alerts (10, 500), get-discovered-vulnerabilities
# (50, 1500), get-assessment-software-vulnerabilities (30, 1000). Not changed by PUT /_emulator/limits.
DOCUMENTED_LIMITS: dict[str, tuple[int, int]] = {
    "alerts-batch": (10, 500),
    "vulnerabilities": (50, 1500),
    "assessments": (30, 1000),
    # import-ti-indicators: 30/min (no hourly limit given: the MDE 1,500 assumed); batch-delete-ti-indicators (30, 1500)
    "indicators-import": (30, 1500),
    "indicators-batchdelete": (30, 1500),
}


@dataclass
class Limits:
    per_minute: int = 100
    per_hour: int = 1500
    incidents_per_minute: int = 50
    enabled: bool = True
    # families limited by ``incidents_per_minute`` instead of ``per_minute``: the incidents list and
    # PATCH /api/incidents/{id} ("up to 50 calls per minute", https://learn.microsoft.com/defender-xdr/api-update-incidents)
    slow_families: frozenset[str] = field(default_factory=lambda: frozenset({"incidents", "incident-update"}))

    def for_family(self, family: str) -> tuple[int, int]:
        documented = DOCUMENTED_LIMITS.get(family)
        if documented is not None:
            return documented
        minute = self.incidents_per_minute if family in self.slow_families else self.per_minute
        return minute, self.per_hour


@dataclass(frozen=True)
class Throttle:
    """A refused call: how long to wait and the observed message."""

    retry_after: int
    message: str


def _window_text(seconds: float) -> str:
    return "01:00:00" if seconds >= HOUR else "00:01:00"


class RateLimiter:
    """Two sliding windows (minute, hour) of call timestamps per key.

    ``now`` defaults to the monotonic clock; the service passes one that includes the emulated
    clock's offset, so advancing emulated time also frees the windows.
    """

    def __init__(self, limits: Limits | None = None, *, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits()
        self._now = now
        # key -> (calls in the last minute, calls in the last hour), oldest first
        self._calls: dict[tuple[str, str, str], tuple[deque[float], deque[float]]] = {}

    def check(self, tenant_id: str, app_id: str, family: str) -> Throttle | None:
        """Record one call, or refuse it with the wait until the fullest window frees a slot."""
        if not self.limits.enabled:
            return None
        now = self._now()
        windows = self._calls.get((tenant_id, app_id, family))
        if windows is None:
            windows = self._calls[(tenant_id, app_id, family)] = (deque(), deque())
        per_minute, per_hour = self.limits.for_family(family)
        for calls, limit, span in ((windows[0], per_minute, MINUTE), (windows[1], per_hour, HOUR)):
            while calls and calls[0] <= now - span:
                calls.popleft()
            if len(calls) >= limit:
                # A slot frees when the oldest call still counted against the limit leaves the window.
                oldest = calls[len(calls) - limit] if limit > 0 else now
                wait = max(1, math.ceil(round(oldest + span - now, 6)))  # round: float noise is not a second
                message = f"API calls quota exceeded! maximum allowed {limit} per {_window_text(span)}"
                return Throttle(retry_after=wait, message=message)
        windows[0].append(now)
        windows[1].append(now)
        return None

    def reset(self) -> None:
        self._calls.clear()
