"""Settings agree everywhere: what shared/platform/settings.py reads (``SETTINGS``), what the Bicep deploys, what
local.settings.sample.json holds, and what docs/operations.md documents.

Rules: every setting the code reads is in the local sample and in the Bicep app settings, or
is documented as optional with its default; nothing is set that nothing reads; dev-only switches never
reach Azure; and the defaults written in the Bicep and the docs are the code's defaults.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared.platform.settings import SECRET_ENV_PREFIX, SETTINGS, SettingSpec
from tests.unit.bicep_model import INFRA, REPO, app_setting_names, parse

SAMPLE = REPO / "local.settings.sample.json"
OPERATIONS = REPO / "docs" / "operations.md"
STORAGE = "AzureWebJobsStorage"
STORAGE_IDENTITY_URIS = {f"{STORAGE}__{k}" for k in ("queueServiceUri", "tableServiceUri", "blobServiceUri")}

# Settings read by the platform, not by shared/platform/settings.py, and why they are set.
READ_BY_THE_HOST = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Functions host: where telemetry goes",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Functions host: Entra ID ingestion with the managed identity",
}
READ_BY_CORE_TOOLS = {
    "FUNCTIONS_WORKER_RUNTIME": "func start: which language worker (Flex Consumption sets it in functionAppConfig)",
}
DISABLE_FUNCTION = re.compile(r"AzureWebJobs\.[A-Za-z0-9_]+\.Disabled")  # host: switch one function off locally


def _specs() -> dict[str, SettingSpec]:
    return {s.name: s for s in SETTINGS}


def _dev_only(spec: SettingSpec) -> bool:
    return spec.description.lower().startswith("dev only")


def _sample_values() -> dict[str, str]:
    assert SAMPLE.is_file(), "local.settings.sample.json is missing (copied to local.settings.json for func start)"
    values: dict[str, str] = json.loads(SAMPLE.read_text(encoding="utf-8"))["Values"]
    return values


def _documented_defaults() -> dict[str, str]:
    """`| `NAME` | default | meaning |` rows of the settings reference in docs/operations.md."""
    rows = re.findall(r"^\|\s*`([A-Za-z_][A-Za-z0-9_.]*)`\s*\|\s*([^|]*?)\s*\|", OPERATIONS.read_text("utf-8"), re.M)
    return {name: default for name, default in rows}


def _doc_default(spec: SettingSpec) -> str:
    return f"`{spec.default}`" if spec.default is not None else "unset"


def _storage_is_configured(names: set[str]) -> bool:
    # One of two forms (docs/contracts.md §3): a connection string, or the identity-based URIs.
    return STORAGE in names or names >= STORAGE_IDENTITY_URIS


def test_every_setting_is_deployed_or_documented_as_optional_with_its_default() -> None:
    # GIVEN the settings the code reads, the Bicep app settings, and the documented optional settings
    deployed = app_setting_names()
    documented = _documented_defaults()
    missing = []
    for name, spec in _specs().items():
        if name.startswith(STORAGE) or _dev_only(spec) or name in deployed:
            continue
        if spec.required:
            missing.append(f"{name}: required but not in infra/modules/functionapp.bicep")
        elif documented.get(name) != _doc_default(spec):
            missing.append(f"{name}: neither deployed nor in docs/operations.md with default {_doc_default(spec)}")
    # THEN each one is deployed, or optional and documented with the code's default
    assert _storage_is_configured(deployed)
    assert not missing, "\n".join(missing)


def test_required_settings_are_deployed_whatever_the_parameters() -> None:
    always = app_setting_names(always=True)
    required = {n for n, s in _specs().items() if s.required}
    assert required - always == set()
    assert always >= STORAGE_IDENTITY_URIS


def test_nothing_is_deployed_that_nothing_reads() -> None:
    unread = app_setting_names() - set(_specs()) - set(READ_BY_THE_HOST)
    assert unread == set(), f"app settings no code reads: {sorted(unread)}"


def test_dev_only_settings_are_never_deployed() -> None:
    dev_only = {n for n, s in _specs().items() if _dev_only(s)}
    assert dev_only, "SETTINGS marks no dev-only setting (description starting 'dev only')"
    assert dev_only & app_setting_names() == set()


def test_every_setting_is_in_the_local_sample() -> None:
    names = set(_sample_values())
    missing = sorted(n for n in _specs() if not n.startswith(STORAGE) and n not in names)
    assert _storage_is_configured(names), "local.settings.sample.json has no storage connection"
    assert missing == [], f"local.settings.sample.json lacks {missing}"


def test_nothing_in_the_local_sample_that_nothing_reads() -> None:
    def read(name: str) -> bool:
        return (
            name in _specs()
            or name in READ_BY_THE_HOST
            or name in READ_BY_CORE_TOOLS
            or bool(DISABLE_FUNCTION.fullmatch(name))
            or name.startswith(SECRET_ENV_PREFIX)  # read when RELAY_CREDENTIALS_FROM_ENV=1
        )

    unread = sorted(n for n in _sample_values() if not read(n))
    assert unread == [], f"local.settings.sample.json sets what nothing reads: {unread}"


def test_documented_defaults_are_the_code_defaults() -> None:
    # GIVEN every settings row of docs/operations.md WHEN its default is compared with SETTINGS
    specs = _specs()
    documented = _documented_defaults()
    unknown = sorted(n for n in documented if n not in specs and n not in READ_BY_THE_HOST)
    wrong = {n: d for n, d in documented.items() if n in specs and d != _doc_default(specs[n])}
    # THEN docs name only real settings, with the code's defaults
    assert unknown == [], f"docs/operations.md documents settings nothing reads: {unknown}"
    assert wrong == {}, {n: f"docs say {d}, code says {_doc_default(specs[n])}" for n, d in wrong.items()}


# main.bicep parameter -> the setting it feeds (both must default to the same value).
PARAMETER_SETTINGS = {
    "sweepSchedule": "RELAY_SWEEP_SCHEDULE",
    "sinks": "RELAY_SINKS",
    "eventsQueueName": "RELAY_EVENTS_QUEUE",
    "graphCallsPerMinute": "RELAY_GRAPH_CALLS_PER_MINUTE",
    "huntingEnabled": "RELAY_HUNTING_ENABLED",
    "huntTimerSchedule": "RELAY_HUNT_TIMER_SCHEDULE",
    "archiveContainerName": "RELAY_ARCHIVE_CONTAINER",
    "httpAuth": "RELAY_HTTP_AUTH",
    "purgeSchedule": "RELAY_PURGE_SCHEDULE",
}


@pytest.mark.parametrize(("parameter", "setting"), sorted(PARAMETER_SETTINGS.items()))
def test_bicep_defaults_are_the_code_defaults(parameter: str, setting: str) -> None:
    declared: dict[str, Any] = parse(INFRA / "main.bicep")["parameters"][parameter]
    assert declared["default"] == _specs()[setting].default


def test_storage_identity_keys_deployed_are_the_ones_the_code_reads() -> None:
    deployed = {n for n in app_setting_names() if n.startswith(f"{STORAGE}__")}
    assert deployed <= set(_specs()), sorted(deployed - set(_specs()))
