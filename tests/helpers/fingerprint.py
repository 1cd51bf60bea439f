"""Output fingerprint of a sweep: decisions, review tasks and metrics of a fixed synthetic day, as hashes.

The fingerprint keeps, per output table, its row count, a sha256 per column and the float columns' values
(compared to 1e-3), so a mismatch names the table and the columns that moved. Columns that legitimately differ
between two runs of the same code are left out: run ids, wall-clock times (decided_at, created_at, due_by) and the metrics
computed from them (hours to decision, SLA breach rate, which the simulated reviewers' times feed).

Re-take the stored fingerprint (only with the pipeline logic it must stay equal to) with
`MODSWEEP_WRITE_FINGERPRINT=1 .venv/bin/python -m pytest -q tests/test_output_fingerprint.py`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modsweep.lake import Lake

TIME_METRICS = ("hours_to_decision_median", "hours_to_decision_p90", "sla_breach_rate")
DROP = {
    "decisions": ["run_id", "decided_at"],
    "review_tasks": ["run_id", "created_at", "due_by"],
    "metrics": ["run_id"],
}
# Each test session trains its model afresh and two trainings' scores differ by up to ~1e-4 (measured 6e-5):
# floats equal to 1e-3 are the same (actions, thresholds and every id are compared exactly).
FLOAT_TOLERANCE = 1e-3
SORT = {
    "decisions": ["decision_id"],
    "review_tasks": ["task_id"],
    "metrics": ["policy_id", "region", "metric"],
}


def _canonical(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    out = frame.drop(columns=[c for c in DROP[name] if c in frame.columns])
    if name == "metrics":
        out = out[~out["metric"].isin(TIME_METRICS)]
    out = out.sort_values(SORT[name], kind="stable").reset_index(drop=True)
    return out[sorted(out.columns)]


def _cell_text(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return "|".join(map(str, value))
    return "" if pd.isna(value) else str(value)


def _column_text(series: pd.Series) -> str:
    """One column as text: floats to 6 decimals, lists joined, missing values as an empty field."""
    if pd.api.types.is_float_dtype(series):
        return "\n".join("" if pd.isna(v) else f"{float(v):.6f}" for v in series)
    return "\n".join(_cell_text(v) for v in series)


def table_fingerprint(frame: pd.DataFrame, name: str) -> dict[str, Any]:
    """Rows, a hash per non-float column and the float columns' values (rounded to 6 decimals)."""
    canon = _canonical(frame, name)
    floats = [c for c in canon.columns if pd.api.types.is_float_dtype(canon[c])]
    columns = {
        c: hashlib.sha256(_column_text(canon[c]).encode()).hexdigest()[:16] for c in canon.columns if c not in floats
    }
    values = {c: [None if pd.isna(v) else round(float(v), 6) for v in canon[c]] for c in floats}
    return {"rows": len(canon), "columns": columns, "floats": values}


def sweep_fingerprint(lake: Lake, day: date, run_key: str) -> dict[str, Any]:
    """The fingerprint of a run's committed decisions, review tasks and metrics (read from the lake)."""
    tables = {
        "decisions": lake.read_all("decisions", day, run_key).to_pandas(),
        "review_tasks": lake.read_all("review_tasks", day, run_key).to_pandas(),
        "metrics": lake.read_all("metrics", day, run_key).to_pandas(),
    }
    return {name: table_fingerprint(frame, name) for name, frame in tables.items()}


def _float_gap(a: list[float | None], b: list[float | None]) -> float:
    """The largest absolute difference of two float columns (inf when their missing values differ)."""
    if len(a) != len(b):
        return float("inf")
    x = np.array([np.nan if v is None else v for v in a], dtype=float)
    y = np.array([np.nan if v is None else v for v in b], dtype=float)
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    both = ~np.isnan(x)
    return float(np.max(np.abs(x[both] - y[both]), initial=0.0))


def differences(got: dict[str, Any], want: dict[str, Any], tolerance: float = FLOAT_TOLERANCE) -> list[str]:
    """One line per table whose rows or columns differ (floats: by more than `tolerance`); empty: the same."""
    lines = []
    for name in sorted(set(got) | set(want)):
        g, w = got.get(name), want.get(name)
        if g is None or w is None:
            lines.append(f"{name}: {'missing' if g is None else 'not in the stored fingerprint'}")
            continue
        moved = sorted(c for c in set(g["columns"]) | set(w["columns"]) if g["columns"].get(c) != w["columns"].get(c))
        for c in sorted(set(g["floats"]) | set(w["floats"])):
            gap = _float_gap(g["floats"].get(c, []), w["floats"].get(c, []))
            if gap > tolerance:
                moved.append(f"{c} (by up to {gap:.2g})")
        if moved or g["rows"] != w["rows"]:
            lines.append(f"{name}: {g['rows']} rows (stored {w['rows']}); columns that differ: {', '.join(moved)}")
    return lines


def write_fingerprint(path: Path, fingerprint: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n", encoding="utf-8")
