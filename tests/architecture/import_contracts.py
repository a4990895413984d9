"""A contract type import-linter lacks: forbidding one module of an external namespace package.

import-linter sees external packages only by their top-level name, and every Azure SDK shares the
``azure`` namespace, so its ``forbidden`` contract cannot say "only the triggers import azure.functions"
without also forbidding azure-storage and azure-identity. This contract reads the import lines grimp
records for each import of the top-level package and refuses those naming the forbidden submodule.
Registered in pyproject.toml (``contract_types``); run by ``lint-imports`` in ``make test``.
"""

from __future__ import annotations

import re
from typing import Any

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class ForbiddenExternalSubmoduleContract(Contract):
    source_modules = fields.ListField(subfield=fields.StringField())
    forbidden_module = fields.StringField()

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        forbidden = str(self.forbidden_module)
        top = forbidden.split(".", 1)[0]
        pattern = re.compile(rf"(^|\s)(import|from)\s+{re.escape(forbidden)}(\s|\.|$)")
        sources = [str(s) for s in self.source_modules]  # type: ignore[attr-defined]
        broken: list[dict[str, Any]] = []
        for importer in sorted(graph.find_modules_that_directly_import(top)):
            if not any(importer == s or importer.startswith(s + ".") for s in sources):
                continue
            for detail in graph.get_import_details(importer=importer, imported=top):
                if pattern.search(detail["line_contents"]):
                    broken.append(
                        {"importer": importer, "line": detail["line_number"], "text": detail["line_contents"]}
                    )
        return ContractCheck(kept=not broken, metadata={"broken": broken, "forbidden": forbidden})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for edge in check.metadata["broken"]:
            output.print_error(
                f"{edge['importer']} -> {check.metadata['forbidden']} (l.{edge['line']}: {edge['text'].strip()})"
            )
            output.new_line()
