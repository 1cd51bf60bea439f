"""Detection throughput: every policy's detectors over a synthetic day, partition by partition.

    .venv/bin/python -m bench.detect_speed --rows 1000000 [--workers 2] [--model-dir DIR]

--model-dir scores with the latest model registered in DIR (e.g. the manifest model `make bench-detection`
saves, domain gates included); without it a model is trained on a synthetic day.

Prints items/s, peak RSS of the parent and workers, and where the time goes per detector kind (measured in
one worker process on one partition). Generating and ingesting the day runs in a process of its own before
the timed detection, so the parent's peak is the detection's orchestration, not the generator's. Partitions are scored in a process pool (one process per core): the
detectors are CPU-bound Python/NumPy, and separate processes keep both cores busy where threads would
share one interpreter lock.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 23)


def _prepare(
    workdir: Path,
    rows: int,
    model_dir: Path | None = None,
    first_stage_only: bool = False,
    partition_rows: int = 100_000,
) -> list[Path]:
    """Generate a training day and the day to score; train and register the model; ingest the day."""
    import pyarrow.parquet as pq

    from modsweep.cli import TEXT_POLICIES
    from modsweep.registry import save_model
    from modsweep.runs import day_window
    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.ingest import items_table, normalise_rows, read_source_file
    from modsweep.tasks.train import MODEL_NAME, read_synthetic_training_set, train_text_policy_model

    if model_dir is not None:
        from modsweep.registry import load_model

        model, card = load_model(model_dir, MODEL_NAME)
        if first_stage_only and getattr(model, "embedding", None) is not None:  # = the default model's weights
            model, card = model.first_stage(), {**card, "embeddings": None}
        save_model(workdir / "home" / "models", MODEL_NAME, card["version"], model, card)
    else:
        write_synthetic_day(workdir / "training", date(2026, 11, 22), 50_000, seed=7)
        texts, labels = read_synthetic_training_set(workdir / "training", TEXT_POLICIES)
        result = train_text_policy_model(texts, labels, source="bench")
        save_model(workdir / "home" / "models", MODEL_NAME, result.version, result.model, result.card)
    write_synthetic_day(workdir / "source", DAY, rows, seed=42, partition_rows=partition_rows)
    parts = []
    for i, f in enumerate(sorted((workdir / "source" / "items").rglob("*.parquet"))):
        res = normalise_rows(
            read_source_file(f),
            source_file=str(f),
            source_name="bench",
            run_id="bench",
            window=day_window(DAY),
            max_item_chars=1_000_000,
        )
        out = workdir / "items" / f"part-{i:05d}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(items_table(res.items), out)
        parts.append(out)
    return parts


def _detect(path: str) -> tuple[int, int, float, int, float]:
    """Score one partition in a worker: (rows, detections, seconds, worker peak RSS in KiB, CPU seconds)."""
    import pandas as pd

    from modsweep.tasks import banks, detect

    bank = banks.detector_bank("community-guidelines", "standard")
    items = pd.read_parquet(path)
    t0, c0 = time.perf_counter(), time.process_time()
    found = detect.detect_partition(items, bank, "bench")
    detect.coordination_signatures(items, 60)
    cpu = time.process_time() - c0
    return len(items), len(found), time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu


def _breakdown(path: Path) -> dict[str, float]:
    """Seconds per step on one partition, in this process."""
    import pandas as pd

    from modsweep.tasks import banks, detect
    from modsweep.tasks.text import combined_text, featurise, normalise

    bank = banks.detector_bank("community-guidelines", "standard")
    items = pd.read_parquet(path)
    ids = items["item_id"].to_numpy()
    out: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        value = fn()
        out[name] = time.perf_counter() - t
        return value

    raw = timed("combine text", lambda: combined_text(items))
    norm = timed("normalise", lambda: normalise(raw))
    features = timed("featurise (shared)", lambda: featurise(norm))
    probs = timed("classifiers (all labels)", lambda: bank.model.predict_proba(features))
    stage = getattr(bank.model, "embedding", None)
    if stage is not None:  # the second stage on the same partition: encoder load, then the candidates' rescoring
        timed("embedding encoder load", stage.encoder)
        probs = timed("classifiers + embedding stage", lambda: bank.model.predict_proba(features, raw))
        out["embedding candidates"] = stage.last_candidates
    timed("lexicon (one automaton)", lambda: detect.score_lexicons(ids, norm, bank))
    timed("claim_match", lambda: detect.score_claims(ids, features, bank))
    timed("regex", lambda: detect.score_regexes(items, raw, bank))
    timed("hashtag", lambda: detect.score_hashtags(items, bank))
    timed("hash_match", lambda: detect.score_media_hashes(items, bank))
    timed("reports", lambda: detect.score_reports(items, bank))
    timed("aigc", lambda: detect.score_aigc(items, probs, bank))
    timed("classifier rows", lambda: detect.score_classifiers(ids, probs, norm, bank))
    timed("coordination signatures", lambda: detect.coordination_signatures(items, 60))
    out["rows"] = len(items)
    return out


_STEP_COUNTS = ("rows", "embedding candidates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--model-dir", type=Path, default=None, help="score with the latest model registered here")
    parser.add_argument(
        "--first-stage-only",
        action="store_true",
        help="drop a --model-dir model's embedding stage (its first stage is the default model)",
    )
    parser.add_argument("--partition-rows", type=int, default=100_000, help="rows per partition of the day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modsweep-bench-") as tmp:
        workdir = Path(tmp)
        os.environ["MODSWEEP_HOME"] = str(workdir / "home")
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=1) as pool:  # its memory is returned when it ends
            parts = pool.submit(
                _prepare, workdir, args.rows, args.model_dir, args.first_stage_only, args.partition_rows
            ).result()
        print(f"prepared {args.rows:,} items in {len(parts)} partitions in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = list(pool.map(_detect, [str(p) for p in parts]))
        wall = time.perf_counter() - t0
        with ProcessPoolExecutor(max_workers=1) as pool:
            steps = pool.submit(_breakdown, parts[0]).result()
        rows = sum(r[0] for r in results)
        parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker = max(r[3] for r in results) / 1024
        print(
            f"\ndetection, every policy: {rows:,} items in {wall:.1f} s wall = {rows / wall:,.0f} items/s "
            f"with {args.workers} worker processes on {os.cpu_count()} cores"
        )
        cpu = sum(r[4] for r in results)
        print(
            f"CPU: {cpu:.1f} s in the workers = {rows / cpu:,.0f} items per CPU-second (what one idle core does; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores during this run)"
        )
        print(
            f"detections: {sum(r[1] for r in results):,}; per-partition seconds: "
            f"{min(r[2] for r in results):.2f}–{max(r[2] for r in results):.2f}"
        )
        print(
            f"peak RSS: parent {parent:,.0f} MiB, largest worker {worker:,.0f} MiB, sum {parent + args.workers * worker:,.0f} MiB"
        )
        total = sum(v for k, v in steps.items() if k not in _STEP_COUNTS)
        print(f"\nwhere the time goes (one partition of {int(steps['rows']):,} rows, one process):")
        if "embedding candidates" in steps:
            print(f"  (embedding stage: {int(steps['embedding candidates']):,} candidate posts encoded)")
        for name, seconds in sorted(((k, v) for k, v in steps.items() if k not in _STEP_COUNTS), key=lambda kv: -kv[1]):
            print(f"  {name:<28} {seconds:6.2f} s  {seconds / total:5.1%}")


if __name__ == "__main__":
    main()
