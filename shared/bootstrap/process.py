"""The process-wide ``Services``, the builders the HTTP triggers' lazy holders call, and the storage-only
helpers of the CLI's registry commands."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shared.bootstrap.logs import quiet_sdk_http_log
from shared.bootstrap.services import Services
from shared.platform.settings import Settings, StorageSettings
from shared.platform.storage import TENANTS_TABLE, StorageClients
from shared.tenants.store import TenantStore

if TYPE_CHECKING:
    from shared.callers.store import TableCallerStore
    from shared.http.api import HttpApi
    from shared.http.hunts_api import HuntsApi
    from shared.http.indicators_api import IndicatorsApi
    from shared.http.tenants_api import TenantsApi

_lock = threading.Lock()
_services: Services | None = None


def get_services() -> Services:
    """The process-wide services, built from the environment on first use."""
    global _services  # noqa: PLW0603  # one per worker process is the point
    with _lock:
        if _services is None:
            quiet_sdk_http_log()
            _services = Services(Settings.from_env(os.environ))
        return _services


@contextmanager
def use_services(services: Services) -> Iterator[Services]:
    """Install ``services`` as the process-wide instance for a block (tests, the CLI), then restore."""
    global _services  # noqa: PLW0603
    with _lock:
        previous, _services = _services, services
    try:
        yield services
    finally:
        with _lock:
            _services = previous


def build_http_api(services: Services | None = None) -> HttpApi:
    """The process-wide HTTP API (the HTTP trigger's lazy holder calls this)."""
    return (services or get_services()).http_api()


def build_tenants_api(services: Services | None = None) -> TenantsApi:
    return (services or get_services()).tenants_api()


def build_indicators_api(services: Services | None = None) -> IndicatorsApi:
    return (services or get_services()).indicators_api()


def build_hunts_api(services: Services | None = None) -> HuntsApi:
    return (services or get_services()).hunts_api()


def storage_from_env(environ: Mapping[str, str]) -> StorageClients:
    """Storage clients from ``AzureWebJobsStorage`` alone, for commands that need nothing else."""
    return StorageClients.from_settings(StorageSettings.from_env(environ))


def tenant_store_from_env(environ: Mapping[str, str], *, storage: StorageClients | None = None) -> TenantStore:
    clients = storage or storage_from_env(environ)
    clients.ensure(tables=(TENANTS_TABLE,))  # a fresh storage account has no registry yet
    return TenantStore(clients.table(TENANTS_TABLE))


def caller_store_from_env(environ: Mapping[str, str], *, storage: StorageClients | None = None) -> TableCallerStore:
    """The caller table from ``AzureWebJobsStorage`` alone (``defender-relay callers``)."""
    from shared.callers.store import TABLE, TableCallerStore

    clients = storage or storage_from_env(environ)
    clients.ensure(tables=(TABLE,))
    return TableCallerStore(clients.table(TABLE))
