"""The deployment templates (infra/, azure.yaml): they parse, they wire together, and they deploy the
resources the app needs with secure defaults (shared-key access off, RBAC Key Vault, least roles,
no secret in a parameter file). Syntax-only: see tests/unit/bicep_model.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lark.exceptions import LarkError
from pycep import BicepParser

from tests.unit.bicep_model import (
    INFRA,
    REPO,
    app_setting_names,
    bicep_files,
    dotted,
    load_parameters_file,
    only_resource,
    parse,
    resources,
)

# docs/microsoft-apis.md §Identity-based connections and RBAC (App Insights Entra ingestion included).
APP_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_bicep_file_parses(path: Path) -> None:
    # GIVEN a template WHEN parsed THEN it yields at least one declaration
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules"), f"{path} declares nothing"


def test_the_parser_rejects_a_broken_template(tmp_path: Path) -> None:
    # GIVEN main.bicep cut in the middle of a block (so the parse test above can fail)
    text = (INFRA / "main.bicep").read_text(encoding="utf-8")
    broken = text[: text.index("module storage")] + "module storage './modules/storage.bicep' = {\n  name: \n"
    # WHEN parsed THEN the parser refuses it
    with pytest.raises(LarkError):
        BicepParser().parse(text=broken)


def _module_calls() -> list[tuple[Path, str, dict[str, Any]]]:
    calls = []
    for path in bicep_files():
        for name, module in parse(path).get("modules", {}).items():
            calls.append((path, name, module))
    return calls


def test_every_module_path_exists_and_gets_exactly_its_parameters() -> None:
    # GIVEN every `module` statement WHEN compared with the module file's own parameters
    problems = []
    for path, name, module in _module_calls():
        assert module["type"] == "local", f"{path}:{name} uses a registry module; nothing can be fetched offline"
        target = (path.parent / module["detail"]["path"]).resolve()
        if not target.is_file():
            problems.append(f"{path.name}:{name} -> missing {target}")
            continue
        declared = parse(target).get("parameters", {})
        passed = set(module["config"].get("params", {}))
        required = {p for p, spec in declared.items() if spec.get("default") is None}
        problems += [f"{path.name}:{name} passes unknown parameter {p}" for p in sorted(passed - set(declared))]
        problems += [f"{path.name}:{name} misses required parameter {p}" for p in sorted(required - passed)]
    # THEN every module exists, no unknown parameter is passed, no required one is missing
    assert not problems, "\n".join(problems)


def test_main_is_subscription_scoped_and_creates_its_resource_group() -> None:
    tree = parse(INFRA / "main.bicep")
    assert tree["globals"]["scope"]["value"] == "subscription"
    assert [r["type"] for r in tree["resources"].values()] == ["Microsoft.Resources/resourceGroups"]


def test_flex_consumption_plan_and_python_311_function_app() -> None:
    plan = only_resource("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux
    site = only_resource("Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["properties"]["httpsOnly"] is True
    assert site["identity"]["type"] == "UserAssigned"


def test_azd_can_find_the_api_service() -> None:
    # azd deploys service `api` to the resource tagged azd-service-name=api.
    site_file = (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    assert "'azd-service-name': 'api'" in site_file
    azure_yaml = (REPO / "azure.yaml").read_text(encoding="utf-8")
    service = azure_yaml[azure_yaml.index("services:") :]
    for line in ("  api:", "    project: .", "    language: python", "    host: function"):
        assert f"\n{line}\n" in service + "\n", f"azure.yaml lacks {line.strip()!r} under services"
    assert "path: infra" in azure_yaml


def test_storage_is_reached_by_identity_only() -> None:
    account = only_resource("Microsoft.Storage/storageAccounts")["properties"]
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    settings = app_setting_names()
    assert "AzureWebJobsStorage" not in settings, "a connection string needs the shared key, which is off"
    for key in ("credential", "clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{key}" in settings


def test_storage_names_of_the_contract_are_created() -> None:
    # docs/contracts.md §4: queues, tables and containers the app uses.
    storage = parse(INFRA / "modules" / "storage.bicep")
    variables = storage["variables"]
    queues = {"tenant-jobs", "tenant-jobs-poison", "hunt-jobs", "hunt-jobs-poison", "eventsQueueName", "indicator-jobs",
              "indicator-jobs-poison"}  # fmt: skip
    assert queues <= set(variables["queueNames"]["value"])
    tables = {"tenants", "checkpoints", "audit", "idempotency", "hunts", "huntschedules", "indicatorjobs", "callers"}
    assert set(variables["tableNames"]["value"]) == tables
    containers = {"defender-payloads", "hunt-results", "archiveContainerName", "indicator-sets"}
    assert containers <= set(variables["containerNames"]["value"])
    assert storage["parameters"]["eventsQueueName"]["default"] == "defender-events"
    assert storage["parameters"]["archiveContainerName"]["default"] == "defender-archive"


def test_user_assigned_identity_key_vault_rbac_and_monitoring() -> None:
    only_resource("Microsoft.ManagedIdentity/userAssignedIdentities")
    vault = only_resource("Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert "accessPolicies" not in vault
    only_resource("Microsoft.OperationalInsights/workspaces")
    insights = only_resource("Microsoft.Insights/components")["properties"]
    assert insights["DisableLocalAuth"] is True
    assert dotted(insights["WorkspaceResourceId"]) == "workspace.id"
    settings = app_setting_names()
    assert {"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"} <= settings


def _role_ids() -> list[tuple[str, str]]:
    found = []
    text = (INFRA / "modules" / "rbac.bicep").read_text(encoding="utf-8")
    roles = parse(INFRA / "modules" / "rbac.bicep")["variables"]["roles"]["value"]
    for _, name, assignment in resources("Microsoft.Authorization/roleAssignments"):
        ref = dotted(assignment["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"])
        # `roles.x` (a property of the roles variable) or a loop variable over a list of them
        found.append((name, ref))
    assert text.count("roleAssignments@") == len(found)
    return [(name, roles.get(ref.removeprefix("roles."), ref)) for name, ref in found]


def test_the_app_identity_gets_exactly_the_least_roles() -> None:
    rbac = parse(INFRA / "modules" / "rbac.bicep")
    variables = rbac["variables"]
    roles = variables["roles"]["value"]
    app_storage = {roles[dotted(r).removeprefix("roles.")] for r in variables["appStorageRoles"]["value"]}
    single = {ref for name, ref in _role_ids() if name.startswith("app") and GUID.fullmatch(ref)}
    assert app_storage | single == set(APP_ROLES), {
        "missing": sorted(APP_ROLES[r] for r in set(APP_ROLES) - app_storage - single),
        "extra": sorted((app_storage | single) - set(APP_ROLES)),
    }
    for _, name, assignment in resources("Microsoft.Authorization/roleAssignments"):
        if name.startswith("app"):
            assert assignment["properties"]["principalType"] == "ServicePrincipal"


def test_no_broad_management_role_is_assigned() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in bicep_files())
    used = set(GUID.findall(text.lower()))
    assert not used & set(BROAD_ROLES), [BROAD_ROLES[r] for r in used & set(BROAD_ROLES)]


def test_parameter_file_holds_placeholders_only_and_no_secret() -> None:
    # GIVEN main.parameters.json (committed, so it must never hold a secret)
    main = parse(INFRA / "main.bicep")["parameters"]
    values = load_parameters_file()["parameters"]
    placeholder = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:=([^}]*))?\}")
    for name, spec in values.items():
        # THEN every value is an azd ${VAR} / ${VAR=default} placeholder of a parameter main.bicep declares
        assert name in main, f"main.parameters.json sets unknown parameter {name}"
        match = placeholder.fullmatch(spec["value"])
        assert match, f"{name}: {spec['value']!r} is not an azd placeholder"
        # AND a placeholder default equals the Bicep default, so `azd up` and a plain deployment agree
        if match.group(2) is not None:
            assert match.group(2) == main[name]["default"], f"{name}: parameter file and main.bicep disagree"
    required = {n for n, spec in main.items() if spec.get("default") is None}
    assert required <= set(values), f"main.parameters.json misses {sorted(required - set(values))}"
    assert not any(d.get("type") == "secure" for p in main.values() for d in p["decorators"])


def test_no_dev_only_or_flex_forbidden_setting_is_deployed() -> None:
    settings = app_setting_names()
    # Dev-only switches must never reach Azure (they redirect Microsoft hosts / read secrets from env).
    assert not settings & {"RELAY_HOST_OVERRIDES", "RELAY_CREDENTIALS_FROM_ENV"}
    assert not any(s.startswith("RELAY_SECRET_") for s in settings)
    # Flex Consumption rejects these: the runtime lives in functionAppConfig.
    assert not settings & {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}


def test_outputs_for_the_next_steps() -> None:
    outputs = set(parse(INFRA / "main.bicep")["outputs"])
    assert {
        "AZURE_FUNCTION_APP_NAME",
        "RELAY_API_BASE_URL",
        "AZURE_KEY_VAULT_NAME",
        "AZURE_KEY_VAULT_ENDPOINT",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "MANAGED_IDENTITY_CLIENT_ID",
        "MANAGED_IDENTITY_PRINCIPAL_ID",
        "FEDERATED_CREDENTIAL_ISSUER",
        "FEDERATED_CREDENTIAL_SUBJECT",
    } <= outputs


def test_docs_use_only_outputs_that_exist() -> None:
    # GIVEN every `azd env get-value NAME` in docs/ WHEN compared with main.bicep's outputs
    outputs = set(parse(INFRA / "main.bicep")["outputs"])
    azd_own = {"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID", "AZURE_PRINCIPAL_ID"}
    used = set()
    for doc in (REPO / "docs").glob("*.md"):
        used |= set(re.findall(r"azd env get-value ([A-Z_]+)", doc.read_text(encoding="utf-8")))
    # THEN each one is a real output (or a variable azd sets itself)
    assert used - outputs - azd_own == set()
