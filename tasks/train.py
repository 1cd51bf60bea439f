"""Training text-policy classifiers on labelled data (one shared featurisation, one calibrated model per policy)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

if TYPE_CHECKING:  # scikit-learn is imported where a model is trained or evaluated (≈ 0.5 s), not to score
    from sklearn.linear_model import LogisticRegression

from modsweep.registry import MODEL_NAME
from modsweep.tasks.embeddings import (
    CANDIDATE_THRESHOLD,
    EMBEDDING_C_GRID,
    ENCODER_NAME,
    KERNEL_C_GRID,
    EmbeddingHead,
    EmbeddingStage,
    Encoder,
    MemoEncoder,
    fit_embedding_head,
    load_encoder,
    log_loss,
    require_embeddings,
    sigmoid,
)
from modsweep.tasks.embeddings import MAX_SEQ_LENGTH as EMBED_MAX_SEQ_LENGTH
from modsweep.tasks.text import (
    FEATURE_PARAMS,
    FeatureMismatchError,
    PartitionFeatures,
    check_feature_params,
    feature_key,
    featurise,
    normalise,
)

# Action bands are probability thresholds. The pack's bands differ per policy and region (remove at
# 0.88–0.96, escalate to review at 0.3–0.6); these two are the reference points the cards report.
REMOVAL_THRESHOLD = 0.9
REVIEW_THRESHOLD = 0.5
C_GRID = (0.5, 2.0, 8.0, 32.0)
MAX_ITER = 300
RETRAIN_HINT = (
    "retrain it: `modsweep train` (synthetic data) or "
    "`modsweep train --manifest manifests/shared-datasets.yaml --data-root ../shared/datasets`"
)


def fit_platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling P(y=1|z) = sigmoid(a·z + b) with Platt's smoothed targets (never 0 or 1 on separable data).

    Newton's method with backtracking (Lin, Lin & Weng 2007, "A note on Platt's probabilistic outputs").
    """
    z = np.asarray(decision, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return 1.0, 0.0
    t = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 0.0, float(np.log((n_pos + 1.0) / (n_neg + 1.0)))

    def loss(a_: float, b_: float) -> float:
        f = a_ * z + b_
        return float(np.sum(np.logaddexp(0, f) - t * f))

    current = loss(a, b)
    for _ in range(100):
        p = sigmoid(a * z + b)
        d1 = p - t
        w = np.maximum(p * (1 - p), 1e-12)
        g = np.array([np.dot(d1, z), d1.sum()])
        h = np.array([[np.dot(w, z * z) + 1e-12, np.dot(w, z)], [np.dot(w, z), w.sum() + 1e-12]])
        if np.abs(g).max() < 1e-7:
            break
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-10:
            na, nb = a - scale * step[0], b - scale * step[1]
            new = loss(na, nb)
            if new <= current - 1e-4 * scale * float(g @ step):  # Armijo: enough decrease along -step
                a, b, current = na, nb, new
                break
            scale /= 2
        else:
            break
    return float(a), float(b)


def check_feature_key(key: str | None, params: dict[str, Any] | None, version: str | None = None) -> None:
    """Raise FeatureMismatchError (with the retrain command) unless this build makes features `key` from
    `params`: a model's own, or a model card's (checked before a run starts, without loading the model)."""
    name = f"model {version}" if version else "this model"
    if key is None:
        raise FeatureMismatchError(
            f"{name} was trained with an older featurisation (before feature keys) and cannot score today's "
            f"features; {RETRAIN_HINT}"
        )
    try:
        current = feature_key(params)
    except FeatureMismatchError as exc:
        raise FeatureMismatchError(f"{name} cannot be used by this build ({exc}); {RETRAIN_HINT}") from None
    if current != key:
        raise FeatureMismatchError(
            f"{name} was trained with features {key}, but this build makes {current} from the same parameters "
            f"(the hashing changed); {RETRAIN_HINT}"
        )


@dataclass
class PolicyClassifier:
    """One label's logistic regression over [word block | character block], Platt-calibrated."""

    word_coef: np.ndarray  # float32, one weight per hashed word feature
    char_coef: np.ndarray | None  # float32, one weight per hashed character n-gram (None: no char block)
    intercept: float
    platt_a: float = 1.0
    platt_b: float = 0.0
    c: float = 1.0

    def decision_function(self, features: PartitionFeatures) -> np.ndarray:
        z = features @ self.word_coef + self.intercept
        if self.char_coef is not None:
            z = z + features.char_block.dot(self.char_coef[:, None])[:, 0]  # type: ignore[union-attr]
        return np.asarray(z, dtype=np.float64)

    def calibrate(self, decision: np.ndarray) -> np.ndarray:
        return sigmoid(self.platt_a * decision + self.platt_b)

    def predict_proba(self, features: PartitionFeatures) -> np.ndarray:
        """(rows, 2) like scikit-learn: P(not violating), P(violating)."""
        p = self.calibrate(self.decision_function(features))
        return np.column_stack([1 - p, p])


@dataclass
class TextPolicyModel:
    """One calibrated linear classifier per policy over the shared hashed features."""

    labels: list[str]
    classifiers: dict[str, PolicyClassifier]
    feature_params: dict[str, Any] = field(default_factory=lambda: check_feature_params(FEATURE_PARAMS))
    feature_key: str = field(default_factory=feature_key)
    # Optional gate per label: P(the post is of the kind the label's corpora hold | text), trained against every
    # other corpus and the background. A gated label scores min(P(violating | domain), P(domain) / saturation).
    domains: dict[str, PolicyClassifier] = field(default_factory=dict)
    # The cap is P(domain) / saturation: posts the gate finds at least this likely to be in the domain keep
    # their in-corpus score whole (so ranking within a corpus is the corpus model's), posts far from every
    # corpus of the label are held near 0.
    domain_saturation: float = 0.2
    # Per gated label (training sets it from the label's own rows); a label missing here uses domain_saturation.
    domain_saturations: dict[str, float] = field(default_factory=dict)
    # Optional second stage (`train --embeddings`, tasks/embeddings.py): sentence embeddings rescoring the posts
    # whose first-stage score reaches its candidate threshold. None: the first stage alone (the default model).
    embedding: EmbeddingStage | None = None

    def __post_init__(self) -> None:
        self._stacked: tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_stacked"] = None  # rebuilt on first use; not worth its megabytes on disk
        return state

    def check_current(self, version: str | None = None) -> None:
        """Raise FeatureMismatchError unless this build makes the features the model was trained on.

        A model saved by an older modsweep (no feature key, scikit-learn classifiers) or by a build whose
        featurisation has changed fails here, when it is loaded, with the command that makes a usable one.
        """
        check_feature_key(getattr(self, "feature_key", None), getattr(self, "feature_params", None), version)
        if getattr(self, "embedding", None) is not None:
            self.embedding.require_encoder(version)  # one line naming the extra, before any partition is scored

    def check_features(self, features: Any) -> None:
        """Raise unless `features` were made with this model's feature parameters."""
        mine = getattr(self, "feature_key", None)
        if mine is None:
            self.check_current()
        theirs = getattr(features, "feature_key", None)
        if theirs is None:
            raise FeatureMismatchError(
                "features carry no feature key: score the matrix `featurise(normalise(texts))` returned "
                "(slices and copies drop the character block and the key)"
            )
        if theirs != mine:
            raise FeatureMismatchError(
                f"model trained with features {mine} {json.dumps(self.feature_params, sort_keys=True)} cannot score "
                f"features {theirs}: featurise with the model's feature_params, or retrain with `modsweep train`"
            )

    def _gated(self) -> list[str]:
        domains = getattr(self, "domains", None) or {}
        return [label for label in self.labels if label in domains]

    def _weights(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
        """Every label's classifier, then every gated label's domain classifier, as columns of one product."""
        if getattr(self, "_stacked", None) is None:
            domains = getattr(self, "domains", None) or {}
            clfs = [self.classifiers[label] for label in self.labels] + [domains[label] for label in self._gated()]
            # One copy of the weights per process (a manifest model's 14 heads are ~110 MB per copy): each column
            # is copied into the stack and the classifier keeps a view of it, so its own array is freed at once.
            word = np.empty((len(clfs[0].word_coef) if clfs else 0, len(clfs)), dtype=np.float32)
            has_chars = bool(clfs) and all(c.char_coef is not None for c in clfs)
            chars = np.empty((len(clfs[0].char_coef), len(clfs)), dtype=np.float32) if has_chars else None
            for j, c in enumerate(clfs):
                word[:, j] = c.word_coef
                c.word_coef = word[:, j]
                if chars is not None:
                    chars[:, j] = c.char_coef
                    c.char_coef = chars[:, j]
            self._stacked = (
                word,
                chars,
                np.array([c.intercept for c in clfs]),
                np.array([c.platt_a for c in clfs]),
                np.array([c.platt_b for c in clfs]),
            )
        return self._stacked  # type: ignore[return-value]

    def decision_function(self, features: PartitionFeatures) -> np.ndarray:
        """Uncalibrated margins, rows × (labels, then gated labels' domains)."""
        self.check_features(features)
        word, chars, intercept, _, _ = self._weights()
        z = np.asarray(features @ word, dtype=np.float64) + intercept
        if chars is not None:
            if features.char_block is None:
                raise FeatureMismatchError("the model needs the character block, which these features lack")
            z += features.char_block.dot(chars)
        return z

    def predict_proba(
        self, features: PartitionFeatures, texts: pd.Series | None = None, *, embeddings: bool = True
    ) -> dict[str, np.ndarray]:
        """P(violating) per label for every row of a shared feature matrix (one product for all labels).

        With `texts` (the rows' raw text) and a model that has an embedding stage, the stage rescores each label's
        candidates (tasks/embeddings.py); without them, or with `embeddings=False`, the first stage alone.
        """
        z = self.decision_function(features)
        _, _, _, a, b = self._weights()
        logits = z * a + b
        p = sigmoid(logits).astype(np.float32)
        out = {label: p[:, j] for j, label in enumerate(self.labels)}
        default = float(getattr(self, "domain_saturation", 1.0))
        per_label = getattr(self, "domain_saturations", None) or {}
        caps: dict[str, np.ndarray] = {}
        for k, label in enumerate(self._gated()):
            saturation = np.float32(per_label.get(label, default))
            # The gate caps the score (it does not scale it): a post scores at most P(domain) / saturation, so
            # in-corpus scores below the cap keep their order, and off-topic posts stay near 0.
            caps[label] = p[:, len(self.labels) + k] / saturation
            out[label] = np.minimum(out[label], caps[label])
        stage = getattr(self, "embedding", None)
        if stage is None or texts is None or not embeddings:
            return out
        first_logits = {label: logits[:, j] for j, label in enumerate(self.labels)}
        return stage.rescore(out, first_logits, caps, list(texts))

    def first_stage(self) -> TextPolicyModel:
        """This model without its embedding stage (a shallow copy): the default model's weights, scored alone."""
        plain = copy.copy(self)
        plain.embedding = None
        return plain

    def score_texts(self, texts: pd.Series, *, embeddings: bool = True) -> dict[str, np.ndarray]:
        """Normalise and featurise with this model's parameters, then score (with the embedding stage, if any)."""
        if getattr(self, "feature_key", None) is None:
            self.check_current()  # an older model: say which command makes a usable one
        return self.predict_proba(featurise(normalise(texts), self.feature_params), texts, embeddings=embeddings)


@dataclass(frozen=True)
class TrainingResult:
    model: TextPolicyModel
    version: str
    card: dict[str, Any]


# --- shared pieces ------------------------------------------------------------------------------------------


def design_matrix(features: PartitionFeatures) -> sparse.csr_matrix:
    """[word block | character block] as one matrix (training builds it; scoring never needs to)."""
    words = sparse.csr_matrix((features.data, features.indices, features.indptr), shape=features.shape)
    if features.char_block is None:
        return words
    chars = features.char_block.matrix()
    chars.sort_indices()
    # Row-wise concatenation by index arithmetic (scipy's hstack of CSR goes through COO and is slower).
    nw, nc = np.diff(words.indptr), np.diff(chars.indptr)
    indptr = words.indptr.astype(np.int64) + chars.indptr.astype(np.int64)
    data = np.empty(words.nnz + chars.nnz, dtype=np.float32)
    indices = np.empty(words.nnz + chars.nnz, dtype=np.int32)
    at_w = np.arange(words.nnz) + np.repeat(chars.indptr[:-1], nw)
    at_c = np.arange(chars.nnz) + np.repeat(words.indptr[1:], nc)
    data[at_w], indices[at_w] = words.data, words.indices
    data[at_c], indices[at_c] = chars.data, chars.indices + words.shape[1]
    return sparse.csr_matrix((data, indices, indptr), shape=(words.shape[0], words.shape[1] + chars.shape[1]))


def _fit_linear(x: sparse.csr_matrix, y: np.ndarray, c: float, seed: int) -> LogisticRegression:
    # The dual solver is an order of magnitude faster than the primal one when features outnumber rows.
    # At large C it may stop at max_iter short of tol 1e-3; those weights are still usable (and C is
    # chosen by cross-validated loss, so an under-converged C loses the selection on merit).
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=MAX_ITER, tol=1e-3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y)


def _fit_many(jobs: list[tuple[sparse.csr_matrix, np.ndarray, float]], seed: int) -> list[LogisticRegression]:
    """Fit independent models on a small thread pool: liblinear releases the GIL while it trains."""
    if len(jobs) <= 1:
        return [_fit_linear(x, y, c, seed) for x, y, c in jobs]
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1, 4))) as pool:
        return list(pool.map(lambda job: _fit_linear(job[0], job[1], job[2], seed), jobs))


NB_ALPHA = 1.0  # add-one smoothing of the log-count ratios


def log_count_ratio(x: sparse.csr_matrix, y: np.ndarray, alpha: float = NB_ALPHA) -> np.ndarray:
    """NB-SVM's per-feature log-count ratio r = log((p/|p|₁) / (q/|q|₁)) of binarised features (Wang & Manning
    2012): p, q = alpha + the number of positive, negative rows holding each feature."""
    y = np.asarray(y, dtype=bool)
    width = x.shape[1]
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    pos = alpha + np.bincount(x.indices[y[rows]], minlength=width)
    neg = alpha + np.bincount(x.indices[~y[rows]], minlength=width)
    return (np.log(pos / pos.sum()) - np.log(neg / neg.sum())).astype(np.float32)


def scale_columns(x: sparse.csr_matrix, r: np.ndarray) -> sparse.csr_matrix:
    """x · diag(r) (a copy): a logistic regression on it has the weights r ∘ w on x itself."""
    out = x.copy()
    out.data *= r[out.indices]
    return out


def _fit_nb(x: sparse.csr_matrix, y: np.ndarray, c: float, seed: int) -> tuple[tuple[np.ndarray, float], bool]:
    """A logistic regression over log-count-ratio-scaled features: ((weights on x, intercept), converged)."""
    r = log_count_ratio(x, y)
    clf = _fit_linear(scale_columns(x, r), y, c, seed)
    weights = ((clf.coef_.ravel() * r).astype(np.float32), float(clf.intercept_[0]))
    return weights, bool(clf.n_iter_.max() < MAX_ITER)


def _classifier(
    clf: LogisticRegression | tuple[np.ndarray, float],
    word_width: int,
    has_chars: bool,
    platt: tuple[float, float],
    c: float,
) -> PolicyClassifier:
    coef, intercept = (clf.coef_.ravel(), float(clf.intercept_[0])) if not isinstance(clf, tuple) else clf
    coef = np.asarray(coef, dtype=np.float32)
    return PolicyClassifier(
        word_coef=np.ascontiguousarray(coef[:word_width]),
        char_coef=np.ascontiguousarray(coef[word_width:]) if has_chars else None,
        intercept=intercept,
        platt_a=platt[0],
        platt_b=platt[1],
        c=c,
    )


def evaluate_scores(
    y: np.ndarray, p: np.ndarray, removal: float = REMOVAL_THRESHOLD, review: float = REVIEW_THRESHOLD
) -> dict[str, Any]:
    """Validation figures of calibrated probabilities: ranking, F1 and the two action thresholds."""
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

    y = np.asarray(y, dtype=bool)
    both = 0 < y.sum() < len(y)
    removed, reviewed = p >= removal, p >= review
    return {
        "rows": len(y),
        "positives": int(y.sum()),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if y.any() else float("nan"),
        "macro_f1": float(f1_score(y, p >= 0.5, average="macro", zero_division=0)) if len(y) else float("nan"),
        "f1_at_0.5": float(f1_score(y, p >= 0.5, zero_division=0)),
        "precision_at_removal": float(precision_score(y, removed, zero_division=0)) if removed.any() else float("nan"),
        "flagged_at_removal": int(removed.sum()),
        "recall_at_removal": float(recall_score(y, removed, zero_division=0)) if y.any() else float("nan"),
        "recall_at_review": float(recall_score(y, reviewed, zero_division=0)) if y.any() else float("nan"),
        "precision_at_review": float(precision_score(y, reviewed, zero_division=0)) if reviewed.any() else float("nan"),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
    }


def training_data_hash(texts: pd.Series, labels: pd.DataFrame) -> str:
    """sha256 over the texts and label matrix, order-sensitive: the model's data lineage."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(texts.astype(object).fillna(""), index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(labels.to_numpy(dtype=np.int8)).tobytes())
    digest.update(",".join(labels.columns).encode())
    return digest.hexdigest()


def validation_mask(texts: pd.Series, share: float = 0.2) -> np.ndarray:
    """A deterministic hold-out split by text hash (the same text never lands on both sides)."""
    h = pd.util.hash_pandas_object(texts.astype(object).fillna(""), index=False).to_numpy()
    return (h % 10_000) < int(share * 10_000)


def _json_safe(value: Any) -> Any:
    """NaN (an undefined metric, e.g. precision when nothing was flagged) → None, so the card is strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# Bumped when training changes what a card holds for the same data (a new version, not a stale card kept).
TRAINING_REVISION = "nb-lr-capped-gate-hard-negatives-4"


def _version(*parts: object) -> str:
    text = "|".join(str(p) for p in (TRAINING_REVISION, *parts))
    return "v" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _features_card(params: dict[str, Any]) -> dict[str, Any]:
    return {"key": feature_key(params), "params": params}


# --- synthetic multi-label training (the demo) ------------------------------------------------------------


def train_text_policy_model(
    texts: pd.Series, labels: pd.DataFrame, *, source: str, c: float = 4.0, seed: int = 0
) -> TrainingResult:
    """Fit one classifier per label column (bool) on 80% of rows; calibrate and measure on the 20% hold-out.

    Platt scaling is fitted on the hold-out; the metrics use cross-fitted probabilities (each half of the
    hold-out calibrated on the other half), so calibration does not flatter them.
    """
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    texts = texts.reset_index(drop=True)
    labels = labels.reset_index(drop=True)
    params = check_feature_params(FEATURE_PARAMS)
    data_hash = training_data_hash(texts, labels)
    features = featurise(normalise(texts), params)
    x = design_matrix(features)
    valid = validation_mask(texts)
    train = ~valid
    halves = np.arange(int(valid.sum())) % 2 == 0
    word_width = features.shape[1]
    classifiers: dict[str, PolicyClassifier] = {}
    metrics: dict[str, dict[str, Any]] = {}
    curves: dict[str, Any] = {}
    ys = {label: labels[label].to_numpy(dtype=bool) for label in labels.columns}
    for label, y in ys.items():
        if y[train].sum() < 5:
            raise ValueError(f"label {label!r} has {int(y[train].sum())} positive training rows; need at least 5")
    x_train, x_valid = x[train], x[valid]
    fitted = _fit_many([(x_train, y[train], c) for y in ys.values()], seed)
    for (label, y), clf in zip(ys.items(), fitted, strict=True):
        z, yv = clf.decision_function(x_valid), y[valid]
        platt = fit_platt(z, yv)
        cross = np.empty(len(z))
        for half in (halves, ~halves):
            a, b = fit_platt(z[~half], yv[~half])
            cross[half] = sigmoid(a * z[half] + b)
        m = evaluate_scores(yv, cross)
        metrics[label] = {"positives_train": int(y[train].sum()), "positives_valid": int(yv.sum()), **m}
        # Every label's hold-out rows are one stream (the synthetic day's mix): a curve per policy label.
        curves[label] = stream_precision_curve(yv, cross)
        classifiers[label] = _classifier(clf, word_width, features.char_block is not None, platt, c)
    model = TextPolicyModel(
        labels=list(labels.columns),
        classifiers=classifiers,
        feature_params=params,
        feature_key=features.feature_key or "",
    )
    version = _version(data_hash, c, seed, model.feature_key)
    card = {
        "name": MODEL_NAME,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "training_data": {
            "source": source,
            "sha256": data_hash,
            "rows": len(texts),
            "validation_rows": int(valid.sum()),
        },
        "algorithm": (
            f"LogisticRegression(C={c}, liblinear dual) per label over hashed word 1-2-grams + character 2-5-grams; "
            "Platt scaling fitted on a 20% hold-out (by text hash)"
        ),
        "training_params": {"c": c, "seed": seed, "validation_share": 0.2},
        "features": _features_card(params),
        "labels": list(labels.columns),
        "thresholds": {"removal": REMOVAL_THRESHOLD, "review": REVIEW_THRESHOLD},
        "label_policies": {label: label for label in labels.columns},
        "stream": {
            "description": "the 20% hold-out of the synthetic training rows (cross-fitted calibration), natural prevalence; "
            "precision_lower is a one-sided 90% Wilson bound on the flagged rows",
            "prevalence": None,
            "rows": int(valid.sum()),
            "policies": curves,
            "targets": {label: precision_targets_table(c) for label, c in curves.items()},
        },
        "validation_metrics": metrics,
        "intended_use": "Scores text against community-guidelines policies; scores route items to review or actions.",
        "limitations": "Trained on the data named above; check validation metrics on your own data with `modsweep score`.",
    }
    return TrainingResult(model=model, version=version, card=card)


def read_synthetic_training_set(source_dir: Path, labels: list[str]) -> tuple[pd.Series, pd.DataFrame]:
    """Texts and a bool label matrix from the generator's output (items/ + truth/ under `source_dir`)."""
    from modsweep.tasks.text import combined_text

    item_files = sorted((source_dir / "items").rglob("*.parquet"))
    truth_files = sorted((source_dir / "truth").rglob("*.parquet"))
    if not item_files:
        raise FileNotFoundError(f"no generated items under {source_dir / 'items'}; run `modsweep generate` first")
    cols = ["item_id", "text", "transcript", "ocr_text"]
    items = pd.concat([pd.read_parquet(f, columns=cols) for f in item_files], ignore_index=True)
    items = items.dropna(subset=["item_id"]).drop_duplicates("item_id")
    truth = pd.concat([pd.read_parquet(f, columns=["item_id", "policy_id"]) for f in truth_files], ignore_index=True)
    texts = combined_text(items)
    matrix = pd.DataFrame(False, index=items["item_id"], columns=labels)
    for label in labels:
        matrix[label] = items["item_id"].isin(truth.loc[truth["policy_id"] == label, "item_id"]).to_numpy()
    return texts.reset_index(drop=True), matrix.reset_index(drop=True)


# --- training from a manifest of labelled data sets ---------------------------------------------------------


@dataclass
class _DatasetRows:
    entry: Any  # DatasetEntry
    train_texts: pd.Series
    train_y: np.ndarray
    valid_texts: pd.Series
    valid_y: np.ndarray


@dataclass(frozen=True)
class ReviewedRows:
    """Reviewer decisions to train on: one row per (item, policy) with the item's text (text, policy_id, violating)."""

    rows: pd.DataFrame
    counts: dict[str, int]  # tasks read, rows kept, and what was dropped, by reason
    source: str  # where they came from (store, since), for the card


def reviewed_training_rows(tasks: pd.DataFrame, items: pd.DataFrame, source: str = "review outcomes") -> ReviewedRows:
    """Decided review tasks with a label, joined to their items' text (caption, transcript and OCR text joined).

    Every replica of an (item, policy) pair votes; a tie is dropped (reviewers disagree), as are tasks whose item
    has no text in the lake. Returns one row per remaining pair, labelled by the majority.
    """
    from modsweep.tasks.text import combined_text

    decided = tasks[(tasks["status"] == "decided") & tasks["label"].notna()] if len(tasks) else tasks
    counts = {"tasks": len(tasks), "decided_with_label": len(decided)}
    if not len(decided):
        empty = pd.DataFrame(
            {
                "item_id": pd.Series([], dtype=object),
                "text": pd.Series([], dtype=object),
                "policy_id": pd.Series([], dtype=object),
                "violating": pd.Series([], dtype=bool),
            }
        )
        return ReviewedRows(empty, {**counts, "rows": 0}, source)
    votes = (
        decided.assign(v=(decided["label"] == "violating").astype(np.int64), n=1)
        .groupby(["item_id", "policy_id"], sort=True, as_index=False)[["v", "n"]]
        .sum()
    )
    tie = 2 * votes["v"] == votes["n"]
    counts["pairs"] = len(votes)
    counts["dropped_reviewers_disagree"] = int(tie.sum())
    votes = votes[~tie]
    text = (
        pd.Series(combined_text(items).to_numpy(dtype=object), index=items["item_id"].to_numpy())
        if len(items)
        else pd.Series([], dtype=object)
    )
    text = text[~text.index.duplicated()]
    found = votes["item_id"].isin(text.index) & votes["item_id"].map(text).fillna("").astype(str).str.strip().ne("")
    counts["dropped_no_text_in_lake"] = int((~found).sum())
    votes = votes[found]
    rows = pd.DataFrame(
        {
            "item_id": votes["item_id"].to_numpy(dtype=object),
            "text": votes["item_id"].map(text).to_numpy(dtype=object),
            "policy_id": votes["policy_id"].to_numpy(dtype=object),
            "violating": (2 * votes["v"] > votes["n"]).to_numpy(dtype=bool),
        }
    )
    counts["rows"] = len(rows)
    return ReviewedRows(rows.reset_index(drop=True), counts, source)


@dataclass(frozen=True)
class _ReviewEntry:
    """Reviewed live items of one label, trained on like one more corpus of that label (no validation split)."""

    id: str
    label: str
    policy_id: str
    role: str = "labelled"
    trains: bool = True
    violation: bool = True
    description: str = "reviewer decisions imported into the store (modsweep reviews import)"
    licence: str = "this deployment's own review outcomes"

    def files(self) -> list[str]:
        return []


def _review_rows(
    reviewed: ReviewedRows, labels: list[str], policy_of: dict[str, str]
) -> tuple[list[_DatasetRows], dict[str, Any]]:
    """Reviewed rows as one training corpus per label: a policy's rows go to its label named like the policy,
    else to its first label; rows of policies the model has no label for are counted, not trained on."""
    label_for: dict[str, str] = {}
    for label in labels:
        pid = policy_of[label]
        if pid not in label_for or label == pid:
            label_for[pid] = label
    frame = reviewed.rows
    card: dict[str, Any] = {
        "source": reviewed.source,
        **reviewed.counts,
        "by_label": {},
        "no_model_label": int((~frame["policy_id"].isin(list(label_for))).sum()),
    }
    out = []
    for pid, label in label_for.items():
        mine = frame[frame["policy_id"] == pid]
        if not len(mine):
            continue
        texts = pd.Series(mine["text"].to_numpy(dtype=object))
        y = mine["violating"].to_numpy(dtype=bool)
        entry = _ReviewEntry(id=f"reviews:{label}", label=label, policy_id=pid)
        out.append(_DatasetRows(entry, texts, y, pd.Series([], dtype=object), np.zeros(0, dtype=bool)))
        card["by_label"][label] = {"policy": pid, "rows": len(mine), "violating": int(y.sum())}
    return out, card


def _fold_ids(texts: pd.Series, folds: int, seed: int) -> np.ndarray:
    """Cross-validation folds by text hash: duplicates share a fold, so they cannot leak across it."""
    h = pd.util.hash_pandas_object(
        texts.astype(object).fillna(""), index=False, hash_key=f"folds{seed:012d}"[:16]
    ).to_numpy()
    return (h % np.uint64(folds)).astype(np.int64)


def _select_and_calibrate(
    x: sparse.csr_matrix,
    y: np.ndarray,
    folds: np.ndarray,
    c_grid: tuple[float, ...],
    seed: int,
    nb: bool = False,
    scored: np.ndarray | None = None,
    oof_out: dict[str, np.ndarray] | None = None,
) -> tuple[float, tuple[float, float], dict[str, Any]]:
    """C by cross-validated log loss of Platt-calibrated out-of-fold scores; Platt fitted on those scores.

    With `nb`, each fold's log-count ratios come from that fold's training rows only (no label leaks into
    the out-of-fold scores). `scored` (a row mask) limits the loss, Platt and the figures to those rows: the
    other rows are trained on but not calibrated for (hard negatives, see HARD_NEGATIVE_CAP). `oof_out`, when
    given, receives every row's calibrated out-of-fold logit at the chosen C (key "logit").
    """
    from sklearn.metrics import f1_score, roc_auc_score

    results: dict[float, tuple[float, np.ndarray]] = {}
    on = np.ones(len(y), dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    k = int(folds.max()) + 1
    usable = [f for f in range(k) if (folds == f).any() and 0 < y[folds != f].sum() < (folds != f).sum()]
    ratios = {f: log_count_ratio(x[folds != f], y[folds != f]) if nb else None for f in usable}
    fold_x = {f: scale_columns(x[folds != f], ratios[f]) if nb else x[folds != f] for f in usable}
    for c in sorted(c_grid):
        oof = np.zeros(len(y))
        fitted = _fit_many([(fold_x[f], y[folds != f], c) for f in usable], seed)
        for f, clf in zip(usable, fitted, strict=True):
            r = ratios[f]
            w = clf.coef_.ravel() * r if r is not None else clf.coef_.ravel()
            oof[folds == f] = x[folds == f] @ w + clf.intercept_[0]
        a, b = fit_platt(oof[on], y[on])
        results[c] = (log_loss(y[on], sigmoid(a * oof[on] + b)), oof)
        if len(results) >= 2 and results[c][0] > min(v[0] for v in results.values()) + 1e-3:
            break  # the loss has turned upwards: larger C only overfits more (and trains slower)
    c_grid = tuple(c for c in sorted(c_grid) if c in results)
    best = min(c_grid, key=lambda c: (round(results[c][0], 4), c))
    oof, y = results[best][1][on], y[on]
    platt = fit_platt(oof, y)
    if oof_out is not None:  # every row's calibrated out-of-fold logit (the embedding stage's combiner input)
        oof_out["logit"] = platt[0] * results[best][1] + platt[1]
    p_oof = sigmoid(platt[0] * oof + platt[1])
    cv = {
        "folds": k,
        "log_loss_by_c": {str(c): round(results[c][0], 5) for c in c_grid},
        "chosen_c": best,
        "oof_roc_auc": float(roc_auc_score(y, oof)) if 0 < y.sum() < len(y) else float("nan"),
        "oof_macro_f1": float(f1_score(y, p_oof >= 0.5, average="macro", zero_division=0)),
    }
    cv["features"] = "log-count-ratio scaled (NB-LR)" if nb else "as featurised"
    return best, platt, cv


def _sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


DOMAIN_SATURATION = 0.2  # the largest saturation: 1.0 (a plain product) costs 0.01-0.04 ROC-AUC per corpus
DOMAIN_IN_QUANTILE = 0.10  # a label's saturation: this quantile of its own rows' out-of-fold gate (at most the above)
# ... and at least this: a small corpus (suicide ideation, 1,000 rows of 72,520) has a small P(domain) for its own
# posts; at 0.012 every emotional tweet kept its full self-harm score and no threshold reached precision 0.3 on
# the stream, at 0.05 escalation recall is 0.78 and the corpus's ROC-AUC 0.984 (0.993 at 0.012, 0.968 at 0.2).
DOMAIN_MIN_SATURATION = 0.05
DOMAIN_C = 4.0  # NB-LR gates: C 4 beat 1 on both sides (fewer own posts below the saturation, fewer others above)
DOMAIN_OTHER_ROWS = 16_000  # out-of-domain rows a gate is fitted on (a hash sample; the prior is corrected)
# Hard negatives of a label's in-corpus model (manifest entries with `hard_negatives: true`): rows of other
# policies' corpora and the background whose gate P(domain) / saturation is at least this (the gate lets them
# through uncapped, so the in-corpus model alone decides them). COVID tweets of politicians (TweepFake) are "in
# domain" for medical misinformation and, unseen, scored as fake news; trained on as negatives, the cross-fitted
# stream precision of medical reduce_reach rose from 0.925 to 0.964 (classifier scores; the corpus's ROC-AUC fell
# by 0.002). On every label they cost corpus ROC-AUC where the other corpora are close in style (self-harm 0.986 ->
# 0.968 with 3,279 hard negatives for 1,000 own rows; LIAR 0.679 -> 0.674), so they are a per-corpus choice.
HARD_NEGATIVE_CAP = 1.0
STREAM_PREVALENCE = 0.10  # share of violating posts the mixed validation stream is reweighted to
PRECISION_TARGETS = (0.3, 0.5, 0.8, 0.9, 0.95, 0.99)  # thresholds the card lists (any other is read off the curve)


def stream_precision_curve(
    y: np.ndarray,
    score: np.ndarray,
    weight: np.ndarray | None = None,
    step: float = 0.005,
    parts: np.ndarray | None = None,
) -> dict[str, Any]:
    """Precision and recall of `score >= t` on a labelled stream, for t on a grid from high to low.

    `weight` reweights rows (positives, to a stated prevalence); `precision_lower` is the Wilson lower bound
    of the weighted precision on the unweighted number of flagged rows, which `threshold_for_precision`
    compares with a target (policy.py). Thresholds where nothing is flagged are left out. `parts` (a part
    number 0..K-1 per row, see `threshold_parts`) adds each part's flagged rows and weighted sums, from which
    `threshold_for_precision` checks that a threshold picked on K-1 parts holds on the part it did not see.
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
    grid = np.round(np.arange(1.0, 0.0, -step), 6)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted, w_sorted = s[order], y[order], w[order]
    flagged_n = np.searchsorted(-s_sorted, -grid, side="right")  # rows with score >= t
    tp_w = np.concatenate([[0.0], np.cumsum(w_sorted * y_sorted)])[flagged_n]
    all_w = np.concatenate([[0.0], np.cumsum(w_sorted)])[flagged_n]
    pos_w = float((w * y).sum())
    keep = flagged_n > 0
    by_part: dict[str, list[list[float]]] | None = None
    if parts is not None:
        part_sorted = np.asarray(parts, dtype=np.int64)[order]
        by_part = {"flagged": [], "flagged_weight": [], "tp_weight": []}
        for k in range(int(part_sorted.max()) + 1 if len(part_sorted) else 0):
            mine = part_sorted == k
            by_part["flagged"].append([int(v) for v in np.concatenate([[0], np.cumsum(mine)])[flagged_n][keep]])
            for name, values in (("flagged_weight", w_sorted * mine), ("tp_weight", w_sorted * y_sorted * mine)):
                by_part[name].append(
                    [round(float(v), 4) for v in np.concatenate([[0.0], np.cumsum(values)])[flagged_n][keep]]
                )
    precision = np.divide(tp_w, all_w, out=np.zeros_like(tp_w), where=all_w > 0)
    from modsweep.policy import wilson_lower

    lower = wilson_lower(precision, flagged_n)
    recall = tp_w / pos_w if pos_w > 0 else np.zeros_like(tp_w)
    return {
        "thresholds": [round(float(t), 4) for t in grid[keep]],
        "precision": [round(float(v), 4) for v in precision[keep]],
        "precision_lower": [round(float(v), 4) for v in lower[keep]],
        "recall": [round(float(v), 4) for v in recall[keep]],
        "flagged": [int(v) for v in flagged_n[keep]],
        # weighted sums, so the precision of a slice between two thresholds (an escalate band below an
        # automated one) can be read off the curve too
        "flagged_weight": [round(float(v), 4) for v in all_w[keep]],
        "tp_weight": [round(float(v), 4) for v in tp_w[keep]],
        "positives": int(y.sum()),
        "rows": len(y),
        "parts": by_part,
    }


THRESHOLD_PARTS = 3  # parts of the stream for the out-of-fold check of auto@P thresholds


def threshold_parts(texts: pd.Series, k: int = THRESHOLD_PARTS) -> np.ndarray:
    """Part 0..k-1 of each stream row by text hash (duplicates share a part), for `stream_precision_curve`."""
    h = pd.util.hash_pandas_object(texts.astype(object).fillna(""), index=False, hash_key="threshold-parts1")
    return (h.to_numpy() % np.uint64(k)).astype(np.int64)


def precision_targets_table(curve: dict[str, Any], targets: tuple[float, ...] = PRECISION_TARGETS) -> dict[str, Any]:
    """For each target precision: the threshold that meets it on the stream and what it gives (None: unmet).

    On a curve with parts, a target whose threshold does not hold out of fold is unmet too; `out_of_fold`
    records the precision the check measured (and, for such a target, the threshold it would have had)."""
    from modsweep.policy import out_of_fold_precision, threshold_for_precision

    out: dict[str, Any] = {}
    for target in targets:
        t = threshold_for_precision(curve, target)
        found = out_of_fold_precision(curve, target) if curve.get("parts") else None
        oof = None if found is None else {"precision": round(float(found[0]), 4), "flagged": found[1]}
        if t is None:
            alone = threshold_for_precision({**curve, "parts": None}, target) if curve.get("parts") else None
            out[str(target)] = (
                None
                if alone is None
                else {"threshold": None, "unmet": "out of fold", "threshold_in_sample": alone, "out_of_fold": oof}
            )
            continue
        k = curve["thresholds"].index(t)
        out[str(target)] = {
            "threshold": t,
            "precision": curve["precision"][k],
            "precision_lower": curve["precision_lower"][k],
            "recall": curve["recall"][k],
            "flagged": curve["flagged"][k],
            **({"out_of_fold": oof} if curve.get("parts") else {}),
        }
    return out


def stream_weights(violating: np.ndarray, prevalence: float) -> np.ndarray:
    """Row weights giving violating rows a `prevalence` share of the weighted stream (others weigh 1)."""
    violating = np.asarray(violating, dtype=bool)
    n_bad, n_ok = int(violating.sum()), int((~violating).sum())
    w = np.ones(len(violating))
    if n_bad and n_ok:
        w[violating] = prevalence / (1 - prevalence) * n_ok / n_bad
    return w


@dataclass
class _Pool:
    """Every entry's rows of one split, concatenated: text, entry index, positive flag."""

    texts: pd.Series
    entry: np.ndarray
    y: np.ndarray


def _pool(rows: list[_DatasetRows], split: str) -> _Pool:
    texts = [r.train_texts if split == "train" else r.valid_texts for r in rows]
    ys = [r.train_y if split == "train" else r.valid_y for r in rows]
    return _Pool(
        texts=pd.concat(texts, ignore_index=True) if texts else pd.Series([], dtype=object),
        entry=np.concatenate([np.full(len(t), i) for i, t in enumerate(texts)]) if texts else np.zeros(0, int),
        y=np.concatenate(ys).astype(bool) if ys else np.zeros(0, bool),
    )


def _fit_domain_gate(
    x: sparse.csr_matrix, own: np.ndarray, folds: np.ndarray, texts: pd.Series, seed: int
) -> tuple[tuple[np.ndarray, float], tuple[float, float], float, dict[str, Any], np.ndarray]:
    """P(row belongs to the label's corpora): every own row against a hash sample of the other rows, an NB-LR
    (log-count ratios from each fold's training rows). Returns (weights, Platt, saturation, card, the gate's
    P(domain) of every other row: out-of-fold for the sampled rows, the final gate's for the rest; NaN for own).

    Sampling the other rows at rate r multiplies the odds by 1/r, so Platt's intercept (fitted on the
    out-of-fold scores of the sample) gets + log r: a case-control correction, the probabilities stay those
    of the whole pool. The saturation is the DOMAIN_IN_QUANTILE quantile of the own rows' out-of-fold gate
    (within DOMAIN_MIN_SATURATION..DOMAIN_SATURATION): nine in ten posts of the label's own kind keep their
    in-corpus score whole, so the gate does not reorder them, while posts far from every corpus of the label
    are scaled towards 0.
    """
    from sklearn.metrics import roc_auc_score

    others = np.flatnonzero(~own)
    rate = 1.0
    if len(others) > DOMAIN_OTHER_ROWS:
        h = pd.util.hash_pandas_object(texts.iloc[others], index=False, hash_key="domain-sample-01").to_numpy()
        others = np.sort(others[np.argsort(h, kind="stable")[:DOMAIN_OTHER_ROWS]])
        rate = DOMAIN_OTHER_ROWS / int((~own).sum())
    rows = np.sort(np.concatenate([np.flatnonzero(own), others]))
    xs, ys, fs = x[rows], own[rows], folds[rows]
    usable = [f for f in np.unique(fs) if 0 < ys[fs != f].sum() < (fs != f).sum()]
    ratios = {f: log_count_ratio(xs[fs != f], ys[fs != f]) for f in usable}
    jobs = [(scale_columns(xs[fs != f], ratios[f]), ys[fs != f], DOMAIN_C) for f in usable]
    oof = np.zeros(len(ys))
    for f, clf in zip(usable, _fit_many(jobs, seed), strict=True):
        oof[fs == f] = xs[fs == f] @ (clf.coef_.ravel() * ratios[f]) + clf.intercept_[0]
    del jobs
    a, b = fit_platt(oof, ys)
    b += float(np.log(rate))
    in_domain = sigmoid(a * oof[ys] + b)
    saturation = float(np.clip(np.quantile(in_domain, DOMAIN_IN_QUANTILE), DOMAIN_MIN_SATURATION, DOMAIN_SATURATION))
    weights, _ = _fit_nb(xs, ys, DOMAIN_C, seed)
    p_other = np.full(x.shape[0], np.nan)
    rest = np.setdiff1d(np.flatnonzero(~own), others, assume_unique=True)
    p_other[rest] = sigmoid(a * (x[rest] @ weights[0] + weights[1]) + b)
    p_other[rows[~ys]] = sigmoid(a * oof[~ys] + b)
    auc = float(roc_auc_score(ys, oof)) if 0 < ys.sum() < len(ys) else float("nan")
    card = {
        "rows": len(rows),
        "in_domain": int(ys.sum()),
        "other_rows_sampled": len(others),
        "other_rate": round(rate, 5),
        "c": DOMAIN_C,
        "features": "log-count-ratio scaled (NB-LR)",
        "platt": {"a": a, "b": b},
        "saturation": round(saturation, 5),
        "cross_validation": {"folds": len(usable), "oof_roc_auc": auc},
    }
    return weights, (a, b), saturation, card, p_other


def pack_policy_scores(
    pack: Any, model: TextPolicyModel, texts: pd.Series, chunk: int = 20_000
) -> dict[str, np.ndarray]:
    """Each policy's score (the maximum over its detectors, as decide takes it) for texts as bare posts."""
    from modsweep.tasks.decide import policy_scores
    from modsweep.tasks.detect import build_detector_bank, detect_partition
    from modsweep.tasks.score import as_items

    bank = build_detector_bank(pack, model, "training")
    policies = [p.id for p in pack.policies()]
    parts = []
    for start in range(0, len(texts), chunk):
        items = as_items(pd.DataFrame({"text": texts.iloc[start : start + chunk].to_numpy()}), "text", start)
        found = detect_partition(items, bank, run_id="training")
        parts.append(policy_scores(items["item_id"], found, policies)[policies])
    wide = pd.concat(parts, ignore_index=True)
    return {pid: wide[pid].to_numpy(dtype=np.float64) for pid in policies}


def policy_scores_of(probs: dict[str, np.ndarray], policy_of: dict[str, str]) -> dict[str, np.ndarray]:
    """A policy's classifier score: the largest of its heads' probabilities."""
    out: dict[str, np.ndarray] = {}
    for label, p in probs.items():
        pid = policy_of[label]
        out[pid] = p if pid not in out else np.maximum(out[pid], p)
    return out


def train_from_manifest(
    manifest_path: Path | str,
    data_root: Path | str,
    *,
    datasets: list[str] | None = None,
    max_train_rows: int | None = None,
    c_grid: tuple[float, ...] = C_GRID,
    folds: int = 3,
    seed: int = 0,
    removal_threshold: float = REMOVAL_THRESHOLD,
    review_threshold: float = REVIEW_THRESHOLD,
    prevalence: float = STREAM_PREVALENCE,
    pack: Any = None,
    feature_params: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    reviewed: ReviewedRows | None = None,
    embeddings: bool = False,
    encoder: Encoder | None = None,
) -> TrainingResult:
    """One calibrated classifier per manifest label, trained for the stream: every other entry's rows and
    the background are its negatives. With `pack` (a PolicyPack), the stream's precision curves are of that
    pack's policy scores (every detector, as decide takes them); without it, of the classifier scores alone. Measured per data set on its validation split, and on the mixed
    validation stream (every validation split + background, violating rows reweighted to `prevalence`),
    where the card records per policy the precision curve that `auto@P` bands are resolved from.
    `datasets` keeps only the named entries; `max_train_rows` caps each data set's training rows.
    `reviewed` (reviewer decisions on live items) adds one training corpus per label it has rows for; the
    card records what was used and what was dropped (training_data.reviews).
    `embeddings` adds the sentence-embedding second stage (tasks/embeddings.py; the `embeddings` extra), recorded
    in the card (`embeddings`) and the version; `encoder` replaces all-MiniLM-L6-v2 (tests inject a deterministic
    one; the model then holds no encoder, so scoring loads the real one unless given one again).
    """
    from modsweep.tasks.datasets import load_manifest, read_split

    manifest_path, data_root = Path(manifest_path), Path(data_root)
    manifest = load_manifest(manifest_path)
    entries = manifest.datasets
    if datasets is not None:
        unknown = set(datasets) - {e.id for e in entries}
        if unknown:
            raise ValueError(f"{manifest_path}: no data set(s) {sorted(unknown)}")
        entries = [e for e in entries if e.id in datasets]
    if not data_root.is_dir():
        raise FileNotFoundError(f"data root {data_root} is not a directory")
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence {prevalence} must be in (0, 1)")
    params = check_feature_params(FEATURE_PARAMS if feature_params is None else feature_params)
    say: Callable[[str], None] = log or (lambda _msg: None)

    rows: list[_DatasetRows] = []
    for e in entries:
        tr = read_split(e, data_root, "train")
        va = read_split(e, data_root, "validation")
        tx, ty = tr.texts, tr.y
        if max_train_rows is not None and len(tx) > max_train_rows:
            keep = np.argsort(pd.util.hash_pandas_object(tx, index=False).to_numpy(), kind="stable")[:max_train_rows]
            keep.sort()
            tx, ty = tx.iloc[keep].reset_index(drop=True), ty[keep]
        rows.append(_DatasetRows(e, tx, ty, va.texts, va.y))
        say(f"read {e.id}: {len(tx):,} training rows ({int(ty.sum()):,} positive), {len(va.texts):,} validation rows")

    labels = list(dict.fromkeys(r.entry.label for r in rows if len(r.train_texts) and r.entry.label))
    if not labels:
        raise ValueError(f"{manifest_path}: no training rows in the selected data sets")
    policy_of = {r.entry.label: r.entry.policy_id for r in rows if r.entry.label}
    reviews_card: dict[str, Any] | None = None
    if reviewed is not None:
        review_rows, reviews_card = _review_rows(reviewed, labels, policy_of)
        at = max((i for i, r in enumerate(rows) if r.entry.role != "background"), default=-1) + 1
        rows[at:at] = review_rows  # beside the labelled corpora, before the background
        for r in review_rows:
            say(f"reviews for {r.entry.label}: {len(r.train_texts):,} items ({int(r.train_y.sum()):,} violating)")
    digest = hashlib.sha256()
    for r in rows:
        hard = getattr(r.entry, "hard_negatives", False)  # what is trained on, so part of the version
        digest.update(f"{r.entry.id}|{r.entry.label}|{r.entry.policy_id}|{r.entry.role}|{hard}|".encode())
        digest.update(pd.util.hash_pandas_object(r.train_texts, index=False).to_numpy().tobytes())
        digest.update(r.train_y.astype(np.int8).tobytes())
    data_hash = digest.hexdigest()
    train_params = {
        "c_grid": list(c_grid),
        "folds": folds,
        "seed": seed,
        "max_train_rows": max_train_rows,
        "selection": "cross-validated log loss after Platt scaling",
        "solver": "liblinear (dual), tol 1e-3",
        "negatives": "every other entry's rows and the background (mixed stream)",
        "stream_prevalence": prevalence,
        "domain_c": DOMAIN_C,
        "domain_other_rows": DOMAIN_OTHER_ROWS,
        "domain_saturation": DOMAIN_SATURATION,
        "domain_in_quantile": DOMAIN_IN_QUANTILE,
        "domain_min_saturation": DOMAIN_MIN_SATURATION,
        "in_corpus_features": "log-count-ratio scaled (NB-LR, alpha 1)",
        "hard_negative_cap": HARD_NEGATIVE_CAP,
        "threshold_parts": THRESHOLD_PARTS,
        "curves_pack_sha256": None if pack is None else pack.sha256,
    }
    memo: MemoEncoder | None = None
    if embeddings:  # only then: a default model's parameters, and so its version, are unchanged
        if encoder is None:
            require_embeddings()
        memo = MemoEncoder(encoder if encoder is not None else load_encoder(EMBED_MAX_SEQ_LENGTH))
        train_params["embeddings"] = {
            "encoder": ENCODER_NAME
            if encoder is None
            else getattr(encoder, "encoder_name", None)
            or f"injected: {getattr(encoder, '__name__', type(encoder).__name__)}",
            "max_seq_length": EMBED_MAX_SEQ_LENGTH,
            "candidate_threshold": CANDIDATE_THRESHOLD,
            "views": {"linear": list(EMBEDDING_C_GRID), "rbf": list(KERNEL_C_GRID)},
            "combiner": "logistic stacking of the first stage's calibrated logit and the embedding margin, "
            "fitted on out-of-fold values of the label's own rows",
        }

    t_all = time.perf_counter()
    train_rows = [r for r in rows if r.entry.trains]
    train = _pool(train_rows, "train")
    features = featurise(normalise(train.texts), params)
    x = design_matrix(features)
    fold_of = _fold_ids(train.texts, folds, seed)
    say(f"featurised {len(train.texts):,} pooled training rows in {time.perf_counter() - t_all:.1f} s")
    classifiers: dict[str, PolicyClassifier] = {}
    domains: dict[str, PolicyClassifier] = {}
    saturations: dict[str, float] = {}
    label_cards: dict[str, dict[str, Any]] = {}
    heads: dict[str, EmbeddingHead] = {}
    word_width = 1 << int(params["word_bits"])
    has_chars = features.char_block is not None
    own_of = {label: np.array([r.entry.label == label for r in train_rows])[train.entry] for label in labels}
    row_policy = np.array([r.entry.policy_id or "" for r in train_rows], dtype=object)[train.entry]
    for label in labels:
        t0 = time.perf_counter()
        own = own_of[label]
        y = train.y & own
        if y.sum() < 5 or (own & ~train.y).sum() < 5:
            raise ValueError(
                f"label {label!r}: {int(y.sum())} positive and {int((own & ~train.y).sum())} negative "
                "training rows; need 5 of each"
            )
        # P(domain) first: the label's corpora against every other row (other corpora and the background).
        gate: dict[str, Any] | None = None
        p_other = np.full(len(own), np.nan)
        if (~own).sum() >= 5:
            dweights, dplatt, saturations[label], gate, p_other = _fit_domain_gate(x, own, fold_of, train.texts, seed)
            domains[label] = _classifier(dweights, word_width, has_chars, dplatt, DOMAIN_C)
        # P(violating | domain): the label's own corpora, as the corpus defines its classes, plus hard
        # negatives: rows of other policies' corpora and the background that the gate lets through uncapped.
        hard = np.zeros(len(own), dtype=bool)
        if gate is not None and any(
            getattr(r.entry, "hard_negatives", False) for r in train_rows if r.entry.label == label
        ):
            other_policy = row_policy != policy_of[label]
            hard = ~own & other_policy & (np.nan_to_num(p_other) / saturations[label] >= HARD_NEGATIVE_CAP)
        fit_rows = own | hard
        oof: dict[str, np.ndarray] = {}
        c, platt, cv = _select_and_calibrate(
            x[fit_rows],
            y[fit_rows],
            fold_of[fit_rows],
            tuple(c_grid),
            seed,
            nb=True,
            scored=own[fit_rows],
            oof_out=oof,
        )
        weights, converged = _fit_nb(x[fit_rows], y[fit_rows], c, seed)
        classifiers[label] = _classifier(weights, word_width, has_chars, platt, c)
        embedding_card: dict[str, Any] | None = None
        if memo is not None:
            t_e = time.perf_counter()
            vectors = memo(train.texts[fit_rows].tolist())
            heads[label], embedding_card = fit_embedding_head(
                vectors, y[fit_rows], fold_of[fit_rows], oof["logit"], own[fit_rows], seed=seed
            )
            embedding_card["seconds"] = round(time.perf_counter() - t_e, 2)
            say(
                f"embedding head {label}: {heads[label].kind} C={heads[label].c:g}, out-of-fold ROC-AUC first stage "
                f"{embedding_card['oof_roc_auc_first_stage']:.3f}, embeddings {embedding_card['oof_roc_auc_embedding']:.3f}, "
                f"combined {embedding_card['oof_roc_auc_combined']:.3f} ({embedding_card['seconds']:.1f} s; "
                f"{memo.encoded:,} posts encoded so far)"
            )
        entry_ids = np.array([r.entry.id for r in train_rows], dtype=object)
        card: dict[str, Any] = {
            "policy": policy_of[label],
            "datasets": [r.entry.id for r in rows if r.entry.label == label],
            "rows_train": int(own.sum()),
            "positives_train": int(y.sum()),
            "hard_negatives": {
                "rows": int(hard.sum()),
                "by_dataset": {
                    str(k): int(v) for k, v in pd.Series(entry_ids[train.entry[hard]]).value_counts().items()
                },
            },
            "c": c,
            "converged": converged,
            "platt": {"a": platt[0], "b": platt[1]},
            "cross_validation": cv,
        }
        if gate is not None:
            card["domain"] = gate
        if embedding_card is not None:
            card["embedding"] = embedding_card
        card["train_seconds"] = round(time.perf_counter() - t0, 2)
        label_cards[label] = card
        dom = card.get("domain", {}).get("cross_validation", {}).get("oof_roc_auc", float("nan"))
        say(
            f"trained {label}: within its corpora C={c}, out-of-fold ROC-AUC {cv['oof_roc_auc']:.3f}; "
            f"domain gate ROC-AUC {dom:.3f} ({time.perf_counter() - t0:.1f} s)"
        )
    del x, features
    model = TextPolicyModel(
        labels=labels,
        classifiers=classifiers,
        feature_params=params,
        feature_key=feature_key(params),
        domains=domains,
        domain_saturation=DOMAIN_SATURATION,
        domain_saturations=saturations,
    )
    if memo is not None:
        model.embedding = EmbeddingStage(heads=heads, candidate_threshold=CANDIDATE_THRESHOLD)
        model.embedding.use_encoder(memo)  # training scores the validation posts twice: encode each once

    # Per data set: its own head on its validation split (the corpus view).
    dataset_cards: dict[str, dict[str, Any]] = {}
    for r in rows:
        e = r.entry
        if isinstance(e, _ReviewEntry):
            continue  # described in training_data.reviews
        card: dict[str, Any] = {
            "label": e.label,
            "policy": e.policy_id,
            "role": e.role if e.role == "background" else ("train+validation" if e.trains else "validation only"),
            "description": e.description,
            "licence": e.licence,
            "files": e.files(),
            "files_sha256": _sha256_files([data_root / f for f in e.files()]),
            "rows_train": len(r.train_texts),
            "positives_train": int(r.train_y.sum()),
            "rows_validation": len(r.valid_texts),
        }
        if e.label in model.labels and len(r.valid_texts):
            t0 = time.process_time()
            p = model.score_texts(r.valid_texts)[e.label]
            cpu = max(time.process_time() - t0, 1e-9)
            card["validation"] = {
                **evaluate_scores(r.valid_y, p, removal_threshold, review_threshold),
                "items_per_s_cpu": round(len(p) / cpu),
            }
            if model.embedding is not None:  # the same model without its second stage (= the default model)
                first = model.score_texts(r.valid_texts, embeddings=False)[e.label]
                card["validation_first_stage"] = evaluate_scores(r.valid_y, first, removal_threshold, review_threshold)
                card["validation"]["rescored"] = int(
                    (first >= model.embedding.candidate_threshold).sum()
                )  # rows of this split the stage encoded for this label
        dataset_cards[e.id] = card

    # The mixed validation stream: every trained entry's validation rows + the background, one day's traffic.
    stream_rows = [r for r in rows if r.entry.trains and len(r.valid_texts)]
    stream = _pool(stream_rows, "validation")
    probs = model.score_texts(stream.texts)
    by_policy = policy_scores_of(probs, policy_of)
    curves_from = "the classifier scores"
    if pack is not None:  # the policy score as decide sees it: every detector of the pack, not the model alone
        scored = pack_policy_scores(pack, model, stream.texts)
        by_policy = {pid: scored[pid] for pid in by_policy if pid in scored}
        curves_from = f"pack {pack.name} {pack.version} (sha256 {pack.sha256[:12]}): every detector's score, as decided"
    violation = np.array([r.entry.role == "labelled" and r.entry.violation for r in stream_rows])
    violating = violation[stream.entry] & stream.y
    weight = stream_weights(violating, prevalence)
    entry_policy = np.array([r.entry.policy_id or "" for r in stream_rows], dtype=object)
    curves: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    parts = threshold_parts(stream.texts)
    for pid, score in by_policy.items():
        y = (entry_policy[stream.entry] == pid) & stream.y
        curves[pid] = stream_precision_curve(y, score, weight, parts=parts)
        targets[pid] = precision_targets_table(curves[pid])
        met = ", ".join(
            f"{k}@{v['threshold']:.3f} (recall {v['recall']:.2f})"
            for k, v in targets[pid].items()
            if v and v["threshold"]
        )
        unmet = ", ".join(k for k, v in targets[pid].items() if v and not v["threshold"])
        say(
            f"stream thresholds for {pid}: {met or 'none met'}"
            + (f"; not holding out of fold: {unmet}" if unmet else "")
        )
    composition = {r.entry.id: {"rows": len(r.valid_texts), "positives": int(r.valid_y.sum())} for r in stream_rows}
    metrics: dict[str, dict[str, Any]] = {}
    for label in labels:
        pid = policy_of[label]
        y = (entry_policy[stream.entry] == pid) & stream.y
        metrics[label] = {
            "positives_train": label_cards[label]["positives_train"],
            **evaluate_scores(y, probs[label], removal_threshold, review_threshold),
        }

    if model.embedding is not None:
        model.embedding.use_encoder(None)  # the saved model loads the real encoder where it scores
        card_algorithm_extra = (
            f" Second stage (train --embeddings): posts whose score reaches {CANDIDATE_THRESHOLD:g} are rescored as "
            "min(sigmoid(b0 + b1 * first-stage calibrated logit + b2 * embedding margin), the same domain cap), the "
            "embedding margin an RBF-kernel SVM or a logistic regression (chosen per label by the combiner's "
            "out-of-fold log loss) over normalised all-MiniLM-L6-v2 sentence embeddings trained on the label's "
            "first-stage rows, the combiner fitted on out-of-fold values of the label's own rows "
            "(embeddings, label_training.*.embedding)."
        )
    else:
        card_algorithm_extra = ""
    version = _version(data_hash, json.dumps(train_params, sort_keys=True), model.feature_key)
    card = {
        "name": MODEL_NAME,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "training_data": {
            "source": f"manifest:{manifest_path}",
            "manifest_sha256": _sha256_files([manifest_path]),
            "data_root": str(data_root),
            "sha256": data_hash,
            "rows": len(train.texts),
            "datasets": dataset_cards,
            "reviews": reviews_card,
        },
        "algorithm": (
            "Per label, two NB-LR models (logistic regression, liblinear dual, over hashed word 1-2-grams + "
            "character 2-5-grams scaled by their log-count ratios; the ratios fold into the weights, so scoring "
            "costs one dot product) combined as min(P(violating | domain), P(domain) / s): P(violating | domain) "
            "trained on the label's own corpora, for manifest entries marked hard_negatives plus hard negatives "
            "(rows of other policies' corpora and the "
            f"background whose out-of-fold P(domain) / s >= {HARD_NEGATIVE_CAP:g}, i.e. posts the gate lets through "
            "uncapped; label_training.*.hard_negatives; calibrated on the own corpora's rows only), capped by a "
            "domain gate, P(domain) trained on the label's corpora against every other "
            f"entry's rows and the background (the mixed stream), s = the {DOMAIN_IN_QUANTILE:.0%} quantile of the "
            f"label's own rows' out-of-fold P(domain), within {DOMAIN_MIN_SATURATION}-{DOMAIN_SATURATION} (label_training.*.domain."
            "saturation), so the gate leaves the ranking of posts of the label's own kind alone. C chosen by "
            "cross-validated log loss; Platt scaling fitted on the out-of-fold scores. A policy's classifier score "
            "is the largest of its labels'."
        )
        + card_algorithm_extra,
        "training_params": train_params,
        "train_seconds": round(time.perf_counter() - t_all, 1),
        "features": _features_card(params),
        "labels": labels,
        "label_policies": policy_of,
        "label_training": label_cards,
        "thresholds": {
            "removal": removal_threshold,
            "review": review_threshold,
            "note": "reference points of validation_metrics; pack bands written auto@P use stream.policies instead",
        },
        "stream": {
            "description": (
                "every trained entry's validation split plus the background, violating rows reweighted to a "
                f"{prevalence:.0%} share; precision_lower is a one-sided 90% Wilson bound on the flagged rows. "
                f"An auto@P threshold is the lowest whose bound reaches P, and it must also hold out of fold: the "
                f"stream is split in {THRESHOLD_PARTS} parts by text hash (parts), the same rule on every "
                f"{THRESHOLD_PARTS - 1} parts picks a threshold, and the rows of the remaining part it flags, "
                "pooled over the parts, must reach precision P with the same one-sided 90% Wilson bound "
                "(targets.*.out_of_fold); a target that fails the check is unmet (targets.*.unmet) and that "
                "action is never automated"
            ),
            "threshold_rule": {
                "bound": "one-sided 90% Wilson lower bound of the weighted precision on the flagged rows",
                "out_of_fold": "the same bound on the rows each part's threshold (picked on the other parts) flags",
                "out_of_fold_parts": THRESHOLD_PARTS,
                "parts_hash_key": "threshold-parts1",
            },
            "prevalence": prevalence,
            "scores": curves_from,
            "pack_sha256": None if pack is None else pack.sha256,
            "rows": len(stream.texts),
            "composition": composition,
            "policies": curves,
            "targets": targets,
        },
        "validation_metrics": metrics,
        "embeddings": None if model.embedding is None else {**model.embedding.card(), "extra": "embeddings"},
        "intended_use": (
            "Scores short posts against the labels above; the policy pack turns scores into review or actions, "
            "with auto@P bands at the thresholds that reach precision P on the mixed stream."
        ),
        "limitations": (
            "Thresholds hold for traffic like the stream (tweets, SMS, PolitiFact statements, ordinary tweets) at "
            f"about {prevalence:.0%} violating; other media, languages or prevalence change precision, so watch QA "
            "precision and re-derive thresholds from reviews (`modsweep calibrate`). Licences of the data sets "
            "(above) bind this model: research-only data means a research-only model."
        ),
    }
    return TrainingResult(model=model, version=version, card=_json_safe(card))
