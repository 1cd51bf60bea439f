from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from modsweep.tasks.audit import cohens_kappa, quality_metrics, stratified_proportion, wilson_interval
from modsweep.tasks.sample import (
    draw_qa_sample,
    partition_strata,
    qa_sample_sizes,
    score_bands,
    smallest_keys,
    uniform_keys,
)


def test_score_bands_cover_zero_and_one():
    assert score_bands(np.array([0.0, 0.05, 0.3, 0.95, 1.0])).tolist() == [
        "0.00-0.10",
        "0.00-0.10",
        "0.30-0.50",
        "0.90-1.00",
        "0.90-1.00",
    ]


def test_uniform_keys_are_reproducible_and_uniform():
    ids = np.array([f"item-{i}" for i in range(20_000)], dtype=object)
    a, b = uniform_keys(ids, "seed", "p"), uniform_keys(ids, "seed", "p")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, uniform_keys(ids, "other", "p"))
    assert 0.48 < a.mean() < 0.52 and a.min() >= 0 and a.max() < 1


def test_sample_sizes_follow_wilson_target_with_floor_cap_and_population():
    sizes = qa_sample_sizes(pd.Series([5, 100, 100_000]), half_width=0.05, floor=20, cap=400)
    assert sizes.tolist()[0] == 5  # never more than the population
    assert 20 <= sizes.tolist()[1] <= 100
    assert sizes.tolist()[2] == 383  # ⌈384.15 / (1 + 383.15 / 100,000)⌉


def _partition(n: int, seed: int, offset: int = 0):
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"i{offset + k}" for k in range(n)])
    scores = pd.DataFrame({"hate.speech": rng.random(n).astype(np.float32)})
    acted = ids[scores["hate.speech"] > 0.9]
    decisions = pd.DataFrame({"item_id": acted, "policy_id": "hate.speech", "automated": True, "action": "remove"})
    regions = pd.Series(rng.choice(["DE", "US"], n))
    return ids, regions, scores, decisions


def test_partitioned_sampling_equals_one_pass_sampling():
    parts = [_partition(3_000, s, offset=s * 10_000) for s in range(3)]
    merged = [partition_strata(*p, seed="k", keep_per_stratum=50) for p in parts]
    pops = pd.concat([m[0] for m in merged]).groupby(["stratum", "region"], as_index=False)["population"].sum()
    cands = pd.concat([m[1] for m in merged])
    whole = partition_strata(
        *(pd.concat([p[i] for p in parts], ignore_index=True) for i in range(4)), seed="k", keep_per_stratum=50
    )
    sizes = qa_sample_sizes(pops.groupby("stratum")["population"].sum(), half_width=0.2, floor=5, cap=50)
    a = draw_qa_sample(pops, cands, sizes).sort_values("item_id")["item_id"].tolist()
    b = draw_qa_sample(whole[0], whole[1], sizes).sort_values("item_id")["item_id"].tolist()
    assert a == b and len(a) == sizes.sum()
    folded = merged[0][1]  # the sweep folds partitions in one at a time, keeping strata × keep rows
    for _, more in merged[1:]:
        folded = smallest_keys(pd.concat([folded, more], ignore_index=True), 50)
        assert folded.groupby("stratum").size().max() <= 50
    pd.testing.assert_frame_equal(draw_qa_sample(pops, folded, sizes), draw_qa_sample(pops, cands, sizes))


def test_selection_frequency_matches_inclusion_probability():
    ids, regions, scores, decisions = _partition(2_000, 1)
    hits = pd.Series(0.0, index=ids)
    probs = None
    reps = 150
    for r in range(reps):
        pops, cands = partition_strata(ids, regions, scores, decisions, seed=f"run-{r}", keep_per_stratum=40)
        sizes = qa_sample_sizes(pops.groupby("stratum")["population"].sum(), half_width=0.2, floor=5, cap=40)
        s = draw_qa_sample(pops, cands, sizes)
        hits[s["item_id"]] += 1
        probs = s.groupby("stratum")["inclusion_prob"].first()
    _, cands = partition_strata(ids, regions, scores, decisions, seed="x", keep_per_stratum=10_000)
    stratum_of = cands.set_index("item_id")["stratum"]
    freq = (hits / reps).groupby(stratum_of).mean()
    for stratum, p in probs.items():
        assert freq[stratum] == pytest.approx(p, rel=0.1)


def test_wilson_interval_contains_estimate_and_stays_in_unit_range():
    lo, hi = wilson_interval(0, 20)
    assert lo == 0 and 0 < hi < 0.2
    lo, hi = wilson_interval(18, 20)
    assert lo < 0.9 < hi <= 1


def test_stratified_precision_recovers_truth_within_ci_most_of_the_time():
    rng = np.random.default_rng(0)
    truth_p = {"a": 0.9, "b": 0.6}
    N = {"a": 5_000, "b": 1_000}
    true = (truth_p["a"] * N["a"] + truth_p["b"] * N["b"]) / (N["a"] + N["b"])
    covered = 0
    for _ in range(200):
        k = {h: rng.hypergeometric(int(truth_p[h] * N[h]), int((1 - truth_p[h]) * N[h]), 100) for h in N}
        _est, lo, hi, n = stratified_proportion(pd.DataFrame({"N": N, "n": {"a": 100, "b": 100}, "k": k}))
        covered += lo <= true <= hi
        assert n == 200
    assert covered >= 180  # nominal 95%


def test_quality_metrics_per_policy_and_region():
    qa = pd.DataFrame(
        {
            "policy_id": "hate.speech",
            "region": ["DE"] * 30 + ["US"] * 30,
            "stratum": ["hate.speech|0.90-1.00|actioned"] * 20
            + ["hate.speech|0.00-0.10|unactioned"] * 10
            + ["hate.speech|0.90-1.00|actioned"] * 20
            + ["hate.speech|0.00-0.10|unactioned"] * 10,
            "label": (["violating"] * 18 + ["benign"] * 2 + ["benign"] * 10) * 2,
        }
    )
    pops = pd.DataFrame(
        {
            "stratum": ["hate.speech|0.90-1.00|actioned", "hate.speech|0.00-0.10|unactioned"] * 2,
            "region": ["DE", "DE", "US", "US"],
            "population": [100, 9_900, 100, 9_900],
        }
    )
    m = quality_metrics(qa, pops, day=date(2026, 11, 23), run_id="r")
    precision = m[(m["metric"] == "automated_precision") & (m["region"] == "ALL")].iloc[0]
    assert precision["value"] == pytest.approx(0.9)
    assert precision["ci_low"] < 0.9 < precision["ci_high"] and precision["n"] == 40
    assert set(m["region"]) == {"ALL", "DE", "US"}
    recall = m[(m["metric"] == "automated_recall") & (m["region"] == "ALL")].iloc[0]
    assert recall["value"] == pytest.approx(1.0)


def test_cohens_kappa_perfect_and_chance():
    a = np.array(["violating", "benign"] * 50)
    assert cohens_kappa(a, a)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    k = cohens_kappa(rng.choice(["violating", "benign"], 2_000), rng.choice(["violating", "benign"], 2_000))
    assert abs(k[0]) < 0.1 and k[1] < 0 < k[2]


def test_views_proportional_sample_recovers_violative_view_rate_within_ci():
    from modsweep.tasks.audit import violative_view_rate
    from modsweep.tasks.sample import prevalence_candidates

    rng = np.random.default_rng(3)
    n = 20_000
    views = np.floor(rng.lognormal(3, 2, n)).astype(np.int64)
    violating = rng.random(n) < np.where(views > 500, 0.05, 0.01)  # viral content violates more often
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(n)], "views": views, "region": "DE"})
    truth = views[violating].sum() / views.sum()
    covered, sizes = 0, []
    for rep in range(300):
        s = prevalence_candidates(
            items,
            pd.DataFrame({"hate.speech": np.zeros(n)}),
            seed=f"r{rep}",
            n_per_policy=300,
            total_views=float(views.sum()),
        )
        s = s.merge(items[["item_id", "views", "region"]], on="item_id")
        s["label"] = np.where(s["item_id"].isin(items["item_id"][violating]), "violating", "benign")
        m = violative_view_rate(s, pd.Series({"DE": views.sum()}), day=date(2026, 11, 23), run_id="r").iloc[0]
        covered += m["ci_low"] <= truth <= m["ci_high"]
        sizes.append(len(s))
    assert covered >= 0.9 * 300  # nominal 95%; about 93% measured over 600 draws (heavy-tailed views)
    assert 240 < np.mean(sizes) < 330  # expected size n (items with π capped at 1 count once)


def test_same_seed_gives_the_identical_sample_and_another_seed_does_not():
    ids, regions, scores, decisions = _partition(5_000, 2)

    def draw(seed):
        pops, cands = partition_strata(ids, regions, scores, decisions, seed=seed, keep_per_stratum=60)
        sizes = qa_sample_sizes(pops.groupby("stratum")["population"].sum(), half_width=0.1, floor=10, cap=60)
        return draw_qa_sample(pops, cands, sizes).sort_values(["stratum", "item_id"]).reset_index(drop=True)

    a, b = draw("run-key-1"), draw("run-key-1")
    pd.testing.assert_frame_equal(a, b)
    assert a.to_csv().encode() == b.to_csv().encode()
    assert not a["item_id"].equals(draw("run-key-2")["item_id"])


def test_queue_capacity_carries_over_and_reopens_by_priority():
    from modsweep.tasks.sample import apply_queue_capacity

    new = pd.DataFrame(
        {
            "task_id": ["n1", "n2", "n3", "q1"],
            "queue": ["A", "A", "A", "A"],
            "priority": [5.0, 3.0, 1.0, 0.1],
            "reason": ["review_band"] * 3 + ["qa_actioned"],
            "status": "open",
        }
    )
    carried = pd.DataFrame({"task_id": ["old"], "queue": ["A"], "priority": [4.0]})
    tasks, reopen = apply_queue_capacity(new, carried, capacity_per_queue=2)
    assert reopen == ["old"]  # the older task outranks n2 and n3
    assert tasks.set_index("task_id")["status"].to_dict() == {
        "n1": "open",
        "n2": "carried_over",
        "n3": "carried_over",
        "q1": "open",
    }
    assert len(tasks) == 4  # nothing dropped


def test_queue_capacity_ignores_the_runs_own_carried_over_tasks_and_names_the_reason():
    from modsweep.tasks.sample import apply_queue_capacity, with_carry_over_reasons

    new = pd.DataFrame(
        {"task_id": ["n1", "n2"], "queue": "A", "priority": [5.0, 3.0], "reason": "review_band", "status": "open"}
    )
    # "mine" was carried over by this very run key (a resumed run): it is n2 again, not a rival for the slot.
    carried = pd.DataFrame(
        {"task_id": ["mine", "old"], "queue": "A", "priority": [9.0, 1.0], "run_key": ["key-1", "key-0"]}
    )
    tasks, reopen = apply_queue_capacity(new, carried, capacity_per_queue=2, run_key="key-1")
    assert reopen == [] and tasks["status"].tolist() == ["open", "open"]
    tasks, reopen = apply_queue_capacity(new, carried, capacity_per_queue=2)  # without a run key every one competes
    assert reopen == ["mine"] and tasks["status"].tolist() == ["open", "carried_over"]
    reasons = with_carry_over_reasons(tasks, 2)["carry_over_reason"]
    assert reasons.isna().tolist() == [True, False]  # stored as NULL for an open task
    assert reasons.iloc[1] == "queue capacity 2/day reached"


def test_psi_volume_proactive_and_findings():
    from modsweep.tasks.audit import findings, population_stability_index, proactive_rate, score_drift, volume_anomaly

    assert population_stability_index(np.array([50, 50.0]), np.array([50, 50.0])) == pytest.approx(0)
    assert population_stability_index(np.array([90, 10.0]), np.array([50, 50.0])) > 0.25
    pops = pd.DataFrame(
        {"stratum": ["p|0.00-0.10|unactioned", "p|0.90-1.00|actioned"], "region": "DE", "population": [900, 100]}
    )
    same = score_drift(pops, pops, day=date(2026, 11, 23), run_id="r")
    assert same["value"].iloc[0] == pytest.approx(0)
    shifted = score_drift(pops.assign(population=[500, 500]), pops, day=date(2026, 11, 23), run_id="r")
    assert shifted["value"].iloc[0] > 0.25
    assert volume_anomaly(100, [10, 11], day=date(2026, 11, 23), run_id="r").empty  # too little history
    assert volume_anomaly(100, [10, 11, 9, 10], day=date(2026, 11, 23), run_id="r")["value"].iloc[0] > 3
    decisions = pd.DataFrame(
        {"policy_id": ["p"] * 4, "automated": [True, True, True, False], "user_reports": [0, 0, 3, 0]}
    )
    pr = proactive_rate(decisions, day=date(2026, 11, 23), run_id="r").set_index("policy_id")
    assert pr.loc["p", "value"] == pytest.approx(2 / 3) and pr.loc["p", "n"] == 3
    metrics = pd.DataFrame(
        {
            "policy_id": ["a", "b", "c"],
            "region": "ALL",
            "metric": "automated_precision",
            "value": [0.5, 0.5, 0.95],
            "ci_low": [0.4, 0.2, 0.9],
            "ci_high": [0.6, 0.8, 0.99],
            "n": [100, 10, 100],
        }
    )
    found = findings(metrics, {"a": 0.8, "b": 0.9, "c": 0.8})
    assert [f["policy_id"] for f in found] == ["a"]  # b's interval still reaches its floor; c is fine


def test_stratum_then_key_order_is_lexsort_order_even_on_equal_keys():
    """The strata's candidate order is one 64-bit sort; it must be lexsort's (stratum, key, row) order."""
    from modsweep.tasks.sample import _by_stratum_then_key

    rng = np.random.default_rng(7)
    for n in (0, 1, 1000):
        code = rng.integers(0, 20, n)
        u = rng.integers(0, 1 << 53, n, dtype=np.uint64).astype(np.float64) / float(1 << 53)
        u[: n // 2] = u[n // 2 : 2 * (n // 2)]  # equal keys: the row breaks the tie
        code[: n // 2] = code[n // 2 : 2 * (n // 2)]
        expected = np.lexsort((np.arange(n), u, code))
        assert (_by_stratum_then_key(code, u) == expected).all()
