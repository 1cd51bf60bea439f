"""Enforcement approval: removal surges pause the flow for a person; no answer sends them to review."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from modsweep import resources, store
from modsweep.config import get_settings
from modsweep.tasks.approval import approval_request_markdown, removals_over_ceiling, route_removals_to_review


def _decisions() -> pd.DataFrame:
    from modsweep.schemas import DECISIONS

    n = 6
    frame = pd.DataFrame({c: [None] * n for c in DECISIONS.names})
    frame["item_id"] = [f"i{k}" for k in range(n)]
    frame["policy_id"] = ["hate.speech"] * 4 + ["deceptive.spam"] * 2
    frame["region"] = ["DE", "DE", "DE", "US", "DE", "DE"]
    frame["action"] = ["remove", "remove", "remove", "remove", "remove", "label"]
    frame["automated"] = True
    frame["score"] = [0.99, 0.97, 0.95, 0.99, 0.96, 0.8]
    return frame


def test_only_pairs_over_the_ceiling_are_held_and_become_escalations():
    decisions = _decisions()
    over = removals_over_ceiling(decisions, ceiling=2)
    assert over.to_dict("records") == [{"policy_id": "hate.speech", "region": "DE", "removals": 3}]
    assert "i0 (0.990)" in approval_request_markdown(over, decisions, 2)
    out, held = route_removals_to_review(decisions, over)
    assert held == 3
    assert out.loc[:2, "action"].eq("escalate").all() and not out.loc[:2, "automated"].any()
    assert out.loc[:2, "automated_decision"].eq("AUTOMATED_DECISION_NOT_AUTOMATED").all()
    assert out.loc[3:, "action"].tolist() == ["remove", "remove", "label"]  # other pairs untouched


def _run(synthetic_day):
    from modsweep.flows.daily_sweep import daily_sweep

    return daily_sweep(
        day=synthetic_day["day"], source=str(synthetic_day["items"]), trigger="manual", requested_by="pytest"
    )


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_unanswered_approval_routes_the_surge_to_review(sweep_home, synthetic_day, monkeypatch):
    monkeypatch.setenv("MODSWEEP_REMOVAL_CEILING", "3")
    monkeypatch.setenv("MODSWEEP_APPROVAL_TIMEOUT_SECONDS", "2")
    resources.reset()
    summary = _run(synthetic_day)
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    approval = run["stage_counts"]["approval"]
    assert approval["approved"] is False and approval["removals_routed_to_review"] > 0
    decisions = store.fetch_decisions(engine, run_key=summary.run_key)
    removals = decisions[decisions["action"] == "remove"].groupby(["policy_id", "region"]).size()
    assert (removals <= 3).all()
    assert run["state"] == "completed"


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_approved_surge_keeps_its_removals_and_records_the_approver(sweep_home, synthetic_day, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import resume_flow_run

    monkeypatch.setenv("MODSWEEP_REMOVAL_CEILING", "3")
    monkeypatch.setenv("MODSWEEP_APPROVAL_TIMEOUT_SECONDS", "60")
    resources.reset()

    def approve() -> None:
        deadline = time.monotonic() + 60
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                paused = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                    )
                )
                if paused:
                    resume_flow_run(paused[0].id, run_input={"approve": True, "approver": "alice", "note": "verified"})
                    return
                time.sleep(0.5)

    helper = threading.Thread(target=approve, daemon=True)
    helper.start()
    summary = _run(synthetic_day)
    helper.join(timeout=5)
    engine = resources.store_engine()
    approval = store.get_run(engine, summary.run_id)["stage_counts"]["approval"]
    assert approval["approved"] is True and approval["approver"] == "alice"
    assert approval["removals_routed_to_review"] == 0
    decisions = store.fetch_decisions(engine, run_key=summary.run_key)
    assert (decisions[decisions["action"] == "remove"].groupby(["policy_id", "region"]).size() > 3).any()
    events = pd.read_sql("select event, actor from audit_log", engine)
    assert ((events["event"] == "removals.approval") & (events["actor"] == "alice")).any()


def _held_sweep(runner, synthetic_day, monkeypatch):
    """A CLI sweep over the ceiling where nobody can answer a pause (hold): exit 1, one line, nothing enforced."""
    from modsweep.cli import app

    monkeypatch.setenv("MODSWEEP_REMOVAL_CEILING", "3")
    monkeypatch.setenv("MODSWEEP_APPROVAL_WAIT", "hold")
    resources.reset()
    result = runner.invoke(
        app, ["sweep", "--day", synthetic_day["day"].isoformat(), "--source", str(synthetic_day["items"])]
    )
    assert result.exit_code == 1, result.output
    assert "MODSWEEP_REMOVAL_CEILING=3" in result.output and "nothing was enforced" in result.output
    assert "Traceback" not in result.output
    # Progress: a line per finished stage with its seconds (plain lines: the runner is not a terminal).
    stages = [line.split()[0] for line in result.output.splitlines() if line.startswith("  ") and " s" in line]
    assert stages[:2] == ["ingest", "gate:items.ingested"] and "detect" in stages and "decide" in stages
    assert "run failed after" in result.output
    engine = resources.store_engine()
    (held,) = store.list_runs(engine)
    assert held["state"] == "failed" and held["error"]["type"] == "ApprovalRequired"
    assert f"modsweep approve {held['run_id']} --by NAME" in result.output
    assert store.fetch_decisions(engine, run_key=held["run_key"]).empty  # nothing stored, nothing enforced
    return app, held


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_held_removals_are_approved_from_the_terminal_and_the_run_completes(sweep_home, synthetic_day, monkeypatch):
    from typer.testing import CliRunner

    runner = CliRunner()
    app, held = _held_sweep(runner, synthetic_day, monkeypatch)
    approved = runner.invoke(app, ["approve", held["run_id"][:8], "--by", "alice", "--note", "verified surge"])
    assert approved.exit_code == 0, approved.output
    assert "answer by alice recorded" in approved.output
    engine = resources.store_engine()
    done = store.last_completed_run(engine, held["run_key"])
    assert done["stage_counts"]["approval"] == done["stage_counts"]["approval"] | {
        "approved": True,
        "approver": "alice",
    }
    decisions = store.fetch_decisions(engine, run_key=held["run_key"])
    assert (decisions[decisions["action"] == "remove"].groupby(["policy_id", "region"]).size() > 3).any()
    events = pd.read_sql("select event, actor from audit_log", engine)
    for event in ("removals.approval.answer", "removals.approval"):
        assert ((events["event"] == event) & (events["actor"] == "alice")).any(), event
    assert store.verify_audit_log(engine).ok
    again = runner.invoke(app, ["approve", done["run_id"], "--by", "alice"])
    assert again.exit_code == 2 and "holds no removals awaiting approval" in again.output
    assert len(store.fetch_decisions(engine, run_key=held["run_key"])) == len(decisions)


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_held_removals_rejected_from_the_terminal_go_to_review(sweep_home, synthetic_day, monkeypatch):
    from typer.testing import CliRunner

    runner = CliRunner()
    app, held = _held_sweep(runner, synthetic_day, monkeypatch)
    rejected = runner.invoke(app, ["approve", held["run_id"], "--by", "bob", "--reject"])
    assert rejected.exit_code == 0, rejected.output
    engine = resources.store_engine()
    done = store.last_completed_run(engine, held["run_key"])
    approval = done["stage_counts"]["approval"]
    assert approval["approved"] is False and approval["approver"] == "bob" and approval["removals_routed_to_review"] > 0
    decisions = store.fetch_decisions(engine, run_key=held["run_key"])
    removals = decisions[decisions["action"] == "remove"].groupby(["policy_id", "region"]).size()
    assert (removals <= 3).all()


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_where_nobody_can_answer_held_removals_go_to_review_at_once_and_the_run_completes(
    sweep_home, synthetic_day, monkeypatch
):
    """No server and no terminal (cron): no pause, no hold; the held removals become review tasks and it says so."""
    monkeypatch.setenv("MODSWEEP_REMOVAL_CEILING", "3")
    monkeypatch.setenv("MODSWEEP_APPROVAL_WAIT", "review")
    resources.reset()
    started = time.monotonic()
    summary = _run(synthetic_day)
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    approval = run["stage_counts"]["approval"]
    assert run["state"] == "completed" and approval["approved"] is False and approval["removals_routed_to_review"] > 0
    assert "nobody can answer this run" in approval["note"]
    decisions = store.fetch_decisions(engine, run_key=summary.run_key)
    assert (decisions[decisions["action"] == "remove"].groupby(["policy_id", "region"]).size() <= 3).all()
    assert time.monotonic() - started < 600  # never waits for an answer


def test_auto_approval_mode_pauses_on_a_server_holds_at_a_terminal_and_reviews_otherwise(monkeypatch):
    from modsweep.flows import sweep

    class Setting:
        def __init__(self, value):
            self._value = value

        def value(self):
            return self._value

    class Stdin:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.delenv("MODSWEEP_APPROVAL_WAIT", raising=False)
    get_settings.cache_clear()
    for url, tty, mode in (("http://prefect:4200/api", False, "pause"), (None, True, "hold"), (None, False, "review")):
        monkeypatch.setattr(sweep, "PREFECT_API_URL", Setting(url))
        monkeypatch.setattr(sweep.sys, "stdin", Stdin(tty))
        assert sweep._approval_wait() == mode
