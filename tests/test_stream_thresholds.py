"""Detection for the stream (issue 13): precision-targeted thresholds, auto@P bands, evidence rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from modsweep.policy import PolicyPackError, UnresolvedThresholdError, load_pack, threshold_for_precision, wilson_lower
from modsweep.tasks.decide import decide_partition, non_enforcing_detectors, policy_scores
from modsweep.tasks.train import stream_precision_curve, stream_weights
from tests.helpers.cards import linear_card, linear_curve

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / "policies" / "community-guidelines.yaml"


# --- threshold selection on a mixed stream --------------------------------------------------------------


def _fixed_stream() -> tuple[np.ndarray, np.ndarray]:
    """40 rows: scores 0.975 … 0.0 step 0.025; positives where the score is high, with two planted errors."""
    score = np.round(np.arange(39, -1, -1) * 0.025, 3)
    y = score >= 0.5
    y[[2, 25]] = [False, True]  # a negative at 0.925, a positive at 0.35
    return y, score


def test_curve_counts_flagged_rows_and_precision_at_each_threshold():
    y, score = _fixed_stream()
    curve = stream_precision_curve(y, score, step=0.025)
    k = curve["thresholds"].index(0.5)
    assert curve["flagged"][k] == 20  # scores 0.5 … 0.975
    assert curve["precision"][k] == pytest.approx(19 / 20)
    assert curve["recall"][k] == pytest.approx(19 / 20)  # 20 positives, the one at 0.35 missed
    assert curve["precision_lower"][k] == pytest.approx(wilson_lower(np.array([0.95]), np.array([20]))[0], abs=1e-4)
    assert curve["precision_lower"][k] < curve["precision"][k]


def test_threshold_is_the_lowest_whose_bound_meets_the_target():
    y, score = _fixed_stream()
    curve = stream_precision_curve(y, score, step=0.025)
    t = threshold_for_precision(curve, 0.8)
    assert t is not None
    lower = dict(zip(curve["thresholds"], curve["precision_lower"], strict=True))
    assert lower[t] >= 0.8 and all(v < 0.8 for th, v in lower.items() if th < t)
    # a 1.0 bound needs infinitely many rows: never met
    assert threshold_for_precision(curve, 1.0) is None


def test_reweighting_to_a_lower_prevalence_raises_the_threshold():
    y, score = _fixed_stream()
    natural = threshold_for_precision(stream_precision_curve(y, score, step=0.025), 0.7)
    w = stream_weights(y, 0.1)
    assert (w[y].sum() / w.sum()) == pytest.approx(0.1)
    rare = threshold_for_precision(stream_precision_curve(y, score, w, step=0.025), 0.7)
    assert natural is not None and (rare is None or rare > natural)


def _two_part_frame(fp_rows: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """400 rows at scores 0.9975 … 0.0, parts alternating 0/1; the top 240 rows violate except `fp_rows`."""
    score = np.round(0.9975 - 0.0025 * np.arange(400), 4)
    y = np.arange(400) < 240
    y[fp_rows] = False
    return y, score, np.arange(400) % 2


CLUSTERED = list(range(1, 41, 4))  # ten false positives near the top, all in part 1
SPREAD = [7, 30, 53, 76, 99, 122, 145, 168, 191, 214]  # ten false positives in both parts, top to bottom


def _out_of_fold_by_hand(
    y: np.ndarray, score: np.ndarray, parts: np.ndarray, target: float
) -> tuple[float, int] | None:
    """The check written out: pick on the other parts' rows alone, measure on the part's own rows, pool."""
    tp = flagged = 0
    for k in np.unique(parts):
        t = threshold_for_precision(stream_precision_curve(y[parts != k], score[parts != k]), target)
        if t is None:
            return None
        mine = (parts == k) & (score >= t)
        tp, flagged = tp + int((mine & y).sum()), flagged + int(mine.sum())
    return (tp / flagged, flagged) if flagged else None


def _part_thresholds_by_hand(y: np.ndarray, score: np.ndarray, parts: np.ndarray, target: float) -> list:
    """The threshold rule 1 picks on every part's complement, each from a curve of those rows alone."""
    return [
        threshold_for_precision(stream_precision_curve(y[parts != k], score[parts != k]), target)
        for k in np.unique(parts)
    ]


def test_a_threshold_must_hold_out_of_fold_when_false_positives_cluster_in_one_part():
    from modsweep.policy import out_of_fold_precision

    y, score, parts = _two_part_frame(CLUSTERED)
    pooled = stream_precision_curve(y, score)
    assert threshold_for_precision(pooled, 0.9) == pytest.approx(0.38)  # the pooled bound clears 0.9 ...
    # ... but part 1 alone (all ten errors) reaches 0.9 at no threshold, so a threshold picked on one part does
    # not carry over to the other: the target is unmet and that action is never automated
    checked = stream_precision_curve(y, score, parts=parts)
    assert checked["precision_lower"] == pooled["precision_lower"]  # the same curve, plus each part's sums
    assert _out_of_fold_by_hand(y, score, parts, 0.9) is None
    assert out_of_fold_precision(checked, 0.9) is None
    assert threshold_for_precision(checked, 0.9) is None
    # a lower target carries over; the out-of-fold figure is the hand-computed one
    oof = out_of_fold_precision(checked, 0.8)
    assert oof is not None and oof == pytest.approx(_out_of_fold_by_hand(y, score, parts, 0.8), abs=1e-3)
    assert wilson_lower(*oof) >= 0.8
    # and the threshold is the strictest of the pooled one and the picks on each part's complement
    by_hand = max([threshold_for_precision(pooled, 0.8), *_part_thresholds_by_hand(y, score, parts, 0.8)])
    assert threshold_for_precision(checked, 0.8) == pytest.approx(by_hand)


def test_spread_false_positives_keep_about_the_in_sample_threshold():
    from modsweep.policy import out_of_fold_precision, part_thresholds

    y, score, parts = _two_part_frame(SPREAD)
    checked = stream_precision_curve(y, score, parts=parts)
    oof = out_of_fold_precision(checked, 0.9)
    assert oof is not None and oof == pytest.approx(_out_of_fold_by_hand(y, score, parts, 0.9), abs=1e-3)
    assert wilson_lower(*oof) >= 0.9
    pooled = threshold_for_precision(stream_precision_curve(y, score), 0.9)
    picks = part_thresholds(checked, 0.9)
    assert picks == pytest.approx(_part_thresholds_by_hand(y, score, parts, 0.9))
    # ample, evenly spread evidence: the picks on each half agree with the pooled threshold within a grid step
    assert threshold_for_precision(checked, 0.9) == pytest.approx(max([pooled, *picks])) == pytest.approx(0.385)
    assert threshold_for_precision(checked, 0.9) - pooled <= 0.005 + 1e-9


def test_where_evidence_is_thin_the_strictest_part_pick_is_kept():
    """The pooled rows clear the target at a lower threshold than one half alone does (half the rows, a wider
    bound): the check passes, and the deployed threshold is that half's stricter pick, not the pooled one."""
    from modsweep.policy import out_of_fold_precision, part_thresholds

    score = np.round(0.9975 - 0.0025 * np.arange(400), 4)
    y = np.arange(400) < 300  # the top 300 rows violate but one in forty; none below
    y[np.arange(20, 300, 40)] = False
    parts = np.arange(400) % 2
    checked = stream_precision_curve(y, score, parts=parts)
    pooled = threshold_for_precision(stream_precision_curve(y, score), 0.9)
    picks = part_thresholds(checked, 0.9)
    assert picks == pytest.approx(_part_thresholds_by_hand(y, score, parts, 0.9))
    oof = out_of_fold_precision(checked, 0.9)
    assert oof is not None and wilson_lower(*oof) >= 0.9  # the check passes ...
    t = threshold_for_precision(checked, 0.9)
    assert pooled == pytest.approx(0.21) and picks == pytest.approx([0.195, 0.235])
    assert t == pytest.approx(0.235)  # ... and the stricter half's pick is deployed
    assert (score >= t).sum() < (score >= pooled).sum()
    assert y[score >= t].mean() > y[score >= pooled].mean()  # fewer non-violating rows flagged, as intended


def test_the_out_of_fold_precision_must_clear_the_target_with_its_bound():
    """46 rows flagged out of fold at 0.913 precision: above 0.9, but not by enough for so few rows."""
    from modsweep.policy import out_of_fold_precision

    negatives = [39, 41, 47, 49, 52, 56, 60, 62, 71, 74, 75, 76, 78, 79, 81, 82, 84, 85, 87, 97, 98, 99, 100, 103]
    negatives += [105, 107, 108, 112, 116, 119, 122, 124, 127, 130, 135, 136, 137, 139, 141, 142, 143, 144, 147]
    negatives += [149, 150, 152, 153, 156, 157]
    score = np.round(0.9975 - 0.005 * np.arange(200), 4)
    y = np.arange(200) < 160
    y[negatives] = False
    parts = np.arange(200) % 2
    checked = stream_precision_curve(y, score, parts=parts)
    assert threshold_for_precision(stream_precision_curve(y, score), 0.9) == pytest.approx(0.765)
    oof = out_of_fold_precision(checked, 0.9)
    assert oof is not None and oof == pytest.approx(_out_of_fold_by_hand(y, score, parts, 0.9), abs=1e-3)
    assert oof[0] >= 0.9 and oof[1] == 46 and wilson_lower(*oof) < 0.9
    assert threshold_for_precision(checked, 0.9) is None


def test_a_card_target_that_fails_out_of_fold_is_never_automated_and_said():
    from modsweep.tasks.train import precision_targets_table

    y, score, parts = _two_part_frame(CLUSTERED)
    curve = stream_precision_curve(y, score, parts=parts)
    table = precision_targets_table(curve, (0.8, 0.9))
    assert table["0.8"]["threshold"] is not None and table["0.8"]["out_of_fold"]["precision"] >= 0.8
    assert table["0.9"]["threshold"] is None and table["0.9"]["unmet"] == "out of fold"
    assert table["0.9"]["threshold_in_sample"] == pytest.approx(0.38)
    card = linear_card()
    card["stream"]["policies"]["deceptive.spam"] = curve  # spam: reduce_reach at auto@0.9, remove at auto@0.95
    pack = load_pack("community-guidelines").with_model_thresholds(card)
    assert [b.action for b in pack.policy("deceptive.spam").bands_for("FR")] == ["escalate"]
    assert any(
        n.startswith("deceptive.spam: reduce_reach at auto@0.9 is never automated") and "out of fold" in n
        for n in pack.threshold_notes
    ), pack.threshold_notes


def test_threshold_parts_follow_the_text():
    from modsweep.tasks.train import threshold_parts

    texts = pd.Series([f"post {k}" for k in range(300)] + ["post 7"])
    parts = threshold_parts(texts)
    assert set(parts) == {0, 1, 2} and parts[-1] == parts[7]
    assert np.array_equal(parts, threshold_parts(texts.copy()))


# --- auto@P bands -----------------------------------------------------------------------------------------


def test_auto_band_resolves_from_the_card():
    pack = load_pack("community-guidelines").with_model_thresholds(linear_card())
    bands = pack.policy("misinfo.medical").bands_for("JP")
    assert [(b.action, b.min_score) for b in bands] == [("escalate", 0.3), ("label", 0.9), ("reduce_reach", 0.95)]
    assert bands[1].auto_precision == 0.9 and "auto@0.9" in bands[1].describe()
    assert pack.thresholds_from == "vtest"


def test_unresolved_auto_band_and_a_card_without_the_policy_fail_clearly():
    pack = load_pack("community-guidelines")
    with pytest.raises(UnresolvedThresholdError, match=r"auto@0.3.*modsweep train"):
        pack.policy("hate.speech").bands_for("US")
    with pytest.raises(UnresolvedThresholdError, match=r"civic.election_integrity.*lacks"):
        pack.with_model_thresholds(linear_card(["misinfo.medical"]))
    with pytest.raises(UnresolvedThresholdError, match="modsweep train"):
        pack.with_model_thresholds(None)
    with pytest.raises(UnresolvedThresholdError, match=r"vold comes from an older modsweep.*retrain"):
        pack.with_model_thresholds({"version": "vold"})  # a card from before stream thresholds


def test_a_precision_no_threshold_reaches_is_never_automated_and_said():
    card = linear_card()
    card["stream"]["policies"]["hate.speech"]["precision_lower"] = [0.5] * len(
        card["stream"]["policies"]["hate.speech"]["thresholds"]
    )
    pack = load_pack("community-guidelines").with_model_thresholds(card)
    actions = [b.action for b in pack.policy("hate.speech").bands_for("FR")]
    assert actions == ["escalate"]
    assert any("hate.speech" in n and "remove" in n and "never automated" in n for n in pack.threshold_notes)


def test_malformed_auto_band_is_a_pack_error(tmp_path):
    raw = yaml.safe_load(PACK.read_text())
    raw["policies"][0]["bands"][0]["min_score"] = "auto@high"
    target = tmp_path / "pack.yaml"
    target.write_text(yaml.safe_dump(raw))
    import shutil

    shutil.copytree(PACK.parent / "community-guidelines", tmp_path / "community-guidelines")
    with pytest.raises(PolicyPackError, match="auto@P"):
        load_pack(str(target))


# --- evidence rules in decide -------------------------------------------------------------------------------


def _items(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "region": "FR",
            "language": "en",
            "item_type": "text_post",
            "views": 10,
            "user_reports": 0,
            "created_at": pd.Timestamp("2026-11-20T10:00:00Z"),
        }
    )


def _decide(detections: pd.DataFrame, n: int) -> pd.DataFrame:
    pack = load_pack("community-guidelines").with_model_thresholds(linear_card())
    items = _items(n)
    scores = policy_scores(items["item_id"], detections, [p.id for p in pack.policies()], non_enforcing_detectors(pack))
    return decide_partition(items, scores, pack, run_key="k", run_id="r", decided_at=datetime.now(UTC))


def test_reports_or_machine_text_alone_never_enforce():
    det = pd.DataFrame(
        {
            "item_id": ["i0", "i1", "i2"],
            "policy_id": ["hate.speech", "aigc.undisclosed", "hate.speech"],
            "detector_id": ["hate-reports", "aigc-provenance:machine-text", "hate-classifier"],
            "score": [0.99, 0.99, 0.99],
        }
    )
    out = _decide(det, 3).set_index("item_id")
    assert out.loc["i0", "action"] == "escalate" and not out.loc["i0", "automated"]
    assert out.loc["i1", "action"] == "escalate"
    assert out.loc["i2", "action"] == "remove" and out.loc["i2", "automated"]


def test_off_topic_partition_below_every_enforcing_threshold_is_not_enforced():
    # Ordinary posts: classifier scores under the auto@0.9 thresholds, a few user reports.
    rng = np.random.default_rng(5)
    n = 500
    policies = ["misinfo.medical", "hate.speech", "civic.election_integrity", "deceptive.spam"]
    det = pd.DataFrame(
        {
            "item_id": np.repeat([f"i{k}" for k in range(n)], len(policies)),
            "policy_id": np.tile(policies, n),
            "detector_id": np.tile(["medical-classifier", "hate-classifier", "civic-classifier", "spam-classifier"], n),
            "score": rng.uniform(0, 0.6, n * len(policies)),
        }
    )
    reports = pd.DataFrame(
        {"item_id": ["i1", "i2"], "policy_id": "hate.speech", "detector_id": "hate-reports", "score": [0.95, 0.97]}
    )
    out = _decide(pd.concat([det, reports], ignore_index=True), n)
    assert not out["automated"].any()
    assert set(out["action"]) <= {"escalate"}


def test_real_background_tweets_get_no_automated_enforcement(shared_datasets, tmp_path):
    """A quick model from the shared data; the pack over ordinary tweets (the background's validation split)."""
    from modsweep.tasks.datasets import load_manifest, read_split
    from modsweep.tasks.detect import build_detector_bank
    from modsweep.tasks.score import score_chunk
    from modsweep.tasks.train import train_from_manifest

    manifest = REPO / "manifests" / "shared-datasets.yaml"
    result = train_from_manifest(manifest, shared_datasets, max_train_rows=1500, c_grid=(4.0,), folds=3)
    pack = load_pack("community-guidelines").with_model_thresholds(result.card)
    bank = build_detector_bank(pack, result.model, result.version)
    background = next(e for e in load_manifest(manifest).datasets if e.role == "background")
    texts = read_split(background, shared_datasets, "validation").texts
    scored = score_chunk(pd.DataFrame({"text": texts}), "text", 0, pack, bank, 20_000)
    actions = scored[[c for c in scored.columns if c.startswith("action.")]].to_numpy().ravel()
    enforced = np.isin(actions, ["label", "reduce_reach", "age_restrict", "remove"])
    # ordinary tweets (a few may really be offensive): at most 1% enforced by any policy
    assert enforced.mean() <= 0.01, pd.Series(actions[enforced]).value_counts().to_dict()


def test_escalate_band_is_resolved_on_the_slice_below_the_automated_band():
    # 100 rows at scores 0.99 … 0.00: the top 30 all violate, then 1 in 5, then none
    from modsweep.policy import threshold_for_slice_precision

    score = np.round(np.arange(99, -1, -1) * 0.01, 3)
    y = np.zeros(100, bool)
    y[:30] = True
    y[30:60:5] = True
    curve = stream_precision_curve(y, score, step=0.01)
    upper = threshold_for_precision(curve, 0.9)
    assert upper is not None and upper >= 0.65
    cumulative = threshold_for_precision(curve, 0.3)
    sliced = threshold_for_slice_precision(curve, 0.3, upper)
    # the cumulative rule borrows precision from the automated rows above; the slice rule does not
    assert cumulative is not None and (sliced is None or sliced > cumulative)


def test_a_profile_offset_moves_an_auto_band_precision_target_not_its_score():
    """election-surge lowers civic thresholds by 0.15: on a curve where auto@0.3 escalate resolves near 0.02,
    a score offset would clip it to 0 and send every item to review; the target moves to auto@0.15 instead."""
    card = linear_card()
    card["stream"]["policies"]["civic.election_integrity"] = linear_curve(offset=0.28)  # auto@P → P - 0.28
    standard = load_pack("community-guidelines").with_model_thresholds(card).policy("civic.election_integrity")
    surge = load_pack("community-guidelines", "election-surge").with_model_thresholds(card)
    civic = surge.policy("civic.election_integrity")
    escalate = min(b.min_score for b in civic.bands if b.action == "escalate")
    assert escalate > 0 and all(b.min_score > 0 for b in civic.bands)
    assert min(b.min_score for b in standard.bands) == pytest.approx(0.02, abs=0.006)
    # targets moved by -0.15: every automated band of the surge sits 0.15 below the standard one on this curve
    for band in (b for b in civic.bands if b.action != "escalate"):
        same = next(b for b in standard.bands if b.action == band.action)
        assert band.min_score == pytest.approx(same.min_score - 0.15, abs=0.006)
    # a numeric ladder still moves by the score offset
    coordinated = load_pack("community-guidelines", "election-surge").policy("deceptive.coordinated")
    base = load_pack("community-guidelines").policy("deceptive.coordinated")
    assert [b.min_score for b in coordinated.bands] == pytest.approx([b.min_score - 0.1 for b in base.bands])
