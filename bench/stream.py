"""Detection on a mixed stream: the whole pack, as a day of real traffic meets it (issue 13).

    make bench-detection   (runs this after bench.detection)
    .venv/bin/python -m bench.stream [--data-root ../shared/datasets] [--model-dir DIR] [--markdown FILE]

The stream is every trained data set's validation split plus the background tweets, with violating rows
reweighted to the model card's stated prevalence (10%). Each row is scored by every detector of the default
pack (lexicons, claims, regexes, classifiers ...) and decided with the pack's bands, auto@P bands resolved
from precision curves; only a row's own policy counts as a correct action for it.

Thresholds are cross-fitted: the stream is split in five folds by text hash, auto@P bands are resolved on
four folds (with the deployed rule, its out-of-fold check inside those folds included) and the fifth is decided
with them, for each fold in turn, so no row is decided by thresholds that saw it. Five folds rather than two
halves: the rule's support (the rows its bounds are read on) is then 80% of what the deployed card has, not 50%. Side by side in the same run: a TF-IDF word+char one-vs-rest logistic regression trained on all the
training splits pooled (every other corpus and the background as negatives; thresholds for precision >= 0.9
picked the same cross-fitted way), and `alt-profanity-check` for hate.speech (a library a user would pick
instead for abusive language; thresholds the same way).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.detection import MANIFEST, _fmt, default_data_root, machine

ENFORCING = ("label", "reduce_reach", "age_restrict", "remove")
CROSS_FIT_FOLDS = 5


@dataclass
class Stream:
    texts: pd.Series
    truth: np.ndarray  # the policy a row violates, "" when none
    weight: np.ndarray
    fold: np.ndarray  # 0 .. CROSS_FIT_FOLDS - 1 by text hash (cross-fitting)
    composition: dict[str, int]
    parts: np.ndarray  # the out-of-fold check's parts (train.threshold_parts), as training splits its stream


def build_stream(data_root: Path, prevalence: float) -> Stream:
    """Every trained entry's validation split + the background; violating rows weighted to `prevalence`."""
    from modsweep.tasks.datasets import load_manifest, read_split
    from modsweep.tasks.train import stream_weights, threshold_parts

    texts, truth, comp = [], [], {}
    for e in load_manifest(MANIFEST).datasets:
        if not e.trains:
            continue
        va = read_split(e, data_root, "validation")
        texts.append(va.texts)
        violates = va.y & (e.role == "labelled") & e.violation
        truth.append(np.where(violates, e.policy_id or "", ""))
        comp[e.id] = len(va.texts)
    t = pd.concat(texts, ignore_index=True)
    y = np.concatenate(truth).astype(object)
    h = pd.util.hash_pandas_object(t, index=False, hash_key="stream-halves-01").to_numpy()
    return Stream(
        t, y, stream_weights(y != "", prevalence), (h % CROSS_FIT_FOLDS).astype(int), comp, threshold_parts(t)
    )


def enforcement_metrics(stream: Stream, actions: dict[str, np.ndarray], rows: np.ndarray | None = None) -> pd.DataFrame:
    """Per policy: weighted precision and recall of automated enforcement and of escalation; a total row."""
    keep = np.ones(len(stream.texts), bool) if rows is None else rows
    w, truth = stream.weight[keep], stream.truth[keep]
    out = []
    enforced_all = np.zeros(keep.sum(), bool)
    caught_all = np.zeros(keep.sum(), bool)
    total_enf, total_bad = 0.0, 0.0
    for pid, act in actions.items():
        a = act[keep]
        mine = truth == pid
        enf = np.isin(a, ENFORCING)
        esc = a == "escalate"
        tp_e, n_e = (w * (enf & mine)).sum(), (w * enf).sum()
        tp_r, n_r = (w * (esc & mine)).sum(), (w * esc).sum()
        pos = (w * mine).sum()
        out.append(
            {
                "policy": pid,
                "enforced": int(enf.sum()),
                "enforce_precision": tp_e / n_e if n_e else float("nan"),
                "enforce_recall": tp_e / pos if pos else float("nan"),
                "escalated": int(esc.sum()),
                "escalate_precision": tp_r / n_r if n_r else float("nan"),
                "recall_any": (w * ((enf | esc) & mine)).sum() / pos if pos else float("nan"),
            }
        )
        total_enf += n_e
        total_bad += n_e - tp_e
        enforced_all |= enf & mine
        caught_all |= (enf | esc) & mine
    bad = truth != ""
    out.append(
        {
            "policy": "all",
            "enforced": int(sum(r["enforced"] for r in out)),
            "false_enforcement_share": total_bad / total_enf if total_enf else float("nan"),
            "enforce_precision": 1 - total_bad / total_enf if total_enf else float("nan"),
            "enforce_recall": (w * enforced_all).sum() / (w * bad).sum(),
            "recall_any": (w * caught_all).sum() / (w * bad).sum(),
            "escalated": int(sum(r["escalated"] for r in out)),
        }
    )
    return pd.DataFrame(out)


def action_targets(stream: Stream, actions: dict[str, np.ndarray]) -> list[str]:
    """Per policy and automated band of the default pack (the stream's rows have no region): its precision target
    and the cross-fitted precision of the rows given that action or a stronger band's (as the target is defined)."""
    from modsweep.policy import load_pack

    lines = [
        "| policy | band | target | rows given it or a stronger band | cross-fitted precision | met |",
        "|---|---|---:|---:|---:|---|",
    ]
    for policy in load_pack("community-guidelines").policies():
        if policy.id not in actions:
            continue
        ladder = [b.action for b in policy.bands]
        act = actions[policy.id]
        for k, band in enumerate(policy.bands):
            if band.action not in ENFORCING:
                continue
            target = band.auto_precision if band.auto_precision is not None else policy.precision_target(band.action)
            rows = np.isin(act, ladder[k:])
            w = stream.weight[rows]
            precision = float((w * (stream.truth[rows] == policy.id)).sum() / w.sum()) if rows.any() else float("nan")
            shown = f"auto@{band.auto_precision:g}" if band.auto_precision is not None else f"{band.min_score:g}"
            met = "–" if not rows.any() else ("yes" if precision >= target else "**no**")
            lines.append(
                f"| {policy.id} | {band.action} at {shown} | {target:g} | {int(rows.sum()):,} | "
                f"{_fmt(precision)} | {met} |"
            )
    return lines


def cross_fitted_actions(stream: Stream, score_of: dict[str, np.ndarray], decide: Any) -> dict[str, np.ndarray]:
    """Actions per policy where each fold is decided with thresholds read off the other folds' curves."""
    from modsweep.tasks.train import stream_precision_curve

    actions: dict[str, np.ndarray] = {}
    for fold in range(CROSS_FIT_FOLDS):
        fit, apply = stream.fold != fold, stream.fold == fold
        # the deployed rule, out-of-fold check included: the fitting folds' rows keep their parts
        curves = {
            pid: stream_precision_curve(stream.truth[fit] == pid, s[fit], stream.weight[fit], parts=stream.parts[fit])
            for pid, s in score_of.items()
        }
        for pid, act in decide(curves, apply).items():
            actions.setdefault(pid, np.full(len(stream.texts), "none", dtype=object))[apply] = act
    return actions


def modsweep_actions(stream: Stream, model: Any, card: dict[str, Any]) -> tuple[dict[str, np.ndarray], float]:
    """The default pack over the stream (all its detectors), auto@P bands resolved cross-fitted."""
    from modsweep.policy import load_pack
    from modsweep.tasks.detect import build_detector_bank
    from modsweep.tasks.score import score_chunk
    from modsweep.tasks.train import pack_policy_scores

    pack = load_pack("community-guidelines")
    frame = pd.DataFrame({"text": stream.texts})
    t0 = time.process_time()
    # curves of the policy score as decide takes it (every detector), as training writes them into the card
    cls = {
        pid: s
        for pid, s in pack_policy_scores(pack, model, stream.texts).items()
        if pid in set(card["label_policies"].values())
    }

    def decide(curves: dict[str, Any], rows: np.ndarray) -> dict[str, np.ndarray]:
        resolved = pack.with_model_thresholds({"version": "cross-fit", "stream": {"policies": curves}})
        bank = build_detector_bank(resolved, model, card["version"])
        scored = score_chunk(frame[rows].reset_index(drop=True), "text", 0, resolved, bank, 20_000)
        return {c.removeprefix("action."): scored[c].to_numpy() for c in scored.columns if c.startswith("action.")}

    actions = cross_fitted_actions(stream, cls, decide)
    cpu = time.process_time() - t0
    return actions, 2 * len(stream.texts) / max(cpu, 1e-9)  # each row is scored twice over (curves + decide)


def single_threshold_actions(
    stream: Stream, score_of: dict[str, np.ndarray], target: float = 0.9
) -> dict[str, np.ndarray]:
    """Enforce (label) at the threshold for precision >= target, escalate at >= 0.3, cross-fitted."""
    from modsweep.policy import threshold_for_precision

    def decide(curves: dict[str, Any], rows: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for pid, s in score_of.items():
            act = np.full(rows.sum(), "none", dtype=object)
            t_esc = threshold_for_precision(curves[pid], 0.3)
            t_enf = threshold_for_precision(curves[pid], target)
            if t_esc is not None:
                act[s[rows] >= t_esc] = "escalate"
            if t_enf is not None:
                act[s[rows] >= t_enf] = "label"
            out[pid] = act
        return out

    return cross_fitted_actions(stream, score_of, decide)


def baseline_scores(data_root: Path, stream: Stream) -> tuple[dict[str, np.ndarray], float]:
    """TF-IDF word 1-2 + char_wb 2-5, one-vs-rest LR per policy over all training splits pooled."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    from modsweep.tasks.datasets import load_manifest, read_split

    texts, policy = [], []
    for e in load_manifest(MANIFEST).datasets:
        if not e.trains:
            continue
        tr = read_split(e, data_root, "train")
        texts.append(tr.texts)
        policy.append(np.where(tr.y & (e.role == "labelled") & e.violation, e.policy_id or "", ""))
    tx, tp = pd.concat(texts, ignore_index=True), np.concatenate(policy)
    vec = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    xt = vec.fit_transform(tx)
    t0 = time.process_time()
    xv = vec.transform(stream.texts)
    scores, cpu = {}, time.process_time() - t0
    for pid in sorted(set(tp) - {""}):
        clf = LogisticRegression(C=4.0, solver="liblinear", max_iter=1000).fit(xt, tp == pid)
        t0 = time.process_time()
        scores[pid] = clf.predict_proba(xv)[:, 1]
        cpu += time.process_time() - t0
    return scores, len(stream.texts) / max(cpu, 1e-9)


def profanity_scores(stream: Stream) -> tuple[dict[str, np.ndarray] | None, float, str]:
    try:
        from profanity_check import predict_prob  # type: ignore[import-not-found]
    except ImportError as exc:
        return None, float("nan"), f"not run: {exc} (pip install alt-profanity-check)"
    t0 = time.process_time()
    p = predict_prob(stream.texts.tolist())
    return {"hate.speech": np.asarray(p)}, len(p) / max(time.process_time() - t0, 1e-9), "alt-profanity-check 1.9.1"


def metrics_table(name: str, frame: pd.DataFrame, items_per_s: float | None) -> list[str]:
    lines = []
    for r in frame.to_dict("records"):
        share = r.get("false_enforcement_share")
        lines.append(
            f"| {name} | {r['policy']} | {r['enforced']:,} | {_fmt(r['enforce_precision'])} | "
            f"{_fmt(r['enforce_recall'])} | {r['escalated']:,} | {_fmt(r.get('escalate_precision'))} | "
            f"{_fmt(r['recall_any'])} | {_fmt(share) if r['policy'] == 'all' else ''} | "
            f"{f'{items_per_s:,.0f}' if items_per_s and r['policy'] == 'all' else ''} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="a registry holding a trained model (default: train one)"
    )
    parser.add_argument("--quick", action="store_true", help="train on 3,000 rows per data set")
    parser.add_argument(
        "--embedding-cache", type=Path, default=None, help="a file of vectors kept between runs (bench.detection's)"
    )
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.data_root.is_dir():
        sys.exit(f"no data sets at {args.data_root}; pass --data-root")
    warnings.filterwarnings("ignore")
    from modsweep.registry import load_model
    from modsweep.tasks.train import MODEL_NAME, STREAM_PREVALENCE, train_from_manifest

    started = time.perf_counter()
    log = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)  # noqa: E731
    if args.model_dir is not None:
        model, card = load_model(args.model_dir, MODEL_NAME)
    else:
        kwargs: dict[str, Any] = {"max_train_rows": 3000, "c_grid": (2.0, 8.0)} if args.quick else {}
        from modsweep.policy import load_pack

        result = train_from_manifest(
            MANIFEST, args.data_root, log=log, pack=load_pack("community-guidelines"), **kwargs
        )
        model, card = result.model, result.card
    prevalence = float(card.get("stream", {}).get("prevalence", STREAM_PREVALENCE))
    stream = build_stream(args.data_root, prevalence)
    log(f"stream: {len(stream.texts):,} rows, {(stream.truth != '').sum():,} violating (weighted to {prevalence:.0%})")
    first_stage = None
    if getattr(model, "embedding", None) is not None:
        # Both ways in one run: the same model without its second stage is the default model (same first stage).
        from bench.detection import CachedEncoder

        first_stage = modsweep_actions(stream, model.first_stage(), card)
        # the decide step re-scores each fold's rows: encode each post once (the same vectors)
        cache = CachedEncoder(args.embedding_cache)
        memo = cache.memo
        model.embedding.use_encoder(memo)
    ours, ours_speed = modsweep_actions(stream, model, card)
    with tempfile.TemporaryDirectory():
        base, base_speed = baseline_scores(args.data_root, stream)
    prof, prof_speed, prof_note = profanity_scores(stream)
    lines = [
        f"Command: `python -m bench.stream {' '.join(argv if argv is not None else sys.argv[1:])}`; "
        f"took {time.perf_counter() - started:.0f} s. Machine: {machine()}.",
        "",
        f"Stream: {len(stream.texts):,} rows ({', '.join(f'{k} {v:,}' for k, v in stream.composition.items())}), "
        f"{(stream.truth != '').sum():,} violating, weighted to {prevalence:.0%} violating. Model {card['version']}. "
        f"Thresholds cross-fitted over {CROSS_FIT_FOLDS} folds of the stream (by text hash). Precision and recall are weighted; "
        "counts are rows. items/s: CPU seconds of scoring (modsweep: every detector of the pack and the decision).",
        "",
        "| system | policy | enforced | enforcement precision | enforcement recall | escalated | escalation precision "
        "| recall (enforced or escalated) | false share of enforcements | items/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            metrics_table(
                "modsweep first stage only (= the default model; default pack, auto@P bands)",
                enforcement_metrics(stream, first_stage[0]),
                first_stage[1],
            )
            if first_stage is not None
            else []
        ),
        *metrics_table(
            "modsweep (default pack, auto@P bands)"
            if first_stage is None
            else "modsweep + embedding stage (default pack, auto@P bands)",
            enforcement_metrics(stream, ours),
            ours_speed,
        ),
        *metrics_table(
            "TF-IDF one-vs-rest, pooled, label at precision 0.9",
            enforcement_metrics(stream, single_threshold_actions(stream, base)),
            base_speed,
        ),
    ]
    if prof is not None:
        lines += metrics_table(
            f"{prof_note}, label at precision 0.9",
            enforcement_metrics(stream, single_threshold_actions(stream, prof)),
            prof_speed,
        )
    else:
        lines += ["", f"alt-profanity-check: {prof_note}"]
    if first_stage is not None:
        lines += [
            "",
            "Per automated band, first stage only (the default model):",
            "",
            *action_targets(stream, first_stage[0]),
        ]
        stage = model.embedding
        lines += [
            "",
            f"Embedding stage: candidate threshold {stage.candidate_threshold:g}; {memo.encoded:,} distinct posts "
            f"of {len(stream.texts):,} encoded (items/s of the staged row: CPU seconds with each post encoded once)"
            + (
                f"; {cache.loaded:,} vectors came from {args.embedding_cache}, so that row's items/s leaves out their "
                "encoding."
                if cache.loaded
                else "."
            ),
        ]
    lines += [
        "",
        "Per automated band of modsweep's default pack"
        + (" with the embedding stage" if first_stage is not None else "")
        + ": its target holds for the rows given that band's "
        "action or a stronger band's; precision of those rows where the other folds' thresholds put them:",
        "",
        *action_targets(stream, ours),
    ]
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n")


if __name__ == "__main__":
    main()
