"""Shadow runs: a candidate pack beside the live one, nothing enforced, differences per policy."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from modsweep import resources, store
from modsweep.policy import resolve_pack_path
from modsweep.tasks.shadow import automation_notes, band_precision, diff_decisions, summarise_diff, with_automation

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def test_diff_and_expected_precision_on_hand_built_decisions():
    live = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "policy_id": "hate.speech",
            "action": ["remove", "escalate", "label"],
            "score": [0.95, 0.6, 0.8],
            "automated": [True, False, True],
            "region": "DE",
        }
    )
    cand = pd.DataFrame(
        {
            "item_id": ["a", "c", "d"],
            "policy_id": "hate.speech",
            "action": ["remove", "remove", "remove"],
            "score": [0.95, 0.93, 0.91],
            "automated": True,
            "region": "DE",
        }
    )
    diff = diff_decisions(live, cand).set_index("item_id")["change"].to_dict()
    assert diff == {"a": "same", "b": "dropped", "c": "changed", "d": "new"}
    reviewed = pd.DataFrame(
        {"policy_id": "hate.speech", "score": [0.95, 0.92, 0.5], "label": ["violating", "benign", "benign"]}
    )
    s = summarise_diff(diff_decisions(live, cand), band_precision(reviewed)).iloc[0]
    assert (s["new"], s["dropped"], s["changed"]) == (1, 1, 1)
    assert s["expected_precision"] == pytest.approx(0.5)  # every candidate action falls in the 0.90–1.00 band


def test_shadow_run_enforces_nothing_and_reports_per_policy(sweep_home, synthetic_day, tmp_path):
    from modsweep.flows.daily_sweep import daily_sweep
    from modsweep.flows.shadow_run import shadow_run

    live = daily_sweep(
        day=synthetic_day["day"],
        source=str(synthetic_day["items"]),
        trigger="manual",
        requested_by="t",
        simulate_reviews_from=str(synthetic_day["truth"]),
    )
    src = resolve_pack_path("community-guidelines")
    shutil.copytree(src.parent / "community-guidelines", tmp_path / "community-guidelines")
    raw = yaml.safe_load(src.read_text())
    hate = next(p for p in raw["policies"] if p["id"] == "hate.speech")
    # a stricter candidate: escalate only from 0.7 (the live pack's auto@ bands start lower), remove from 0.9
    hate["bands"] = [{"min_score": 0.7, "action": "escalate"}, {"min_score": 0.9, "action": "remove"}]
    hate["regions"] = {}
    raw["version"] = "candidate-1"
    (tmp_path / "candidate.yaml").write_text(yaml.safe_dump(raw))
    engine = resources.store_engine()
    # The breaker pauses another policy after the live run: that is not a change the candidate pack makes.
    live_decisions = store.fetch_decisions(engine, run_key=live.run_key)
    automated = live_decisions[live_decisions["automated"] & (live_decisions["policy_id"] != "hate.speech")]
    paused = automated["policy_id"].value_counts().idxmax()
    store.set_policy_automation(engine, paused, state="paused", reason="test", changed_by="pytest")
    decisions_before = len(store.fetch_decisions(engine))
    tasks_before = len(store.fetch_review_tasks(engine))
    summary = shadow_run(
        candidate=str(tmp_path / "candidate.yaml"),
        day=synthetic_day["day"],
        source=str(synthetic_day["items"]),
        requested_by="policy-team",
    )
    assert len(store.fetch_decisions(engine)) == decisions_before  # nothing enforced
    assert len(store.fetch_review_tasks(engine)) == tasks_before
    run = store.get_run(engine, summary.run_id)
    assert run["trigger"] == "shadow" and run["parameters"]["live_run_key"] == live.run_key
    policies = {p["policy_id"]: p for p in run["stage_counts"]["shadow"]["policies"]}
    hate_diff = policies["hate.speech"]
    assert hate_diff["dropped"] > 0 and hate_diff["candidate_actions"] < hate_diff["live_actions"], hate_diff
    assert policies["deceptive.spam"]["new"] == policies["deceptive.spam"]["dropped"] == 0
    assert 0 <= policies["hate.speech"]["expected_precision"] <= 1
    assert pd.read_csv(summary.report_path)["policy_id"].nunique() == len(policies)
    held = policies[paused]
    assert held["new"] == held["dropped"] == held["changed"] == 0
    assert (held["automation_compared"], held["automation_now"]) == ("on", "paused")
    # same bands for this policy in both packs: every automated action of the live run would now go to review
    assert held["to_review_if_live_now"] == int((automated["policy_id"] == paused).sum()) > 0
    notes = run["stage_counts"]["shadow"]["notes"]
    assert notes[0].startswith("Both packs are compared under the live run's circuit-breaker state")
    assert any(n.startswith(f"{paused}: automation is paused now") for n in notes)


def test_breaker_effects_are_reported_apart_from_the_candidate_packs_changes():
    summary = pd.DataFrame({"policy_id": ["hate.speech", "misinfo.medical", "self_harm"], "changed": [3, 0, 0]})
    candidate = pd.DataFrame(
        {"policy_id": ["misinfo.medical"] * 3 + ["hate.speech"], "automated": [True, True, False, True]}
    )
    out = with_automation(summary, candidate, decided_paused=["self_harm"], paused_now=["misinfo.medical"]).set_index(
        "policy_id"
    )
    assert out["automation_compared"].to_dict() == {"hate.speech": "on", "misinfo.medical": "on", "self_harm": "paused"}
    assert out["to_review_if_live_now"].to_dict() == {"hate.speech": 0, "misinfo.medical": 2, "self_harm": 0}
    notes = automation_notes(out.reset_index(), ["self_harm"], ["misinfo.medical"])
    assert "automation paused then: self_harm" in notes[0]
    assert notes[1] == (
        "misinfo.medical: automation is paused now (circuit breaker); if the candidate went live today, "
        "its 2 automated actions of this policy would go to human review instead (not counted as changes)."
    )
    assert notes[2].startswith("self_harm: automation was paused when the live run decided and is on now")
