"""The transport under the Defender and Graph client: hosts per cloud, paging, throttling, retries, errors.

- Host per tenant cloud/region (shared.domain.clouds), rewritten by RELAY_HOST_OVERRIDES in development.
- One pooled ``requests.Session``; explicit (connect, read) timeouts on every call.
- Transient failures (5xx, connection errors, resets) are retried a bounded number of times with
  exponential backoff and full jitter. Only GETs are retried after a request may have reached the
  service: a repeated POST could start a second machine action.
- 401: the cached token is dropped and the call is retried once with a fresh one, then it fails.
- 429: Retry-After is honoured (docs/microsoft-apis.md §Throttling: ignoring it keeps returning 429).
  A 429 without one (Graph: "some resources may omit it", §Graph errors and throttling) backs off
  exponentially. Short waits are slept in place; a long one raises ``ThrottledError(retry_at)`` so the
  worker hands its job back to the queue with a visibility delay instead of holding a function instance asleep.
- A per-(tenant, API) limiter keeps this process under the documented quotas (shared.defender.rate_limit).
- Graph calls send ``Prefer: include-unknown-enum-members``: without it, evolvable enum members added
  after ``unknownFutureValue`` come back as ``unknownFutureValue`` (§Graph enums and the Prefer header).
- Error bodies (Defender ``{"error": {"code", "message", "target"}}``, Graph ``{"error": {"code",
  "message", "innerError": {"request-id", ...}}}``) become the typed errors of shared.domain.errors.
- Paging works whether or not the service sends ``@odata.nextLink`` (it does not when ``$top`` is
  given, docs/microsoft-apis.md §Paging; §Known documentation inconsistencies, item 7): ``$top``/``$skip``
  by default, nextLink followed when present.
Tokens are never logged or put in an error message.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from shared.defender.rate_limit import RateLimiter, api_family
from shared.defender.responses import api_label, error_from, json_body, retry_after
from shared.domain.catalogue import ApiResource
from shared.domain.clouds import endpoints_for, rewrite_url
from shared.domain.errors import (
    DefenderError,
    DefenderUnavailableError,
    ThrottledError,
)
from shared.domain.tenant import Tenant

Json = dict[str, Any]
logger = logging.getLogger("defender_relay.defender")

TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
MAX_RETRIES = 4  # transient failures per call, after the first attempt
BACKOFF_BASE, BACKOFF_CAP = 0.5, 8.0  # seconds
MAX_INLINE_WAIT = 10.0  # longer 429 / limiter waits go back to the queue as ThrottledError
MAX_INLINE_THROTTLES = 3  # 429s slept through per call
THROTTLE_BACKOFF_BASE = 2.0  # a 429 without Retry-After waits 2, 4, 8 ... s (with jitter)
MAX_PAGES = 10_000  # bound on one listing (10,000 pages of up to 10,000 items)
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
PREFER_ENUMS = "include-unknown-enum-members"  # https://learn.microsoft.com/graph/best-practices-concept


class TokenSource(Protocol):
    def get_token(self, tenant: Tenant, resource: ApiResource, *, required_roles: Iterable[str] = ()) -> Any: ...

    def invalidate(self, tenant: Tenant, resource: ApiResource) -> None: ...


@dataclass
class ClientStats:
    """Counters for the job summary line; ``snapshot()`` before and after a job gives its share."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0  # 429s received
    throttle_waits: int = 0  # 429s and limiter waits slept through in place
    token_refreshes: int = 0  # 401 -> fresh token
    pages: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(asdict(self))


class DefenderTransport:
    """Authenticated calls to one tenant's Defender API host: retries, throttling, paging, typed errors."""

    def __init__(
        self,
        *,
        tokens: TokenSource,
        host_overrides: Mapping[str, str],
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        limiter: RateLimiter | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self._tokens = tokens
        self._overrides = dict(host_overrides)
        self._session = session or _pooled_session()
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._limiter = limiter or RateLimiter(clock)
        self._timeout = timeout
        self._stats_lock = threading.Lock()
        self.stats = ClientStats()

    def base_url(self, tenant: Tenant, resource: ApiResource) -> str:
        return endpoints_for(tenant.cloud, tenant.region).base_url(resource)

    def request(
        self,
        tenant: Tenant,
        resource: ApiResource,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        required_roles: Iterable[str] = (),
    ) -> Json:
        url = self.base_url(tenant, resource) + path
        return self._call(tenant, resource, method.upper(), url, params=params, body=json, roles=tuple(required_roles))

    def iter_pages(
        self,
        tenant: Tenant,
        resource: ApiResource,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int,
        required_roles: Iterable[str] = (),
    ) -> Iterator[list[Json]]:
        """Yield non-empty pages of ``value``; stops on a short page unless a nextLink says otherwise."""
        roles = tuple(required_roles)
        base = self.base_url(tenant, resource)
        query = dict(params or {})
        skip = 0
        next_url: str | None = None
        for _ in range(MAX_PAGES):
            if next_url is None:
                page = self._call(
                    tenant,
                    resource,
                    "GET",
                    base + path,
                    params={**query, "$top": page_size, "$skip": skip},
                    body=None,
                    roles=roles,
                )
            else:
                page = self._call(tenant, resource, "GET", next_url, params=None, body=None, roles=roles)
            items = page.get("value") or []
            self._count("pages")
            if items:
                yield list(items)
            next_link = page.get("@odata.nextLink")
            if next_link:
                next_url = self._same_host(tenant, resource, str(next_link))
            elif next_url is not None or len(items) < page_size:
                return  # the last nextLink page, or a short $top page
            else:
                skip += len(items)
        raise DefenderError(
            f"tenant {tenant.tenant_id}: {path} has more than {MAX_PAGES} pages", tenant_id=tenant.tenant_id
        )

    def follow(self, tenant: Tenant, resource: ApiResource, link: str, *, required_roles: Iterable[str] = ()) -> Json:
        """GET an ``@odata.nextLink`` of the tenant's own API host (the bearer token goes with it)."""
        url = self._same_host(tenant, resource, link)
        return self._call(tenant, resource, "GET", url, params=None, body=None, roles=tuple(required_roles))

    def _call(
        self,
        tenant: Tenant,
        resource: ApiResource,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        roles: tuple[str, ...],
    ) -> Json:
        real_url = rewrite_url(url, self._overrides)
        path = urlsplit(url).path
        extra = {"Prefer": PREFER_ENUMS} if resource == "graph" else {}
        failures = throttles = 0
        refreshed = False
        while True:
            self._wait_for_slot(tenant, resource, path)
            token = self._tokens.get_token(tenant, resource, required_roles=roles)
            try:
                response = self._session.request(
                    method,
                    real_url,
                    params=params,
                    json=body,
                    headers={"Authorization": f"Bearer {token.token}", "Accept": "application/json", **extra},
                    timeout=self._timeout,
                )
            except _TRANSIENT as exc:
                failures += 1
                retryable = method == "GET" or isinstance(exc, requests.ConnectTimeout)
                self._backoff_or_raise(
                    tenant, method=method, path=path, failures=failures, retryable=retryable, why=type(exc).__name__
                )
                continue
            self._count("calls")
            status = response.status_code
            if status < 400:
                return json_body(response)
            if status == 401 and not refreshed:
                refreshed = True
                self._count("token_refreshes")
                self._tokens.invalidate(tenant, resource)
                continue
            if status == 429:
                throttles += 1
                self._count("throttled")
                self._throttled(tenant, resource, path, response, throttles)
                continue
            if status >= 500:
                failures += 1
                self._backoff_or_raise(
                    tenant, method=method, path=path, failures=failures, retryable=method == "GET", why=f"HTTP {status}"
                )
                continue
            raise error_from(tenant, resource, method, path, response)

    def _wait_for_slot(self, tenant: Tenant, resource: ApiResource, path: str) -> None:
        family = api_family(resource, path)
        for _ in range(100):  # bounded: each wait is at most MAX_INLINE_WAIT
            wait = self._limiter.reserve(tenant.tenant_id, family)
            if wait <= 0:
                return
            if wait > MAX_INLINE_WAIT:
                raise self._throttled_error(tenant, wait, f"the client-side {family} quota is used up")
            self._count("throttle_waits")
            self._sleep(wait)
        raise self._throttled_error(tenant, MAX_INLINE_WAIT, f"the client-side {family} quota is used up")

    def _throttled(
        self, tenant: Tenant, resource: ApiResource, path: str, response: requests.Response, count: int
    ) -> None:
        wait = retry_after(response.headers.get("Retry-After"), self._clock())
        told = wait is not None
        if wait is None:  # no Retry-After: back off exponentially, with jitter so throttled workers spread out
            wait = THROTTLE_BACKOFF_BASE * 2 ** (count - 1) * (0.5 + self._jitter() / 2)
        if wait > MAX_INLINE_WAIT or count > MAX_INLINE_THROTTLES:
            raise self._throttled_error(tenant, wait, f"{api_label(resource)} answered 429 on {path}")
        why = "Retry-After" if told else "no Retry-After: backing off"
        logger.info("tenant %s: 429 on %s, waiting %.1f s (%s)", tenant.tenant_id, path, wait, why)
        self._count("throttle_waits")
        self._sleep(wait)

    def _throttled_error(self, tenant: Tenant, wait: float, why: str) -> ThrottledError:
        retry_at = datetime.fromtimestamp(self._clock() + wait, UTC)
        return ThrottledError(
            f"tenant {tenant.tenant_id}: {why}; retry after {retry_at.isoformat(timespec='seconds')}",
            retry_at=retry_at,
            tenant_id=tenant.tenant_id,
        )

    def _backoff_or_raise(
        self, tenant: Tenant, *, method: str, path: str, failures: int, retryable: bool, why: str
    ) -> None:
        if not retryable or failures > MAX_RETRIES:
            tries = f" after {failures} attempts" if retryable else ""
            raise DefenderUnavailableError(
                f"tenant {tenant.tenant_id}: Defender {method} {path} failed{tries} ({why})",
                tenant_id=tenant.tenant_id,
            )
        self._count("retries")
        logger.info(
            "tenant %s: %s %s failed (%s), retry %d of %d", tenant.tenant_id, method, path, why, failures, MAX_RETRIES
        )
        # Full jitter: workers that failed together do not retry together.
        self._sleep(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)) * (0.5 + self._jitter() / 2))

    def _same_host(self, tenant: Tenant, resource: ApiResource, link: str) -> str:
        """Follow a nextLink only to the tenant's own API host: the bearer token goes with it."""
        expected = urlsplit(rewrite_url(self.base_url(tenant, resource), self._overrides)).netloc
        actual = urlsplit(rewrite_url(link, self._overrides)).netloc
        if actual != expected:
            raise DefenderError(
                f"tenant {tenant.tenant_id}: refusing to follow @odata.nextLink to another host ({actual})",
                tenant_id=tenant.tenant_id,
            )
        return link

    def _count(self, name: str) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=32, max_retries=0)  # retries are ours
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
