"""The pieces of the application a command needs, built once per run through ``CliContext.cached``.

Registry commands need storage only; they read ``AzureWebJobsStorage`` the way the Functions host does
instead of demanding every setting (a partner onboarding the first tenant may not have a credential
in Key Vault yet). Commands that call Defender build the full ``Settings`` and the real clients.
"""

from __future__ import annotations

from shared.cli.context import CliContext
from shared.domain.clouds import AppFamily
from shared.domain.errors import ConfigError
from shared.platform.setting_checks import is_guid
from shared.platform.settings import STORAGE_IDENTITY_KEYS, StorageSettings, setting
from shared.platform.storage import TENANTS_TABLE, StorageClients
from shared.tenants.store import TenantStore


def storage(ctx: CliContext) -> StorageClients:
    def build() -> StorageClients:
        env = ctx.environ
        identity = {key: setting(env, f"AzureWebJobsStorage__{key}") for key in STORAGE_IDENTITY_KEYS}
        connection = setting(env, "AzureWebJobsStorage")
        if connection is None and not any(identity.values()):
            raise ConfigError(["AzureWebJobsStorage: is required (a connection string, or AzureWebJobsStorage__*)"])
        return StorageClients.from_settings(
            StorageSettings(
                connection_string=connection,
                queue_service_uri=identity["queueServiceUri"],
                table_service_uri=identity["tableServiceUri"],
                blob_service_uri=identity["blobServiceUri"],
                credential=identity["credential"],
                client_id=identity["clientId"],
            )
        )

    clients: StorageClients = ctx.cached("storage", build)
    return clients


def tenant_store(ctx: CliContext) -> TenantStore:
    def build() -> TenantStore:
        clients = storage(ctx)
        clients.ensure(tables=(TENANTS_TABLE,))  # a fresh storage account has no registry yet
        return TenantStore(clients.table(TENANTS_TABLE))

    store: TenantStore = ctx.cached("tenant_store", build)
    return store


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
