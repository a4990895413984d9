"""Read the project's Bicep offline, for tests.

The Bicep CLI cannot be installed here (it downloads a binary), so the tests read the templates with
``pycep-parser``: a syntax-only parser that turns a ``.bicep`` file into a dict (parameters,
variables, resources, modules, outputs). It does not type-check properties or resolve modules; the
tests below do the few cross-file checks that matter (module paths and parameters, app setting names).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    tree = BicepParser().parse(text=path.read_text(encoding="utf-8"))
    # pycep types its result as a TypedDict of its own; the tests index it freely.
    return cast(dict[str, Any], tree)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The property block of a resource, looking through a loop or an `if` wrapper."""
    config: dict[str, Any] = resource["config"]
    if "loop_type" in config or set(config) == {"condition", "config"}:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def resources(type_: str) -> list[tuple[Path, str, dict[str, Any]]]:
    """Every (file, symbolic name, body) of a resource type across infra/, existing references excluded."""
    found = []
    for path in bicep_files():
        for name, resource in parse(path).get("resources", {}).items():
            if resource["type"].lower() == type_.lower() and not resource["existing"]:
                found.append((path, name, body(resource)))
    return found


def only_resource(type_: str) -> dict[str, Any]:
    matches = resources(type_)
    assert len(matches) == 1, f"expected one {type_} in infra/, found {[(str(p), n) for p, n, _ in matches]}"
    return matches[0][2]


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def dotted(node: Any) -> str:
    """`a.b.c` for a property access (the parser nests it), the plain string otherwise."""
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        operands = node["operator"]["operands"]
        return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return str(node)


def object_keys(node: Any, variables: dict[str, Any], *, always: bool = False) -> set[str]:
    """Every key an object expression may produce: literals, variables, `union(...)`, `a ? b : c`.

    ``always=True``: only the keys it produces whatever the parameters (both branches of a condition).
    Parameters (e.g. ``extraAppSettings``) contribute nothing: their keys are not in the template.
    """
    if isinstance(node, str):
        return object_keys(variables[node]["value"], variables, always=always) if node in variables else set()
    if not isinstance(node, dict):
        return set()
    if "function" in node and node["function"].get("type") == "union":
        keys: set[str] = set()
        for arg in node["function"]["parameters"].values():
            keys |= object_keys(arg, variables, always=always)
        return keys
    if "operator" in node and node["operator"].get("type") == "conditional":
        operands = node["operator"]["operands"]
        when_true = object_keys(operands["true_value"], variables, always=always)
        when_false = object_keys(operands["false_value"], variables, always=always)
        return when_true & when_false if always else when_true | when_false
    return {unquote(key) for key in node}


def app_setting_names(*, always: bool = False) -> set[str]:
    """Names of the app settings the Function App may get from the templates (``always``: surely gets)."""
    path = INFRA / "modules" / "functionapp.bicep"
    tree = parse(path)
    [settings] = [
        body(r)
        for r in tree["resources"].values()
        if r["type"] == "Microsoft.Web/sites/config" and body(r)["name"] == "appsettings"
    ]
    return object_keys(settings["properties"], tree.get("variables", {}), always=always)


def load_parameters_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    return data
