"""The architecture is a checked contract: import-linter's contracts (pyproject.toml) hold on
the tree, and break on a deliberate violation; no code outside tests/ imports from tests/."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("domain", "keywords", "inbound", "optouts", "feed", "sending", "evidence", "platform")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of the app's package and the contracts, to break on purpose."""
    shutil.copytree(
        ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_contracts_are_kept_on_the_tree(tree_copy: Path) -> None:
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("domain/phone.py", "import azure.data.tables", "The domain knows no Azure"),
        ("domain/model.py", "from shared.platform import settings", "Layers:"),
        ("api/history.py", "from shared.tables import history", "Only the composition root"),
        ("tables/programs.py", "from shared.optouts import programs", "use no service"),
        ("feed/settings.py", "from shared.inbound import events", "Layers:"),
        ("domain/model.py", "from shared.domain import changes", "No import cycles"),
    ],
)
def test_a_violation_breaks_its_contract(
    tree_copy: Path, module: str, line: str, contract: str
) -> None:
    path = tree_copy / "shared" / module
    path.write_text(path.read_text() + f"\n{line}  # a deliberate violation\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken, result.stdout


def test_every_capability_package_says_what_it_owns() -> None:
    for name in PACKAGES:
        doc = ast.get_docstring(ast.parse((ROOT / "shared" / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"shared/{name}/__init__.py has no docstring"


def _imports_tests(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tests":
            return True
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "tests" for a in node.names
        ):
            return True
    return False


def test_nothing_outside_tests_imports_from_tests() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [f for f in tracked if not f.startswith("tests/") and _imports_tests(ROOT / f)]
    assert offenders == []
    assert _imports_tests(ROOT / "tests" / "conftest.py")  # the check itself sees an import
