"""Enforcement approval: removal surges pause the flow for a person; no answer sends them to review."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from modsweep import resources, store
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

    return daily_sweep(day=synthetic_day["day"], source=str(synthetic_day["items"]), trigger="manual",
                       requested_by="pytest")  # fmt: skip


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
                paused = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))  # fmt: skip
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
