"""`modsweep train --manifest`: train the text-policy model on labelled data sets described by a manifest,
register it, and print each data set's validation figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.table import Table

from modsweep.cli_common import console, err
from modsweep.cli_common import fail as _fail

DEFAULT_PACK = "community-guidelines"


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def train_from_manifest_command(
    manifest: Path, data_root: Path, datasets: list[str] | None, max_train_rows: int | None
) -> None:
    """Train, save to MODSWEEP_HOME/models, print per data set validation metrics (exit 2 on bad input)."""
    from modsweep.config import get_settings
    from modsweep.registry import save_model
    from modsweep.tasks.datasets import ManifestError, load_manifest
    from modsweep.tasks.train import MODEL_NAME, train_from_manifest

    try:
        load_manifest(manifest)  # every problem of the file at once, before any data is read
    except ManifestError as exc:
        raise _fail(str(exc)) from exc
    if not data_root.is_dir():
        raise _fail(f"--data-root {data_root}: not a directory (the root the paths in {manifest} are relative to, "
                    "e.g. ../shared/datasets)")  # fmt: skip
    settings = get_settings()
    t0 = time.perf_counter()
    try:
        result = train_from_manifest(
            manifest,
            data_root,
            datasets=datasets or None,
            max_train_rows=max_train_rows,
            log=lambda msg: err.print(f"[dim]{msg}[/dim]"),
        )
    except (ManifestError, FileNotFoundError, ValueError) as exc:  # a missing file, column or label value
        raise _fail(f"{manifest}: {exc}" if str(manifest) not in str(exc) else str(exc)) from exc
    seconds = time.perf_counter() - t0
    path = save_model(settings.models_dir, MODEL_NAME, result.version, result.model, result.card)

    card = result.card
    removal, review = card["thresholds"]["removal"], card["thresholds"]["review"]
    table = Table(
        "data set", "label", "train", "valid", "macro-F1", "ROC-AUC", f"prec@{removal:g} (n)", f"rec@{review:g}",
        title=f"{MODEL_NAME} {result.version}: validation split of each data set",
        caption=f"prec@{removal:g}: precision at the removal threshold (n: items at or above it); rec@{review:g}: "
        "recall at the review threshold; train '–': evaluated only",
    )  # fmt: skip
    for ds, info in card["training_data"]["datasets"].items():
        v = info.get("validation") or {}
        table.add_row(
            ds, info["label"], f"{info['rows_train']:,}" if info["rows_train"] else "–", f"{v.get('rows', 0):,}",
            _fmt(v.get("macro_f1")), _fmt(v.get("roc_auc")),
            f"{_fmt(v.get('precision_at_removal'))} ({v.get('flagged_at_removal') or 0})", _fmt(v.get("recall_at_review")),
        )  # fmt: skip
    console.print(table)
    labels = Table("label", "data sets", "C", "out-of-fold ROC-AUC", "seconds", title="per label")
    for label, info in card["label_training"].items():
        labels.add_row(label, ", ".join(info["datasets"]), f"{info['c']:g}",
                       _fmt(info["cross_validation"].get("oof_roc_auc")), f"{info['train_seconds']:.1f}")  # fmt: skip
    console.print(labels)
    _print_uncovered(result.model.labels)
    console.print(
        f"trained on {card['training_data']['rows']:,} rows in {seconds:.1f} s → {path} (model card: card.json)"
    )


def _print_uncovered(labels: list[str]) -> None:
    """Name the default pack's classifier detectors this model cannot serve: sweeps skip them (and record it)."""
    from modsweep import resources
    from modsweep.policy import PolicyPackError
    from modsweep.tasks.detect import skipped_classifiers

    try:
        skipped = skipped_classifiers(resources.pack(DEFAULT_PACK, "standard"), labels, None)
    except PolicyPackError:
        return
    if skipped:
        names = ", ".join(f"{s['policy_id']}/{s['detector_id']}" for s in skipped)
        console.print(f"[yellow]note:[/yellow] no training data for {names}: sweeps with the {DEFAULT_PACK} pack skip "
                      "these detectors (recorded in the run ledger); the policies' other detectors still run")  # fmt: skip
