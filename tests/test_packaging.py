"""What tracecheck declares it needs, what it imports, and what the lock file pins.

Every third-party module the package imports is declared in ``pyproject.toml``; a module
imported when the package is imported is a runtime dependency, not an extra's; the test
oracles and the benchmark's tools stay out of the runtime; and ``requirements/lock.txt``
(what ``make install`` installs) pins, with hashes, a version of every declared package
that its requirement allows, the version this environment runs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "traceability"
LOCK = ROOT / "requirements" / "lock.txt"

#: Modules of the package that belong to an extra: importing them needs that extra.
EXTRA_MODULES = {
    "traceability/spark/__init__.py": "spark",
    "traceability/spark/translate.py": "spark",
}

#: Used only by the tests (oracles, runners) or by a benchmark, never by the package.
NOT_RUNTIME = ("biip", "psutil", "pytest", "hypothesis", "markdown_it", "polars", "pypdf")


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository root
    line: int
    module: str  # the top-level module name
    eager: bool  # runs when the module is imported (not in a function, not for typing)


def third_party_imports(root: Path, package: Path) -> list[Import]:
    """Every import of a module outside the standard library and the package itself."""
    found: list[Import] = []
    own = package.name
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(root).as_posix()
        for node, eager in _imports(tree.body, eager=True):
            if isinstance(node, ast.ImportFrom):
                if node.level or node.module is None:
                    continue
                names = [node.module]
            else:
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top in (own, "__future__"):
                    continue
                found.append(Import(rel, node.lineno, top, eager))
    return found


def _imports(
    body: list[ast.stmt], *, eager: bool
) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    out: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append((node, eager))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.extend(_imports(node.body, eager=False))
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            out.extend(_imports(node.body, eager=False))
            out.extend(_imports(node.orelse, eager=eager))
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    nested = [c for c in children if isinstance(c, ast.stmt)]
                    for c in children:
                        if isinstance(c, ast.ExceptHandler | ast.match_case):
                            nested.extend(c.body)
                    out.extend(_imports(nested, eager=eager))
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def declared(pyproject: dict[str, object]) -> dict[str, set[str]]:
    """Distribution names declared per group: ``""`` for the runtime, else the extra's name."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    groups = {"": project.get("dependencies", [])} | project.get("optional-dependencies", {})
    return {
        group: {canonicalize_name(Requirement(r).name) for r in reqs}
        for group, reqs in groups.items()
    }


def undeclared(
    imports: list[Import],
    groups: dict[str, set[str]],
    providers: dict[str, list[str]],
    extra_modules: dict[str, str],
) -> list[str]:
    """One line per import that no declaration covers, naming file, line and module."""
    problems = []
    everything = set().union(*groups.values())
    for imp in imports:
        dists = {canonicalize_name(d) for d in providers.get(imp.module, [])}
        where = f"{imp.path}:{imp.line}: {imp.module}"
        if not dists:
            problems.append(f"{where} is provided by no installed distribution")
            continue
        allowed = groups[""] | groups.get(extra_modules.get(imp.path, ""), set())
        if not dists & everything:
            problems.append(f"{where} ({', '.join(sorted(dists))}) is not declared")
        elif imp.eager and not dists & allowed:
            problems.append(f"{where} ({', '.join(sorted(dists))}) is imported eagerly")
    return problems


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: int

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> Version:
        return Version(next(iter(self.requirement.specifier)).version)

    def applies(self) -> bool:
        marker = self.requirement.marker
        return marker is None or marker.evaluate()


def read_lock(path: Path) -> list[Pin]:
    """The pins of a requirements file written by ``uv pip compile --generate-hashes``."""
    pins: list[Pin] = []
    entry: list[str] = []
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.split("#", 1)[0].strip()
        if raw[:1].isalnum() or not raw.strip():
            if entry:
                text = " ".join(entry)
                spec, *hashes = text.split("--hash=")
                pins.append(Pin(Requirement(spec.strip()), len(hashes)))
            entry = [line.rstrip("\\").strip()] if raw[:1].isalnum() else []
        elif line and entry:
            entry.append(line.rstrip("\\").strip())
    return pins


@pytest.fixture(scope="module")
def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def pins() -> dict[str, Pin]:
    return {pin.name: pin for pin in read_lock(LOCK) if pin.applies()}


def test_every_third_party_import_is_declared(pyproject: dict[str, object]) -> None:
    imports = third_party_imports(ROOT, PACKAGE)
    assert {"duckdb", "jsonschema", "referencing", "sqlglot"} <= {i.module for i in imports}
    problems = undeclared(
        imports, declared(pyproject), metadata.packages_distributions(), EXTRA_MODULES
    )
    assert problems == []


def test_an_undeclared_or_eager_extra_import_is_reported(
    tmp_path: Path, pyproject: dict[str, object]
) -> None:
    package = tmp_path / "traceability"
    package.mkdir()
    (package / "a.py").write_text("import duckdb\nimport biip.gtin\n\n\nimport sqlglot\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pyspark\n"
        "def f():\n    import sqlglot\n    import pyspark\n"
    )
    (package / "c.py").write_text("try:\n    import psutil\nexcept ImportError:\n    pass\n")
    groups = declared(pyproject)
    runtime_only = {"": groups[""]}
    found = undeclared(
        third_party_imports(tmp_path, package),
        runtime_only | {"spark": groups["spark"]},
        metadata.packages_distributions() | {"biip": ["biip"], "psutil": ["psutil"]},
        {},
    )
    assert [p.split(": ", 1)[0] for p in found] == [
        "traceability/a.py:2",
        "traceability/a.py:5",
        "traceability/c.py:2",
    ]
    assert [p.rsplit(" ", 1)[1] for p in found] == ["declared", "eagerly", "declared"]


def test_test_and_bench_tools_are_extras_not_runtime(pyproject: dict[str, object]) -> None:
    groups = declared(pyproject)
    assert {"biip", "pytest", "hypothesis", "markdown-it-py", "polars"} <= groups["test"]
    assert "psutil" in groups["bench"]
    runtime_free = ["biip", "psutil", "pytest", "polars", "pypdf"]
    assert groups[""].isdisjoint(canonicalize_name(m) for m in runtime_free)


def test_importing_the_package_loads_no_test_bench_or_spark_module() -> None:
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import traceability\n"
        "skip = ('traceability.__main__', 'traceability.spark')\n"
        # walk_packages would import the spark package itself to look inside it
        "def walk(path, prefix):\n"
        "    for m in pkgutil.iter_modules(path, prefix):\n"
        "        if not m.name.startswith(skip):\n"
        "            module = importlib.import_module(m.name)\n"
        "            if m.ispkg:\n"
        "                walk(module.__path__, m.name + '.')\n"
        "walk(traceability.__path__, 'traceability.')\n"
        "names = sys.argv[1:]\n"
        "print(json.dumps([sorted(sys.modules), [n for n in names if n in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *NOT_RUNTIME, "pyspark", "sqlglot"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded, unwanted = json.loads(done.stdout)
    assert "traceability.cli" in loaded and "traceability.kinds" in loaded
    assert unwanted == []


def test_the_lock_pins_every_declared_package_within_its_requirement(
    pyproject: dict[str, object], pins: dict[str, Pin]
) -> None:
    project = pyproject["project"]
    assert isinstance(project, dict)
    requirements = [*project["dependencies"]]
    for reqs in project["optional-dependencies"].values():
        requirements.extend(reqs)
    outside = []
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == canonicalize_name(project["name"]):
            continue
        env = default_environment() | {"extra": ""}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        pin = pins.get(name)
        if pin is None or not req.specifier.contains(pin.version, prereleases=True):
            outside.append(f"{text}: {pin.version if pin else 'not pinned'}")
    assert outside == []


def test_every_pin_has_a_hash_and_is_what_this_environment_runs(pins: dict[str, Pin]) -> None:
    assert len(pins) > 30
    assert [name for name, pin in pins.items() if pin.hashes == 0] == []
    installed = {name: Version(metadata.version(name)) for name in pins}
    assert {n: str(v) for n, v in installed.items() if v != pins[n].version} == {}


def test_read_lock_reads_names_markers_versions_and_hashes(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "# header\n"
        "click==8.5.1 \\\n"
        "    --hash=sha256:aa \\\n"
        "    --hash=sha256:bb\n"
        "    # via tracecheck (pyproject.toml)\n"
        "colorama==0.4.6 ; sys_platform == 'never' \\\n"
        "    --hash=sha256:cc\n"
        "    # via click\n"
        "Rpds_Py==2026.9.1\n"
    )
    got = [(p.name, str(p.version), p.hashes, p.applies()) for p in read_lock(lock)]
    assert got == [
        ("click", "8.5.1", 2, True),
        ("colorama", "0.4.6", 1, False),
        ("rpds-py", "2026.9.1", 0, True),
    ]
