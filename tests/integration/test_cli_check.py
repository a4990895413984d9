"""``check``, ``permissions`` and the health routes against the emulator: every failure class a partner
meets, each with the status a script can branch on and the remedy an operator can act on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from localdev.demo_http import call_function, http_functions
from localdev.emulator_process import EmulatorInfo
from localdev.serve_local import local_settings
from shared.bootstrap import Services, use_services
from shared.platform.settings import Settings
from shared.triggers.http_tenants import use_tenants_api
from tests.integration.cli_support import Relay, module_azurite, register, relay  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checked(relay: Relay) -> Iterator[dict[str, Any]]:  # noqa: F811
    """One registry with a tenant of every failure class, checked once with --json."""
    register(relay, "Contoso", "Tailspin Toys", "Relecloud", "Alpine Ski House", "Trey Research", "Proseware")
    register(relay, "Coho Winery", cloud="commercial")  # a GCC High tenant registered in the wrong cloud
    register(relay, "Fabrikam", region="us")  # EU data asked of the US host
    unknown = str(uuid.uuid4())
    assert relay.run("tenants", "add", unknown, "--name", "Typo Ltd").code == 0
    throttled = relay.tenant("Tailspin Toys")["tenant_id"]
    rule = {"route": "alerts", "tenant_id": throttled, "p429": 1.0, "retry_after": 120}
    relay.emulator.control("PUT", "/faults", json={"rules": [rule]}).raise_for_status()  # type: ignore[union-attr]
    try:
        code, document = relay.json("check", "--all")
    finally:
        relay.emulator.control("DELETE", "/faults")  # type: ignore[union-attr]
    by_name = {t["display_name"]: t for t in document["tenants"]}
    return {"code": code, "document": document, "by_name": by_name, "unknown": unknown}


def test_healthy_tenants_pass_token_claims_and_every_probe(checked: dict[str, Any]) -> None:
    for name in ("Contoso", "Relecloud"):  # commercial global host; DoD through the US Gov app
        tenant = checked["by_name"][name]
        assert tenant["status"] == "ok", tenant
        assert tenant["probes"] == ["alerts", "incidents", "machines", "machineactions"]
        assert "Machine.Isolate" in tenant["granted_roles"]["mde"]


@pytest.mark.parametrize(
    ("name", "status", "in_message", "in_remedy"),
    [
        (
            "Alpine Ski House",
            "not-consented",
            "AADSTS700016",
            "must grant admin consent: https://login.microsoftonline.com",
        ),
        ("Trey Research", "not-consented", "the token has no roles", "must grant admin consent"),
        ("Proseware", "missing-roles", "lacks Machine.CollectForensics, Machine.Isolate", "add the WindowsDefenderATP"),
        ("Coho Winery", "wrong-cloud", "AADSTS900382", "set the tenant's cloud"),
        ("Typo Ltd", "unknown-tenant", "was not found on https://login.microsoftonline.com", "check the tenant id"),
        ("Fabrikam", "forbidden", "", "check the tenant's cloud and region"),
        ("Tailspin Toys", "throttled", "", ""),
    ],
)
def test_each_failure_class_is_named_with_its_remedy(
    checked: dict[str, Any], name: str, status: str, in_message: str, in_remedy: str
) -> None:
    tenant = checked["by_name"][name]
    assert tenant["status"] == status, tenant
    assert in_message in tenant["message"]
    assert in_remedy in tenant["remedy"]
    assert tenant["remedy"], "every failure says what to do"


def test_check_fails_the_run_and_records_health(checked: dict[str, Any], relay: Relay) -> None:  # noqa: F811
    assert checked["code"] == 1
    assert checked["document"]["failed"] == 7
    assert checked["by_name"]["Proseware"]["missing_roles"] == [
        "Machine.CollectForensics", "Machine.Isolate", "Machine.RestrictExecution", "Machine.Scan",
        "Machine.StopAndQuarantine",
    ]  # fmt: skip
    listed = {t["display_name"]: t for t in relay.json("tenants", "list")[1]["tenants"]}
    assert listed["Alpine Ski House"]["health"] == "not-consented"
    assert "admin consent" in listed["Alpine Ski House"]["remedy"]
    assert listed["Contoso"]["health"] == "ok"
    text = relay.run("check", "--tenant", relay.tenant("Proseware")["tenant_id"])
    assert text.code == 1
    assert "what to do:" in text.out
    assert "Traceback" not in text.out + text.err


def test_a_bad_partner_credential_is_the_partners_problem(checked: dict[str, Any], relay: Relay) -> None:  # noqa: F811
    emulator: EmulatorInfo = relay.emulator  # type: ignore[assignment]
    expired = emulator.apps["commercial"]["expired_client_secret"]
    code, document = relay.json(
        "check",
        "--tenant",
        relay.tenant("Contoso")["tenant_id"],
        RELAY_CREDENTIALS_FROM_ENV="1",
        RELAY_COMMERCIAL_CREDENTIAL="secret:commercial-app-secret",
        RELAY_SECRET_COMMERCIAL_APP_SECRET=expired,
    )
    [tenant] = document["tenants"]
    assert code == 1
    assert tenant["status"] == "bad-credential"
    assert "AADSTS7000222" in tenant["message"]
    assert "RELAY_COMMERCIAL_CREDENTIAL" in tenant["remedy"]
    assert expired not in str(document)  # a secret never appears in output


def test_check_one_healthy_tenant_exits_zero(checked: dict[str, Any], relay: Relay) -> None:  # noqa: F811
    result = relay.run("check", "--tenant", relay.tenant("Contoso")["tenant_id"])
    assert result.code == 0, result.out + result.err
    assert "1 ok, 0 failing" in result.out


def test_permissions_lists_least_privilege_and_what_each_token_carries(
    checked: dict[str, Any],
    relay: Relay,  # noqa: F811
) -> None:
    code, document = relay.json("permissions")
    assert code == 1  # some tenants lack what they need
    assert document["application_permissions"]["Microsoft Threat Protection"] == ["Incident.Read.All"]
    assert "Machine.Isolate" in document["application_permissions"]["WindowsDefenderATP"]
    assert "Machine.Offboard" not in document["application_permissions"]["WindowsDefenderATP"]
    rows = {(r["display_name"], r["api"]): r for r in document["tenants"]}
    assert "Machine.Isolate" in rows[("Proseware", "WindowsDefenderATP")]["missing"]
    assert rows[("Proseware", "Microsoft Threat Protection")]["status"] == "ok"
    assert rows[("Contoso", "WindowsDefenderATP")]["missing"] == []


def test_health_over_http_names_the_error_and_remedy(checked: dict[str, Any], relay: Relay) -> None:  # noqa: F811
    alpine = relay.tenant("Alpine Ski House")["tenant_id"]
    with use_services(Services(Settings.from_env(relay.env))):
        use_tenants_api(None)
        try:
            functions = http_functions()
            status, listing = call_function(functions["http_tenants"], "GET", "tenants")
            health_status, health = call_function(functions["http_tenant_health"], "GET", f"tenants/{alpine}/health")
            missing_status, missing = call_function(
                functions["http_tenant_health"], "GET", f"tenants/{uuid.uuid4()}/health"
            )
            bad_status, bad = call_function(functions["http_tenant_health"], "GET", "tenants/not-a-guid/health")
        finally:
            use_tenants_api(None)
    assert status == 200
    assert listing["count"] == 9
    assert listing["failing"] == 7
    assert health_status == 200
    assert health["status"] == "not-consented"
    assert "admin consent" in health["error"]["remedy"]
    assert set(health["lastSweep"]) == {"mde-alerts", "xdr-incidents"}
    assert missing_status == 404
    assert missing["status"] == 404
    assert bad_status == 422
    assert "tenantId" in bad["detail"]


def _cli_in_a_new_terminal(relay: Relay, settings: dict[str, str], tmp_path: Path, *args: str) -> dict[str, Any]:  # noqa: F811
    """``defender-relay --settings FILE --json ARGS`` as its own process, with none of the emulator's client
    environment (CA bundle, identity endpoint) in its environment: only the file has them."""
    assert relay.emulator is not None
    file = tmp_path / "local.settings.json"
    file.write_text(json.dumps(local_settings(settings)), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in relay.emulator.env() and k not in settings}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--settings", str(file), "--json", *args], check=False,
        env={**environment, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout, done.stderr[-2000:]
    document: dict[str, Any] = json.loads(done.stdout)
    document["exit_code"] = done.returncode
    return document


def test_the_settings_file_is_applied_to_the_process_like_func_start_does(
    relay: Relay,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN a consented tenant, and the local.settings.json serve-local writes (CA bundle, identity endpoint)
    (contoso,) = register(relay, "Contoso")
    # WHEN `defender-relay --settings local.settings.json check` runs in a terminal that has nothing else
    document = _cli_in_a_new_terminal(relay, relay.env, tmp_path, "check", "--tenant", contoso)
    # THEN the libraries saw the file's values (TLS to the emulator, managed identity -> Key Vault): the check passes
    (tenant,) = document["tenants"]
    assert (document["exit_code"], tenant["status"]) == (0, "ok"), tenant


def test_an_unreachable_key_vault_names_what_to_check_not_the_secret(
    relay: Relay,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN a settings file whose CA bundle does not trust the (emulated) vault's certificate
    (contoso,) = register(relay, "Contoso")
    untrusting = {**relay.env, "REQUESTS_CA_BUNDLE": certifi.where()}
    # WHEN the check runs
    document = _cli_in_a_new_terminal(relay, untrusting, tmp_path, "check", "--tenant", contoso)
    # THEN the tenant fails on the token service, and the remedy names the endpoint, TLS trust and identity
    (tenant,) = document["tenants"]
    assert (document["exit_code"], tenant["status"]) == (1, "token-service"), tenant
    assert "cannot reach Key Vault" in tenant["message"]
    assert "TLS: the vault's certificate is not trusted" in tenant["message"]
    for what in ("RELAY_KEY_VAULT_URL", "REQUESTS_CA_BUNDLE", "IDENTITY_ENDPOINT"):
        assert what in tenant["remedy"], tenant["remedy"]
    assert "fix the secret named by" not in tenant["remedy"]
