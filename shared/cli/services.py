"""The application's parts a command needs, each built once per command run (``CliContext.cached``).

Everything real is built by ``shared.bootstrap`` (the composition root), exactly as in the Function App;
this module only decides what a command needs. Registry commands need storage only: they read
``AzureWebJobsStorage`` the way the Functions host does instead of demanding every setting (a partner
onboarding the first tenant may not have a credential in Key Vault yet). Commands that call Defender
build the full ``Settings`` and the real clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.bootstrap import Services, caller_store_from_env, storage_from_env, tenant_store_from_env
from shared.cli.context import CliContext
from shared.domain.clouds import AppFamily
from shared.domain.errors import ConfigError
from shared.domain.tenant import is_guid
from shared.platform.settings import setting
from shared.platform.storage import StorageClients
from shared.tenants.store import TenantStore

if TYPE_CHECKING:
    from shared.callers.store import TableCallerStore
    from shared.http.api import HttpApi


def storage(ctx: CliContext) -> StorageClients:
    clients: StorageClients = ctx.cached("storage", lambda: storage_from_env(ctx.environ))
    return clients


def tenant_store(ctx: CliContext) -> TenantStore:
    store: TenantStore = ctx.cached("tenant_store", lambda: tenant_store_from_env(ctx.environ, storage=storage(ctx)))
    return store


def caller_store(ctx: CliContext) -> TableCallerStore:
    store: TableCallerStore = ctx.cached(
        "caller_store", lambda: caller_store_from_env(ctx.environ, storage=storage(ctx))
    )
    return store


def services(ctx: CliContext) -> Services:
    """The full services, from the full settings, sharing this run's storage clients."""

    def build() -> Services:
        svc = Services(ctx.settings(), storage=storage(ctx))
        svc.ensure_storage()  # local runs start from an empty Azurite; creating what exists is a no-op
        return svc

    svc: Services = ctx.cached("services", build)
    return svc


def http_api(ctx: CliContext) -> HttpApi:
    """The HTTP API's own handler, unsigned (see ``Services.http_api``)."""
    api: HttpApi = ctx.cached("http_api", lambda: services(ctx).http_api(verify_signatures=False))
    return api


def app_client_ids(ctx: CliContext) -> dict[AppFamily, str]:
    """The partner app ids that are configured, checked; the commercial one is required."""
    ids: dict[AppFamily, str] = {}
    problems: list[str] = []
    names = ((AppFamily.COMMERCIAL, "RELAY_COMMERCIAL_CLIENT_ID"), (AppFamily.USGOV, "RELAY_USGOV_CLIENT_ID"))
    for family, name in names:
        value = setting(ctx.environ, name)
        if value is None:
            continue
        if is_guid(value.lower()):
            ids[family] = value.lower()
        else:
            problems.append(f"{name}: '{value}' is not a GUID")
    if not ids and not problems:
        problems.append("RELAY_COMMERCIAL_CLIENT_ID: is required (the partner app's client id)")
    if problems:
        raise ConfigError(problems)
    return ids
