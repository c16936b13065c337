"""The layer contracts of ``pyproject.toml`` (``[tool.importlinter]``, run by ``make lint``).

They hold on the package as it is; and each one breaks when a module is made to break it:
a lower layer importing a higher one, two modules of one layer importing each other, a
module importing the package itself, a module placed in no layer. The broken imports are
planted in a copy of the package, checked with the project's own configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

LAYERS = "Layers: imports point down, from the CLI to the values"
ACYCLIC = "No cycles: no two modules of a package import each other, however indirectly"
ON_TOP = "No module imports the package itself (traceability/__init__.py)"
CONTRACTS = (LAYERS, ACYCLIC, ON_TOP)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package under ``root``, with the configuration there."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    """Each contract's verdict (``KEPT`` or ``BROKEN``) from the summary of a run."""
    found = {}
    for line in output.splitlines():
        for name in CONTRACTS:
            if line.startswith(name + " "):
                found[name] = line[len(name) + 1 :].split()[0]
    return found


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package and of ``pyproject.toml``, to plant imports in."""
    shutil.copytree(
        ROOT / "traceability",
        tmp_path / "traceability",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(root: Path, module: str, line: str) -> None:
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_package_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS, "KEPT")


@pytest.mark.parametrize(
    ("module", "line", "expected", "named"),
    [
        # the store (layer 6) reaching up to the CLI (layer 1); the CLI reaches the store,
        # so this is a cycle as well
        (
            "traceability/store/__init__.py",
            "import traceability.cli",
            {LAYERS: "BROKEN", ACYCLIC: "BROKEN", ON_TOP: "KEPT"},
            "traceability.store is not allowed to import traceability.cli",
        ),
        # a value reaching up to a renderer
        (
            "traceability/inert.py",
            "from traceability.render import render",
            {LAYERS: "BROKEN", ON_TOP: "KEPT"},
            "traceability.inert is not allowed to import traceability.render",
        ),
        # the rules (layer 4) reaching up to the docs (layer 2)
        (
            "traceability/rules/__init__.py",
            "from traceability.docs import read_rules",
            {LAYERS: "BROKEN", ON_TOP: "KEPT"},
            "traceability.rules is not allowed to import traceability.docs",
        ),
        # two engines importing each other: the layers allow either way, not both
        (
            "traceability/caveats.py",
            "from traceability.reconcile import reconcile",
            {LAYERS: "KEPT", ACYCLIC: "BROKEN", ON_TOP: "KEPT"},
            "No cycles are allowed in traceability.",
        ),
        # a module reading the version from the package rather than traceability.version
        # (the package imports every layer, so the layers break as well)
        (
            "traceability/validate.py",
            "from traceability import __version__",
            {LAYERS: "BROKEN", ON_TOP: "BROKEN"},
            "traceability.validate is not allowed to import traceability",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(
    copy: Path, module: str, line: str, expected: dict[str, str], named: str
) -> None:
    plant(copy, module, line)
    result = lint_imports(copy)
    assert result.returncode != 0
    found = verdicts(result.stdout)
    assert {name: found.get(name) for name in expected} == expected
    assert named in result.stdout


def test_a_module_in_no_layer_breaks_the_layers(copy: Path) -> None:
    (copy / "traceability" / "helpers.py").write_text('"""Placed nowhere."""\n', encoding="utf-8")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert verdicts(result.stdout)[LAYERS] == "BROKEN"
    assert "traceability.helpers" in result.stdout
