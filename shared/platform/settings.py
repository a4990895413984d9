"""Settings, read once from the environment into a frozen object (contracts §3).

``Settings.from_env`` checks every setting and raises one ``ConfigError`` listing every problem by
setting name, so an operator fixes a deployment in one pass. ``SETTINGS`` is the registry of every
setting the code reads; a consistency test compares it with the Bicep and local.settings.sample.json.
Secret values never live here: settings only name Key Vault secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.domain.catalogue import ALLOW_LIST_NAMES, DEFAULT_ALLOWED_ACTIONS
from shared.domain.clouds import AppFamily
from shared.domain.errors import ConfigError
from shared.platform.setting_checks import (
    Problems,
    check_container_name,
    check_guid,
    check_int,
    check_queue_name,
    check_secret_name,
    check_url,
    derive_interval_seconds,
    parse_ncrontab,
)

CredentialKind = Literal["certificate", "secret", "federated"]
HttpAuthMode = Literal["key", "entra", "either"]
HTTP_AUTH_MODES: tuple[HttpAuthMode, ...] = ("key", "entra", "either")
SinkName = Literal["queue", "webhook", "archive"]
SINK_NAMES: tuple[SinkName, ...] = ("queue", "webhook", "archive")
STORAGE_IDENTITY_KEYS = ("queueServiceUri", "tableServiceUri", "blobServiceUri", "credential", "clientId")
SECRET_ENV_PREFIX = "RELAY_SECRET_"  # noqa: S105 - a prefix of env var names, not a secret


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: str | None
    required: bool
    description: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "AzureWebJobsStorage", None, False, "storage connection string (or the AzureWebJobsStorage__* identity form)"
    ),
    *(
        SettingSpec(f"AzureWebJobsStorage__{key}", None, False, f"identity-based storage connection: {key}")
        for key in STORAGE_IDENTITY_KEYS
    ),
    SettingSpec("RELAY_KEY_VAULT_URL", None, True, "Key Vault holding the partner app credentials and signing secrets"),
    SettingSpec("RELAY_COMMERCIAL_CLIENT_ID", None, True, "partner app client id (commercial + GCC tenants)"),
    SettingSpec("RELAY_COMMERCIAL_CREDENTIAL", None, True, "certificate:<kv-secret> | secret:<kv-secret> | federated"),
    SettingSpec(
        "RELAY_USGOV_CLIENT_ID", None, False, "partner app client id in the US Government cloud (GCC High / DoD)"
    ),
    SettingSpec(
        "RELAY_USGOV_CREDENTIAL", None, False, "certificate:<kv-secret> | secret:<kv-secret> | federated (US Gov app)"
    ),
    SettingSpec(
        "RELAY_MANAGED_IDENTITY_CLIENT_ID",
        None,
        False,
        "user-assigned managed identity (Key Vault, storage, federated)",
    ),
    SettingSpec("RELAY_SWEEP_SCHEDULE", "0 */5 * * * *", False, "NCRONTAB schedule of the sweep timer (6 fields, UTC)"),
    SettingSpec(
        "RELAY_SWEEP_INTERVAL_SECONDS", None, False, "spread of job visibility delays (default: from the schedule)"
    ),
    SettingSpec("RELAY_INITIAL_LOOKBACK_HOURS", "24", False, "how far back the first run of a tenant-feed reads"),
    SettingSpec("RELAY_OVERLAP_SECONDS", "600", False, "re-read window behind the cursor (late writes)"),
    SettingSpec("RELAY_SETTLE_SECONDS", "30", False, "do not read the last N seconds"),
    SettingSpec("RELAY_PAGE_SIZE", "1000", False, "$top for alerts (incidents use at most 100)"),
    SettingSpec(
        "RELAY_LEASE_SECONDS", "60", False, "per-(tenant, feed) lease, renewed every third of it while a job runs"
    ),
    SettingSpec(
        "RELAY_GRAPH_CALLS_PER_MINUTE", "150", False, "client-side limit of Graph security calls per tenant per minute"
    ),
    SettingSpec("RELAY_HUNTING_ENABLED", "0", False, "1: hunting routes, jobs and saved hunts on"),
    SettingSpec("RELAY_HUNT_TIMER_SCHEDULE", "0 * * * * *", False, "NCRONTAB of the timer that starts saved hunts"),
    SettingSpec(
        "RELAY_HUNT_CALLS_PER_MINUTE", "45", False, "client-side limit of runHuntingQuery calls per tenant per minute"
    ),
    SettingSpec("RELAY_SINKS", "queue", False, "comma list of queue, webhook, archive"),
    SettingSpec("RELAY_EVENTS_QUEUE", "defender-events", False, "queue the queue sink writes to"),
    SettingSpec("RELAY_WEBHOOK_URL", None, False, "webhook sink URL (https)"),
    SettingSpec("RELAY_WEBHOOK_SECRET_NAME", None, False, "Key Vault secret for the webhook HMAC signature"),
    SettingSpec("RELAY_ARCHIVE_CONTAINER", "defender-archive", False, "blob container of the NDJSON archive"),
    SettingSpec(
        "RELAY_HTTP_SIGNING_SECRET_NAME", None, False, "Key Vault secret for HMAC on HTTP routes (unset: key only)"
    ),
    SettingSpec(
        "RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME",
        None,
        False,
        "Key Vault secret of the previous HMAC key, still accepted while callers switch (rotation)",
    ),
    SettingSpec("RELAY_HTTP_AUTH", "key", False, "HTTP callers: key (function key) | entra (bearer token) | either"),
    SettingSpec("RELAY_PARTNER_TENANT_ID", None, False, "the partner's own tenant, issuer of callers' tokens"),
    SettingSpec("RELAY_API_APP_ID_URI", None, False, "App ID URI of the relay's API app registration (token aud)"),
    SettingSpec("RELAY_API_CLIENT_ID", None, False, "client id of the relay's API app (the aud of v2.0 tokens)"),
    SettingSpec("RELAY_AUDIT_RETENTION_DAYS", "400", False, "audit records older than this are purged"),
    SettingSpec("RELAY_PURGE_SCHEDULE", "0 7 * * * *", False, "NCRONTAB of the retention purge timer (UTC)"),
    SettingSpec(
        "RELAY_DEFAULT_ALLOWED_ACTIONS",
        ",".join(DEFAULT_ALLOWED_ACTIONS),
        False,
        "default per-tenant action allow-list",
    ),
    SettingSpec("RELAY_HOST_OVERRIDES", None, False, "dev only: JSON {host: base_url} (the emulator's hosts)"),
    SettingSpec(
        "RELAY_CREDENTIALS_FROM_ENV", None, False, "dev only: 1 = read secrets from RELAY_SECRET_<NAME> env vars"
    ),
)
_DEFAULTS = {s.name: s.default for s in SETTINGS}
_Check = Callable[[str, str, Problems], bool]


@dataclass(frozen=True)
class CredentialSpec:
    """How a partner app proves itself. ``secret_name`` names a Key Vault secret, never a value."""

    kind: CredentialKind
    secret_name: str | None = None


@dataclass(frozen=True)
class AppSettings:
    family: AppFamily
    client_id: str
    credential: CredentialSpec
    setting_prefix: str  # e.g. RELAY_COMMERCIAL: names the settings in error messages


@dataclass(frozen=True)
class StorageSettings:
    """How to reach the storage account, as the Functions host reads ``AzureWebJobsStorage``."""

    connection_string: str | None = field(default=None, repr=False)  # holds the account key
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    blob_service_uri: str | None = None
    credential: str | None = None
    client_id: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StorageSettings:
        """Storage alone (registry commands need no partner credential); a ConfigError names the setting."""
        problems = Problems()
        storage = _storage(environ, problems)
        if problems:
            raise ConfigError(problems.lines)
        return storage


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    key_vault_url: str | None
    apps: Mapping[AppFamily, AppSettings]
    managed_identity_client_id: str | None
    sweep_schedule: str
    sweep_interval_seconds: int
    initial_lookback_hours: int
    overlap_seconds: int
    settle_seconds: int
    page_size: int
    lease_seconds: int
    graph_calls_per_minute: int
    hunting_enabled: bool
    hunt_timer_schedule: str
    hunt_calls_per_minute: int
    sinks: tuple[SinkName, ...]
    events_queue: str
    webhook_url: str | None
    webhook_secret_name: str | None
    archive_container: str
    http_signing_secret_name: str | None
    http_signing_previous_secret_name: str | None
    http_auth: HttpAuthMode
    partner_tenant_id: str | None
    api_audiences: tuple[str, ...]  # the App ID URI, then the client id when set
    audit_retention_days: int
    purge_schedule: str
    default_allowed_actions: frozenset[str]
    host_overrides: Mapping[str, str]
    credentials_from_env: bool
    # Only filled when credentials_from_env: the RELAY_SECRET_* values (dev), hidden from repr.
    env_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every setting; raise one ConfigError listing every problem by setting name."""
        problems = Problems()
        settings = _build(environ, problems)
        if problems or settings is None:
            raise ConfigError(problems.lines)
        return settings

    def app(self, family: AppFamily) -> AppSettings | None:
        return self.apps.get(family)


def setting(environ: Mapping[str, str], name: str) -> str | None:
    """The value of a setting, or its default; blank counts as unset (app settings cannot be deleted easily)."""
    value = environ.get(name)
    if value is None or not value.strip():
        return _DEFAULTS.get(name)
    return value.strip()


def parse_credential(name: str, value: str, problems: Problems) -> CredentialSpec | None:
    kind, _, secret = value.partition(":")
    kind = kind.strip().lower()
    if kind == "federated" and not secret:
        return CredentialSpec("federated")
    if kind in ("certificate", "secret") and check_secret_name(name, secret.strip(), problems):
        return CredentialSpec("certificate" if kind == "certificate" else "secret", secret.strip())
    if kind not in ("certificate", "secret"):
        problems.add(name, "must be certificate:<kv-secret-name>, secret:<kv-secret-name> or federated")
    return None


def parse_host_overrides(name: str, value: str | None, problems: Problems) -> dict[str, str]:
    if value is None:
        return {}
    try:
        raw = json.loads(value)
    except json.JSONDecodeError as exc:
        problems.add(name, f"is not valid JSON ({exc.msg} at column {exc.colno})")
        return {}
    if not isinstance(raw, dict):
        problems.add(name, 'must be a JSON object {"host": "https://base-url"}')
        return {}
    result: dict[str, str] = {}
    for host, base in raw.items():
        if isinstance(base, str) and check_url(f"{name}[{host}]", base, problems):
            result[str(host).lower()] = base.rstrip("/")
        elif not isinstance(base, str):
            problems.add(f"{name}[{host}]", "must be a URL string")
    return result


def _build(env: Mapping[str, str], problems: Problems) -> Settings | None:
    schedule = setting(env, "RELAY_SWEEP_SCHEDULE") or ""
    fields = parse_ncrontab("RELAY_SWEEP_SCHEDULE", schedule, problems)
    interval_raw = setting(env, "RELAY_SWEEP_INTERVAL_SECONDS")
    interval = derive_interval_seconds(fields) if fields else 300
    if interval_raw is not None:
        interval = check_int("RELAY_SWEEP_INTERVAL_SECONDS", interval_raw, 10, 86_400, problems) or interval
    from_env = _flag("RELAY_CREDENTIALS_FROM_ENV", setting(env, "RELAY_CREDENTIALS_FROM_ENV"), problems)
    apps = _apps(env, problems)
    mi_client_id = _optional_guid(env, "RELAY_MANAGED_IDENTITY_CLIENT_ID", problems)
    if any(a.credential.kind == "federated" for a in apps.values()) and mi_client_id is None:
        problems.add(
            "RELAY_MANAGED_IDENTITY_CLIENT_ID", "is required by a federated credential (user-assigned identity)"
        )
    key_vault_url = setting(env, "RELAY_KEY_VAULT_URL")
    if key_vault_url is None and not from_env:
        problems.add("RELAY_KEY_VAULT_URL", "is required (Key Vault with the partner app credentials)")
    elif key_vault_url is not None and not check_url("RELAY_KEY_VAULT_URL", key_vault_url, problems):
        key_vault_url = None
    sinks = _sinks(env, problems)
    webhook_url, webhook_secret = _webhook(env, "webhook" in sinks, problems)
    http_auth, partner_tenant_id, audiences = _http_auth(env, problems)
    signing, previous = _signing(env, problems)
    purge_schedule = _schedule(env, "RELAY_PURGE_SCHEDULE", problems)
    settings = Settings(
        storage=_storage(env, problems),
        key_vault_url=key_vault_url.rstrip("/") if key_vault_url else None,
        apps=apps,
        managed_identity_client_id=mi_client_id,
        sweep_schedule=schedule,
        sweep_interval_seconds=interval,
        initial_lookback_hours=_int(env, "RELAY_INITIAL_LOOKBACK_HOURS", 1, 24 * 180, problems),
        overlap_seconds=_int(env, "RELAY_OVERLAP_SECONDS", 0, 86_400, problems),
        settle_seconds=_int(env, "RELAY_SETTLE_SECONDS", 0, 3_600, problems),
        # $top max 10,000 (docs/microsoft-apis.md §OData subset)
        page_size=_int(env, "RELAY_PAGE_SIZE", 1, 10_000, problems),
        lease_seconds=_int(env, "RELAY_LEASE_SECONDS", 15, 3_600, problems),
        # 150 requests per minute per app per tenant on /security (docs/microsoft-apis.md §Graph errors and
        # throttling); lower it when other apps of the partner share the quota, raise it if Microsoft does.
        graph_calls_per_minute=_int(env, "RELAY_GRAPH_CALLS_PER_MINUTE", 1, 10_000, problems),
        hunting_enabled=_flag("RELAY_HUNTING_ENABLED", setting(env, "RELAY_HUNTING_ENABLED"), problems),
        hunt_timer_schedule=_schedule(env, "RELAY_HUNT_TIMER_SCHEDULE", problems),
        # "at least 45 calls per minute per tenant" (docs/microsoft-apis.md §Advanced hunting)
        hunt_calls_per_minute=_int(env, "RELAY_HUNT_CALLS_PER_MINUTE", 1, 10_000, problems),
        sinks=sinks,
        events_queue=_name(env, "RELAY_EVENTS_QUEUE", check_queue_name, problems),
        webhook_url=webhook_url,
        webhook_secret_name=webhook_secret,
        archive_container=_name(env, "RELAY_ARCHIVE_CONTAINER", check_container_name, problems),
        http_signing_secret_name=signing,
        http_signing_previous_secret_name=previous,
        http_auth=http_auth,
        partner_tenant_id=partner_tenant_id,
        api_audiences=audiences,
        audit_retention_days=_int(env, "RELAY_AUDIT_RETENTION_DAYS", 1, 36_500, problems),
        purge_schedule=purge_schedule,
        default_allowed_actions=_actions(env, problems),
        host_overrides=parse_host_overrides("RELAY_HOST_OVERRIDES", setting(env, "RELAY_HOST_OVERRIDES"), problems),
        credentials_from_env=from_env,
        env_secrets={k: v for k, v in env.items() if k.startswith(SECRET_ENV_PREFIX)} if from_env else {},
    )
    return None if problems else settings


def _apps(env: Mapping[str, str], problems: Problems) -> dict[AppFamily, AppSettings]:
    apps: dict[AppFamily, AppSettings] = {}
    for family, prefix, required in (
        (AppFamily.COMMERCIAL, "RELAY_COMMERCIAL", True),
        (AppFamily.USGOV, "RELAY_USGOV", False),
    ):
        client_id = setting(env, f"{prefix}_CLIENT_ID")
        credential = setting(env, f"{prefix}_CREDENTIAL")
        if client_id is None and credential is None and not required:
            continue
        if client_id is None:
            problems.add(
                f"{prefix}_CLIENT_ID", "is required" + ("" if required else f" when {prefix}_CREDENTIAL is set")
            )
        if credential is None:
            problems.add(
                f"{prefix}_CREDENTIAL", "is required" + ("" if required else f" when {prefix}_CLIENT_ID is set")
            )
        guid = check_guid(f"{prefix}_CLIENT_ID", client_id, problems) if client_id is not None else None
        spec = parse_credential(f"{prefix}_CREDENTIAL", credential, problems) if credential is not None else None
        if guid and spec:
            apps[family] = AppSettings(family=family, client_id=guid, credential=spec, setting_prefix=prefix)
    return apps


def _storage(env: Mapping[str, str], problems: Problems) -> StorageSettings:
    connection = setting(env, "AzureWebJobsStorage")
    identity = {k: setting(env, f"AzureWebJobsStorage__{k}") for k in STORAGE_IDENTITY_KEYS}
    if connection is not None:
        return StorageSettings(connection_string=connection)
    uris = ("queueServiceUri", "tableServiceUri", "blobServiceUri")
    missing = [f"AzureWebJobsStorage__{k}" for k in uris if identity[k] is None]
    if len(missing) == len(uris):
        problems.add("AzureWebJobsStorage", "is required (a connection string, or the AzureWebJobsStorage__* URIs)")
    elif missing:
        problems.add(missing[0], "is required with the identity-based storage connection (" + ", ".join(missing) + ")")
    for key in uris:
        value = identity[key]
        if value is not None:
            check_url(f"AzureWebJobsStorage__{key}", value, problems)
    return StorageSettings(
        queue_service_uri=identity["queueServiceUri"],
        table_service_uri=identity["tableServiceUri"],
        blob_service_uri=identity["blobServiceUri"],
        credential=identity["credential"],
        client_id=identity["clientId"],
    )


def _sinks(env: Mapping[str, str], problems: Problems) -> tuple[SinkName, ...]:
    raw = [s.strip().lower() for s in (setting(env, "RELAY_SINKS") or "").split(",") if s.strip()]
    sinks = tuple(s for s in SINK_NAMES if s in raw)
    unknown = sorted(set(raw) - set(SINK_NAMES))
    if unknown:
        problems.add("RELAY_SINKS", f"unknown sink(s) {', '.join(unknown)}; allowed: {', '.join(SINK_NAMES)}")
    elif not sinks:
        problems.add("RELAY_SINKS", "must name at least one sink")
    return sinks


def _webhook(env: Mapping[str, str], enabled: bool, problems: Problems) -> tuple[str | None, str | None]:
    url = setting(env, "RELAY_WEBHOOK_URL")
    secret = _secret_name(env, "RELAY_WEBHOOK_SECRET_NAME", problems)
    if url is not None and not check_url("RELAY_WEBHOOK_URL", url, problems):
        url = None
    if enabled and setting(env, "RELAY_WEBHOOK_URL") is None:
        problems.add("RELAY_WEBHOOK_URL", "is required when RELAY_SINKS includes webhook")
    if enabled and setting(env, "RELAY_WEBHOOK_SECRET_NAME") is None:
        problems.add("RELAY_WEBHOOK_SECRET_NAME", "is required when RELAY_SINKS includes webhook (HMAC signing)")
    return url, secret


def _http_auth(env: Mapping[str, str], problems: Problems) -> tuple[HttpAuthMode, str | None, tuple[str, ...]]:
    """The HTTP caller mode, and what Entra ID mode needs: the partner tenant and the API's audiences."""
    raw = (setting(env, "RELAY_HTTP_AUTH") or "key").lower()
    mode: HttpAuthMode = next((m for m in HTTP_AUTH_MODES if m == raw), "key")
    if raw not in HTTP_AUTH_MODES:
        problems.add("RELAY_HTTP_AUTH", f"'{raw}' must be one of {', '.join(HTTP_AUTH_MODES)}")
    tenant = _optional_guid(env, "RELAY_PARTNER_TENANT_ID", problems)
    app_id_uri = setting(env, "RELAY_API_APP_ID_URI")
    client_id = _optional_guid(env, "RELAY_API_CLIENT_ID", problems)
    if app_id_uri is not None and not (app_id_uri.startswith("api://") and len(app_id_uri) > 6):
        check_url("RELAY_API_APP_ID_URI", app_id_uri, problems)  # the other accepted form: an https URI
    if mode != "key":
        for name in ("RELAY_PARTNER_TENANT_ID", "RELAY_API_APP_ID_URI"):
            if setting(env, name) is None:
                problems.add(name, f"is required when RELAY_HTTP_AUTH is {mode} (docs/http-api.md §Authentication)")
    audiences = tuple(a for a in (app_id_uri.rstrip("/") if app_id_uri else None, client_id) if a)
    return mode, tenant, audiences


def _signing(env: Mapping[str, str], problems: Problems) -> tuple[str | None, str | None]:
    current = _secret_name(env, "RELAY_HTTP_SIGNING_SECRET_NAME", problems)
    previous = _secret_name(env, "RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME", problems)
    if previous is not None and setting(env, "RELAY_HTTP_SIGNING_SECRET_NAME") is None:
        problems.add(
            "RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME", "needs RELAY_HTTP_SIGNING_SECRET_NAME (the current secret)"
        )
    if previous is not None and previous == current:
        problems.add("RELAY_HTTP_SIGNING_PREVIOUS_SECRET_NAME", "names the same secret as the current one")
    return current, previous


def _actions(env: Mapping[str, str], problems: Problems) -> frozenset[str]:
    raw = {a.strip().lower() for a in (setting(env, "RELAY_DEFAULT_ALLOWED_ACTIONS") or "").split(",") if a.strip()}
    unknown = sorted(raw - ALLOW_LIST_NAMES)
    if unknown:
        problems.add(
            "RELAY_DEFAULT_ALLOWED_ACTIONS",
            f"unknown action(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALLOW_LIST_NAMES))}",
        )
    return frozenset(raw & ALLOW_LIST_NAMES)


def _int(env: Mapping[str, str], name: str, low: int, high: int, problems: Problems) -> int:
    value = check_int(name, setting(env, name) or "", low, high, problems)
    return value if value is not None else int(_DEFAULTS[name] or 0)


def _name(env: Mapping[str, str], name: str, check: _Check, problems: Problems) -> str:
    value = setting(env, name) or ""
    check(name, value, problems)
    return value


def _secret_name(env: Mapping[str, str], name: str, problems: Problems) -> str | None:
    value = setting(env, name)
    if value is None or not check_secret_name(name, value, problems):
        return None
    return value


def _schedule(env: Mapping[str, str], name: str, problems: Problems) -> str:
    value = setting(env, name) or ""
    parse_ncrontab(name, value, problems)
    return value


def _optional_guid(env: Mapping[str, str], name: str, problems: Problems) -> str | None:
    value = setting(env, name)
    return check_guid(name, value, problems) if value is not None else None


def _flag(name: str, value: str | None, problems: Problems) -> bool:
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() not in ("0", "false", "no"):
        problems.add(name, f"'{value}' must be 1 or 0")
    return False
