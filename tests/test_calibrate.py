"""`modsweep calibrate`: thresholds from reviewed QA samples, weighted by 1/inclusion_prob."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from modsweep.policy import load_pack, threshold_for_precision
from modsweep.tasks.calibrate import apply_to_raw, calibrate_policy, reviewed_sample, weighted_precision_curve
from tests.helpers.cards import linear_card


def _stratified_reviews(seed: int = 0) -> pd.DataFrame:
    """A day of 200,000 items in two score strata, reviewed by a stratified sample.

    Stratum A (scores 0.50-0.80, 190,000 items, 60% violating) is sampled at 1%; stratum B (0.80-1.00,
    10,000 items, 99% violating) at 10%. In the population, items scoring >= 0.5 are ~62% violating, so
    precision 0.9 needs a threshold of 0.8; the unweighted sample (B over-represented) suggests 0.5.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for lo, hi, n, p_violating, pi in ((0.5, 0.8, 190_000, 0.6, 0.01), (0.8, 1.0, 10_000, 0.99, 0.1)):
        k = rng.binomial(n, pi)
        frames.append(
            pd.DataFrame(
                {
                    "task_id": [f"{lo}-{i}" for i in range(k)],
                    "policy_id": "misinfo.medical",
                    "reason": "qa_actioned",
                    "replica": 0,
                    "score": rng.uniform(lo, hi, k),
                    "inclusion_prob": pi,
                    "label": np.where(rng.random(k) < p_violating, "violating", "benign"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_weighted_calibration_recovers_the_population_threshold():
    sample = reviewed_sample(_stratified_reviews())
    curve = weighted_precision_curve(sample["score"], sample["violating"], sample["inclusion_prob"])
    weighted = threshold_for_precision(curve, 0.9)
    assert weighted == pytest.approx(0.8, abs=0.011)
    naive = weighted_precision_curve(sample["score"], sample["violating"], np.ones(len(sample)))
    assert threshold_for_precision(naive, 0.9) < weighted - 0.02  # what ignoring inclusion probabilities claims


def test_effective_sample_size_widens_the_bound_for_unequal_weights():
    s = np.linspace(0.99, 0.5, 200)
    y = np.ones(200, bool)
    y[::10] = False
    equal = weighted_precision_curve(s, y, np.full(200, 0.5))
    unequal = weighted_precision_curve(s, y, np.r_[np.full(100, 1.0), np.full(100, 0.01)])
    k = equal["thresholds"].index(0.5)
    assert unequal["effective_n"][k] < equal["effective_n"][k]
    assert unequal["precision_lower"][k] < equal["precision_lower"][k]


def test_calibrated_candidate_pack_moves_the_band_and_loads(tmp_path):
    pack = load_pack("community-guidelines").with_model_thresholds(linear_card())
    tasks = _stratified_reviews()
    policy = pack.policy("misinfo.medical")
    bands = calibrate_policy(policy, reviewed_sample(tasks))
    label = next(b for b in bands if b.action == "label")  # target 0.9
    assert label.old == pytest.approx(0.9) and label.new == pytest.approx(0.8, abs=0.011)
    raw = yaml.safe_load(Path(pack.path).read_text())
    out = apply_to_raw(raw, pack, bands, "+calibrated.test")
    medical = next(p for p in out["policies"] if p["id"] == "misinfo.medical")
    assert any(b["action"] == "label" and b["min_score"] == pytest.approx(label.new) for b in medical["bands"])
    assert all(isinstance(b["min_score"], float) for b in medical["bands"])
    target = tmp_path / "candidate.yaml"
    target.write_text(yaml.safe_dump(out, sort_keys=False))
    import shutil

    shutil.copytree(Path(pack.path).parent / "community-guidelines", tmp_path / "community-guidelines")
    loaded = load_pack(str(target))
    assert loaded.version.endswith("+calibrated.test")
    assert loaded.policy("misinfo.medical").bands_for("JP")[1].min_score == pytest.approx(label.new)


def test_a_policy_with_too_few_reviews_keeps_its_thresholds():
    pack = load_pack("community-guidelines").with_model_thresholds(linear_card())
    few = _stratified_reviews().head(10)
    bands = calibrate_policy(pack.policy("misinfo.medical"), reviewed_sample(few))
    assert all(b.new is None and b.reviewed == 10 for b in bands)
