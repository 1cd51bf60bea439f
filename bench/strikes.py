"""The strike-ledger update on a synthetic day: inside a real sweep (its share, side by side), or on its own.

    .venv/bin/python -m bench.strikes --in-sweep --rows 1000000   # the sweep's `strikes` stage vs the whole run
    .venv/bin/python -m bench.strikes --rows 1000000 [--database-url URL]   # the update alone, and a re-run

`--in-sweep` runs the daily sweep flow once on a generated day (a fresh child process, as `bench.sweep` runs it:
own MODSWEEP_HOME with an SQLite store, a model trained on 50,000 synthetic items) and reads the run ledger's
stage seconds: the `strikes` stage beside the run's total, in the same run, so the ratio does not depend on the
machine's load at two different moments.

Alone:
The day comes from the generator (its repeat offenders included); its enforced decisions are the generator's
violations (action `remove`, the policies' own strike weights) plus 1% of the other items as false positives, so
the update sees the strike volume of a real sweep (the 1,000,000-item sweep of bench/RESULTS.md stored 71,052
decisions). Items and decisions are written as lake partitions of 100,000 rows and the decisions stored first
(the sweep's `store:decisions` stage, not timed). Timed: `update_strike_ledger_partition` for every partition in
turn (read the partition's strike-earning decisions and their authors, pseudonymise, insert strikes, re-evaluate
the authors' account actions), then a re-run of the same key (must add nothing). Prints seconds, strikes, account
decisions and peak RSS; the write-up is bench/LIFECYCLE.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 23)
RUN_KEY = "bench-strikes"


def _prepare(root: Path, rows: int, engine: object) -> tuple[object, list[str]]:
    """Generate the day; write items and decisions partitions to a lake; store the decisions."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modsweep import store
    from modsweep.catalog import RunCatalog
    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.sample import uniform_keys

    write_synthetic_day(root / "source", DAY, rows, seed=42, partition_rows=100_000)
    cat = RunCatalog(str(root / "lake"), DAY, RUN_KEY)
    parts = []
    for path in sorted((root / "source" / "items").rglob("*.parquet")):
        part = path.stem
        raw = pq.read_table(path, columns=["item_id", "author_id", "created_at", "region", "language"]).to_pandas()
        raw["created_at"] = pd.to_datetime(raw["created_at"], utc=True, format="mixed", errors="coerce")
        raw = raw.dropna(subset=["item_id", "author_id", "created_at"]).drop_duplicates("item_id")  # ingest's job
        items = pa.Table.from_pandas(raw, preserve_index=False)
        cat.lake.write(items, "items", DAY, RUN_KEY, part)
        truth = pd.read_parquet(
            root / "source" / "truth" / path.parent.name / path.name, columns=["item_id", "policy_id"]
        )
        frame = items.to_pandas()
        others = frame[~frame["item_id"].isin(truth["item_id"])]
        wrong = others[uniform_keys(others["item_id"].to_numpy(dtype=object), "bench", "fp") < 0.01]
        enforced = pd.concat(
            [
                truth.drop_duplicates(["item_id", "policy_id"]),
                pd.DataFrame({"item_id": wrong["item_id"], "policy_id": "deceptive.spam"}),
            ]
        )
        d = enforced.merge(frame, on="item_id", how="left")
        d = d.assign(
            decision_id=[f"{part}-{i:07d}" for i in range(len(d))],
            policy_version="bench",
            action="remove",
            automated=True,
            score=np.float32(0.99),
            threshold=np.float32(0.9),
            item_type="text_post",
            views=10,
            user_reports=0,
            run_id="bench",
            run_key=RUN_KEY,
            decided_at=pd.Timestamp.now(tz="UTC"),
            decision_visibility="DECISION_VISIBILITY_CONTENT_REMOVED",
            category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
            category_specification=[[] for _ in range(len(d))],
            automated_detection=True,
            automated_decision="AUTOMATED_DECISION_FULLY",
            territorial_scope=[[r] for r in d["region"]],
        )
        d = d.drop(columns=["author_id"])
        cat.lake.write(pa.Table.from_pandas(d, preserve_index=False), "decisions", DAY, RUN_KEY, part)
        store.insert_decisions(engine, d.assign(day=DAY))  # type: ignore[arg-type]
        parts.append(part)
    return cat, parts


def in_sweep(rows: int, workdir: str | None, timeout: float) -> None:
    """One sweep flow of a generated day in a child process; the `strikes` stage's share of the run's seconds."""
    import shutil

    from bench import procstats
    from bench import sweep as bench_sweep

    work = Path(tempfile.mkdtemp(prefix="bench-strikes-sweep-", dir=workdir))
    os.environ.update(
        MODSWEEP_REMOVAL_CEILING=str(10**12),  # nobody answers an approval pause in a benchmark
        GX_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    try:
        logs, models = work / "logs", work / "models-home"
        logs.mkdir()
        print(f"load average at the start: {procstats.load_average()}", flush=True)
        bench_sweep._run_child(
            "generate", timeout, logs / "train.log", home=models, source=work / "training", rows=50_000, train=True
        )
        source = work / "source"
        bench_sweep._run_child("generate", timeout, logs / "generate.log", home=models, source=source, rows=rows)
        home = bench_sweep._home(work, models, "home")
        load = procstats.load_average()
        r = bench_sweep._run_child("flow", timeout, logs / "flow.log", home=home, source=source / "items")
        run_s = bench_sweep.ledger_seconds(home) or r["wall_seconds"]
        stages = r["stage_seconds"]
        strikes_s = float(stages.get("strikes", 0.0))
        counts = _stage_counts(home, "strikes")
        top = sorted(stages.items(), key=lambda kv: -kv[1])[:8]
        print(
            f"sweep of {r['rows']:,} items, {r['decisions']:,} decisions (load average before {load}, after "
            f"{r['load_average_after']})"
        )
        print(f"  run (ledger start → end) {run_s:.1f} s; flow call {r['wall_seconds']:.1f} s")
        print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in top))
        print(
            f"  strikes stage {strikes_s:.2f} s: {strikes_s / run_s:.1%} of the run, adds "
            f"{strikes_s / max(run_s - strikes_s, 1e-9):.1%} to the rest of the sweep"
        )
        print("  strikes stage counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stage_counts(home: Path, stage: str) -> dict[str, int]:
    """A stage's recorded counts in the child's ledger (the last run's `stage_counts`)."""
    import contextlib
    import json
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "modsweep.db")) as conn:
        row = conn.execute("SELECT stage_counts FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    found = (json.loads(row[0]) if row and row[0] else {}).get(stage) or {}
    return {k: int(v) for k, v in found.items() if isinstance(v, int | float)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--in-sweep", action="store_true", help="time the stage inside one sweep flow run")
    parser.add_argument("--workdir", default=None, help="parent of the temporary work dir (default: system temp)")
    parser.add_argument("--timeout", type=float, default=25 * 60, help="seconds per child run (--in-sweep)")
    args = parser.parse_args()
    if args.in_sweep:
        return in_sweep(args.rows, args.workdir, args.timeout)

    from modsweep import store
    from modsweep.policy import load_pack
    from modsweep.runs import day_window
    from modsweep.store import lifecycle as ls
    from modsweep.tasks import lifecycle_io

    with tempfile.TemporaryDirectory(prefix="bench-strikes-") as tmp:
        root = Path(tmp)
        engine = store.make_engine(args.database_url or f"sqlite:///{root / 'modsweep.db'}")
        store.upgrade_schema(engine)
        t0 = time.perf_counter()
        cat, parts = _prepare(root, args.rows, engine)
        prepared = time.perf_counter() - t0
        pack = load_pack()
        ctx = lifecycle_io.LedgerContext(
            day=DAY, run_key=RUN_KEY, run_id="bench", as_of=day_window(DAY)[1], hmac_key="bench-key"
        )
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0, t = time.process_time(), time.perf_counter()
        counts = lifecycle_io.update_strike_ledger_run(engine, cat, ctx, pack, parts)
        first, cpu = time.perf_counter() - t, time.process_time() - cpu0
        t = time.perf_counter()
        again = lifecycle_io.update_strike_ledger_run(engine, cat, ctx, pack, parts)
        rerun = time.perf_counter() - t
        decisions = len(store.fetch_decisions(engine, run_key=RUN_KEY))
        actions = ls.account_decisions(engine, day=DAY).groupby(["action", "status"]).size()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        backend = engine.dialect.name  # type: ignore[attr-defined]
        print(
            f"rows {args.rows:,} in {len(parts)} partitions, {decisions:,} enforced decisions, store {backend} "
            f"(prepared in {prepared:.1f} s, not timed)"
        )
        print(
            f"strike-ledger update: {first:.2f} s wall, {cpu:.2f} s CPU ({len(parts)} partitions, "
            f"{counts['author_pages']} author pages)"
        )
        print(
            f"  strikes {counts['strikes_new']:,}, account decisions {counts['account_decisions_new']:,}, "
            f"lifted {counts['account_decisions_lifted']:,}"
        )
        print("  account decisions by action/status: " + ", ".join(f"{a}/{s} {n:,}" for (a, s), n in actions.items()))
        print(
            f"re-run of the same key: {rerun:.2f} s, strikes new {again['strikes_new']}, account decisions new "
            f"{again['account_decisions_new']}"
        )
        print(f"peak RSS {rss:,.0f} MiB (before the update {rss_before:,.0f} MiB: preparing the day)")
        print(
            f"against the 1,000,000-item sweep of bench/RESULTS.md (25.4 s wall, 41 s CPU): {first / 25.4:.1%} of "
            f"its wall, {cpu / 41:.1%} of its CPU"
        )
        print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
