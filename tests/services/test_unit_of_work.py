from __future__ import annotations

import ast
from pathlib import Path

import app

APP = Path(app.__file__).resolve().parent
# The one place that commits, for requests and jobs alike.
UNIT_OF_WORK = ("core/db.py", "unit_of_work")


def _commits(source: str, name: str) -> list[tuple[str, str, int]]:
    """Every `<anything>.commit(...)` call in `source`, with the function it is made in."""
    tree = ast.parse(source, filename=name)
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "commit"
            ):
                found.append((name, function, child.lineno))
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_only_the_unit_of_work_commits() -> None:
    scanned = [path for path in APP.rglob("*.py") if "migrations" not in path.parts]
    assert {path.relative_to(APP).parts[0] for path in scanned} >= {"services", "worker"}

    commits = [
        site
        for path in scanned
        for site in _commits(path.read_text(), path.relative_to(APP).as_posix())
    ]

    outside = [site for site in commits if site[:2] != UNIT_OF_WORK]
    assert outside == [], "commit through app.core.db.unit_of_work instead"
    assert [site[:2] for site in commits] == [UNIT_OF_WORK]


def test_the_scan_finds_a_commit_anywhere_in_a_module() -> None:
    source = (
        "class JobService:\n"
        "    async def start(self, session):\n"
        "        async with session.begin_nested():\n"
        "            await self.repository(session).commit()\n"
        "handler = lambda session: session.commit()\n"
    )

    assert _commits(source, "services/jobs.py") == [
        ("services/jobs.py", "start", 4),
        ("services/jobs.py", "<module>", 5),
    ]
