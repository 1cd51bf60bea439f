"""Scoring any labelled or unlabelled file with every policy of a pack (how policy teams evaluate a pack)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from modsweep.policy import PolicyPack
from modsweep.tasks.decide import ENFORCE, non_enforcing_detectors, policy_scores
from modsweep.tasks.detect import DetectorBank, detect_partition

FORMATS = ("csv", "tsv", "jsonl", "parquet")


def infer_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"json": "jsonl", "ndjson": "jsonl", "txt": "tsv"}.get(suffix, suffix)
    if fmt not in FORMATS:
        raise ValueError(f"{path}: cannot tell the format from {path.suffix!r}; pass --format ({', '.join(FORMATS)})")
    return fmt


def read_chunks(path: Path, fmt: str, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """The input in chunks of at most `chunk_rows`, so a file of any size is scored in bounded memory."""
    if fmt == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    elif fmt in ("csv", "tsv"):
        yield from pd.read_csv(
            path,
            sep="\t" if fmt == "tsv" else ",",
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_rows,
            on_bad_lines="warn",
            encoding_errors="replace",
        )
    else:
        yield from pd.read_json(path, lines=True, dtype=False, chunksize=chunk_rows, encoding_errors="replace")


def as_items(chunk: pd.DataFrame, text_column: str, offset: int) -> pd.DataFrame:
    """A minimal item frame around one text column (other detector inputs take neutral values)."""
    if text_column not in chunk.columns:
        raise KeyError(f"no column {text_column!r}; columns are {list(chunk.columns)}")
    n = len(chunk)
    text = chunk[text_column].astype(object).where(chunk[text_column].notna(), None)
    return pd.DataFrame(
        {
            "item_id": [f"row-{offset + k}" for k in range(n)],
            "text": text.to_numpy(),
            "transcript": None,
            "ocr_text": None,
            "hashtags": [[] for _ in range(n)],
            "media_hash": None,
            "ai_disclosed": False,
            "ai_provenance": None,
            "user_reports": 0,
            "report_reasons": [[] for _ in range(n)],
            "views": 0,
            "region": chunk["region"].to_numpy() if "region" in chunk else "ZZ",
        }
    )


def score_chunk(
    chunk: pd.DataFrame, text_column: str, offset: int, pack: PolicyPack, bank: DetectorBank, max_chars: int
) -> pd.DataFrame:
    """The chunk with `score.<policy>`, `action.<policy>` (default bands, or the row's region's) and `detectors.<policy>`."""
    items = as_items(chunk, text_column, offset)
    found = detect_partition(items, bank, run_id="score", max_chars=max_chars)
    # Coordination needs a whole day of posts, so policies detected only that way are left out.
    policies = [p for p in pack.policies() if any(d.kind != "coordination" for d in p.detectors)]
    scores = policy_scores(items["item_id"], found, [p.id for p in policies], non_enforcing_detectors(pack))
    out = chunk.reset_index(drop=True).copy()
    fired = found.groupby(["policy_id", "item_id"])["detector_id"].agg(lambda s: ",".join(sorted(set(s))))
    for p in policies:
        s = scores[p.id].to_numpy()
        out[f"score.{p.id}"] = s
        strong = scores[p.id + ENFORCE].to_numpy()
        action = np.full(len(s), "none", dtype=object)
        for region in pd.unique(items["region"]):
            rows = (items["region"] == region).to_numpy()
            for band in p.bands_for(str(region)):
                reached = rows & (s >= band.min_score)
                # as in decide: an automated band needs an enforcing detector to reach it alone
                alone = band.action == "escalate" or p.never_automate
                action[reached] = (
                    band.action if alone else np.where(strong[reached] >= band.min_score, band.action, "escalate")
                )
            if p.never_automate:
                action[rows & (action != "none")] = "escalate"
        out[f"action.{p.id}"] = action
        by_item = fired.loc[p.id] if p.id in fired.index.get_level_values(0) else pd.Series(dtype=object)
        out[f"detectors.{p.id}"] = items["item_id"].map(by_item).fillna("").to_numpy()
    return out


def label_metrics(scored: pd.DataFrame, label_column: str, positive: list[str], policy_ids: list[str]) -> pd.DataFrame:
    """ROC-AUC and precision/recall at the default review (lowest) band of every policy against a binary label."""
    y = scored[label_column].astype(str).str.strip().isin(positive).to_numpy()
    rows = []
    for pid in policy_ids:
        s = scored[f"score.{pid}"].to_numpy()
        flagged = scored[f"action.{pid}"].to_numpy() != "none"
        tp = int((flagged & y).sum())
        rows.append(
            {
                "policy": pid,
                "rows": len(y),
                "positives": int(y.sum()),
                "roc_auc": float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan"),
                "flagged": int(flagged.sum()),
                "precision_flagged": tp / flagged.sum() if flagged.any() else float("nan"),
                "recall_flagged": tp / y.sum() if y.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows).sort_values("roc_auc", ascending=False, na_position="last")
