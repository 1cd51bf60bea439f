"""Audit findings trip the circuit breaker; later runs route the policy's actions to review until re-enabled."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli import app
from modsweep.tasks.approval import markdown_text

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def _sweep(synthetic_day, profile="standard", simulate=True):
    from modsweep.flows.daily_sweep import daily_sweep

    return daily_sweep(
        day=synthetic_day["day"],
        source=str(synthetic_day["items"]),
        profile=profile,
        trigger="manual",
        requested_by="pytest",
        simulate_reviews_from=str(synthetic_day["truth"]) if simulate else None,
    )


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
    assert store.get_run(engine, second.run_id)["stage_counts"]["audit"]["automation_paused_during_run"] == sorted(
        tripped
    )

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
    store.apply_review_outcomes(
        engine, simulate_outcomes(tasks, truth, accuracy=0.95, false_positive_rate=0.002, seed="t")
    )
    out = CliRunner().invoke(app, ["audit", summary.run_id[:8], "--json"])
    assert out.exit_code == 0, out.output
    after = store.fetch_metrics(engine, run_key=summary.run_key)
    assert "automated_precision" in set(after["metric"]) and "proactive_rate" in set(after["metric"])
    assert store.get_run(engine, summary.run_id)["stage_counts"]["re_audit"]["metrics"] == len(after)
    assert CliRunner().invoke(app, ["audit", "nope"]).exit_code == 2


def _newest_artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(max(found, key=lambda a: a.created).data)


def test_a_re_audit_finding_reaches_the_ledger_report_artifact_and_audit_log_as_a_sentence(sweep_home, synthetic_day):
    from modsweep.tasks.review import simulate_outcomes

    summary = _sweep(synthetic_day, simulate=False)
    engine = resources.store_engine()
    tasks = store.fetch_review_tasks(engine, run_key=summary.run_key, status="open")
    truth = pd.concat([pd.read_parquet(f) for f in Path(synthetic_day["truth"]).rglob("*.parquet")])
    # Reviewers reject half of the true violations: automated precision falls below the floors.
    store.apply_review_outcomes(
        engine, simulate_outcomes(tasks, truth, accuracy=0.5, false_positive_rate=0.0, seed="t")
    )
    runner = CliRunner()
    out = runner.invoke(app, ["audit", summary.run_id[:8]])
    assert out.exit_code == 0, out.output
    run = store.get_run(engine, summary.run_id)
    found = [f for f in run["outputs"]["findings"] if f["kind"] == "precision_below_floor"]
    assert found and run["stage_counts"]["re_audit"]["findings"] == run["outputs"]["findings"]
    tripped = {f["policy_id"] for f in found if f["circuit_breaker_tripped"]}
    assert tripped and tripped <= set(store.paused_policies(engine))
    first = next(f for f in found if f["circuit_breaker_tripped"])
    text = first["text"]
    assert text.startswith(
        f"Critical: {first['policy_id']}, all regions: automated precision {first['value']:.3f} "
        f"(95% CI {first['ci_low']:.3f}–{first['ci_high']:.3f}, n = {first['n']} "
    )
    assert f"below the floor {first['floor']:.2f}; circuit breaker tripped" in text
    assert text in " ".join(out.output.split()) and "{'" not in out.output  # the CLI prints sentences, not dicts

    shown = runner.invoke(app, ["show", summary.run_id[:8]])
    assert shown.exit_code == 0 and f"Findings ({len(run['outputs']['findings'])})" in shown.output
    assert first["policy_id"] in shown.output and "circuit breaker tripped" in " ".join(shown.output.split())
    history = json.loads(runner.invoke(app, ["history", "--json"]).output)
    assert (
        next(r for r in history if r["run_id"] == summary.run_id)["outputs"]["findings"] == run["outputs"]["findings"]
    )

    report = Path(run["outputs"]["report"]).read_text(encoding="utf-8")
    assert "No findings" not in report and str(escape(text)) in report  # as the template escapes it
    assert "Run completed at" in report and "latest re-audit" in report
    assert markdown_text(text) in _newest_artifact(f"daily-sweep-{synthetic_day['day'].isoformat()}")
    log = pd.read_sql("select event, subject, payload from audit_log order by seq", engine)
    mine = log[log["subject"] == summary.run_id]
    assert text in " ".join(mine.loc[mine["event"] == "audit.findings", "payload"].astype(str))
    assert text in " ".join(mine.loc[mine["event"] == "run.audited", "payload"].astype(str))
    assert set(log.loc[log["event"] == "policy.automation.paused", "subject"]) >= tripped
