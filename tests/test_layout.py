"""The house rules of the Python tree: imports run one way, modules stay small, no test code in production.

    entry points -> bench.jobs -> bench.data / bench.store / lightning_modules -> bench.config -> bench.io
    bench.results reads runs and specs: it may use config, data and io, never jobs
    lightning_modules imports nothing from bench; nothing in production imports bench.benchmarks or tests
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450

# package -> the bench packages it may import (besides itself); lightning_modules is allowed everywhere in bench
ALLOWED = {
    "bench.io": set(),
    "bench.config": {"bench.io"},
    "bench.data": {"bench.io", "bench.config"},
    "bench.store": {"bench.io", "bench.config"},
    "bench.results": {"bench.io", "bench.config", "bench.data"},
    "bench.jobs": {"bench.io", "bench.config", "bench.data", "bench.store"},
}


def _modules(top: str) -> list[Path]:
    return sorted((ROOT / top).rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _package(module: str) -> str:
    """bench.jobs.finetune.fit -> bench.jobs; bench.io -> bench.io; lightning_modules.x -> lightning_modules."""
    parts = module.split(".")
    if parts[0] != "bench":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else "bench"


@pytest.mark.parametrize("path", _modules("lightning_modules"), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_import_nothing_from_bench(path):
    bad = sorted(m for m in _imports(path) if _package(m) in ("bench", "tests") or m.startswith("bench."))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: lightning_modules must stand on its own"


@pytest.mark.parametrize("path", [p for p in _modules("bench") if _package(_dotted(p)) in ALLOWED],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_bench_imports_run_one_way(path):
    own = _package(_dotted(path))
    bad = sorted(m for m in _imports(path) if _package(m).startswith("bench.") and _package(m) != own
                 and _package(m) not in ALLOWED[own])
    assert not bad, f"{path.relative_to(ROOT)} ({own}) imports {bad}; {own} may import {sorted(ALLOWED[own])}"


@pytest.mark.parametrize("path", _modules("bench") + _modules("lightning_modules"), ids=lambda p: str(p.relative_to(ROOT)))
def test_production_never_imports_benchmarks_or_tests(path):
    if _package(_dotted(path)) == "bench.benchmarks":
        return
    bad = sorted(m for m in _imports(path) if m.split(".")[0] == "tests" or _package(m) == "bench.benchmarks")
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_every_bench_module_is_in_a_role_package():
    loose = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name not in ("__init__.py", "io.py"))
    assert not loose, f"modules outside a role package: {loose}"


@pytest.mark.parametrize("path", _modules("bench") + _modules("lightning_modules"), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (> {MAX_LINES}): split it by what it does"


def test_the_checker_sees_a_violation(tmp_path):
    """The rules above would fail on a bad import (the parser finds imports inside functions too)."""
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from bench.jobs.run import main\n")
    assert "bench.jobs.run" in _imports(bad) and _package("bench.jobs.run") not in ALLOWED["bench.results"]
