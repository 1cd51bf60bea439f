"""`modsweep trends --day D`: the radar over swept days from the lake (aggregates written once per day, trends in
the lake and SQL, idempotent), and its suggestions as a candidate pack that `policy lint` and `policy diff` accept."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli import app
from modsweep.policy import load_pack
from modsweep.runs import day_window
from modsweep.store.trends import fetch_trends
from modsweep.tasks.generate import GeneratorParams, write_synthetic_day
from modsweep.tasks.ingest import items_table, normalise_rows, read_source_file
from modsweep.tasks.policy_diff import pack_changes
from modsweep.tasks.policy_diff_io import _decisions, _resolved

START = date(2026, 11, 1)


def _swept_day(source: Path, day: date) -> str:
    """A generated day with emerging campaigns, ingested and decided by the default pack, under a completed run."""
    params = GeneratorParams(emerging_campaigns=True, emerging_start=START, dirty_share=0)
    summary = write_synthetic_day(source, day, 4_000, seed=21, partition_rows=4_000, params=params)
    raw = read_source_file(Path(summary.item_files[0]))
    items = normalise_rows(
        raw,
        source_file="part-00000",
        source_name="synthetic",
        run_id="t",
        window=day_window(day),
        max_item_chars=100_000,
    ).items
    run_key = f"test-{day}"
    lake = resources.lake()
    lake.write(items_table(items), "items", day, run_key, "part-00000")
    empty = items.iloc[0:0][["item_id"]].assign(policy_id="", detector_id="", score=0.0)
    no_strikes = pd.DataFrame({"item_id": pd.Series(dtype=str), "active_weight": pd.Series(dtype=float)})
    decisions = _decisions(items, empty, *_resolved("community-guidelines", "standard"), run_key, no_strikes)
    lake.write(pa.Table.from_pandas(decisions, preserve_index=False), "decisions", day, run_key, "part-00000")
    engine = resources.store_engine()
    run_id = store.start_run(
        engine,
        run_key=run_key,
        flow="daily-sweep",
        trigger="manual",
        requested_by="t",
        parameters={},
        policy_pack="community-guidelines",
        policy_version="t",
        policy_sha256="t",
        code_version="t",
    )
    store.finish_run(engine, run_id, "completed")
    return run_key


def test_trends_cli_over_swept_days_and_its_candidate_pack(sweep_home: Path, tmp_path: Path) -> None:
    days = [START + timedelta(days=k) for k in range(7)]
    keys = [_swept_day(tmp_path / "source", d) for d in days]
    runner = CliRunner()
    last = days[-1]  # pix-dobrado (BR, deceptive.spam) is on its 4th day, mms-cure (US) on its 3rd
    out = tmp_path / "candidate" / "radar.yaml"
    res = runner.invoke(app, ["trends", "--day", last.isoformat(), "--json", "--candidate", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["baseline_days"] == 6 and report["signals"] > 0
    assert report["source"] == "recomputed"  # these days were not swept by the flow: nothing stored yet
    lake = resources.lake()
    # every earlier day's aggregate was computed once from its items and stored; the baseline reads only those
    assert all(lake.ref("trend_aggregates", d, k, "day") is not None for d, k in zip(days, keys, strict=True))
    lead = {(t["region"], t["rank_risk"]): t for t in report["trends"]}
    br = [t for (region, _), t in sorted(lead.items()) if region == "BR"]
    assert br and "#pixdobrado" in br[0]["examples"] and br[0]["top_policy"] == "deceptive.spam"
    stored = fetch_trends(resources.store_engine(), day=last)
    assert len(stored) == report["signals"]
    again = runner.invoke(app, ["trends", "--day", last.isoformat(), "--json"])
    assert again.exit_code == 0 and len(fetch_trends(resources.store_engine(), day=last)) == len(
        stored
    )  # no duplicates
    reread = json.loads(again.output)  # the stored result with the counts saved beside it, not a new computation
    assert reread["source"] == "stored" and reread["trends"] == report["trends"]
    assert {k: reread[k] for k in ("items", "candidates", "signals", "baseline_days")} == {
        k: report[k] for k in ("items", "candidates", "signals", "baseline_days")
    }
    shown = runner.invoke(app, ["trends", "--day", last.isoformat()])  # the table, signals without a suggestion too
    assert shown.exit_code == 0, shown.output
    assert f"read the radar result stored by run {keys[-1]}" in shown.output and "nan" not in shown.output
    forced = runner.invoke(app, ["trends", "--day", last.isoformat(), "--recompute", "--region", "BR"])
    assert (
        forced.exit_code == 0 and "recomputed the radar over run" in forced.output and "(--recompute)" in forced.output
    )
    assert len(fetch_trends(resources.store_engine(), day=last)) == len(stored)
    # the candidate pack loads, lints without errors and its diff lists exactly the suggested lines
    candidate = load_pack(str(out))
    assert candidate.version.endswith(f"+radar.{last.isoformat()}")
    # (standard profile: with the synthetic model, election-surge offsets push auto@ escalate bands below 0, PL204)
    lint = runner.invoke(app, ["policy", "lint", str(out), "--json", "--no-lake", "--profile", "standard"])
    assert lint.exit_code == 0, lint.output
    changes = [c for c in pack_changes(load_pack("community-guidelines"), candidate) if c.scope != "pack"]
    assert changes and all(c.what.endswith(": added") for c in changes)
    assert any(c.scope == "deceptive.spam" for c in changes)
    missing = runner.invoke(app, ["trends", "--day", "2026-10-01"])
    assert missing.exit_code == 2 and "no completed sweep of 2026-10-01" in missing.output
