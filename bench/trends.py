"""The emerging-risk radar: ranking quality on 15 generated days with planted campaigns, and its cost on 1M items.

    .venv/bin/python -m bench.trends quality [--rows 20000] [--days 15] [--home DIR]
    .venv/bin/python -m bench.trends overhead [--rows 1000000] [--home DIR]
    .venv/bin/python -m bench.trends sweep [--rows 1000000] [--repeat 2] [--workdir DIR] [--keep] [--home DIR]

`quality` generates `--days` days with the generator's emerging campaigns (tasks/generate_data/emerging.yaml:
5 violating, 2 benign), ingests each, decides it with the default pack exactly as a sweep does (detect, score,
decide) and runs the radar with the earlier days' aggregates as its baseline. A lead signal (rank_risk ≥ 1) is
attributed to a campaign when most of its items are that campaign's rows. Reported:

* recall: the share of violating campaigns with a lead signal in their region's top 10 on their second day of
  growth (growth day 1);
* precision@10: over those (day, region) lists, the share of the top-10 lead signals whose items are mostly
  violating (any policy in the truth table: the generator's own coordinated campaigns count), out of
  min(10, signals ranked);
* benign bursts: their best rank on each of their days and whether any got a policy suggestion.

`overhead` times the radar stage on one `--rows` day (read the day's items from Parquet, signals, aggregate,
baseline of 14 stored aggregates, burst test, overlap, ranking) against the same day's detection + decisions,
which are only part of a sweep (so the ratio is an upper bound of the stage's share of a sweep).

`sweep` measures the stage inside real daily sweeps (the Prefect flow in fresh child processes, as bench/sweep.py
runs them): 14 earlier days of `--rows` items each are generated with the same campaigns, ingested and reduced to
their compact aggregates (the only thing kept of them: their items are deleted), then the `--rows`-item 15th day is
swept with the radar and without it (`MODSWEEP_TRENDS=false`), each in a fresh home holding a copy of those 14
aggregates, `--repeat` pairs alternating which goes first. Reported per pair: the ledger's run time (started_at →
ended_at) of both, the `trends` stage's own seconds and counts (baseline days read), the stage over the sweep
without it, and the load average before and after each run; written to bench/TRENDS.json and bench/TRENDS.md.

Without --home a model is trained on a generated day in a temporary home (about a minute). Results are printed
and written to bench/TRENDS.json; figures come from simulated traffic, not real posts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

START = date(2026, 11, 1)
OUT = Path(__file__).with_name("TRENDS.json")


def _home(home: Path | None) -> Path:
    """A MODSWEEP_HOME with a registered model (trained on a generated day when none is given)."""
    from modsweep import resources

    if home is None:
        from modsweep.cli import TEXT_POLICIES
        from modsweep.registry import save_model
        from modsweep.tasks.generate import write_synthetic_day
        from modsweep.tasks.train import MODEL_NAME, read_synthetic_training_set, train_text_policy_model

        home = Path(tempfile.mkdtemp(prefix="bench-trends-"))
        write_synthetic_day(home / "training", date(2026, 10, 20), 30_000, seed=7, partition_rows=15_000)
        texts, labels = read_synthetic_training_set(home / "training", TEXT_POLICIES)
        result = train_text_policy_model(texts, labels, source="synthetic:bench-trends")
        save_model(home / "models", MODEL_NAME, result.version, result.model, result.card)
    os.environ["MODSWEEP_HOME"] = str(home)
    resources.reset()
    return home


def _ingested(day: date, rows: int, params: Any, seed: int) -> tuple[Any, Any]:
    """One generated day as canonical items (the ingest stage's pure function) and its truth table."""
    from modsweep.runs import day_window
    from modsweep.tasks.generate import generate_chunk
    from modsweep.tasks.ingest import items_table, normalise_rows

    raw, truth = generate_chunk(day, rows, seed, 0, params)
    items = normalise_rows(
        raw.to_pandas(),
        source_file="bench",
        source_name="synthetic",
        run_id="bench",
        window=day_window(day),
        max_item_chars=1_000_000,
    ).items
    return items_table(items), truth.to_pandas()


def quality(rows: int, n_days: int, home: Path | None) -> dict[str, Any]:
    import pandas as pd

    from modsweep import resources
    from modsweep.tasks import trends as tr
    from modsweep.tasks.generate import GeneratorParams, emerging_plan
    from modsweep.tasks.policy_diff_io import _decisions
    from modsweep.tasks.reviews_io import pseudonymise

    _home(home)
    params = GeneratorParams(emerging_campaigns=True, emerging_start=START, dirty_share=0)
    pack = resources.pack(
        "community-guidelines", "standard", resources.model_version_for("community-guidelines", "standard")
    )
    detectors = tr.detectors_for_suggestions(pack)
    aggregates: list[pd.DataFrame] = []
    lists, found, benign, timings = [], [], [], []
    for k in range(n_days):
        day = START + timedelta(days=k)
        items, truth = _ingested(day, rows, params, seed=31)
        frame = items.to_pandas()
        empty = frame.iloc[0:0][["item_id"]].assign(policy_id="", detector_id="", score=0.0)
        decisions = _decisions(frame, empty, "community-guidelines", "standard", f"bench-{day}")
        t0 = time.perf_counter()
        settings = tr.RadarSettings(sample=tr.sample_rate(items.num_rows))
        signals = tr.item_signals(items, settings)
        today = tr.daily_aggregates(items, signals, day, settings)
        base = (
            pd.concat(aggregates[-14:], ignore_index=True) if aggregates else pd.DataFrame(columns=tr.AGGREGATES.names)
        )
        out = tr.radar(
            items, signals, today, base, decisions, detectors, settings, day, lambda a: pseudonymise(a, "bench")
        )
        timings.append(time.perf_counter() - t0)
        aggregates.append(today)
        if out.empty:
            continue
        lead = out[(out["rank_risk"] > 0) & (out["rank_risk"] <= 10)]
        member = tr.members(signals, items, lead[["region", "language", "kind", "signal"]])
        member["item_id"] = items.column("item_id").to_numpy(zero_copy_only=False)[member["row"].to_numpy()]
        member = member.merge(truth.drop_duplicates("item_id")[["item_id", "campaign_id"]], on="item_id", how="left")
        member["violating"] = member["item_id"].isin(set(truth["item_id"]))
        member["campaign"] = member["campaign_id"].where(member["campaign_id"].fillna("").str.startswith("emerging:"))
        member.loc[member["item_id"].str.contains(r"-e\d{6}$"), "campaign"] = member["campaign"].fillna(
            "emerging:benign"
        )
        key = ["region", "language", "kind", "signal"]
        summary = member.groupby(key).agg(
            violating=("violating", "mean"),
            campaign=("campaign", lambda s: s.mode().iloc[0] if s.notna().mean() > 0.5 else None),
        )
        lead = lead.join(summary, on=key)
        plan = emerging_plan(day, params)
        for p in plan:
            mine = lead[(lead["region"] == p["region"])]
            cid = f"emerging:{p['campaign_id']}"
            if p["policy_id"] is None:
                # benign rows are not in the truth table: attribute by the campaign's hashtag
                hits = out[(out["region"] == p["region"]) & out["examples"].str.contains(p["hashtag"], regex=False)]
                benign.append(
                    {
                        "day": day.isoformat(),
                        "campaign": p["campaign_id"],
                        "growth_day": p["growth_day"],
                        "posts": p["posts"],
                        "signals": len(hits),
                        "best_rank_risk": int(hits[hits["rank_risk"] > 0]["rank_risk"].min())
                        if (hits["rank_risk"] > 0).any()
                        else None,
                        "best_rank_reach": int(hits[hits["rank_reach"] > 0]["rank_reach"].min())
                        if (hits["rank_reach"] > 0).any()
                        else None,
                        "suggestions": int(hits["suggestion"].notna().sum()),
                    }
                )
                continue
            if p["growth_day"] != 1:
                continue
            ranked = mine[mine["campaign"] == cid]
            found.append(
                {
                    "campaign": p["campaign_id"],
                    "region": p["region"],
                    "day": day.isoformat(),
                    "posts": p["posts"],
                    "in_top10": bool(len(ranked)),
                    "rank_risk": int(ranked["rank_risk"].min()) if len(ranked) else None,
                    "suggestion": ranked.sort_values("rank_risk")["suggestion"].iloc[0] if len(ranked) else None,
                }
            )
            top = mine.sort_values("rank_risk").head(10)
            lists.append(
                {
                    "day": day.isoformat(),
                    "region": p["region"],
                    "ranked": len(top),
                    "relevant": int((top["violating"] > 0.5).sum()),
                }
            )
        print(
            f"{day}: {items.num_rows:,} items, {len(out)} signals ({int((out['rank_risk'] > 0).sum())} ranked), "
            f"radar {timings[-1]:.2f}s",
            flush=True,
        )
    recall = sum(f["in_top10"] for f in found) / max(len(found), 1)
    precision = sum(x["relevant"] for x in lists) / max(sum(x["ranked"] for x in lists), 1)
    return {
        "rows_per_day": rows,
        "days": n_days,
        "recall_top10_growth_day_1": recall,
        "precision_at_10": precision,
        "campaigns": found,
        "top10_lists": lists,
        "benign": benign,
        "radar_seconds_per_day": sum(timings) / len(timings),
        "note": "simulated traffic and campaigns (tasks/generate_data/emerging.yaml); decisions by the default pack "
        "with a model trained on synthetic data",
    }


def overhead(rows: int, home: Path | None) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    from modsweep import resources
    from modsweep.tasks import trends as tr
    from modsweep.tasks.generate import GeneratorParams
    from modsweep.tasks.policy_diff_io import _decisions
    from modsweep.tasks.reviews_io import pseudonymise

    _home(home)
    day = START + timedelta(days=9)
    items, _ = _ingested(
        day,
        rows,
        GeneratorParams(emerging_campaigns=True, emerging_start=START, dirty_share=0, emerging_scale=rows / 20_000),
        seed=41,
    )
    work = Path(tempfile.mkdtemp(prefix="bench-trends-1m-"))
    pq.write_table(items, work / "items.parquet", compression="zstd")
    frame = items.to_pandas()
    empty = frame.iloc[0:0][["item_id"]].assign(policy_id="", detector_id="", score=0.0)
    t0 = time.perf_counter()
    decisions = _decisions(frame, empty, "community-guidelines", "standard", "bench-1m")
    detect_decide = time.perf_counter() - t0
    del frame
    pack = resources.pack(
        "community-guidelines", "standard", resources.model_version_for("community-guidelines", "standard")
    )
    detectors = tr.detectors_for_suggestions(pack)
    # a baseline of 14 days: the aggregate of a campaign-free day of a fifth of the size (exposure-normalised, so the
    # rates are comparable), re-dated, stored and read back; then the same with the 1M day's own aggregate
    import pyarrow as pa

    settings = tr.RadarSettings(sample=tr.sample_rate(rows))
    quiet, _ = _ingested(day - timedelta(days=1), rows // 5, GeneratorParams(dirty_share=0), seed=43)
    quiet_settings = tr.RadarSettings(sample=tr.sample_rate(quiet.num_rows))
    quiet_agg = tr.daily_aggregates(quiet, tr.item_signals(quiet, quiet_settings), day, quiet_settings)
    own = tr.daily_aggregates(items, tr.item_signals(items, settings), day, settings)
    for k in range(1, 15):
        for name, agg in (("agg", quiet_agg), ("own", own)):
            pq.write_table(
                pa.Table.from_pandas(
                    agg.assign(day=day - timedelta(days=k)), schema=tr.AGGREGATES, preserve_index=False
                ),
                work / f"{name}-{k}.parquet",
            )
    t0 = time.perf_counter()
    _ = pd.concat([pq.read_table(work / f"own-{k}.parquet").to_pandas() for k in range(1, 15)], ignore_index=True)
    read_own = time.perf_counter() - t0
    t0 = time.perf_counter()
    day_items = pq.read_table(
        work / "items.parquet",
        columns=["item_id", "region", "language", "author_id", "text", "hashtags", "views", "author_account_age_days"],
    )
    t_read = time.perf_counter()
    signals = tr.item_signals(day_items, settings)
    t_signals = time.perf_counter()
    today = tr.daily_aggregates(day_items, signals, day, settings)
    t_agg = time.perf_counter()
    base = pd.concat([pq.read_table(work / f"agg-{k}.parquet").to_pandas() for k in range(1, 15)], ignore_index=True)
    t_base = time.perf_counter()
    out = tr.radar(
        day_items, signals, today, base, decisions, detectors, settings, day, lambda a: pseudonymise(a, "bench")
    )
    t_end = time.perf_counter()
    stage = t_end - t0
    return {
        "rows": rows,
        "sample_rate": settings.sample,
        "stage_seconds": stage,
        "parts": {
            "read_items": t_read - t0,
            "signals": t_signals - t_read,
            "aggregate": t_agg - t_signals,
            "read_baseline_14_days": t_base - t_agg,
            "bursts_overlap_ranking": t_end - t_base,
        },
        "read_baseline_14_days_of_1m_aggregates": read_own,
        "aggregate_rows": len(today),
        "aggregate_parquet_bytes": (work / "own-1.parquet").stat().st_size,
        "leading_signals": int((out["rank_risk"] > 0).sum()) if len(out) else 0,
        "items_parquet_bytes": (work / "items.parquet").stat().st_size,
        "signals": len(out),
        "detect_and_decide_seconds": detect_decide,
        "stage_over_detect_and_decide": stage / detect_decide,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": os.getloadavg(),
    }


def _baseline_aggregates(lake_root: Path, work: Path, rows: int, params: Any, days: int) -> dict[str, Any]:
    """The `days` days before DAY as a sweep's radar leaves them: each generated (`rows` items, the same campaigns),
    ingested by the ingest stage's pure function and reduced to its compact aggregate (trends_io.day_aggregates,
    stored under `lake_root`); its items are deleted, so the measured sweeps can read nothing but the aggregates."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.sweep import DAY
    from modsweep.lake import Lake
    from modsweep.runs import day_window
    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.ingest import items_table, normalise_rows
    from modsweep.tasks.trends_io import ITEM_COLUMNS, day_aggregates

    lake = Lake(str(lake_root))
    t0, sizes, agg_rows = time.perf_counter(), [], []
    for k in range(1, days + 1):
        d = DAY - timedelta(days=k)
        src = work / "baseline-source"
        summary = write_synthetic_day(src, d, rows, seed=42 + k, partition_rows=100_000, params=params)
        tables = []
        for f in summary.item_files:
            items = normalise_rows(
                pq.read_table(f).to_pandas(),
                source_file=Path(f).stem,
                source_name="synthetic",
                run_id="bench-baseline",
                window=day_window(d),
                max_item_chars=1_000_000,
            ).items
            tables.append(items_table(items).select(ITEM_COLUMNS))
        day_items = pa.concat_tables(tables)
        agg, _, _ = day_aggregates(lake, d, "bench-baseline", day_items)
        ref = lake.ref("trend_aggregates", d, "bench-baseline", "day")
        sizes.append(lake.fs.size(ref.path))
        agg_rows.append(len(agg))
        shutil.rmtree(src)
        print(f"baseline {d}: {day_items.num_rows:,} items -> {len(agg):,} aggregate rows", flush=True)
    return {
        "days": days,
        "rows_per_day": rows,
        "aggregate_rows": agg_rows,
        "aggregate_bytes_total": sum(sizes),
        "seconds_to_build": round(time.perf_counter() - t0, 1),
    }


def _run_record(home: Path) -> dict[str, Any]:
    """The ledger row of the home's one run: stage counts and timings (SQLite store)."""
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "modsweep.db")) as conn:
        counts, outputs = conn.execute("SELECT stage_counts, outputs FROM runs ORDER BY started_at DESC").fetchone()
    return {"stage_counts": json.loads(counts), "outputs": json.loads(outputs)}


def _radar_alone(home: Path, repeat: int = 3) -> dict[str, Any]:
    """The radar over a swept home's day recomputed in this process, nothing else running in it: best wall and
    process CPU seconds (every thread) of `repeat` runs."""
    from bench.sweep import DAY
    from modsweep import resources
    from modsweep.tasks.trends_io import radar_for_run

    os.environ["MODSWEEP_HOME"] = str(home)
    resources.reset()
    lake = resources.lake()
    key = lake.run_keys("items", DAY)[0]
    version = resources.model_version_for("community-guidelines", "standard")
    resources.pack("community-guidelines", "standard", version)
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        radar_for_run(lake.url, DAY, key, "community-guidelines", "standard", version)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    resources.reset()
    return {"wall_seconds": min(walls), "cpu_seconds": min(cpus), "runs": repeat, "load_average": os.getloadavg()}


def sweep(
    rows: int, repeat: int, workdir: Path | None, keep: bool, home: Path | None, reuse: Path | None
) -> dict[str, Any]:
    """A real `rows`-item daily sweep (the Prefect flow, fresh processes as bench/sweep.py runs them) with the radar
    stage and the same sweep without it (MODSWEEP_TRENDS=false), side by side, over the same generated day and the
    same 14 stored baseline aggregates; `repeat` pairs, alternating which goes first."""
    import shutil

    from bench import procstats
    from bench.sweep import DAY, _run_child, ledger_seconds
    from bench.sweep import _home as sweep_home
    from modsweep.tasks.generate import GeneratorParams, write_synthetic_day

    work = reuse or Path(tempfile.mkdtemp(prefix="bench-trends-sweep-", dir=workdir))
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    os.environ.update(
        MODSWEEP_REMOVAL_CEILING=str(10**12),
        MODSWEEP_PARTITION_ROWS="100000",
        GX_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    load_start = procstats.load_average()
    print(f"work dir {work}; load average {load_start}", flush=True)
    models = home.resolve() if home is not None else work / "models-home"  # its models/ holds a trained model
    if home is None and reuse is None:
        _run_child("generate", 1800, logs / "train.log", home=models, source=work / "training", rows=50_000, train=True)
        shutil.rmtree(work / "training", ignore_errors=True)
    # the campaigns start 9 days before the swept day: the baseline days hold their early growth, the swept day
    # their peak (as in `overhead`), at posts scaled to the day's size
    params = GeneratorParams(
        emerging_campaigns=True, emerging_start=DAY - timedelta(days=9), emerging_scale=min(rows / 20_000, 100)
    )
    if reuse is None:
        write_synthetic_day(work / "source", DAY, rows, seed=42, partition_rows=100_000, params=params)
        baseline = _baseline_aggregates(work / "baseline-lake", work, rows, params, 14)
        (work / "baseline.json").write_text(json.dumps(baseline))
    else:  # a kept work dir of an earlier run: its model, swept day and baseline aggregates
        baseline = json.loads((work / "baseline.json").read_text())
    pairs = []
    for i in range(repeat):
        pair: dict[str, Any] = {"first": "off" if i % 2 == 0 else "on"}
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            home = sweep_home(work, models, f"home-{mode}-{i}")
            shutil.copytree(work / "baseline-lake", home / "lake")
            os.environ["MODSWEEP_TRENDS"] = "true" if mode == "on" else "false"
            load = procstats.load_average()
            print(f"sweep {i + 1}/{repeat}, radar {mode} ... (load average {load})", flush=True)
            r = _run_child("flow", 3600, logs / f"{mode}-{i}.log", home=home, source=work / "source" / "items")
            record = _run_record(home)
            seen = sorted(p.name for p in (home / "lake" / "items").iterdir())
            pair[mode] = {
                "ledger_seconds": ledger_seconds(home),
                "wall_seconds": r["wall_seconds"],
                # CPU seconds of the flow process and its workers over the sweep: what contention does not inflate
                "cpu_seconds": r["whole_run_cpu"]["own_cpu_seconds"],
                "stage_seconds": r["stage_seconds"],
                "trends_counts": record["stage_counts"].get("trends"),
                "items_days_in_lake": seen,
                "decisions": r["decisions"],
                "peak_rss": r["peak_rss"],
                "load_average_before": load,
                "load_average_after": r["load_average_after"],
            }
            print(
                f"  ledger {pair[mode]['ledger_seconds']} s, trends stage "
                f"{r['stage_seconds'].get('trends', 0):.2f} s, counts {pair[mode]['trends_counts']}",
                flush=True,
            )
            if mode == "on" and i == repeat - 1:
                pair["radar_alone"] = _radar_alone(home)
            if not keep:
                shutil.rmtree(home, ignore_errors=True)
        # the radar runs in its own task beside store -> audit; the ledger's `trends` stage is the wait for it at
        # the end, and the task's own seconds are in its counts
        own = float((pair["on"]["trends_counts"] or {}).get("seconds", pair["on"]["stage_seconds"]["trends"]))
        pair["radar_task_seconds"] = own
        pair["trends_stage_wait_seconds"] = pair["on"]["stage_seconds"]["trends"]
        pair["radar_task_over_sweep_without_it"] = own / pair["off"]["ledger_seconds"]
        pair["ledger_on_over_off"] = pair["on"]["ledger_seconds"] / pair["off"]["ledger_seconds"]
        pair["cpu_added_over_sweep_without_it"] = pair["on"]["cpu_seconds"] / pair["off"]["cpu_seconds"] - 1
        if "radar_alone" in pair:
            alone = pair["radar_alone"]
            alone["cpu_over_sweep_without_it"] = alone["cpu_seconds"] / pair["off"]["cpu_seconds"]
            alone["wall_over_sweep_without_it"] = alone["wall_seconds"] / pair["off"]["ledger_seconds"]
        pairs.append(pair)
    if not keep and reuse is None:  # a reused work dir stays for the next run
        shutil.rmtree(work, ignore_errors=True)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
        "day": DAY.isoformat(),
        "command": f"python -m bench.trends sweep --rows {rows} --repeat {repeat}"
        + (" --reuse WORKDIR (the model, day and aggregates of an earlier run's kept work dir)" if reuse else ""),
        "switch": "MODSWEEP_TRENDS=false (settings.trends) skips the stage",
        "baseline": baseline,
        "pairs": pairs,
        "radar_task_over_sweep_without_it": [p["radar_task_over_sweep_without_it"] for p in pairs],
        "ledger_on_over_off": [p["ledger_on_over_off"] for p in pairs],
        "cpu_added_over_sweep_without_it": [p["cpu_added_over_sweep_without_it"] for p in pairs],
        "load_average_start": load_start,
        "load_average_end": procstats.load_average(),
        "machine": procstats.machine(),
    }


def render_sweep(r: dict[str, Any]) -> str:
    """bench/TRENDS.md: the radar stage inside real sweeps, with and without it, side by side."""
    b = r["baseline"]
    lines = [
        "# The emerging-risk radar inside a real daily sweep",
        "",
        f"`{r['command']}` ({r['date']}, {r['machine'].get('cores', '?')} cores shared with other sessions; load "
        f"average {r['load_average_start']} at the start, {r['load_average_end']} at the end). Simulated traffic.",
        "",
        f"Baseline: {b['days']} earlier days of {b['rows_per_day']:,} generated items each (the same emerging "
        f"campaigns, growing), ingested and reduced to their compact daily aggregates "
        f"({min(b['aggregate_rows']):,}–{max(b['aggregate_rows']):,} rows a day, {b['aggregate_bytes_total'] / 1e6:.1f} MB "
        f"of Parquet for all {b['days']}; built in {b['seconds_to_build']:.0f} s), then their items deleted: each "
        f"measured home holds those {b['days']} aggregate files and nothing else of those days.",
        "",
        f"Swept: {r['rows']:,} items of {r['day']} (the campaigns at their peak), the daily-sweep flow in a fresh "
        f"process and home per run, with the radar stage and without it (`{r['switch']}`).",
        "",
        "| pair | first | CPU s without radar | CPU s with radar | CPU added | sweep without radar (ledger) | sweep with "
        "radar (ledger) | with / without | radar task's own time | radar task / sweep without it | wait for it "
        "(`trends` stage) | baseline days read | signals | load before (off, on) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, p in enumerate(r["pairs"], 1):
        counts = p["on"]["trends_counts"] or {}
        lines.append(
            f"| {n} | {p['first']} | {p['off']['cpu_seconds']:.1f} | {p['on']['cpu_seconds']:.1f} | "
            f"{p['cpu_added_over_sweep_without_it']:+.1%} | {p['off']['ledger_seconds']:.1f} s | "
            f"{p['on']['ledger_seconds']:.1f} s | "
            f"{p['ledger_on_over_off']:.3f} | {p['radar_task_seconds']:.2f} s | "
            f"{p['radar_task_over_sweep_without_it']:.1%} | {p['trends_stage_wait_seconds']:.2f} s | "
            f"{counts.get('baseline_days', '—')} | {counts.get('signals', '—')} | "
            f"{p['off']['load_average_before'][0]:.1f}, {p['on']['load_average_before'][0]:.1f} |"
        )
    lines += [
        "",
        *(
            [
                f"The radar alone, recomputed over the last swept home in the benchmark's process (best of "
                f"{a['runs']}, load average {a['load_average'][0]:.1f}): {a['wall_seconds']:.2f} s wall, "
                f"{a['cpu_seconds']:.2f} CPU s = {a['cpu_over_sweep_without_it']:.1%} of the CPU seconds of the sweep "
                f"without it ({a['wall_over_sweep_without_it']:.1%} of its ledger time).",
                "",
            ]
            if (a := r["pairs"][-1].get("radar_alone"))
            else []
        ),
        "The radar runs in its own task beside storing the decisions, the sample, strikes and the audit, and the "
        "sweep waits for it before the report (the `trends` stage in the ledger is that wait). What it adds is "
        "measured three ways: the CPU seconds of the flow process and its workers over the whole sweep, with it "
        "over without it (contention from other sessions does not inflate CPU seconds much, so this is the "
        "figure to read on a shared machine); the ratio of the two ledger times (started_at → ended_at), which "
        "on a loaded machine swings by more than the radar costs; and the task's own wall time over the sweep "
        "without it (what it would add if nothing overlapped; inflated too, as it shares the flow process with "
        "the stages beside it). Every stage's seconds, peak RSS and the radar's counts are in bench/TRENDS.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["quality", "overhead", "sweep"])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--repeat", type=int, default=2, help="sweep: pairs of runs with and without the stage")
    parser.add_argument("--workdir", type=Path, help="sweep: parent of the work dir (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="sweep: keep the work dir (homes, logs)")
    parser.add_argument("--reuse", type=Path, help="sweep: a kept work dir (its model, day and baseline aggregates)")
    args = parser.parse_args()
    if args.what == "quality":
        result = quality(args.rows or 20_000, args.days, args.home)
    elif args.what == "sweep":
        result = sweep(args.rows or 1_000_000, args.repeat, args.workdir, args.keep, args.home, args.reuse)
    else:
        result = overhead(args.rows or 1_000_000, args.home)
    print(json.dumps({k: v for k, v in result.items() if k not in ("top10_lists",)}, indent=2, default=str))
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved[args.what] = result
    OUT.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    if args.what == "sweep":
        OUT.with_suffix(".md").write_text(render_sweep(result), encoding="utf-8")


if __name__ == "__main__":
    main()
