"""The radar as a stage of the daily sweep: two swept days, the second read against the first's aggregate; its
counts in the ledger, its trends in the lake and the SQL table, and its section in the run's report; then the
stored result's candidate pack through `policy lint`, `policy diff --days` and a shadow run."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.store.trends import fetch_trends
from modsweep.tasks.generate import GeneratorParams, write_synthetic_day

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]
START = date(2026, 11, 1)


def test_sweep_runs_the_radar_against_the_previous_days_aggregate(sweep_home: Path, tmp_path: Path) -> None:
    from modsweep.flows.daily_sweep import daily_sweep

    params = GeneratorParams(emerging_campaigns=True, emerging_start=START, dirty_share=0)
    days = [START + timedelta(days=4), START + timedelta(days=5)]  # mms-cure (US) on growth days 0 and 1
    summaries = []
    for day in days:
        write_synthetic_day(tmp_path / "src", day, 2_000, seed=5, partition_rows=2_000, params=params)
        summaries.append(
            daily_sweep(day=day, source=str(tmp_path / "src" / "items"), trigger="manual", requested_by="t")
        )
    engine = resources.store_engine()
    first, second = (store.get_run(engine, s.run_id) for s in summaries)
    assert first["stage_counts"]["trends"]["baseline_days"] == 0 and first["stage_counts"]["trends"]["signals"] == 0
    counts = second["stage_counts"]["trends"]
    assert counts["baseline_days"] == 1 and counts["signals"] > 0 and counts["seconds"] > 0  # the task's own time
    assert "trends" in second["outputs"]["stage_seconds"]
    lake = resources.lake()
    assert lake.ref("trend_aggregates", days[0], first["run_key"], "day") is not None
    trends = lake.read(lake.ref("trends", days[1], second["run_key"], "day")).to_pandas()
    assert "#mmscure" in set(trends["signal"])
    assert len(fetch_trends(engine, day=days[1])) == counts["signals"]
    html = Path(summaries[1].report_path).read_text(encoding="utf-8")
    assert 'id="trends"' in html and "Emerging risks" in html and ">nan<" not in html
    _candidate_through_lint_diff_and_shadow(days, second["run_key"], tmp_path)


def _candidate_through_lint_diff_and_shadow(days: list[date], run_key: str, tmp_path: Path) -> None:
    """The swept day's stored radar result as a candidate pack, accepted by lint, diff (over both days) and shadow."""
    from modsweep.cli import app
    from modsweep.flows.shadow_run import shadow_run

    runner = CliRunner()
    out = tmp_path / "candidate" / "radar.yaml"
    res = runner.invoke(app, ["trends", "--day", days[1].isoformat(), "--json", "--candidate", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["source"] == "stored" and report["run_key"] == run_key
    lines = [json.loads(t["patch"]) for t in report["trends"] if t["patch"]]
    medical = [p for p in lines if p["policy_id"] == "misinfo.medical"]
    assert medical, lines  # mms-cure on its second day of growth: a lexicon or hashtag line for medical misinfo
    lint = runner.invoke(app, ["policy", "lint", str(out), "--json"])
    assert lint.exit_code == 0, lint.output
    assert json.loads(lint.output)["errors"] == 0
    brief = tmp_path / "brief.md"
    res = runner.invoke(
        app,
        ["policy", "diff", "community-guidelines", str(out), "--days", f"{days[0]}..{days[1]}", "--out", str(brief)],
    )
    assert res.exit_code == 0, res.output
    md = brief.read_text(encoding="utf-8")
    changed = md.split("## What changed", 1)[1].split("## Impact", 1)[0]
    assert all(p["line"].split("\t")[0] in changed for p in medical), changed
    assert "Impact on 2 past day(s)" in md
    engine = resources.store_engine()
    decisions_before = len(store.fetch_decisions(engine))
    summary = shadow_run(candidate=str(out), day=days[1], source=str(tmp_path / "src" / "items"), requested_by="t")
    run = store.get_run(engine, summary.run_id)
    assert run["state"] == "completed" and run["trigger"] == "shadow"
    assert len(store.fetch_decisions(engine)) == decisions_before  # nothing enforced
    policies = {p["policy_id"]: p for p in run["stage_counts"]["shadow"]["policies"]}
    assert policies["misinfo.medical"]["new"] + policies["misinfo.medical"]["changed"] > 0, policies["misinfo.medical"]
