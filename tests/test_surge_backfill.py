"""Surge runs (regions × window, stricter profile) and backfills, as flows and from the command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli import app

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def test_surge_run_covers_only_its_regions_and_window_and_records_who_asked(sweep_home, synthetic_day):
    from modsweep.flows.surge_run import surge_run

    since, until = datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 16, tzinfo=UTC)
    summary = surge_run(
        regions=["US", "IN"], since=since, until=until, source=str(synthetic_day["items"]), requested_by="election-desk"
    )
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
    empty = runner.invoke(
        app, ["surge", "--region", "US", "--since", "2026-11-23T16:00", "--until", "2026-11-23T10:00", "--source", src]
    )
    assert empty.exit_code == 2 and "empty window" in empty.output
    ok = runner.invoke(
        app, ["surge", "--region", "BR", "--since", "2026-11-23T20:00", "--until", "2026-11-23T22:00", "--source", src]
    )
    assert ok.exit_code == 0, ok.output
    # The summary shows every row read: read = processed + quarantined + out of scope, on screen too.
    shown = {
        k: int(v.replace(",", ""))
        for k, v in re.findall(r"│ (items read|processed|quarantined|out of scope)\s+│\s+([\d,]+)", ok.output)
    }
    assert set(shown) == {"items read", "processed", "quarantined", "out of scope"}, ok.output
    assert shown["items read"] == shown["processed"] + shown["quarantined"] + shown["out of scope"] == 20_000
    assert shown["out of scope"] > shown["processed"] > 0


def test_surge_and_backfill_over_days_without_data_complete_with_nothing_to_do(sweep_home, synthetic_day):
    """The demo source holds 2026-11-23 only: a surge of the last 6 h and a backfill day before it read no file,
    quarantine nothing and complete (exit 0) saying the window had no items."""
    runner = CliRunner()
    src = str(synthetic_day["items"])
    surge = runner.invoke(app, ["surge", "--region", "US", "--last", "6h", "--source", src])
    assert surge.exit_code == 0, surge.output
    assert "no items in window" in surge.output and "quarantined" in surge.output
    backfill = runner.invoke(app, ["backfill", "--start", "2026-11-21", "--end", "2026-11-22", "--source", src])
    assert backfill.exit_code == 0, backfill.output
    engine = resources.store_engine()
    runs = store.list_runs(engine)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"completed"}
    for run in runs:
        assert run["stage_counts"]["ingest"] == {"read": 0, "processed": 0, "quarantined": 0, "out_of_scope": 0}
        assert "no items in window" in run["outputs"]["note"]


def test_rows_of_a_flat_source_outside_the_window_are_out_of_scope_not_quarantined(sweep_home, synthetic_day, tmp_path):
    """A folder without date= sub-folders: the files' day is unknown, so a window that misses every row is empty
    (out of scope), not 100% bad data."""
    import shutil

    flat = tmp_path / "flat"
    flat.mkdir()
    for f in sorted(synthetic_day["items"].rglob("*.parquet"))[:2]:
        shutil.copy(f, flat / f.name)
    result = CliRunner().invoke(
        app,
        [
            "surge",
            "--region",
            "DE",
            "--since",
            "2026-11-25T00:00",
            "--until",
            "2026-11-25T06:00",
            "--source",
            str(flat),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no items in window" in result.output
    (run,) = store.list_runs(resources.store_engine())
    ingest = run["stage_counts"]["ingest"]
    assert ingest["read"] == 10_000 and ingest["processed"] == 0
    assert ingest["read"] == ingest["quarantined"] + ingest["out_of_scope"]
    assert "quarantined.outside_window" not in ingest and ingest["quarantined"] < 0.05 * ingest["read"]


def test_generator_output_folder_as_source_reads_its_items_only(sweep_home, synthetic_day):
    """`generate --out DIR` writes DIR/items, DIR/truth and DIR/golden: `sweep --source DIR` reads items/ and says so."""
    root = synthetic_day["items"].parent
    result = CliRunner().invoke(app, ["sweep", "--day", "2026-11-23", "--source", str(root)])
    assert result.exit_code == 0, result.output
    assert "generator output: reading its items/" in result.output
    (run,) = store.list_runs(resources.store_engine())
    assert run["parameters"]["source_files"] == len(list(synthetic_day["items"].rglob("*.parquet")))
    assert run["stage_counts"]["ingest"]["read"] == 20_000


def test_two_surges_with_different_regions_and_windows_share_one_store(sweep_home, synthetic_day, store_backend):
    """The second surge's audit reads the first surge's ledger row as a baseline (it has `since`, not `day`)."""
    from modsweep.flows.surge_run import surge_run

    src = str(synthetic_day["items"])
    first = surge_run(
        regions=["US"],
        since=datetime(2026, 11, 23, 6, tzinfo=UTC),
        until=datetime(2026, 11, 23, 12, tzinfo=UTC),
        source=src,
        requested_by="desk-1",
    )
    second = surge_run(
        regions=["DE", "IN"],
        since=datetime(2026, 11, 23, 12, tzinfo=UTC),
        until=datetime(2026, 11, 23, 20, tzinfo=UTC),
        source=src,
        requested_by="desk-2",
    )
    engine = resources.store_engine()
    assert first.run_key != second.run_key
    for summary in (first, second):
        run = store.get_run(engine, summary.run_id)
        assert run["state"] == "completed", run.get("error")
        assert "metrics" in run["stage_counts"]["audit"]
    assert set(store.fetch_decisions(engine, run_key=second.run_key)["region"]) <= {"DE", "IN"}
