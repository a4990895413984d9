"""The worker's ``ChangeSource`` over the real ``DefenderClient``: one feed, window by window.

Every feed (``mde-alerts``, ``xdr-incidents``, ``graph-alerts``, ``graph-incidents``) is read in windows
that are complete whatever order the service returns items in (``shared.domain.windows``,
``shared.defender.feeds``): none of these lists documents ``$orderby`` (docs/microsoft-apis.md
§OData subset, §Graph query options and paging).

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
from shared.domain.windows import ChangePage
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
    ) -> Iterator[ChangePage]:
        return self._client.list_changes(tenant, feed, since, until, page_size=page_size)

    def throttle_count(self) -> int:
        return self._counter.count()
