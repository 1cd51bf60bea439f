"""A model that lacks some of the pack's classifier labels (e.g. one trained from a manifest of public data
sets, which has no minor_safety data) skips those detectors and says so; a model saved by an older release
fails at load, naming the command that replaces it."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.policy import load_pack
from modsweep.registry import load_model, save_model
from modsweep.tasks.detect import build_detector_bank, detect_partition
from modsweep.tasks.text import FeatureMismatchError, featurise, normalise
from modsweep.tasks.train import MODEL_NAME, TextPolicyModel, train_text_policy_model

PACK = """
pack: label-test
version: "1"
policies:
  - id: hate.speech
    title: Hate
    severity: 4
    dsa: {category: STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH}
    detectors:
      - {id: hate-classifier, kind: classifier, params: {model: text-policy, label: hate.speech}}
      - {id: hate-lex, kind: lexicon, params: {terms: res/hate.txt}}
    bands: [{min_score: 0.5, action: escalate}]
  - id: minor_safety
    title: Minors
    severity: 5
    dsa: {category: STATEMENT_CATEGORY_PROTECTION_OF_MINORS}
    detectors:
      - {id: minors-classifier, kind: classifier, params: {model: text-policy, label: minor_safety}}
      - {id: minors-known-media, kind: hash_match, params: {hashes: res/hashes.txt, max_distance: 4}}
    bands: [{min_score: 0.5, action: escalate}]
"""

# What modsweep <= 0.1 pickled: scikit-learn classifiers, HashingVectorizer parameters, no feature key.
OLD_FEATURE_PARAMS = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "n_features": 2**20,
    "alternate_sign": False,
    "norm": "l2",
    "token_pattern": r"(?u)\b\w\w+\b",
    "dtype": np.float32,
}


def _pack(tmp_path: Path):
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "hate.txt").write_text("vermin\t0.9\n")
    (tmp_path / "res" / "hashes.txt").write_text("00ff00ff00ff00ff\tlist-a:1\n")
    (tmp_path / "pack.yaml").write_text(PACK)
    return load_pack(str(tmp_path / "pack.yaml"))


def _hate_only_model() -> TextPolicyModel:
    rng = np.random.default_rng(0)
    words = np.array(["cat", "sun", "tea", "bike", "rain", "book"])
    texts = pd.Series(
        [" ".join(rng.choice(words, 5)) + (" you filthy vermin" if k % 4 == 0 else "") for k in range(800)]
    )
    labels = pd.DataFrame({"hate.speech": [k % 4 == 0 for k in range(800)]})
    return train_text_policy_model(texts, labels, source="test").model


def _old_format_model(labels: list[str]) -> TextPolicyModel:
    from sklearn.linear_model import LogisticRegression

    old = TextPolicyModel.__new__(TextPolicyModel)  # unpickling sets __dict__ without __init__, like this
    clf = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    old.__dict__.update(
        {"labels": labels, "classifiers": dict.fromkeys(labels, clf), "feature_params": dict(OLD_FEATURE_PARAMS)}
    )
    return old


def test_classifier_without_a_model_label_is_skipped_and_the_policy_still_runs(tmp_path, caplog):
    pack = _pack(tmp_path)
    with caplog.at_level(logging.WARNING, logger="modsweep.tasks.detect"):
        bank = build_detector_bank(pack, _hate_only_model(), "v-hate-only")
    assert [(s["policy_id"], s["detector_id"], s["label"]) for s in bank.skipped] == [
        ("minor_safety", "minors-classifier", "minor_safety")
    ]
    assert bank.skipped[0]["model_version"] == "v-hate-only" and "no label 'minor_safety'" in bank.skipped[0]["reason"]
    assert any("minor_safety/minors-classifier skipped" in r.getMessage() for r in caplog.records)
    assert [d[:3] for d in bank.classifier_detectors] == [("hate.speech", "hate-classifier", "hate.speech")]

    n = 3
    frame = pd.DataFrame(
        {
            "item_id": ["i0", "i1", "i2"],
            "text": ["you filthy vermin", "tea and cake", "look at this"],
            "transcript": None,
            "ocr_text": None,
            "hashtags": [[] for _ in range(n)],
            "media_hash": [None, None, "00ff00ff00ff00fe"],
            "ai_disclosed": False,
            "ai_provenance": None,
            "user_reports": 0,
            "report_reasons": [[] for _ in range(n)],
            "views": 100,
            "author_id": ["a0", "a1", "a2"],
            "author_account_age_days": 500,
            "created_at": pd.Timestamp("2026-11-23T10:00Z"),
        }
    )
    det = detect_partition(frame, bank, "r")
    fired = set(zip(det["item_id"], det["detector_id"], strict=True))
    assert ("i2", "minors-known-media") in fired  # the policy's other detector runs
    assert "minors-classifier" not in set(det["detector_id"])
    assert {("i0", "hate-classifier"), ("i0", "hate-lex")} <= fired


def test_a_model_saved_by_the_previous_release_fails_at_load_naming_modsweep_train(tmp_path):
    models = tmp_path / "models"
    save_model(
        models,
        MODEL_NAME,
        "v0ld",
        _old_format_model(["hate.speech", "minor_safety"]),
        {"version": "v0ld", "labels": ["hate.speech", "minor_safety"]},
    )
    model, card = load_model(models, MODEL_NAME)
    with pytest.raises(FeatureMismatchError, match=r"model v0ld .*older featurisation.*`modsweep train`") as err:
        build_detector_bank(_pack(tmp_path), model, card["version"])
    assert "modsweep train --manifest" in str(err.value)
    with pytest.raises(FeatureMismatchError, match="`modsweep train`"):
        model.score_texts(pd.Series(["hello"]))
    with pytest.raises(FeatureMismatchError, match="`modsweep train`"):
        model.predict_proba(featurise(normalise(pd.Series(["hello"]))))


def test_score_command_with_an_old_model_exits_2_naming_modsweep_train(modsweep_home, tmp_path):
    save_model(
        modsweep_home / "models",
        MODEL_NAME,
        "v0ld",
        _old_format_model(["hate.speech"]),
        {"version": "v0ld", "labels": ["hate.speech"]},
    )
    source = tmp_path / "in.csv"
    pd.DataFrame({"body": ["hello", "you vermin"]}).to_csv(source, index=False)
    from modsweep.cli import app

    result = CliRunner().invoke(
        app, ["score", str(source), "--text-column", "body", "--out", str(tmp_path / "o.parquet")]
    )
    assert result.exit_code == 2
    assert "older featurisation" in result.output and "modsweep train" in result.output


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_sweep_with_a_model_lacking_labels_records_the_skipped_detectors(modsweep_home, tmp_path, monkeypatch):
    from modsweep.cli import TEXT_POLICIES, app
    from modsweep.flows.daily_sweep import daily_sweep
    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.train import read_synthetic_training_set

    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "1")
    resources.reset()
    day = date(2026, 11, 23)
    write_synthetic_day(tmp_path / "training", date(2026, 11, 22), 6_000, seed=7, partition_rows=6_000)
    write_synthetic_day(tmp_path / "source", day, 2_000, seed=42, partition_rows=2_000)
    labels = [p for p in TEXT_POLICIES if p not in ("violent_extremism", "minor_safety")]  # as a manifest model
    result = train_text_policy_model(*read_synthetic_training_set(tmp_path / "training", labels), source="test")
    save_model(modsweep_home / "models", MODEL_NAME, result.version, result.model, result.card)

    summary = daily_sweep(day=day, source=str(tmp_path / "source" / "items"), trigger="manual", requested_by="pytest")
    assert summary.state == "completed"
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    skipped = run["outputs"]["skipped_detectors"]
    assert {(s["policy_id"], s["detector_id"]) for s in skipped if not s["optional"]} == {
        ("violent_extremism", "extremism-classifier"),
        ("minor_safety", "minors-classifier"),
    }
    assert all(s["model_version"] == result.version for s in skipped)
    assert run["outputs"]["report"]  # the run finished: outputs merged, not replaced
    events = pd.read_sql("select event, subject, payload from audit_log", engine)
    audit = events[events["event"] == "detectors.skipped"]
    assert list(audit["subject"]) == [summary.run_id]
    payload = audit["payload"].iloc[0]
    logged = (json.loads(payload) if isinstance(payload, str) else payload)["detectors"]
    assert len([d for d in logged if not d["optional"]]) == 2  # the optional second hate head is recorded too
    detections = resources.lake().read_all("detections", day, summary.run_key).to_pandas()
    assert not detections["detector_id"].isin(["extremism-classifier", "minors-classifier"]).any()
    assert {"hate-classifier", "spam-classifier"} <= set(detections["detector_id"])
    shown = CliRunner().invoke(app, ["show", summary.run_id[:8]])
    assert shown.exit_code == 0 and "skipped_detectors" in shown.output and "minors-classifier" in shown.output

    source = tmp_path / "in.csv"  # scoring a file says so on the console too
    pd.DataFrame({"body": ["hello", "you vermin"]}).to_csv(source, index=False)
    scored = CliRunner().invoke(
        app, ["score", str(source), "--text-column", "body", "--out", str(tmp_path / "o.parquet")]
    )
    assert scored.exit_code == 0, scored.output
    said = " ".join(scored.output.split())
    assert "detector minor_safety/minors-classifier skipped" in said and "other detectors still run" in said
    assert "detector violent_extremism/extremism-classifier skipped" in said
