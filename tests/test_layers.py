"""The layering is enforced: `lint-imports` (pyproject's contracts) passes on the tree and
fails on an import a contract forbids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    # The package in `project` is the one analysed: it comes first on the path.
    environment = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("app/routers/health.py", "import app.worker.broker", "Layers"),
        ("app/errors/problem.py", "import app.core.context", "errors is a leaf"),
        ("app/routers/edges.py", "import app.routers.nodes", "independent of each other"),
        ("app/routers/jobs.py", "import app.models", "Routers know no ORM model"),
        ("app/providers/chat.py", "import app.services.chat", "Providers know no service"),
    ],
)
def test_a_forbidden_import_fails_the_check(
    tmp_path: Path, module: str, violation: str, contract: str
) -> None:
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    source = tmp_path / module
    source.write_text(source.read_text() + f"\n{violation}  # noqa: E402\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert contract in result.stdout
    assert "BROKEN" in result.stdout
