"""The daily sweep run as a Prefect flow, end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from modsweep import resources, store
from modsweep.schemas import POLICY_IDS

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def _source_rows(items_dir) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in items_dir.rglob("*.parquet"))


def _run(synthetic_day, **kw):
    from modsweep.flows.daily_sweep import daily_sweep

    return daily_sweep(
        day=synthetic_day["day"],
        source=str(synthetic_day["items"]),
        trigger="manual",
        requested_by="pytest",
        simulate_reviews_from=str(synthetic_day["truth"]),
        golden_set_from=str(synthetic_day["golden"]),
        **kw,
    )


def test_daily_sweep_end_to_end_is_conserving_audited_and_idempotent(sweep_home, synthetic_day, store_backend):
    first = _run(synthetic_day)
    engine = resources.store_engine()
    run = store.get_run(engine, first.run_id)

    # Conservation: every source row is either an item or a quarantined row, in the ledger and in the lake.
    ingest = run["stage_counts"]["ingest"]
    assert ingest["read"] == _source_rows(synthetic_day["items"]) == 20_000
    assert ingest["read"] == ingest["processed"] + ingest["quarantined"]
    assert ingest["quarantined"] > 0  # the generator plants dirty rows
    lake = resources.lake()
    items = lake.read_all("items", synthetic_day["day"], first.run_key).num_rows
    quarantined = lake.read_all("quarantine", synthetic_day["day"], first.run_key).num_rows
    assert items == ingest["processed"] and quarantined == ingest["quarantined"]
    assert (
        lake.read_all("items", synthetic_day["day"], first.run_key, columns=["item_id"]).column(0).to_pandas().is_unique
    )

    # Audit trail: versions, hashes, fingerprint, and every gate's result.
    assert run["state"] == "completed" and len(run["policy_sha256"]) == 64 and len(run["input_fingerprint"]) == 64
    assert run["code_version"] and run["prefect_flow_run_id"]
    timings = run["outputs"]["stage_seconds"]
    assert {"ingest", "detect", "decide", "sample", "audit", "report", "gate:items.ingested"} <= set(timings)
    assert all(v >= 0 for v in timings.values())
    suites = {g["suite"] for g in run["gate_results"]}
    assert suites == {"items.ingested", "detections.scored", "decisions.made", "review.sampled", "metrics.audited"}
    assert all(g["success"] for g in run["gate_results"])

    # Decisions, tasks and metrics landed in the store.
    decisions = store.fetch_decisions(engine, run_key=first.run_key)
    assert len(decisions) == run["stage_counts"]["decide"]["decisions"] > 0
    assert decisions["decision_id"].is_unique
    assert set(decisions["policy_id"]) >= {"hate.speech", "deceptive.spam", "aigc.undisclosed", "deceptive.coordinated"}
    assert not ((decisions["policy_id"] == "self_harm") & (decisions["action"] != "escalate")).any()
    metrics = store.fetch_metrics(engine, run_key=first.run_key)
    precision = metrics[(metrics["metric"] == "automated_precision") & (metrics["region"] == "ALL")]
    assert len(precision) > 0 and (precision["ci_low"] <= precision["value"]).all()
    golden = metrics[(metrics["metric"] == "golden_accuracy") & (metrics["policy_id"] == "ALL")].iloc[0]
    assert golden["n"] > 0 and golden["value"] > 0.8  # simulated reviewers are 95% / 99.8% accurate
    tasks = store.fetch_review_tasks(engine, run_key=first.run_key)
    assert {"review_band", "qa_actioned", "qa_unactioned", "prevalence", "golden"} <= set(tasks["reason"])

    # The report names every policy and escapes content.
    html = Path(first.report_path).read_text(encoding="utf-8")
    for policy in POLICY_IDS:
        assert policy in html
    assert "<script>alert" not in html

    # Same key again: a new completed ledger entry, no new decision or task.
    tasks_before = len(store.fetch_review_tasks(engine, run_key=first.run_key))
    second = _run(synthetic_day)
    assert second.run_key == first.run_key and second.run_id != first.run_id
    rerun = store.get_run(engine, second.run_id)
    assert rerun["stage_counts"]["decide"]["decisions_inserted"] == 0
    assert rerun["stage_counts"]["sample"]["review_tasks_inserted"] == 0
    assert len(store.fetch_decisions(engine, run_key=first.run_key)) == len(decisions)
    assert len(store.fetch_review_tasks(engine, run_key=first.run_key)) == tasks_before
    assert store.verify_audit_log(engine).ok


def test_critical_gate_failure_fails_the_run_naming_suite_expectation_and_column(
    sweep_home, synthetic_day, monkeypatch
):
    from modsweep.tasks import detect
    from modsweep.tasks.gates import DataQualityError

    real = detect.detect_partition

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        out["score"] = 1.5  # out of range: the detections gate must stop the run
        return out

    monkeypatch.setattr(detect, "detect_partition", broken)
    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "1")  # score in this process, where the patch applies
    resources.reset()
    with pytest.raises(DataQualityError) as info:
        _run(synthetic_day)
    message = str(info.value)
    assert "detections.scored" in message and "expect_column_values_to_be_between" in message and "score" in message
    failed = store.list_runs(resources.store_engine(), state="failed")[0]
    assert failed["error"]["stage"] == "gate:detections.scored"
    assert failed["error"]["partition"].startswith("part-")  # which partition failed the gate
    recorded = [g for g in failed["gate_results"] if g["suite"] == "detections.scored"]
    assert recorded and not recorded[0]["success"]
    assert any("score" in f["columns"] for f in recorded[0]["failures"])


def test_quarantine_ceiling_stops_the_run_at_ingest(sweep_home, synthetic_day, monkeypatch):
    from modsweep.flows.sweep import QuarantineCeilingError

    monkeypatch.setenv("MODSWEEP_QUARANTINE_CEILING", "0.0001")
    resources.reset()
    with pytest.raises(QuarantineCeilingError, match="above the ceiling"):
        _run(synthetic_day)
    failed = store.list_runs(resources.store_engine(), state="failed")[0]
    assert failed["error"]["stage"] == "ingest"
    assert failed["stage_counts"]["ingest"]["quarantined"] > 0


def test_history_and_show_print_the_run(sweep_home, synthetic_day):
    from typer.testing import CliRunner

    from modsweep.cli import app

    summary = _run(synthetic_day)
    runner = CliRunner()
    out = runner.invoke(app, ["history", "--json"])
    assert out.exit_code == 0, out.output
    runs = json.loads(out.output)
    assert runs[0]["run_id"] == summary.run_id and runs[0]["policy_sha256"]
    shown = runner.invoke(app, ["show", summary.run_id[:8], "--json"])
    assert json.loads(shown.output)["gate_results"]
    table = runner.invoke(app, ["history"])
    assert summary.run_id[:8] in table.output
    assert runner.invoke(app, ["show", "nope"]).exit_code == 2
    assert runner.invoke(app, ["verify-log"]).exit_code == 0
    assert isinstance(pd.DataFrame(runs), pd.DataFrame)


def test_escalations_beyond_queue_capacity_are_carried_over_not_dropped(sweep_home, synthetic_day, monkeypatch):
    monkeypatch.setenv("MODSWEEP_REVIEW_CAPACITY_PER_QUEUE", "2")
    resources.reset()
    summary = _run(synthetic_day)
    engine = resources.store_engine()
    tasks = store.fetch_review_tasks(engine, run_key=summary.run_key)
    decisions = store.fetch_decisions(engine, run_key=summary.run_key)
    escalated = tasks[tasks["reason"] == "review_band"]
    assert len(escalated) == (decisions["action"] == "escalate").sum()  # every escalation has a task
    carried = escalated[escalated["status"] == "carried_over"]
    assert len(carried) > 0 and carried["carry_over_reason"].str.contains("capacity").all()
    assert (escalated[escalated["status"] != "carried_over"].groupby("queue").size() <= 2).all()
    prevalence = tasks[tasks["reason"] == "prevalence"]
    assert len(prevalence) > 0 and prevalence["inclusion_prob"].between(0, 1, inclusive="right").all()
    metrics = store.fetch_metrics(engine, run_key=summary.run_key)
    assert "violative_view_rate" in set(metrics["metric"])


def test_a_failing_partition_is_named_in_the_ledger(sweep_home, synthetic_day, monkeypatch):
    from modsweep.tasks import detect

    real = detect.detect_partition

    def crash_on_third(items, *args, **kwargs):
        if items["item_id"].iloc[0].split("-")[1] == "00002":  # generator ids: YYYYMMDD-CCCCC-RRRRRRR
            raise RuntimeError("scorer crashed")
        return real(items, *args, **kwargs)

    monkeypatch.setattr(detect, "detect_partition", crash_on_third)
    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "1")
    resources.reset()
    with pytest.raises(RuntimeError, match="scorer crashed"):
        _run(synthetic_day)
    failed = store.list_runs(resources.store_engine(), state="failed")[0]
    assert failed["error"]["stage"] == "detect" and failed["error"]["partition"] == "part-00002"
    assert "scorer crashed" in failed["error"]["message"]
