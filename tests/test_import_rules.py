"""Imports point one way (DESIGN §9): the core never imports the task or flow layers, stage functions import
neither Prefect nor SQLAlchemy, and the sweep's own modules import at module level.

Read from the source (every import statement, function bodies included), so a local import cannot hide an
edge. The command line (`modsweep/cli*.py`) and serving (`modsweep/serving.py`) are the application's edge:
they run flows, so they may import them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EDGE = {"serving.py"}  # besides cli*.py: loads the flows it deploys
# Task-layer modules that are I/O edges (Prefect tasks, the store, published artifacts), not stage functions.
TASK_IO = {"pipeline.py", "report.py"}
# The sweep's path: every import at module level (a heavy optional dependency would say why, in a comment).
MODULE_LEVEL_ONLY = [
    "modsweep/catalog.py",
    "modsweep/workers.py",
    "modsweep/ledger.py",
    "modsweep/run_start.py",
    "modsweep/runs.py",
    "modsweep/lake.py",
    "modsweep/resources.py",
    "modsweep/policy.py",
    "tasks/pipeline.py",
    "tasks/bodies.py",
    "tasks/banks.py",
    "tasks/ingest.py",
    "tasks/decide.py",
    "tasks/sample.py",
    "flows/sweep.py",
    "flows/audit.py",
    "flows/daily_sweep.py",
]


def imported_modules(path: Path) -> list[tuple[int, str, bool]]:
    """(line, module, inside a function) of every import in a file; `from . import x` resolved against modsweep."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(f)
        if isinstance(n, ast.Import | ast.ImportFrom)
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, id(node) in local) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]  # `from modsweep import tasks` counts too
            out += [(node.lineno, n, id(node) in local) for n in [node.module, *names]]
    return out


def _core_files() -> list[Path]:
    files = [*ROOT.glob("modsweep/*.py"), *ROOT.glob("modsweep/store/**/*.py")]
    return [f for f in files if not f.name.startswith("cli") and f.name not in EDGE]


def _stage_files() -> list[Path]:
    return [f for f in ROOT.glob("tasks/*.py") if f.name not in TASK_IO and not f.name.endswith("_io.py")]


def _layer_of(module: str) -> str | None:
    for layer in ("modsweep.tasks", "modsweep.flows"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def test_the_core_imports_nothing_from_tasks_or_flows() -> None:
    found = [
        f"{f.relative_to(ROOT)}:{line} imports {m}"
        for f in _core_files()
        for line, m, _ in imported_modules(f)
        if _layer_of(m)
    ]
    assert not found, "the core imports up into the task/flow layers:\n" + "\n".join(sorted(set(found)))


def test_stage_functions_import_neither_prefect_nor_sqlalchemy() -> None:
    found = [
        f"{f.relative_to(ROOT)}:{line} imports {m}"
        for f in _stage_files()
        for line, m, _ in imported_modules(f)
        if m.split(".")[0] in ("prefect", "sqlalchemy")
    ]
    assert not found, "stage modules import orchestration or the store:\n" + "\n".join(sorted(set(found)))


@pytest.mark.parametrize("relative", MODULE_LEVEL_ONLY)
def test_the_sweep_path_imports_at_module_level(relative: str) -> None:
    path = ROOT / relative
    source = path.read_text(encoding="utf-8").splitlines()
    local = [
        f"{relative}:{line}: {source[line - 1].strip()}"
        for line, _, inside in imported_modules(path)
        if inside and "# local:" not in source[line - 1]
    ]
    assert not local, "imports inside functions (mark a justified one `# local: why`):\n" + "\n".join(
        sorted(set(local))
    )


def test_the_rules_see_a_local_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n\ndef f():\n    from modsweep.tasks import detect\n    return detect\n")
    got = imported_modules(probe)
    assert (1, "os", False) in got and (4, "modsweep.tasks", True) in got
    assert _layer_of("modsweep.tasks.detect") == "modsweep.tasks" and _layer_of("modsweep.tasksx") is None
