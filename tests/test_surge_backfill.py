"""Surge runs (regions × window, stricter profile) and backfills, as flows and from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli import app

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def test_surge_run_covers_only_its_regions_and_window_and_records_who_asked(sweep_home, synthetic_day):
    from modsweep.flows.surge_run import surge_run

    since, until = datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 16, tzinfo=UTC)
    summary = surge_run(regions=["US", "IN"], since=since, until=until, source=str(synthetic_day["items"]),
                        requested_by="election-desk")  # fmt: skip
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    assert run["trigger"] == "surge" and run["requested_by"] == "election-desk" and run["flow"] == "surge-run"
    assert run["parameters"]["regions"] == ["IN", "US"] and run["parameters"]["profile"] == "election-surge"
    ingest = run["stage_counts"]["ingest"]
    assert ingest["read"] == 20_000
    assert ingest["read"] == ingest["processed"] + ingest["quarantined"] + ingest["out_of_scope"]
    assert 0 < ingest["processed"] < ingest["out_of_scope"]
    items = resources.lake().read_all("items", since.date(), summary.run_key).to_pandas()
    assert set(items["region"]) <= {"US", "IN"}
    assert items["created_at"].between(since, until, inclusive="left").all()
    decisions = store.fetch_decisions(engine, run_key=summary.run_key)
    assert set(decisions["region"]) <= {"US", "IN"}


def test_backfill_sweeps_missing_days_and_skips_committed_ones(sweep_home, synthetic_day):
    runner = CliRunner()
    day = synthetic_day["day"].isoformat()
    args = ["backfill", "--start", day, "--end", day, "--source", str(synthetic_day["items"])]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "swept" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    runs = store.list_runs(resources.store_engine(), trigger="backfill")
    assert len(runs) == 1  # the second backfill found the day committed and skipped it
    assert "skipped │ 1" in second.output.replace("  ", " ") or "skipped" in second.output


def test_cli_surge_validates_its_input(sweep_home, synthetic_day):
    runner = CliRunner()
    src = str(synthetic_day["items"])
    assert runner.invoke(app, ["surge", "--region", "USA", "--last", "6h", "--source", src]).exit_code == 2
    assert runner.invoke(app, ["surge", "--region", "US", "--source", src]).exit_code == 2  # no window
    assert runner.invoke(app, ["surge", "--region", "US", "--last", "6 hours", "--source", src]).exit_code == 2
    empty = runner.invoke(app, ["surge", "--region", "US", "--since", "2026-11-23T16:00", "--until", "2026-11-23T10:00",
                                "--source", src])  # fmt: skip
    assert empty.exit_code == 2 and "empty window" in empty.output
    ok = runner.invoke(app, ["surge", "--region", "BR", "--since", "2026-11-23T20:00", "--until", "2026-11-23T22:00",
                             "--source", src])  # fmt: skip
    assert ok.exit_code == 0, ok.output


def test_two_surges_with_different_regions_and_windows_share_one_store(sweep_home, synthetic_day, store_backend):
    """The second surge's audit reads the first surge's ledger row as a baseline (it has `since`, not `day`)."""
    from modsweep.flows.surge_run import surge_run

    src = str(synthetic_day["items"])
    first = surge_run(regions=["US"], since=datetime(2026, 11, 23, 6, tzinfo=UTC),
                      until=datetime(2026, 11, 23, 12, tzinfo=UTC), source=src, requested_by="desk-1")  # fmt: skip
    second = surge_run(regions=["DE", "IN"], since=datetime(2026, 11, 23, 12, tzinfo=UTC),
                       until=datetime(2026, 11, 23, 20, tzinfo=UTC), source=src, requested_by="desk-2")  # fmt: skip
    engine = resources.store_engine()
    assert first.run_key != second.run_key
    for summary in (first, second):
        run = store.get_run(engine, summary.run_id)
        assert run["state"] == "completed", run.get("error")
        assert "metrics" in run["stage_counts"]["audit"]
    assert set(store.fetch_decisions(engine, run_key=second.run_key)["region"]) <= {"DE", "IN"}
