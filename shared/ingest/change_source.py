"""The worker's ``ChangeSource`` over the real ``DefenderClient``: one feed, ascending, page by page.

- ``mde-alerts``: ``GET /api/alerts`` filtered on ``lastUpdateTime`` (docs/microsoft-apis.md §Alerts,
  §OData subset).
- ``xdr-incidents``: ``GET /api/incidents``, ``$top`` at most 100
  (docs/microsoft-apis.md §Defender XDR incidents); the service lists the newest first by default, so the
  client asks for ``$orderby=lastUpdateTime asc``. ``$orderby`` is not documented on either list: that the
  real services honour it is unconfirmed (same section).

Throttles are counted from the HTTP responses themselves (a session response hook) per thread: one job
runs on one thread at a time, so the difference before and after a job is exactly that job's 429s even
when other jobs of the same process are throttled at the same moment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from shared.defender.client import DefenderClient
from shared.domain.job import Feed
from shared.domain.tenant import Tenant
from shared.platform.sessions import TimeoutSession


class ThrottleCounter:
    """Counts 429 answers per thread; install with ``counting_session``."""

    def __init__(self) -> None:
        self._local = threading.local()

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.status_code == 429:
            self._local.count = self.count() + 1
        return response

    def count(self) -> int:
        return int(getattr(self._local, "count", 0))


def counting_session(counter: ThrottleCounter, *, pool_size: int = 32) -> requests.Session:
    """The Defender client's session (one per process, shared by the worker threads), reporting 429s."""
    session = TimeoutSession(pool_size=pool_size)
    session.hooks["response"].append(counter.hook)
    return session


class DefenderChangeSource:
    def __init__(self, client: DefenderClient, counter: ThrottleCounter | None = None) -> None:
        self._client = client
        self._counter = counter or ThrottleCounter()

    def iter_changes(
        self, tenant: Tenant, feed: Feed, since: datetime, until: datetime, *, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        if feed == "mde-alerts":
            for alerts in self._client.list_alerts_since(tenant, since, until, page_size=page_size):
                yield [dict(a) for a in alerts]
        else:
            for incidents in self._client.list_incidents_since(tenant, since, until, page_size=page_size):
                yield [dict(i) for i in incidents]

    def throttle_count(self) -> int:
        return self._counter.count()
