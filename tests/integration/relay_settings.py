"""Settings for the relay pointed at the emulator (shared by the token provider and Defender client tests)."""

from __future__ import annotations

from typing import Any

from localdev.emulator_process import EmulatorInfo
from shared.domain.tenant import Tenant, parse_tenant
from shared.platform.settings import Settings


def relay_settings(emulator: EmulatorInfo, **extra: str) -> Settings:
    """The production shape: credentials from the (emulated) Key Vault through the managed identity."""
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net",
        "RELAY_COMMERCIAL_CLIENT_ID": emulator.apps["commercial"]["client_id"],
        "RELAY_COMMERCIAL_CREDENTIAL": "certificate:commercial-app-certificate",
        "RELAY_USGOV_CLIENT_ID": emulator.apps["usgov"]["client_id"],
        "RELAY_USGOV_CREDENTIAL": "secret:usgov-app-secret",
        "RELAY_MANAGED_IDENTITY_CLIENT_ID": emulator.managed_identity["client_id"],
        "RELAY_HOST_OVERRIDES": emulator.env()["RELAY_HOST_OVERRIDES"],
        **extra,
    }
    return Settings.from_env(env)


def scenario_tenant(emulator: EmulatorInfo, display_name: str, **change: Any) -> Tenant:
    """A tenant of the emulator's "test" scenario as the registry would hold it (``change`` overrides)."""
    raw = next(t for t in emulator.tenants if t["display_name"] == display_name)
    fields = {k: raw[k] for k in ("tenant_id", "display_name", "cloud", "region")}
    return parse_tenant({**fields, "feeds": ["mde-alerts", "xdr-incidents"], **change}, where=display_name)
