"""`modsweep train --manifest`: train the text-policy model on labelled data sets described by a manifest,
register it, and print each data set's validation figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.table import Table

from modsweep.cli_common import console, err
from modsweep.cli_common import fail as _fail
from modsweep.cli_progress import busy

DEFAULT_PACK = "community-guidelines"


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _default_pack() -> Any:
    """The shipped pack: the model card's stream thresholds are of its policy scores (every detector)."""
    from modsweep.policy import load_pack

    return load_pack(DEFAULT_PACK)


def read_reviewed(since: str | None) -> Any:
    """Decided review tasks in the store (of runs on or after `since`) with their items' texts from the lake."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from modsweep import resources
    from modsweep.cli_common import parse_day
    from modsweep.store import repo
    from modsweep.tasks.train import reviewed_training_rows

    day = parse_day(since, "--reviews-since") if since else None
    tasks = repo.fetch_review_tasks(resources.store_engine(), status="decided")
    days = (
        tasks["day"].map(lambda d: None if d is None or pd.isna(d) else pd.Timestamp(d).date()) if len(tasks) else None
    )
    if day is not None and days is not None:
        tasks, days = (
            tasks[days.map(lambda d: d is not None and d >= day)],
            days[days.map(lambda d: d is not None and d >= day)],
        )
    if not len(tasks):
        raise _fail(
            "--with-reviews: no decided review tasks"
            + (f" from runs on or after {day}" if day else "")
            + " in the store; import review outcomes first (`modsweep reviews import FILE`)"
        )
    lake = resources.lake()
    columns = ["item_id", "text", "transcript", "ocr_text"]
    frames = []
    for (run_day, run_key), group in tasks.assign(day=days).dropna(subset=["day"]).groupby(["day", "run_key"]):
        wanted = set(group["item_id"].astype(str))
        for path in lake.parts("items", run_day, str(run_key)):
            if not wanted:
                break
            table = pq.read_table(
                path, columns=columns, filesystem=lake.fs, filters=pc.field("item_id").isin(sorted(wanted))
            )
            if table.num_rows:
                frames.append(table.to_pandas())
                wanted -= set(frames[-1]["item_id"])
    items = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    source = "review_tasks in the store" + (f", runs on or after {day}" if day else "")
    return reviewed_training_rows(tasks, items, source=source)


def train_from_manifest_command(
    manifest: Path,
    data_root: Path,
    datasets: list[str] | None,
    max_train_rows: int | None,
    promote: bool | None = None,
    *,
    with_reviews: bool = False,
    reviews_since: str | None = None,
    embeddings: bool = False,
) -> None:
    """Train, save to MODSWEEP_HOME/models, print per data set validation metrics (exit 2 on bad input).

    The new version becomes the one runs use when `promote` says so, or when no model is active yet (the very
    first model); otherwise it is only registered (`modsweep models activate VERSION` makes it active).
    """
    from modsweep.config import get_settings
    from modsweep.registry import save_model
    from modsweep.tasks.datasets import ManifestError, load_manifest
    from modsweep.tasks.train import MODEL_NAME, train_from_manifest

    try:
        load_manifest(manifest)  # every problem of the file at once, before any data is read
    except ManifestError as exc:
        raise _fail(str(exc)) from exc
    if not data_root.is_dir():
        raise _fail(
            f"--data-root {data_root}: not a directory (the root the paths in {manifest} are relative to, "
            "e.g. ../shared/datasets)"
        )
    if embeddings:
        from modsweep.tasks.embeddings import EmbeddingsUnavailableError, require_embeddings

        try:
            require_embeddings()
        except EmbeddingsUnavailableError as exc:
            raise _fail(f"--embeddings: {exc}") from None
    settings = get_settings()
    reviewed = read_reviewed(reviews_since) if with_reviews else None
    if reviewed is not None:
        c = reviewed.counts
        err.print(
            f"reviews: {c['rows']:,} reviewed items from {c['decided_with_label']:,} decided tasks "
            f"({c.get('dropped_reviewers_disagree', 0):,} items dropped where reviewers disagree, "
            f"{c.get('dropped_no_text_in_lake', 0):,} with no text in the lake)"
        )
    t0 = time.perf_counter()
    try:
        with busy(err, f"training on {manifest} …"):
            result = train_from_manifest(
                manifest,
                data_root,
                datasets=datasets or None,
                max_train_rows=max_train_rows,
                pack=_default_pack(),
                log=lambda msg: err.print(f"[dim]{msg}[/dim]"),
                reviewed=reviewed,
                embeddings=embeddings,
            )
    except (ManifestError, FileNotFoundError, ValueError) as exc:  # a missing file, column or label value
        raise _fail(f"{manifest}: {exc}" if str(manifest) not in str(exc) else str(exc)) from exc
    seconds = time.perf_counter() - t0
    promoted = should_activate(promote, settings.models_dir)
    path = save_model(settings.models_dir, MODEL_NAME, result.version, result.model, result.card, promote=promoted)
    if reviewed is not None:  # reviewer decisions left the store for a model: say so where reviews are audited
        from modsweep import resources, store
        from modsweep.cli_common import actor

        store.append_audit(
            resources.store_engine(),
            actor=actor(),
            event="model.trained_with_reviews",
            subject=f"{MODEL_NAME}@{result.version}",
            payload={"reviews": result.card["training_data"]["reviews"], "activated": promoted},
        )

    card = result.card
    removal, review = card["thresholds"]["removal"], card["thresholds"]["review"]
    table = Table(
        "data set",
        "label",
        "train",
        "valid",
        "macro-F1",
        "ROC-AUC",
        f"prec@{removal:g} (n)",
        f"rec@{review:g}",
        title=f"{MODEL_NAME} {result.version}: validation split of each data set",
        caption=f"prec@{removal:g}: precision at the removal threshold (n: items at or above it); rec@{review:g}: "
        "recall at the review threshold; train '–': evaluated only",
    )
    staged = bool(card.get("embeddings"))
    if staged:  # the same table's ROC-AUC without the second stage (the first stage = the default model)
        table.add_column("ROC-AUC first stage")
    for ds, info in card["training_data"]["datasets"].items():
        v = info.get("validation") or {}
        extra = [_fmt((info.get("validation_first_stage") or {}).get("roc_auc"))] if staged else []
        table.add_row(
            ds,
            info["label"],
            f"{info['rows_train']:,}" if info["rows_train"] else "–",
            f"{v.get('rows', 0):,}",
            _fmt(v.get("macro_f1")),
            _fmt(v.get("roc_auc")),
            f"{_fmt(v.get('precision_at_removal'))} ({v.get('flagged_at_removal') or 0})",
            _fmt(v.get("recall_at_review")),
            *extra,
        )
    console.print(table)
    labels = Table("label", "data sets", "C", "out-of-fold ROC-AUC", "seconds", title="per label")
    for label, info in card["label_training"].items():
        labels.add_row(
            label,
            ", ".join(info["datasets"]),
            f"{info['c']:g}",
            _fmt(info["cross_validation"].get("oof_roc_auc")),
            f"{info['train_seconds']:.1f}",
        )
    console.print(labels)
    _print_uncovered(result.model.labels)
    console.print(
        f"trained on {card['training_data']['rows']:,} rows in {seconds:.1f} s → {path} (model card: card.json)"
    )
    print_promotion(result.version, promoted, max_train_rows)


def should_activate(requested: bool | None, models_dir: Path) -> bool:
    """`--activate` / `--no-activate` as given; without either, only the very first model becomes active."""
    from modsweep.registry import has_active_model
    from modsweep.tasks.train import MODEL_NAME

    return requested if requested is not None else not has_active_model(models_dir, MODEL_NAME)


def print_promotion(version: str, promoted: bool, max_train_rows: int | None) -> None:
    """Say which model runs use after training: the new version, or (a capped or unpromoted one) the old one."""
    from modsweep.config import get_settings
    from modsweep.registry import ModelNotFoundError, resolve_version
    from modsweep.tasks.train import MODEL_NAME

    quick = f" (a quick model: --max-train-rows {max_train_rows})" if max_train_rows else ""
    if promoted:
        console.print(f"model {MODEL_NAME} {version}{quick} is now the one sweeps use")
        return
    try:
        active = f"sweeps keep using {resolve_version(get_settings().models_dir, MODEL_NAME)}"
    except ModelNotFoundError:
        active = "no model is active yet, so sweeps cannot run"
    console.print(
        f"[yellow]note:[/yellow] {MODEL_NAME} {version}{quick} is registered but not active; "
        f"{active}. To use it: `modsweep models activate {version}` (or train with --activate)"
    )


def models_list_command(as_json: bool) -> None:
    """Registered versions of the text-policy model, which one runs use, and what each was trained on."""
    import json

    from modsweep.config import get_settings
    from modsweep.registry import list_versions
    from modsweep.tasks.train import MODEL_NAME

    versions = list_versions(get_settings().models_dir, MODEL_NAME)
    if as_json:
        print(json.dumps(versions, indent=2, default=str))
        return
    if not versions:
        console.print(f"no {MODEL_NAME} model under {get_settings().models_dir}; run `modsweep train`")
        return
    table = Table("version", "active", "created", "rows", "capped at", "trained on", title=f"{MODEL_NAME} versions")
    for v in versions:
        table.add_row(
            v["version"],
            "yes" if v["active"] else "",
            str(v["created_at"] or "")[:19],
            f"{v['rows']:,}" if v["rows"] is not None else "",
            str(v["max_train_rows"] or ""),
            str(v["source"] or ""),
        )
    console.print(table)


def models_promote_command(version: str) -> None:
    """Make a registered version the one runs use (recorded in the audit log)."""
    from modsweep import resources, store
    from modsweep.cli_common import actor
    from modsweep.config import get_settings
    from modsweep.registry import ModelNotFoundError, promote_model, resolve_version
    from modsweep.tasks.train import MODEL_NAME

    models_dir = get_settings().models_dir
    try:
        previous = resolve_version(models_dir, MODEL_NAME)
    except ModelNotFoundError:
        previous = None
    try:
        promote_model(models_dir, MODEL_NAME, version)
    except ModelNotFoundError as exc:
        raise _fail(str(exc)) from exc
    store.append_audit(
        resources.store_engine(),
        actor=actor(),
        event="model.activated",
        subject=f"{MODEL_NAME}@{version}",
        payload={"version": version, "previous": previous},
    )
    console.print(f"model {MODEL_NAME} {version} is now the one sweeps use (was {previous or 'none'})")


def _print_uncovered(labels: list[str]) -> None:
    """Name the default pack's classifier detectors this model cannot serve: sweeps skip them (and record it)."""
    from modsweep.policy import PolicyPackError
    from modsweep.tasks.detect import skipped_classifiers

    try:
        skipped = skipped_classifiers(_default_pack(), labels, None)
    except PolicyPackError:
        return
    if skipped:
        names = ", ".join(f"{s['policy_id']}/{s['detector_id']}" for s in skipped)
        console.print(
            f"[yellow]note:[/yellow] no training data for {names}: sweeps with the {DEFAULT_PACK} pack skip "
            "these detectors (recorded in the run ledger); the policies' other detectors still run"
        )
