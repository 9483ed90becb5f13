"""The architecture is a checked rule, not a naming convention: `lint-imports` checks the import-linter
contracts in pyproject.toml (engine below cars.sim below cars.learn below cars.ui below cars.cli; engine
and vision never import cars; pygame only in cars.ui and vision.draw)."""

import ast
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the project in `cwd` (its packages first on the path, whatever is installed)."""
    code = "import sys; sys.path.insert(0, '.'); from importlinter.cli import lint_imports_command; " \
           "lint_imports_command()"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


def test_the_pygame_contract_names_every_core_module_of_vision():
    """vision's core modules are listed one by one in the pygame contract (only vision.draw may import
    pygame), so a new module must be added there: this fails until it is. vision/__init__.py, which the
    list cannot name without naming vision.draw, must import nothing."""
    import vision
    from cars.learn.config import tomllib  # the standard library's, or tomli before Python 3.11

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    pygame_rule = next(c for c in contracts if c.get("forbidden_modules") == ["pygame"])
    listed = {m for m in pygame_rule["source_modules"] if m.startswith("vision")}
    core = {f"vision.{m.name}" for m in pkgutil.iter_modules(vision.__path__) if m.name != "draw"}
    assert listed == core
    assert "ignore_imports" not in pygame_rule
    init = ast.parse((ROOT / "vision" / "__init__.py").read_text())
    assert not [n for n in ast.walk(init) if isinstance(n, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize("module, line, contract", [
    ("cars/sim/track.py", "import pygame", "pygame only in cars.ui"),
    ("vision/preprocess.py", "import pygame", "pygame only in cars.ui"),
    ("vision/reader.py", "import vision.draw.view", "pygame only in cars.ui"),
    ("cars/learn/algorithms/ga.py", "import cars.ui.theme", "cars layers"),
    ("engine/layers.py", "import cars.sim.track", "engine and vision never import cars"),
])
def test_a_wrong_import_breaks_a_named_contract(tmp_path, module, line, contract):
    """A copy of the project with one bad import added fails lint-imports, naming the contract and the import."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", "runs", "__pycache__", "*.egg-info", "docs"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # added by the architecture test\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
    assert module.replace("/", ".").removesuffix(".py") in result.stdout
