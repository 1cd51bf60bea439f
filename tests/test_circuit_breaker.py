"""Audit findings trip the circuit breaker; later runs route the policy's actions to review until re-enabled."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli import app

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def _sweep(synthetic_day, profile="standard", simulate=True):
    from modsweep.flows.daily_sweep import daily_sweep

    return daily_sweep(day=synthetic_day["day"], source=str(synthetic_day["items"]), profile=profile, trigger="manual",
                       requested_by="pytest", simulate_reviews_from=str(synthetic_day["truth"]) if simulate else None)  # fmt: skip


def test_precision_below_floor_pauses_automation_until_a_person_enables_it(sweep_home, synthetic_day, monkeypatch):
    monkeypatch.setenv("MODSWEEP_REVIEWER_ACCURACY", "0.5")  # reviewers now reject half of the true violations
    monkeypatch.setenv("MODSWEEP_REVIEWER_FALSE_POSITIVE_RATE", "0.0")
    resources.reset()
    first = _sweep(synthetic_day)
    engine = resources.store_engine()
    findings = store.get_run(engine, first.run_id)["stage_counts"]["audit"]["findings"]
    tripped = {f["policy_id"] for f in findings if f.get("circuit_breaker_tripped")}
    assert tripped and tripped == set(store.paused_policies(engine))

    # A later run (another run key) does not act automatically on a paused policy.
    second = _sweep(synthetic_day, profile="election-surge", simulate=False)
    decisions = store.fetch_decisions(engine, run_key=second.run_key)
    paused = decisions[decisions["policy_id"].isin(tripped)]
    assert len(paused) > 0 and not paused["automated"].any() and (paused["action"] == "escalate").all()
    assert store.get_run(engine, second.run_id)["stage_counts"]["audit"]["automation_paused_during_run"] == sorted(tripped)

    policy = sorted(tripped)[0]
    runner = CliRunner()
    out = runner.invoke(app, ["policy", "enable", policy, "--reason", "retrained model, verified on last week"])
    assert out.exit_code == 0, out.output
    assert policy not in store.paused_policies(engine)
    status = runner.invoke(app, ["policy", "status", "--json"])
    assert {r["policy_id"]: r["state"] for r in __import__("json").loads(status.output)}[policy] == "enabled"
    events = pd.read_sql("select event, subject from audit_log", engine)
    assert {"policy.automation.paused", "policy.automation.enabled"} <= set(events["event"])
    assert runner.invoke(app, ["policy", "enable", "nope", "--reason", "x"]).exit_code == 2


def test_audit_command_recomputes_metrics_after_reviews_arrive(sweep_home, synthetic_day):
    from modsweep.tasks.review import simulate_outcomes

    summary = _sweep(synthetic_day, simulate=False)
    engine = resources.store_engine()
    before = store.fetch_metrics(engine, run_key=summary.run_key)
    assert "automated_precision" not in set(before["metric"])
    tasks = store.fetch_review_tasks(engine, run_key=summary.run_key, status="open")
    truth = pd.concat([pd.read_parquet(f) for f in Path(synthetic_day["truth"]).rglob("*.parquet")])
    store.apply_review_outcomes(engine, simulate_outcomes(tasks, truth, accuracy=0.95, false_positive_rate=0.002, seed="t"))
    out = CliRunner().invoke(app, ["audit", summary.run_id[:8], "--json"])
    assert out.exit_code == 0, out.output
    after = store.fetch_metrics(engine, run_key=summary.run_key)
    assert "automated_precision" in set(after["metric"]) and "proactive_rate" in set(after["metric"])
    assert store.get_run(engine, summary.run_id)["stage_counts"]["re_audit"]["metrics"] == len(after)
    assert CliRunner().invoke(app, ["audit", "nope"]).exit_code == 2
