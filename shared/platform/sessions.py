"""One HTTP session type for the process's outbound calls (Defender, Entra ID via MSAL, Storage)."""

from __future__ import annotations

import os
import urllib.request
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class TimeoutSession(requests.Session):
    """A pooled session with a default timeout, whose environment settings are read once, not per request.

    requests re-reads proxy and CA-bundle variables from ``os.environ`` on every request (``trust_env``),
    which costs milliseconds per call in a Functions worker with a hundred app settings; the values do
    not change during a process's life, so they are resolved here once (``REQUESTS_CA_BUNDLE`` and
    ``*_proxy`` keep working). Shared by threads, and by MSAL apps of every tenant, so one connection
    pool and one TLS context per host serve them all instead of one per tenant.
    """

    def __init__(self, *, timeout: tuple[float, float] = (5.0, 60.0), pool_size: int = 32) -> None:
        super().__init__()
        self.proxies.update(urllib.request.getproxies())
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.verify = bundle
        self.trust_env = False
        self._timeout = timeout
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=pool_size, max_retries=0)  # callers retry
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)
