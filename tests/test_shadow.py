"""Shadow runs: a candidate pack beside the live one, nothing enforced, differences per policy."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from modsweep import resources, store
from modsweep.policy import resolve_pack_path
from modsweep.tasks.shadow import band_precision, diff_decisions, summarise_diff

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def test_diff_and_expected_precision_on_hand_built_decisions():
    live = pd.DataFrame({"item_id": ["a", "b", "c"], "policy_id": "hate.speech", "action": ["remove", "escalate", "label"],
                         "score": [0.95, 0.6, 0.8], "automated": [True, False, True], "region": "DE"})  # fmt: skip
    cand = pd.DataFrame({"item_id": ["a", "c", "d"], "policy_id": "hate.speech", "action": ["remove", "remove", "remove"],
                         "score": [0.95, 0.93, 0.91], "automated": True, "region": "DE"})  # fmt: skip
    diff = diff_decisions(live, cand).set_index("item_id")["change"].to_dict()
    assert diff == {"a": "same", "b": "dropped", "c": "changed", "d": "new"}
    reviewed = pd.DataFrame({"policy_id": "hate.speech", "score": [0.95, 0.92, 0.5], "label": ["violating", "benign", "benign"]})
    s = summarise_diff(diff_decisions(live, cand), band_precision(reviewed)).iloc[0]
    assert (s["new"], s["dropped"], s["changed"]) == (1, 1, 1)
    assert s["expected_precision"] == pytest.approx(0.5)  # every candidate action falls in the 0.90–1.00 band


def test_shadow_run_enforces_nothing_and_reports_per_policy(sweep_home, synthetic_day, tmp_path):
    from modsweep.flows.daily_sweep import daily_sweep
    from modsweep.flows.shadow_run import shadow_run

    live = daily_sweep(day=synthetic_day["day"], source=str(synthetic_day["items"]), trigger="manual", requested_by="t",
                       simulate_reviews_from=str(synthetic_day["truth"]))  # fmt: skip
    src = resolve_pack_path("community-guidelines")
    shutil.copytree(src.parent / "community-guidelines", tmp_path / "community-guidelines")
    raw = yaml.safe_load(src.read_text())
    hate = next(p for p in raw["policies"] if p["id"] == "hate.speech")
    hate["bands"] = [{"min_score": 0.3, "action": "escalate"}, {"min_score": 0.6, "action": "remove"}]
    hate["regions"] = {}
    raw["version"] = "candidate-1"
    (tmp_path / "candidate.yaml").write_text(yaml.safe_dump(raw))
    engine = resources.store_engine()
    decisions_before = len(store.fetch_decisions(engine))
    tasks_before = len(store.fetch_review_tasks(engine))
    summary = shadow_run(candidate=str(tmp_path / "candidate.yaml"), day=synthetic_day["day"],
                         source=str(synthetic_day["items"]), requested_by="policy-team")  # fmt: skip
    assert len(store.fetch_decisions(engine)) == decisions_before  # nothing enforced
    assert len(store.fetch_review_tasks(engine)) == tasks_before
    run = store.get_run(engine, summary.run_id)
    assert run["trigger"] == "shadow" and run["parameters"]["live_run_key"] == live.run_key
    policies = {p["policy_id"]: p for p in run["stage_counts"]["shadow"]["policies"]}
    assert policies["hate.speech"]["new"] > 0 and policies["hate.speech"]["candidate_actions"] > policies["hate.speech"]["live_actions"]
    assert policies["deceptive.spam"]["new"] == policies["deceptive.spam"]["dropped"] == 0
    assert 0 <= policies["hate.speech"]["expected_precision"] <= 1
    assert pd.read_csv(summary.report_path)["policy_id"].nunique() == len(policies)
