"""The registry commands against real Table storage (Azurite): what an operator types while onboarding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.azurite import AzuriteEndpoints
from tests.integration.cli_support import Relay, module_azurite  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
APP = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def relay(module_azurite: AzuriteEndpoints) -> Iterator[Relay]:  # noqa: F811
    relay = Relay({"AzureWebJobsStorage": module_azurite.connection_string, "RELAY_COMMERCIAL_CLIENT_ID": APP})
    yield relay
    for tenant in relay.json("tenants", "list")[1]["tenants"]:
        relay.run("tenants", "remove", tenant["tenant_id"])


def test_add_list_disable_enable_remove_round_trip(relay: Relay) -> None:
    # GIVEN a tenant added with its cloud, region and feeds
    added = relay.run(
        "tenants", "add", A.upper(), "--name", "Contoso", "--region", "eu", "--feeds", "mde-alerts,xdr-incidents"
    )
    assert added.code == 0
    assert "added Contoso" in added.out
    # WHEN it is disabled, then listed as JSON
    assert relay.run("tenants", "disable", A).code == 0
    code, listed = relay.json("tenants", "list")
    # THEN the JSON parses back with the normalised id, the settings and the state
    assert code == 0
    [tenant] = listed["tenants"]
    assert (tenant["tenant_id"], tenant["region"], tenant["enabled"], tenant["health"]) == (A, "eu", False, "unknown")
    assert tenant["feeds"] == ["mde-alerts", "xdr-incidents"]
    assert relay.json("tenants", "list", "--enabled-only")[1]["tenants"] == []
    # AND enable / remove work, and removing twice names the missing tenant
    assert relay.run("tenants", "enable", A).code == 0
    assert relay.run("tenants", "remove", A).code == 0
    again = relay.run("tenants", "remove", A)
    assert again.code == 2
    assert f"tenant {A} is not in the registry" in again.err


def test_adding_a_tenant_with_a_bad_value_names_the_field(relay: Relay) -> None:
    bad_cloud = relay.run("tenants", "add", A, "--cloud", "azure-china")
    assert bad_cloud.code == 2
    assert "cloud 'azure-china' is not one of: commercial, gcc, gcc-high, dod" in bad_cloud.err
    # (not a domain either: refused without a lookup; domains are resolved, test_cli_tenant_domain.py)
    bad_guid = relay.run("tenants", "add", "contoso")
    assert bad_guid.code == 2
    assert "tenant_id: 'contoso' is neither a tenant id (GUID) nor a domain name" in bad_guid.err
    bad_region = relay.run("tenants", "add", A, "--cloud", "gcc", "--region", "eu")
    assert bad_region.code == 2
    assert "region 'eu' applies to the commercial cloud only" in bad_region.err
    assert "Traceback" not in bad_cloud.err + bad_guid.err + bad_region.err
    assert relay.json("tenants", "list")[1]["tenants"] == []


def test_import_validates_the_whole_file_and_names_the_line_and_field(relay: Relay, tmp_path: Path) -> None:
    # GIVEN a file whose third entry (starting on line 5) has an unknown feed
    path = tmp_path / "tenants.json"
    path.write_text(
        '{"tenants": [\n'
        f'  {{"tenant_id": "{A}", "display_name": "Contoso"}},\n'
        f'  {{"tenant_id": "{B}", "display_name": "Fabrikam",\n'
        '   "region": "uk"},\n'
        '  {"tenant_id": "cccccccc-0000-4000-8000-000000000003",\n'
        '   "feeds": ["mde-alerts", "siem-alerts"]}\n'
        "]}\n"
    )
    # WHEN it is imported
    result = relay.run("tenants", "import", str(path))
    # THEN nothing is written and the error names file, line, entry and field
    assert result.code == 2
    assert f"{path} line 5 (tenants[2]).feeds: unknown value(s) siem-alerts" in result.err
    assert relay.json("tenants", "list")[1]["tenants"] == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[\n {"tenant_id": "x"\n', "line 3, column 1: not valid JSON"),
        (
            f'[\n {{"tenant_id": "{A}"}},\n {{"tenant_id": "{A.upper()}"}}\n]',
            "line 3 (tenants[1]).tenant_id: duplicate of line 2",
        ),
        (f'[{{"tenant_id": "{A}", "colour": "red"}}]', "line 1 (tenants[0]).colour: unknown field"),
        ('{"customers": []}', 'must be a JSON list of tenants or {"tenants": [...]}'),
    ],
)
def test_bad_import_files_are_refused_with_the_place_named(
    relay: Relay, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = relay.run("tenants", "import", str(path))
    assert result.code == 2
    assert expected in result.err


def test_export_is_an_importable_file(relay: Relay, tmp_path: Path) -> None:
    relay.run("tenants", "add", A, "--name", "Contoso", "--actions", "isolate,unisolate")
    relay.run("tenants", "add", B, "--name", "Coho", "--cloud", "gcc-high", "--disabled")
    exported = tmp_path / "export.json"
    assert relay.run("tenants", "export", "--output", str(exported)).code == 0
    document = json.loads(exported.read_text())
    assert [t["display_name"] for t in document["tenants"]] == ["Coho", "Contoso"]
    assert document["tenants"][1]["allowed_actions"] == ["isolate", "unisolate"]
    # WHEN the registry is emptied and the export imported again, it is the same registry
    for tenant_id in (A, B):
        relay.run("tenants", "remove", tenant_id)
    assert relay.run("tenants", "import", "--dry-run", str(exported)).code == 0
    assert relay.json("tenants", "list")[1]["tenants"] == []
    assert relay.run("tenants", "import", str(exported)).code == 0
    assert json.loads(relay.run("tenants", "export").out) == document


def test_consent_links_per_cloud_app(relay: Relay) -> None:
    code, links = relay.json("consent-link")
    assert code == 0
    [link] = links["links"]
    assert link["url"] == (
        f"https://login.microsoftonline.com/common/oauth2/authorize?prompt=consent&client_id={APP}"
        "&response_type=code&sso_reload=true"
    )
    gov = "99999999-2222-4333-8444-555555555555"
    code, links = relay.json("consent-link", "--cloud", "dod", RELAY_USGOV_CLIENT_ID=gov)
    assert links["links"][0]["url"].startswith(
        f"https://login.microsoftonline.us/common/oauth2/authorize?prompt=consent&client_id={gov}"
    )
    missing = relay.run("consent-link", "--cloud", "gcc-high")
    assert missing.code == 2
    assert "RELAY_USGOV_CLIENT_ID is unset" in missing.err


def test_missing_storage_setting_is_named_with_exit_status_3(relay: Relay) -> None:
    result = relay.run("tenants", "list", AzureWebJobsStorage="")
    assert result.code == 3
    assert "AzureWebJobsStorage: is required" in result.err


def test_the_console_script_and_module_run_with_json_for_scripts(relay: Relay) -> None:
    relay.run("tenants", "add", A, "--name", "Contoso")
    env = {**os.environ, **relay.env}
    script = Path(sys.executable).with_name("defender-relay")
    helped = subprocess.run(
        [str(script), "check", "--help"], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert helped.returncode == 0
    assert "--all" in helped.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "shared.cli", "tenants", "list", "--json"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["tenants"][0]["display_name"] == "Contoso"
    assert "\x1b[" not in listed.stdout  # no colour when not a terminal
