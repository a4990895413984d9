"""The import contracts in pyproject.toml hold, and breaking one fails with a message naming the edge.

The contracts (docs/architecture.md "Import contracts") are what keep the layout honest: the domain
imports no SDK, capability packages only import downward, only the triggers import azure.functions, the
product never imports the dev tools, and the emulator shares no code with the product it stands in for.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_repository_keeps_every_import_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.fixture
def copy_of_the_tree(tmp_path: Path) -> Path:
    for name in ("shared", "emulator", "localdev", "tests"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "edge"),
    [
        ("shared/domain/errors.py", "import requests", "shared.domain.errors -> requests"),
        ("shared/domain/job.py", "from shared.ingest import runner", "shared.domain.job -> shared.ingest.runner"),
        ("shared/http/api.py", "import azure.functions as func", "shared.http.api -> azure.functions"),
        ("shared/ingest/sweep.py", "import localdev.azurite", "shared.ingest.sweep -> localdev.azurite"),
        ("emulator/world.py", "import shared.domain.errors", "emulator.world -> shared.domain.errors"),
    ],
)
def test_a_forbidden_import_fails_the_check_and_names_the_edge(
    copy_of_the_tree: Path, module: str, line: str, edge: str
) -> None:
    # GIVEN a copy of the tree where one module gains a forbidden import
    path = copy_of_the_tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    # WHEN the contracts are checked THEN the check fails and its report names the importing edge
    result = _lint(copy_of_the_tree)
    assert result.returncode != 0
    assert edge in " ".join(result.stdout.split()), result.stdout
