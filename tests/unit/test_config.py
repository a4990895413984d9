"""Settings: every setting of contracts §3 read, checked, and all problems reported at once."""

from __future__ import annotations

import pytest

from shared.domain.clouds import AppFamily
from shared.domain.errors import ConfigError
from shared.platform.settings import SETTINGS, Settings
from tests.log_guard import WEBHOOK_URL_KEY

APP_ID = "11111111-2222-3333-4444-555555555555"
MI_ID = "66666666-7777-8888-9999-000000000000"

MINIMAL = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "RELAY_KEY_VAULT_URL": "https://relay-kv.vault.azure.net/",
    "RELAY_COMMERCIAL_CLIENT_ID": APP_ID,
    "RELAY_COMMERCIAL_CREDENTIAL": "certificate:commercial-app-certificate",
}


def problems_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    return info.value.problems


def test_minimal_settings_get_the_documented_defaults():
    s = Settings.from_env(MINIMAL)
    assert s.key_vault_url == "https://relay-kv.vault.azure.net"
    assert s.apps[AppFamily.COMMERCIAL].credential.kind == "certificate"
    assert s.apps[AppFamily.COMMERCIAL].credential.secret_name == "commercial-app-certificate"
    assert AppFamily.USGOV not in s.apps
    assert (s.sweep_schedule, s.sweep_interval_seconds) == ("0 */5 * * * *", 300)
    assert (s.initial_lookback_hours, s.overlap_seconds, s.settle_seconds) == (24, 600, 30)
    assert (s.page_size, s.lease_seconds, s.sinks, s.events_queue) == (1000, 60, ("queue",), "defender-events")
    assert s.archive_container == "defender-archive"
    assert "offboard" not in s.default_allowed_actions
    assert "isolate" in s.default_allowed_actions
    assert s.host_overrides == {}
    assert s.credentials_from_env is False


def test_every_problem_is_reported_at_once_by_setting_name():
    # GIVEN several wrong settings WHEN loading THEN one ConfigError names each of them
    env = {
        "RELAY_COMMERCIAL_CLIENT_ID": "not-a-guid",
        "RELAY_COMMERCIAL_CREDENTIAL": "password:xyz",
        "RELAY_KEY_VAULT_URL": "http://relay-kv.vault.azure.net",
        "RELAY_SWEEP_SCHEDULE": "*/5 * * * *",
        "RELAY_PAGE_SIZE": "20000",
        "RELAY_OVERLAP_SECONDS": "ten",
        "RELAY_SINKS": "queue,kafka",
        "RELAY_DEFAULT_ALLOWED_ACTIONS": "isolate,reboot",
        "RELAY_HOST_OVERRIDES": "{not json",
        "RELAY_EVENTS_QUEUE": "Bad_Queue",
    }
    problems = problems_of(env)
    named = {line.split(":")[0] for line in problems}
    assert named == {
        "AzureWebJobsStorage",
        "RELAY_COMMERCIAL_CLIENT_ID",
        "RELAY_COMMERCIAL_CREDENTIAL",
        "RELAY_KEY_VAULT_URL",
        "RELAY_SWEEP_SCHEDULE",
        "RELAY_PAGE_SIZE",
        "RELAY_OVERLAP_SECONDS",
        "RELAY_SINKS",
        "RELAY_DEFAULT_ALLOWED_ACTIONS",
        "RELAY_HOST_OVERRIDES",
        "RELAY_EVENTS_QUEUE",
    }
    text = "\n".join(problems)
    assert "6 fields" in text
    assert "kafka" in text
    assert "reboot" in text
    assert "outside 1..10000" in text


def test_usgov_app_needs_both_client_id_and_credential():
    problems = problems_of({**MINIMAL, "RELAY_USGOV_CLIENT_ID": APP_ID})
    assert problems == ["RELAY_USGOV_CREDENTIAL: is required when RELAY_USGOV_CLIENT_ID is set"]


def test_federated_credential_needs_a_user_assigned_identity():
    env = {**MINIMAL, "RELAY_COMMERCIAL_CREDENTIAL": "federated"}
    assert problems_of(env) == [
        "RELAY_MANAGED_IDENTITY_CLIENT_ID: is required by a federated credential (user-assigned identity)"
    ]
    s = Settings.from_env({**env, "RELAY_MANAGED_IDENTITY_CLIENT_ID": MI_ID.upper()})
    assert s.apps[AppFamily.COMMERCIAL].credential.kind == "federated"
    assert s.managed_identity_client_id == MI_ID


def test_webhook_sink_needs_an_https_url_and_a_secret_name():
    problems = problems_of({**MINIMAL, "RELAY_SINKS": "queue,webhook"})
    assert {p.split(":")[0] for p in problems} == {"RELAY_WEBHOOK_URL", "RELAY_WEBHOOK_SECRET_NAME"}
    s = Settings.from_env(
        {
            **MINIMAL,
            "RELAY_SINKS": "webhook, archive",
            "RELAY_WEBHOOK_URL": "https://soar.example/hook",
            "RELAY_WEBHOOK_SECRET_NAME": "webhook-signing-secret",
        }
    )
    assert s.sinks == ("webhook", "archive")


@pytest.mark.parametrize(
    "url",
    [
        f"http://hooks.example/ingest?code={WEBHOOK_URL_KEY}&clientId=default",
        f"ftp://relay:{WEBHOOK_URL_KEY}@hooks.example/ingest",
    ],
)
def test_a_bad_webhook_url_is_named_in_the_error_without_its_key(url: str) -> None:
    # GIVEN a webhook URL that is not https, with its key in the query or the userinfo
    env = {**MINIMAL, "RELAY_SINKS": "webhook", "RELAY_WEBHOOK_URL": url, "RELAY_WEBHOOK_SECRET_NAME": "hook-secret"}
    # WHEN the settings are read THEN the error names the setting and the host, but not the key
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert "RELAY_WEBHOOK_URL" in str(caught.value)
    assert "hooks.example/ingest" in str(caught.value)
    assert WEBHOOK_URL_KEY not in str(caught.value)


def test_identity_based_storage_is_accepted_and_half_of_it_is_not():
    uris = {
        "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
        "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net",
        "AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": MI_ID,
    }
    base = {k: v for k, v in MINIMAL.items() if k != "AzureWebJobsStorage"}
    s = Settings.from_env({**base, **uris})
    assert s.storage.connection_string is None
    assert s.storage.table_service_uri == "https://acct.table.core.windows.net"
    del uris["AzureWebJobsStorage__tableServiceUri"]
    assert problems_of({**base, **uris})[0].startswith("AzureWebJobsStorage__tableServiceUri: is required")


def test_dev_mode_reads_secrets_from_env_and_needs_no_vault():
    env = {k: v for k, v in MINIMAL.items() if k != "RELAY_KEY_VAULT_URL"}
    assert problems_of(env)[0].startswith("RELAY_KEY_VAULT_URL: is required")
    s = Settings.from_env(
        {**env, "RELAY_CREDENTIALS_FROM_ENV": "1", "RELAY_SECRET_COMMERCIAL_APP_CERTIFICATE": "PEM", "OTHER": "x"}
    )
    assert s.env_secrets == {"RELAY_SECRET_COMMERCIAL_APP_CERTIFICATE": "PEM"}
    assert "PEM" not in repr(s)  # secrets never show up in a log of the settings


def test_host_overrides_and_schedule_derived_interval():
    s = Settings.from_env(
        {
            **MINIMAL,
            "RELAY_HOST_OVERRIDES": '{"Login.Microsoftonline.com": "https://127.0.0.1:4431/"}',
            "RELAY_SWEEP_SCHEDULE": "0 */2 * * * *",
        }
    )
    assert s.host_overrides == {"login.microsoftonline.com": "https://127.0.0.1:4431"}
    assert s.sweep_interval_seconds == 120
    bad = problems_of({**MINIMAL, "RELAY_HOST_OVERRIDES": '{"a.example": "ftp://x"}'})
    assert bad == ["RELAY_HOST_OVERRIDES[a.example]: 'ftp://x' must be an https:// URL"]


@pytest.mark.parametrize("schedule", ["0 */5 * * * * *", "70 * * * * *", "0 0 25 * * *", "0 */5 * * * x-"])
def test_bad_ncrontab_is_rejected(schedule):
    assert problems_of({**MINIMAL, "RELAY_SWEEP_SCHEDULE": schedule})[0].startswith("RELAY_SWEEP_SCHEDULE:")


def test_registry_names_every_contract_setting_once():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for name in ("AzureWebJobsStorage", "RELAY_USGOV_CREDENTIAL", "RELAY_HOST_OVERRIDES", "RELAY_CREDENTIALS_FROM_ENV"):
        assert name in names
    assert all(s.description for s in SETTINGS)
