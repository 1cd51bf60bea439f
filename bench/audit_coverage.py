"""Coverage of the audit's 95% intervals on a full sweep (issue 14), as an auditor would measure it.

    .venv/bin/python -m bench.audit_coverage [--rows 200000] [--keep DIR]   # a kept DIR with a model: sweep only

Runs `modsweep demo` (a synthetic training day, a model, the swept day) with simulated reviewers who never err
(MODSWEEP_REVIEWER_ACCURACY=1.0, MODSWEEP_REVIEWER_FALSE_POSITIVE_RATE=0) in a fresh MODSWEEP_HOME, then compares
every policy × region estimate of automated precision, automated recall, prevalence and violative view rate with
the value computed from the generator's ground truth: share of intervals that cover it, zero-width intervals
(and how many of them are a census), median width. Prints a table and writes JSON beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

DAY = date(2026, 11, 23)
REPO = Path(__file__).resolve().parent.parent
METRICS = ("automated_precision", "automated_recall", "prevalence", "violative_view_rate")


def _modsweep(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(Path(sys.executable).with_name("modsweep")), *args], check=True, env=env, cwd=REPO)


def true_values(items: pd.DataFrame, decisions: pd.DataFrame, truth: pd.DataFrame, policies: list[str]) -> pd.DataFrame:
    """Each metric per policy × region (and 'ALL') from the ground truth of the swept items."""
    rows = []
    acted = decisions[decisions["automated"].astype(bool)]
    for policy in policies:
        bad = items["item_id"].isin(set(truth.loc[truth["policy_id"] == policy, "item_id"])).to_numpy()
        act = items["item_id"].isin(set(acted.loc[acted["policy_id"] == policy, "item_id"])).to_numpy()
        views = items["views"].to_numpy(dtype=np.float64)
        for region in ["ALL", *sorted(items["region"].unique())]:
            m = np.ones(len(items), bool) if region == "ALL" else (items["region"] == region).to_numpy()
            if (act & m).any():
                rows.append((policy, region, "automated_precision", (bad & act & m).sum() / (act & m).sum()))
            if (bad & m).any():
                rows.append((policy, region, "automated_recall", (bad & act & m).sum() / (bad & m).sum()))
            rows.append((policy, region, "prevalence", (bad & m).sum() / m.sum()))
            rows.append((policy, region, "violative_view_rate", views[bad & m].sum() / max(views[m].sum(), 1.0)))
    return pd.DataFrame(rows, columns=["policy_id", "region", "metric", "truth"])


def measure(rows: int, work: Path) -> dict[str, object]:
    """Generate, train, sweep with perfect reviewers (`modsweep demo`), and compare the stored metrics with the truth."""
    env = dict(
        os.environ,
        MODSWEEP_HOME=str(work / "home"),
        PREFECT_HOME=str(work / "prefect"),
        MODSWEEP_REVIEWER_ACCURACY="1.0",
        MODSWEEP_REVIEWER_FALSE_POSITIVE_RATE="0",
        MODSWEEP_REMOVAL_CEILING=str(10**12),
        GX_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    source = work / "home" / "source"
    t0 = time.perf_counter()
    if (work / "home" / "models").is_dir() and (source / "truth").is_dir():  # a kept folder: reuse its day and model
        _modsweep(
            "sweep",
            "--day",
            DAY.isoformat(),
            "--source",
            str(source / "items"),
            "--simulate-reviews",
            str(source / "truth"),
            "--golden-set",
            str(source / "golden"),
            env=env,
        )
    else:  # `modsweep demo`: a training day, a model, the swept day (seed 42) with simulated reviews and golden tasks
        _modsweep("demo", "--rows", str(rows), "--day", DAY.isoformat(), env=env)
    elapsed = time.perf_counter() - t0
    os.environ.update({k: v for k, v in env.items() if k.startswith(("MODSWEEP_", "PREFECT_HOME"))})
    from modsweep import resources
    from modsweep.store import repo as store
    from modsweep.tasks.audit import interval_method

    engine = resources.store_engine()
    run = store.list_runs(engine, limit=1)[0]
    lake = resources.lake()
    items = lake.read_all("items", DAY, run["run_key"], columns=["item_id", "region", "views"]).to_pandas()
    decisions = lake.read_all(
        "decisions", DAY, run["run_key"], columns=["item_id", "policy_id", "automated"]
    ).to_pandas()
    truth = pd.concat(
        [pd.read_parquet(f, columns=["item_id", "policy_id"]) for f in sorted((source / "truth").rglob("*.parquet"))]
    )
    metrics = store.fetch_metrics(engine, run_key=run["run_key"])
    metrics = metrics[metrics["metric"].isin(METRICS)]
    cells = metrics.merge(
        true_values(items, decisions, truth, sorted(metrics["policy_id"].unique())),
        on=["policy_id", "region", "metric"],
    )
    cells = cells[cells["policy_id"] != "ALL"]
    cells["covered"] = (cells["ci_low"] <= cells["truth"] + 1e-12) & (cells["truth"] <= cells["ci_high"] + 1e-12)
    exact = cells["ci_low"].isna() & (cells["metric"] == "automated_recall") & (cells["value"] == 0)
    cells = cells[~exact]  # recall of a domain without automated actions: exactly 0, not an estimate
    cells["zero_width"] = (cells["ci_high"] - cells["ci_low"]) <= 1e-12
    cells["census"] = [
        interval_method(m, lo, hi, v) == "census"
        for m, lo, hi, v in zip(cells["metric"], cells["ci_low"], cells["ci_high"], cells["value"], strict=True)
    ]
    cells["width"] = cells["ci_high"] - cells["ci_low"]
    summary = cells.groupby("metric").agg(
        cells=("covered", "size"),
        coverage=("covered", "mean"),
        zero_width=("zero_width", "sum"),
        census=("census", "sum"),
        median_width=("width", "median"),
    )
    misses = cells[~cells["covered"]][["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n", "truth"]]
    return {
        "rows": rows,
        "run_state": run["state"],
        "generate_and_sweep_s": round(elapsed, 1),
        "exact_recall_cells": int(exact.sum()),
        "summary": json.loads(summary.reset_index().to_json(orient="records")),
        "misses": json.loads(misses.to_json(orient="records")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = measure(args.rows, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="modsweep-coverage-") as tmp:
            result = measure(args.rows, Path(tmp))
    print(pd.DataFrame(result["summary"]).to_string(index=False))
    print(
        f"{len(result['misses'])} intervals miss the truth; run {result['run_state']} in {result['generate_and_sweep_s']} s"
    )
    (REPO / "bench" / "AUDIT_COVERAGE.json").write_text(
        json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
