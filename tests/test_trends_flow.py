"""The radar as a stage of the daily sweep: two swept days, the second read against the first's aggregate; its
counts in the ledger, its trends in the lake and the SQL table, and its section in the run's report."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

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
    assert counts["baseline_days"] == 1 and counts["signals"] > 0
    assert "trends" in second["outputs"]["stage_seconds"]
    lake = resources.lake()
    assert lake.ref("trend_aggregates", days[0], first["run_key"], "day") is not None
    trends = lake.read(lake.ref("trends", days[1], second["run_key"], "day")).to_pandas()
    assert "#mmscure" in set(trends["signal"])
    assert len(fetch_trends(engine, day=days[1])) == counts["signals"]
    html = Path(summaries[1].report_path).read_text(encoding="utf-8")
    assert 'id="trends"' in html and "Emerging risks" in html
