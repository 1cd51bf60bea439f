"""Training text-policy classifiers on labelled data (one shared featurisation, one model per policy)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from modsweep.tasks.text import FEATURE_PARAMS, featurise, normalise

MODEL_NAME = "text-policy"


@dataclass
class TextPolicyModel:
    """One logistic regression per policy over the shared hashed features."""

    labels: list[str]
    classifiers: dict[str, LogisticRegression]
    feature_params: dict[str, Any] = field(default_factory=lambda: dict(FEATURE_PARAMS))

    def predict_proba(self, features: Any) -> dict[str, np.ndarray]:
        """P(violating) per policy for every row of a shared feature matrix."""
        return {label: clf.predict_proba(features)[:, 1].astype(np.float32) for label, clf in self.classifiers.items()}


@dataclass(frozen=True)
class TrainingResult:
    model: TextPolicyModel
    version: str
    card: dict[str, Any]


def training_data_hash(texts: pd.Series, labels: pd.DataFrame) -> str:
    """sha256 over the texts and label matrix, order-sensitive: the model's data lineage."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(texts.fillna(""), index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(labels.to_numpy(dtype=np.int8)).tobytes())
    digest.update(",".join(labels.columns).encode())
    return digest.hexdigest()


def validation_mask(texts: pd.Series, share: float = 0.2) -> np.ndarray:
    """A deterministic hold-out split by text hash (the same text never lands on both sides)."""
    h = pd.util.hash_pandas_object(texts.fillna(""), index=False).to_numpy()
    return (h % 10_000) < int(share * 10_000)


def train_text_policy_model(
    texts: pd.Series, labels: pd.DataFrame, *, source: str, c: float = 4.0, seed: int = 0
) -> TrainingResult:
    """Fit one classifier per label column (bool) and measure it on a hash-split validation set."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    data_hash = training_data_hash(texts, labels)
    norm = normalise(texts)
    features = featurise(norm)
    valid = validation_mask(texts)
    train = ~valid
    classifiers: dict[str, LogisticRegression] = {}
    metrics: dict[str, dict[str, float]] = {}
    for label in labels.columns:
        y = labels[label].to_numpy(dtype=bool)
        if y[train].sum() < 5:
            raise ValueError(f"label {label!r} has {int(y[train].sum())} positive training rows; need at least 5")
        clf = LogisticRegression(C=c, solver="liblinear", max_iter=200, random_state=seed)
        clf.fit(features[train], y[train])
        p = clf.predict_proba(features[valid])[:, 1]
        yv = y[valid]
        metrics[label] = {
            "positives_train": int(y[train].sum()),
            "positives_valid": int(yv.sum()),
            "roc_auc": float(roc_auc_score(yv, p)) if 0 < yv.sum() < len(yv) else float("nan"),
            "average_precision": float(average_precision_score(yv, p)) if yv.any() else float("nan"),
            "f1_at_0.5": float(f1_score(yv, p >= 0.5, zero_division=0)),
        }
        classifiers[label] = clf
    model = TextPolicyModel(labels=list(labels.columns), classifiers=classifiers)
    version = "v" + hashlib.sha256(f"{data_hash}|{c}|{seed}|{FEATURE_PARAMS}".encode()).hexdigest()[:12]
    card = {
        "name": MODEL_NAME,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "training_data": {"source": source, "sha256": data_hash, "rows": len(texts), "validation_rows": int(valid.sum())},
        "algorithm": f"LogisticRegression(C={c}, liblinear) per label over hashed word 1-2-grams",
        "features": {k: str(v) for k, v in FEATURE_PARAMS.items()},
        "labels": list(labels.columns),
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
