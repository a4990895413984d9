"""The composition root: the one place real clients are built, once per worker process.

``get_services()`` returns the process-wide ``Services``: storage clients, the tenant store, the token
provider, the Defender client, the sinks, checkpoints (with their leases), and on the HTTP side the
``HttpApi`` and the ``TenantsApi``. Building them costs network round trips (MSAL's OIDC discovery,
Key Vault) and their connection pools and MSAL's token cache are what make the second call cheap, so
the Functions triggers, the CLI and the benchmarks all share one instance. Parts are built on first
use, so a timer run never builds an MSAL app and the ingestion worker never reads the signing secret.

Where each part is wired:

- ``services.py``: ``Services`` itself, the index of every part (each a line or two), and the parts the
  capabilities share (storage, the registry, tokens, the Defender transport, checkpoints, caller checks);
- ``ingest.py``: the change source, the sinks, one job's dependencies, the sweep;
- ``responses.py``: machine actions, triage, the action and tenants HTTP APIs, the retention purge;
- ``indicators.py``, ``hunting.py``: those capabilities' stores, queues, services and HTTP APIs;
- ``process.py``: the process-wide instance, the trigger-facing builders, the storage-only helpers;
- ``logs.py``: the SDK's HTTP log kept quiet.

The CLI's registry commands need storage only (a partner onboarding its first tenant may have no
credential in Key Vault yet): ``storage_from_env`` and ``tenant_store_from_env`` build just that.

Tests and the CLI pass their own parts to ``Services(...)`` (e.g. a fake ``ChangeSource``) and install
them with ``use_services``; nothing here is patched.
"""

from __future__ import annotations

from shared.bootstrap.ingest import build_sinks
from shared.bootstrap.logs import SDK_HTTP_LOGGER, quiet_sdk_http_log
from shared.bootstrap.process import (
    build_http_api,
    build_hunts_api,
    build_indicators_api,
    build_tenants_api,
    caller_store_from_env,
    get_services,
    storage_from_env,
    tenant_store_from_env,
    use_services,
)
from shared.bootstrap.services import Services, build_caller_authenticator

__all__ = [
    "SDK_HTTP_LOGGER",
    "Services",
    "build_caller_authenticator",
    "build_http_api",
    "build_hunts_api",
    "build_indicators_api",
    "build_sinks",
    "build_tenants_api",
    "caller_store_from_env",
    "get_services",
    "quiet_sdk_http_log",
    "storage_from_env",
    "tenant_store_from_env",
    "use_services",
]
