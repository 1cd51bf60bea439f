"""The `modsweep` command line (Typer). Exit codes: 0 success, 1 a run failed, 2 bad usage or bad input."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from modsweep.cli_accounts import accounts_app
from modsweep.cli_appeals import appeals_app
from modsweep.cli_audit import explain, export_app
from modsweep.cli_calibrate import calibrate
from modsweep.cli_common import console, err
from modsweep.cli_common import fail as _fail
from modsweep.cli_common import safe_path as _safe_path
from modsweep.cli_policy import policy_diff, policy_lint, trends_command
from modsweep.cli_progress import busy
from modsweep.cli_revert import export_actions, revert
from modsweep.cli_reviews import reviews_app
from modsweep.config import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Content-moderation sweeps as Prefect flows.")

TEXT_POLICIES = [
    "misinfo.medical",
    "civic.election_integrity",
    "hate.speech",
    "violent_extremism",
    "self_harm",
    "minor_safety",
    "deceptive.spam",
]


def _quiet_environment() -> None:
    """Offline, local defaults for Prefect and Great Expectations (set before they are imported), and a usable
    MODSWEEP_HOME (created with Prefect's home under it), or one clear line before Prefect starts."""
    settings = get_settings()
    home = settings.home
    try:
        (home / "prefect").mkdir(parents=True, exist_ok=True)
        probe = home / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _fail(
            f"MODSWEEP_HOME {home} cannot be created or written ({exc.strerror or exc}); "
            "set MODSWEEP_HOME to a folder you can write"
        ) from exc
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Prefect's client-side telemetry and its first-run banner
    os.environ.setdefault("PREFECT_HOME", str((settings.home / "prefect").resolve()))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # Prefect waits 20 s for its ephemeral server; a busy machine (or first migrations) can take longer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


@app.command()
def generate(
    day: Annotated[str, typer.Option(help="UTC day, YYYY-MM-DD")] = "2026-11-23",
    rows: Annotated[int, typer.Option(min=1, help="Items to generate")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data)")] = 42,
    out: Annotated[Path | None, typer.Option(help="Output folder (default MODSWEEP_HOME/source)")] = None,
    dirty_share: Annotated[float, typer.Option(min=0, max=0.5, help="Share of dirty rows")] = 0.005,
    emerging: Annotated[
        str | None,
        typer.Option(
            help="Plant the emerging campaigns (tasks/generate_data/emerging.yaml) counting days from this YYYY-MM-DD: generate consecutive days with the same value"
        ),
    ] = None,
) -> None:
    """Write a synthetic day of content (items/ and ground truth in truth/) as chunked Parquet."""
    from modsweep.tasks.generate import GeneratorParams, write_synthetic_day

    settings = get_settings()
    target = _safe_path(out, "--out") if out else settings.home / "source"
    t0 = time.perf_counter()
    with busy(err, f"generating {rows:,} items for {day} …"):
        summary = write_synthetic_day(
            target,
            _parse_day(day),
            rows,
            seed,
            partition_rows=settings.partition_rows,
            params=GeneratorParams(
                dirty_share=dirty_share,
                emerging_campaigns=emerging is not None,
                **({"emerging_start": _parse_day(emerging)} if emerging else {}),
            ),
        )
    console.print(f"generated {rows:,} items for {day} in {time.perf_counter() - t0:.1f} s → {target}")
    console.print_json(
        data=json.loads(summary.model_dump_json()) if hasattr(summary, "model_dump_json") else str(summary)
    )


@app.command()
def train(
    synthetic: Annotated[Path | None, typer.Option(help="Train on generator output in this folder")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="Train on the labelled data sets this YAML manifest describes")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option(help="With --manifest: the folder its paths are relative to")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option(help="With --manifest: only this data set id (repeatable)")
    ] = None,
    max_train_rows: Annotated[
        int | None,
        typer.Option(
            min=10,
            help="With --manifest: cap each data set's training rows (a quick model)",
        ),
    ] = None,
    activate: Annotated[
        bool | None,
        typer.Option(
            "--activate/--no-activate",
            help="Make the new version the one sweeps use (default: only when no model is active yet; "
            "later: `modsweep models activate VERSION`)",
        ),
    ] = None,
    with_reviews: Annotated[
        bool,
        typer.Option(
            "--with-reviews",
            help="With --manifest: also train on reviewed items (imported review outcomes, texts from the lake)",
        ),
    ] = False,
    reviews_since: Annotated[
        str | None, typer.Option(help="With --with-reviews: only outcomes of runs on or after this day (YYYY-MM-DD)")
    ] = None,
    embeddings: Annotated[
        bool,
        typer.Option(
            "--embeddings",
            help="With --manifest: add the sentence-embedding second stage that rescores the first stage's "
            "candidates (needs the optional extra: pip install -e '.[embeddings]')",
        ),
    ] = False,
) -> None:
    """Train the text-policy classifiers and register a new model version under MODSWEEP_HOME/models.

    Without --manifest: on synthetic generator output (the demo).
    With --manifest M --data-root D: on real labelled data sets, printing each one's validation metrics.
    """
    if manifest is not None:
        from modsweep.cli_train import train_from_manifest_command

        if synthetic is not None:
            raise _fail("give either --synthetic or --manifest, not both")
        if data_root is None:
            raise _fail("--manifest needs --data-root (the folder the manifest's paths are relative to)")
        # Both are only read; '..' is allowed here: the shared data sets live beside the repository.
        if reviews_since is not None and not with_reviews:
            raise _fail("--reviews-since applies only with --with-reviews")
        return train_from_manifest_command(
            manifest,
            data_root,
            dataset,
            max_train_rows,
            activate,
            with_reviews=with_reviews,
            reviews_since=reviews_since,
            embeddings=embeddings,
        )
    if (
        data_root is not None
        or dataset
        or max_train_rows is not None
        or with_reviews
        or reviews_since is not None
        or embeddings
    ):
        raise _fail(
            "--data-root, --dataset, --max-train-rows, --with-reviews and --embeddings apply only with --manifest"
        )
    from modsweep.registry import save_model
    from modsweep.tasks.train import MODEL_NAME, read_synthetic_training_set, train_text_policy_model

    settings = get_settings()
    source = _safe_path(synthetic, "--synthetic") if synthetic else settings.home / "training"
    try:
        texts, labels = read_synthetic_training_set(source, TEXT_POLICIES)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    t0 = time.perf_counter()
    with busy(err, f"training on {len(texts):,} synthetic rows …"):
        result = train_text_policy_model(texts, labels, source=f"synthetic:{source}")
    from modsweep.cli_train import print_promotion, should_activate

    promoted = should_activate(activate, settings.models_dir)
    path = save_model(settings.models_dir, MODEL_NAME, result.version, result.model, result.card, promote=promoted)
    table = Table(
        "policy", "positives (train)", "ROC-AUC", "avg precision", "F1@0.5", title=f"{MODEL_NAME} {result.version}"
    )
    for label, m in result.card["validation_metrics"].items():
        table.add_row(
            label,
            str(m["positives_train"]),
            f"{m['roc_auc']:.3f}",
            f"{m['average_precision']:.3f}",
            f"{m['f1_at_0.5']:.3f}",
        )
    console.print(table)
    console.print(f"trained on {len(texts):,} rows in {time.perf_counter() - t0:.1f} s → {path}")
    print_promotion(result.version, promoted, None)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"--day {value!r} is not a date (YYYY-MM-DD)") from exc


_VALIDATED_PACKS: dict[tuple[str, str], Any] = {}


def _validate_pack(pack: str, profile: str, what: str = "--pack") -> None:
    """A bad pack is bad input (exit 2), found before any data is touched."""
    from modsweep.policy import PolicyPackError, load_pack

    _safe_path(Path(pack), what)  # a name or a YAML path; never one that climbs out with '..'
    try:
        _VALIDATED_PACKS[(pack, profile)] = load_pack(pack, profile)
    except PolicyPackError as exc:
        raise _fail(str(exc)) from exc


def _guarded(call: Any, label: str = "run", update: Any = None) -> Any:
    """Run a flow call with its stages shown as they finish (`cli_progress`), turning its failures into the
    documented exit codes."""
    from modsweep.cli_common import one_line, route_engine_logs
    from modsweep.cli_progress import run_progress
    from modsweep.registry import ModelNotFoundError
    from modsweep.tasks.approval import ApprovalRequired
    from modsweep.tasks.gates import DataQualityError

    log = route_engine_logs()  # the engine's tracebacks go to this file; the console gets one line
    try:
        with run_progress(err, label, update):
            return call()
    except typer.Exit:
        raise
    except (ModelNotFoundError, FileNotFoundError, ValueError) as exc:
        raise _fail(one_line(exc)) from exc
    except ApprovalRequired as exc:
        raise _fail(f"run stopped for approval: {one_line(exc)}", 1) from exc
    except DataQualityError as exc:
        raise _fail(
            f"run failed at a data-quality gate: {one_line(exc)} (details: `modsweep history`, {log})", 1
        ) from exc
    except Exception as exc:
        raise _fail(
            f"run failed: {type(exc).__name__}: {one_line(exc)} (details: `modsweep history`, {log})", 1
        ) from exc


def _check_model(pack: str, profile: str) -> None:
    """A pack with classifier detectors needs a trained model: say so (with the command) before Prefect starts."""
    from modsweep.registry import ModelNotFoundError, resolve_version
    from modsweep.tasks.train import MODEL_NAME

    loaded = _VALIDATED_PACKS.get((pack, profile))
    if loaded is not None and not any(d.kind == "classifier" for pol in loaded.policies() for d in pol.detectors):
        return
    try:
        version = resolve_version(get_settings().models_dir, MODEL_NAME)
        _check_model_features(version)
    except ModelNotFoundError as exc:
        raise _fail(str(exc)) from exc


def _check_model_features(version: str) -> None:
    """The active model's card names a featurisation this build makes (else the retrain hint, before Prefect)."""
    from modsweep.registry import MODEL_NAME, load_card
    from modsweep.tasks.embeddings import require_embeddings
    from modsweep.tasks.text import FeatureMismatchError
    from modsweep.tasks.train import check_feature_key

    card = load_card(get_settings().models_dir, MODEL_NAME, version)
    features = card.get("features") or {}
    try:
        if card.get("embeddings"):  # a model with the sentence-embedding stage needs the `embeddings` extra here
            require_embeddings(version)
        if features.get("params"):  # an older card: loading the model itself says what is wrong
            check_feature_key(features.get("key"), features["params"], version)
    except FeatureMismatchError as exc:  # EmbeddingsUnavailableError is one
        raise _fail(str(exc)) from None


def _check_source(source: Path, what: str = "--source") -> Path:
    """The folder of items to read (exit 2 naming the problem when there is none), before Prefect starts."""
    from modsweep.runs import SOURCE_SUFFIXES, list_source_files, resolve_source

    _safe_path(source, what)
    if not source.exists():
        raise _fail(
            f"{what} {source} does not exist (give the folder `modsweep generate` wrote items/ into, or a file)"
        )
    folder, note = resolve_source(source)
    if note:
        console.print(f"note: {note}")
    if not list_source_files(folder):
        raise _fail(f"{what} {folder} holds no source files ({', '.join(SOURCE_SUFFIXES)})")
    return folder.resolve()


def _run_sweep(
    day: date,
    source: Path,
    pack: str,
    profile: str,
    trigger: str,
    requested_by: str,
    simulate_from: Path | None,
    golden_from: Path | None = None,
) -> Any:
    _quiet_environment()
    _validate_pack(pack, profile)
    source = _check_source(source)
    _check_model(pack, profile)
    from modsweep.flows.daily_sweep import daily_sweep

    return _guarded(
        lambda: daily_sweep(
            day=day,
            source=str(source.resolve()),
            pack=pack,
            profile=profile,
            trigger=trigger,
            requested_by=requested_by,
            simulate_reviews_from=str(simulate_from) if simulate_from else None,
            golden_set_from=str(golden_from) if golden_from else None,
        ),
        label=f"sweep {day}",
    )


@app.command()
def sweep(
    day: Annotated[str, typer.Option(help="UTC day to sweep, YYYY-MM-DD")],
    source: Annotated[Path, typer.Option(help="Folder (or file) of source partitions")],
    pack: Annotated[str, typer.Option(help="Policy pack name or YAML path")] = "community-guidelines",
    profile: Annotated[str, typer.Option(help="Pack profile")] = "standard",
    simulate_reviews: Annotated[Path | None, typer.Option(help="Ground-truth folder: play simulated reviewers")] = None,
    golden_set: Annotated[Path | None, typer.Option(help="Known-label item × policy pairs for golden tasks")] = None,
    trigger: Annotated[str, typer.Option(help="schedule|manual|surge|backfill|shadow")] = "manual",
) -> None:
    """Run the daily sweep flow for one day and print its summary."""
    simulate_from = _safe_path(simulate_reviews, "--simulate-reviews") if simulate_reviews else None
    golden_from = _safe_path(golden_set, "--golden-set") if golden_set else None
    summary = _run_sweep(
        _parse_day(day),
        _safe_path(source, "--source"),
        pack,
        profile,
        trigger,
        os.environ.get("USER", "cli"),
        simulate_from,
        golden_from,
    )
    print_summary(summary)


def _parse_duration(value: str) -> timedelta:
    """'6h', '30m', '2d' → a timedelta."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", value)
    if not match:
        raise _fail(f"--last {value!r}: use a number and a unit, e.g. 30m, 6h, 2d")
    n, unit = int(match.group(1)), match.group(2)
    unit_name = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]
    return timedelta(**{unit_name: n})


def _parse_time(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(f"{what} {value!r} is not an ISO-8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def surge(
    region: Annotated[list[str], typer.Option(help="Region (ISO alpha-2); repeat for several")],
    last: Annotated[str | None, typer.Option(help="Window ending now, e.g. 6h")] = None,
    since: Annotated[str | None, typer.Option(help="Window start (ISO-8601, UTC if no zone)")] = None,
    until: Annotated[str | None, typer.Option(help="Window end (default now)")] = None,
    source: Annotated[Path | None, typer.Option(help="Source folder (default MODSWEEP_HOME/source/items)")] = None,
    pack: Annotated[str, typer.Option(help="Policy pack name or YAML path")] = "community-guidelines",
    profile: Annotated[str, typer.Option(help="Pack profile")] = "election-surge",
    simulate_reviews: Annotated[Path | None, typer.Option(help="Ground-truth folder: play simulated reviewers")] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Run here even when a Prefect server has the deployment")
    ] = False,
) -> None:
    """An on-demand surge run for some regions and a time window (recorded with trigger `surge` and who asked).

    With PREFECT_API_URL set and the `surge-run/modsweep` deployment on that server, the run is submitted to its
    work pool and this prints the flow run's UI link; otherwise it runs in this process."""
    bad = [r for r in region if not (len(r) == 2 and r.isalpha())]
    if bad:
        raise _fail(f"--region {bad}: use ISO-3166-1 alpha-2 codes such as US, DE, IN, BR")
    if (last is None) == (since is None):
        raise _fail("give either --last or --since (with an optional --until)")
    end = _parse_time(until, "--until") if until else datetime.now(UTC)
    start = end - _parse_duration(last) if last else _parse_time(since, "--since")
    settings = get_settings()
    if source:
        _safe_path(source, "--source")
    if simulate_reviews:
        _safe_path(simulate_reviews, "--simulate-reviews")
    _quiet_environment()
    _validate_pack(pack, profile)
    folder = _check_source(source if source else settings.home / "source" / "items")
    from modsweep.runs import utc_window

    try:  # a bad window is bad input here, not a failed run on a worker
        utc_window(start, end)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if local or not os.environ.get("PREFECT_API_URL"):  # it runs here: its model must be here
        _check_model(pack, profile)
    params = {
        "regions": [r.upper() for r in region],
        "since": start,
        "until": end,
        "source": str(folder.resolve()),
        "pack": pack,
        "profile": profile,
        "requested_by": os.environ.get("USER", "cli"),
        "simulate_reviews_from": str(simulate_reviews) if simulate_reviews else None,
    }
    if not local:
        from modsweep.serving import PrefectServerUnreachable, trigger_or_run

        try:
            submitted = trigger_or_run("surge-run", params)
        except PrefectServerUnreachable as exc:
            raise _fail(str(exc)) from exc
        if submitted is not None:
            console.print(
                f"submitted to {submitted.deployment}: flow run {submitted.flow_run_name} "
                f"({submitted.flow_run_id})\n{submitted.url or ''}"
            )
            return
    _check_model(pack, profile)  # no server took it: it runs here after all
    from modsweep.flows.surge_run import surge_run

    summary = _guarded(lambda: surge_run(**params), label="surge")
    print_summary(summary)


@app.command()
def backfill(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day (inclusive), YYYY-MM-DD")],
    source: Annotated[Path | None, typer.Option(help="Source folder with date=YYYY-MM-DD/ sub-folders")] = None,
    pack: Annotated[str, typer.Option(help="Policy pack name or YAML path")] = "community-guidelines",
    profile: Annotated[str, typer.Option(help="Pack profile")] = "standard",
) -> None:
    """Sweep a range of days; days already swept with this pack and profile are skipped."""
    first, last_day = _parse_day(start), _parse_day(end)
    if last_day < first:
        raise _fail(f"--end {end} is before --start {start}")
    settings = get_settings()
    _quiet_environment()
    _validate_pack(pack, profile)
    folder = _check_source(source if source else settings.home / "source" / "items")
    _check_model(pack, profile)
    from rich.progress import Progress

    from modsweep.flows.backfill import backfill as backfill_flow
    from modsweep.flows.backfill import backfill_outcome

    days = (last_day - first).days + 1
    results: dict[str, list[str]] = {"swept": [], "skipped": [], "failed": []}
    failures: list[dict[str, str]] = []
    with Progress(console=console) as progress:
        bar = progress.add_task("backfill", total=days)
        for k in range(days):  # one day per flow call, so the bar moves as days finish
            day = first + timedelta(days=k)
            out, failed = _guarded(
                lambda day=day: backfill_outcome(
                    backfill_flow(
                        start=day,
                        end=day,
                        source=str(folder.resolve()),
                        pack=pack,
                        profile=profile,
                        requested_by=os.environ.get("USER", "cli"),
                        return_state=True,
                    )
                ),
                label=f"backfill {day}",
                update=lambda text: progress.update(bar, description=text),
            )
            for key, values in out.items():
                results[key].extend(values)
            failures += failed
            progress.advance(bar)
    table = Table("result", "days", "which", title=f"Backfill {first} → {last_day}")
    for key, values in results.items():
        table.add_row(key, str(len(values)), ", ".join(values[:10]) + (" …" if len(values) > 10 else ""))
    console.print(table)
    for f in failures:
        console.print(f"{f['day']} failed: {f['error']}", style="red", markup=False, highlight=False)
    if failures:
        raise _fail(f"backfill failed on {len(failures)} of {days} days: {', '.join(f['day'] for f in failures)}", 1)


@app.command()
def shadow(
    candidate: Annotated[str, typer.Option(help="Candidate pack: name or YAML path")],
    day: Annotated[str, typer.Option(help="Day already swept by the live pack, YYYY-MM-DD")],
    source: Annotated[Path | None, typer.Option(help="Source folder (default MODSWEEP_HOME/source/items)")] = None,
    live_pack: Annotated[str, typer.Option(help="The live pack to compare with")] = "community-guidelines",
    profile: Annotated[str, typer.Option(help="Profile for both packs")] = "standard",
) -> None:
    """Run a candidate pack beside the live one without enforcing anything; report the differences per policy."""
    settings = get_settings()
    _quiet_environment()
    _validate_pack(candidate, profile, "--candidate")
    _validate_pack(live_pack, profile, "--live-pack")
    folder = _check_source(source if source else settings.home / "source" / "items")
    _check_model(candidate, profile)
    _check_model(live_pack, profile)
    from modsweep.flows.shadow_run import shadow_run

    summary = _guarded(
        lambda: shadow_run(
            candidate=candidate,
            day=_parse_day(day),
            source=str(folder.resolve()),
            live_pack=live_pack,
            profile=profile,
            requested_by=os.environ.get("USER", "cli"),
        ),
        label="shadow",
    )
    import pandas as pd

    from modsweep import store

    compared = store.get_run(_engine(), summary.run_id)["stage_counts"]["shadow"]
    policies = pd.DataFrame(compared["policies"])
    table = Table(*policies.columns, title=f"Shadow run {summary.run_id[:8]}: {candidate} vs {live_pack} on {day}")
    for row in policies.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    for note in compared.get("notes", []):
        console.print(note, markup=False, highlight=False)
    console.print(f"details: {summary.report_path}")


def print_summary(summary: Any) -> None:
    table = Table("", "value", title=f"Sweep {summary.day} · run {summary.run_id[:8]}")
    table.add_row("items read", f"{summary.items_read:,}")
    table.add_row("processed", f"{summary.items_processed:,}")
    table.add_row("quarantined", f"{summary.quarantined:,}")
    table.add_row("out of scope", f"{getattr(summary, 'out_of_scope', 0):,}")
    console.print(table)
    if getattr(summary, "note", None):
        console.print(f"[yellow]{summary.note}[/yellow]: the run completed with nothing to decide")
        return
    actions = Table("policy", "label", "reduce_reach", "age_restrict", "remove", "escalate", title="Actions by policy")
    for policy, counts in sorted(summary.actions.items()):
        actions.add_row(
            policy, *(f"{counts.get(a, 0):,}" for a in ("label", "reduce_reach", "age_restrict", "remove", "escalate"))
        )
    console.print(actions)
    tasks = Table("review tasks", "count", title="Review tasks")
    for k, v in sorted(summary.review_tasks.items()):
        tasks.add_row(k.removeprefix("tasks."), f"{v:,}")
    console.print(tasks)
    gates = Table("gate", "result", title="Data-quality gates")
    colours = {"ok": "green", "warning": "yellow", "critical": "red"}
    for suite, result in summary.gates.items():
        gates.add_row(suite, f"[{colours.get(result, 'white')}]{result}[/]")
    console.print(gates)
    _print_threshold_notes(summary.run_id)
    console.print(f"report: [bold]{summary.report_path}[/bold]")


def _print_threshold_notes(run_id: str) -> None:
    """One line for the pack's auto@ bands the model card cannot serve (`modsweep show RUN` lists them)."""
    from modsweep import resources, store

    run = store.get_run(resources.store_engine(), run_id) or {}
    routed = ((run.get("stage_counts") or {}).get("approval") or {}).get("removals_routed_to_review")
    if routed:
        note = (run["stage_counts"]["approval"].get("note") or "not approved").rstrip(".")
        console.print(
            f"[yellow]note:[/yellow] {routed:,} removal(s) over MODSWEEP_REMOVAL_CEILING became review tasks: {note}",
            highlight=False,
        )
    notes = (run.get("outputs") or {}).get("threshold_notes") or []
    if notes:
        policies = sorted({n.split(":")[0] for n in notes})
        console.print(
            f"[yellow]note:[/yellow] {len(notes)} auto@ band(s) of {', '.join(policies)} reach no threshold "
            f"on this model's card, so those actions are not automated; `modsweep show {run_id[:8]}` "
            "lists them"
        )


@app.command()
def demo(
    rows: Annotated[
        int | None, typer.Option(min=1_000, help="Items a swept day (default 100,000; 20,000 with --days)")
    ] = None,
    day: Annotated[str, typer.Option(help="UTC day to sweep (with --days: the last one)")] = "2026-11-23",
    days: Annotated[
        int,
        typer.Option(
            min=1, max=15, help="Sweep this many days up to --day, with planted emerging campaigns; show the radar"
        ),
    ] = 1,
) -> None:
    """Generate a synthetic day, train on an earlier synthetic day, sweep with simulated reviewers, report.
    With --days N: N days with emerging campaigns (tasks/generate_data/emerging.yaml) swept one after the other,
    then the emerging-risk radar of the last day against the earlier days' aggregates."""
    from modsweep.registry import save_model
    from modsweep.tasks.generate import GeneratorParams, write_synthetic_day
    from modsweep.tasks.train import MODEL_NAME, read_synthetic_training_set, train_text_policy_model

    settings = get_settings()
    sweep_day = _parse_day(day)
    rows = rows or (100_000 if days == 1 else 20_000)
    swept = [sweep_day - timedelta(days=days - 1 - k) for k in range(days)]
    # the last day is index 6 of the campaigns: several violating ones are on their first days of growth
    params = (
        GeneratorParams(emerging_campaigns=True, emerging_start=sweep_day - timedelta(days=6)) if days > 1 else None
    )
    train_dir, source_dir = settings.home / "training", settings.home / "source"
    t0 = time.perf_counter()
    console.rule("1/3 synthetic data")
    # Partitions of a quarter of the day at most, so both cores score partitions at once.
    partition_rows = min(settings.partition_rows, max(rows // 4, 1_000))
    with busy(err, "generating a training day and the days to sweep …"):
        write_synthetic_day(
            train_dir, swept[0] - timedelta(days=1), max(rows, 50_000), seed=7, partition_rows=partition_rows
        )
        for d in swept:
            write_synthetic_day(source_dir, d, rows, seed=42, partition_rows=partition_rows, params=params)
    console.print(f"generated training and sweep days in {time.perf_counter() - t0:.1f} s")
    console.rule("2/3 training the text classifiers")
    t1 = time.perf_counter()
    texts, labels = read_synthetic_training_set(train_dir, TEXT_POLICIES)
    with busy(err, f"training on {len(texts):,} synthetic rows …"):
        result = train_text_policy_model(texts, labels, source=f"synthetic:{train_dir}")
    save_model(settings.models_dir, MODEL_NAME, result.version, result.model, result.card)
    console.print(
        f"model {MODEL_NAME} {result.version} trained on {len(texts):,} rows in {time.perf_counter() - t1:.1f} s"
    )
    console.rule("3/3 daily sweep (Prefect flow)" if days == 1 else f"3/3 {days} daily sweeps (Prefect flow)")
    t2 = time.perf_counter()
    for d in swept:
        summary = _run_sweep(
            d,
            source_dir / "items",
            "community-guidelines",
            "standard",
            "manual",
            "demo",
            source_dir / "truth",
            source_dir / "golden",
        )
        if days > 1:
            console.print(f"swept {d}: {summary.items_read:,} items ({time.perf_counter() - t2:.0f} s so far)")
    print_summary(summary)
    console.print(
        f"sweep{'s' if days > 1 else ''} of {summary.items_read:,} items{' a day' if days > 1 else ''} took "
        f"{time.perf_counter() - t2:.1f} s (incl. Prefect start-up); history: `modsweep history`, details: "
        f"`modsweep show {summary.run_id[:8]}`"
    )
    if days > 1:
        console.rule(f"emerging-risk radar of {sweep_day} (stored by its sweep)")
        trends_command(day=sweep_day.isoformat(), top=3)
        console.print(
            f"a candidate pack from these suggestions: `modsweep trends --day {sweep_day} --candidate cand.yaml`, "
            f"then `modsweep policy lint cand.yaml`, `modsweep policy diff community-guidelines cand.yaml --days "
            f"{swept[0]}..{sweep_day}` and `modsweep shadow --candidate cand.yaml --day {sweep_day}`",
            highlight=False,
        )


@app.command()
def score(
    input_file: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, TSV, JSONL or Parquet file")],
    text_column: Annotated[str, typer.Option(help="Column holding the text")],
    out: Annotated[Path, typer.Option(help="Output Parquet file")],
    input_format: Annotated[
        str | None, typer.Option("--format", help="csv|tsv|jsonl|parquet (default: from suffix)")
    ] = None,
    pack: Annotated[str, typer.Option(help="Policy pack name or YAML path")] = "community-guidelines",
    profile: Annotated[str, typer.Option(help="Pack profile")] = "standard",
    label_column: Annotated[str | None, typer.Option(help="Binary label column: print per-policy ROC-AUC")] = None,
    positive: Annotated[list[str] | None, typer.Option(help="Label value(s) meaning violating (repeatable)")] = None,
) -> None:
    """Score every row of a file with every policy: score, action under the pack's bands, detectors that fired."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modsweep import resources
    from modsweep.policy import PolicyPackError
    from modsweep.registry import ModelNotFoundError
    from modsweep.tasks import banks
    from modsweep.tasks.score import infer_format, label_metrics, read_chunks, score_chunk

    source = _safe_path(input_file, "INPUT")
    target = _safe_path(out, "--out")
    if not source.is_file():
        raise _fail(f"{source}: no such file")
    try:
        fmt = input_format or infer_format(source)
        p = resources.pack(pack, profile)
        bank = banks.detector_bank(pack, profile)
    except (PolicyPackError, ModelNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    for skipped in (s for s in bank.skipped if not s.get("optional")):  # said where the person scoring sees it
        console.print(
            f"[yellow]detector {skipped['policy_id']}/{skipped['detector_id']} skipped: {skipped['reason']}; "
            "the policy's other detectors still run[/yellow]"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".partial")
    writer, rows, t0, scored_all = None, 0, time.perf_counter(), []
    import pandas as pd

    chunks = read_chunks(source, fmt)
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except (
                pd.errors.ParserError,
                pd.errors.EmptyDataError,
                ValueError,
                UnicodeError,
                pa.ArrowException,
            ) as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise _fail(f"{source}: cannot be read as {fmt} ({reason}); nothing was written") from exc
            for column, what in ((text_column, "--text-column"), (label_column, "--label-column")):
                if column is not None and column not in chunk.columns:
                    raise _fail(
                        f"{what} {column!r} is not a column of {source}; its columns: "
                        f"{', '.join(map(str, chunk.columns)) or 'none'}"
                    )
            if chunk.empty:  # a header without rows (or an empty chunk): nothing to score in it
                continue
            scored = score_chunk(chunk, text_column, rows, p, bank, get_settings().max_scoring_chars)
            table = pa.Table.from_pandas(scored, preserve_index=False)
            writer = writer or pq.ParquetWriter(staging, table.schema)
            writer.write_table(table.cast(writer.schema))
            rows += len(chunk)
            if label_column:
                keep = [label_column, *(c for c in scored.columns if c.startswith(("score.", "action.")))]
                scored_all.append(scored[keep])
    except BaseException:
        if writer is not None:
            writer.close()
            writer = None
        staging.unlink(missing_ok=True)  # a failed score leaves no partial output
        raise
    if writer is None:
        raise _fail(f"{source}: no rows to score (the file has a header only, or nothing)")
    writer.close()
    staging.replace(target)
    seconds = time.perf_counter() - t0
    console.print(f"scored {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s) → {target}")
    if label_column:
        frame = pd.concat(scored_all, ignore_index=True)
        policy_ids = [c.removeprefix("score.") for c in frame.columns if c.startswith("score.")]
        metrics = label_metrics(frame, label_column, positive or ["1"], policy_ids)
        table = Table(*metrics.columns, title=f"Scores against {label_column} ∈ {positive or ['1']}")
        for row in metrics.itertuples(index=False):
            table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
        console.print(table)


app.add_typer(reviews_app, name="reviews")
app.add_typer(appeals_app, name="appeals")
app.add_typer(accounts_app, name="accounts")
app.command("revert")(revert)
export_app.command("actions")(export_actions)
app.add_typer(export_app, name="export")
app.command("explain")(explain)
app.command("calibrate")(calibrate)


@app.command()
def approve(
    run: Annotated[str, typer.Argument(help="The run holding removals (id or unique prefix, as printed)")],
    by: Annotated[str, typer.Option(help="Who decides (recorded in the ledger and the audit log)")],
    reject: Annotated[bool, typer.Option("--reject", help="Send the held removals to human review instead")] = False,
    note: Annotated[str, typer.Option(help="Why (recorded)")] = "",
) -> None:
    """Answer a run whose automated removals exceed MODSWEEP_REMOVAL_CEILING: apply them, or (--reject) send them
    to human review; the run then completes (or, paused on a Prefect server, resumes there)."""
    _quiet_environment()
    from modsweep.cli_approve import approve_command

    summary = _guarded(lambda: approve_command(run, by, reject, note))
    if summary is not None:
        print_summary(summary)


models_app = typer.Typer(no_args_is_help=True, help="The model registry: versions, and which one sweeps use.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registered model versions: which one sweeps use, when each was trained, on what."""
    from modsweep.cli_train import models_list_command

    models_list_command(as_json)


@models_app.command("activate")
def models_activate(version: Annotated[str, typer.Argument(help="A version from `modsweep models list`")]) -> None:
    """Make a registered version the one sweeps use (recorded in the audit log)."""
    from modsweep.cli_train import models_promote_command

    models_promote_command(version)


@models_app.command("promote", hidden=True)
def models_promote(version: Annotated[str, typer.Argument(help="A version from `modsweep models list`")]) -> None:
    """Make a registered version the one sweeps use (recorded in the audit log)."""
    from modsweep.cli_train import models_promote_command

    models_promote_command(version)


policy_app = typer.Typer(
    no_args_is_help=True, help="Policy automation (the circuit breaker), recorded in the audit log."
)
app.add_typer(policy_app, name="policy")
policy_app.command("lint")(policy_lint)
policy_app.command("diff")(policy_diff)
app.command("trends")(trends_command)


@policy_app.command("disable")
def policy_disable(
    policy_id: Annotated[str, typer.Argument(help="Policy id, e.g. hate.speech")],
    reason: Annotated[str, typer.Option(help="Why (recorded)")],
) -> None:
    """Pause a policy's automated actions: later runs route them to human review."""
    _set_automation(policy_id, "paused", reason)


@policy_app.command("enable")
def policy_enable(
    policy_id: Annotated[str, typer.Argument(help="Policy id, e.g. hate.speech")],
    reason: Annotated[str, typer.Option(help="Why (recorded)")],
) -> None:
    """Re-enable a policy's automated actions after the circuit breaker (or a person) paused them."""
    _set_automation(policy_id, "enabled", reason)


@policy_app.command("status")
def policy_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each policy's automation state."""
    from modsweep import store
    from modsweep.schemas import POLICY_IDS

    records = store.policy_automation(_engine()).set_index("policy_id")
    rows = [
        {
            "policy_id": p,
            "state": records["state"].get(p, "enabled"),
            "reason": records["reason"].get(p, ""),
            "changed_by": records["changed_by"].get(p, ""),
            "changed_at": str(records["changed_at"].get(p, "")),
        }
        for p in POLICY_IDS
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("policy", "automation", "since", "by", "reason", title="Policy automation")
    for r in rows:
        colour = "red" if r["state"] == "paused" else "green"
        table.add_row(r["policy_id"], f"[{colour}]{r['state']}[/]", r["changed_at"][:19], r["changed_by"], r["reason"])
    console.print(table)


def _set_automation(policy_id: str, state: str, reason: str) -> None:
    from modsweep import store
    from modsweep.schemas import POLICY_IDS

    if policy_id not in POLICY_IDS:
        raise _fail(f"unknown policy {policy_id!r}; one of {', '.join(POLICY_IDS)}")
    changed = store.set_policy_automation(
        _engine(), policy_id, state=state, reason=reason, changed_by=os.environ.get("USER", "cli")
    )
    console.print(f"{policy_id}: automation {state}" + ("" if changed else " (no change)"))


@app.command()
def audit(
    run: Annotated[str, typer.Argument(help="Run id or a unique prefix of it")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-audit a run after review outcomes were imported: metrics, findings, circuit breaker, report."""
    _quiet_environment()
    from modsweep import store

    try:
        record = store.get_run(_engine(), run)
    except ValueError as exc:  # an ambiguous prefix
        raise _fail(str(exc)) from exc
    if record is None:
        raise _fail(f"no run matches {run!r}; `modsweep history` lists the runs")
    if record["state"] != "completed":
        raise _fail(f"run {record['run_id']} is {record['state']}; only completed runs can be audited")
    from modsweep.flows.audit import audit_run

    outcome = _guarded(lambda: audit_run(run=run, requested_by=os.environ.get("USER", "cli")), label="audit")
    if as_json:
        print(json.dumps(outcome, default=str, indent=2))
        return
    from modsweep.tasks.findings import sentences

    console.print(f"{outcome['metrics']} metrics ({outcome['gate']}), report {outcome['report']}")
    for f, text in zip(outcome["findings"], sentences(outcome["findings"]), strict=True):
        console.print(text, style="red" if f.get("severity") == "critical" else "yellow", markup=False, highlight=False)
    if not outcome["findings"]:
        console.print("no findings")


@app.command()
def serve(
    timezone: Annotated[
        str | None, typer.Option(help="Time zone of the daily schedule (default MODSWEEP_SCHEDULE_TIMEZONE, UTC)")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help="Cron of the daily sweep (default infra/prefect.yaml's: 0 2 * * *)")
    ] = None,
    source: Annotated[
        Path | None, typer.Option(help="Source folder (default MODSWEEP_SOURCE, MODSWEEP_HOME/source/items)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Flow runs at once (default: no limit)")] = None,
) -> None:
    """Serve daily-sweep (on its schedule), surge-run and backfill from this process; needs a Prefect server."""
    _quiet_environment()
    from modsweep.serving import serve_deployments

    folder = str(_safe_path(source, "--source").resolve()) if source else None
    try:
        serve_deployments(cron=cron, timezone=timezone, source=folder, limit=limit)
    except (RuntimeError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from exc


def _engine() -> Any:
    from modsweep import resources

    return resources.store_engine()


@app.command()
def history(
    flow: Annotated[str | None, typer.Option(help="Filter by flow name")] = None,
    trigger: Annotated[str | None, typer.Option(help="Filter by trigger")] = None,
    state: Annotated[str | None, typer.Option(help="Filter by state")] = None,
    since: Annotated[str | None, typer.Option(help="Started on or after (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option(help="Started before (YYYY-MM-DD)")] = None,
    policy_version: Annotated[str | None, typer.Option(help="Filter by policy pack version")] = None,
    region: Annotated[str | None, typer.Option(help="Runs covering this region (daily sweeps cover all)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Runs recorded in the ledger, newest first."""
    from datetime import UTC, datetime

    from modsweep import store

    def ts(v: str | None) -> datetime | None:
        return datetime.combine(_parse_day(v), datetime.min.time(), tzinfo=UTC) if v else None

    runs = store.list_runs(
        _engine(),
        flow=flow,
        trigger=trigger,
        state=state,
        since=ts(since),
        until=ts(until),
        policy_version=policy_version,
        limit=limit,
    )
    if region:
        runs = [r for r in runs if not r["parameters"].get("regions") or region.upper() in r["parameters"]["regions"]]
    if as_json:
        print(json.dumps(runs, default=str, indent=2))
        return
    table = Table(
        "run", "flow", "trigger", "state", "started", "pack", "policy sha256", "items", "gates", title="Run history"
    )
    for r in runs:
        ingest = (r.get("stage_counts") or {}).get("ingest", {})
        gates = r.get("gate_results") or []
        failed = sum(1 for g in gates if g.get("severity") != "ok")
        table.add_row(
            r["run_id"][:8],
            r["flow"],
            r["trigger"],
            r["state"],
            str(r["started_at"])[:19],
            f"{r['policy_pack']} {r['policy_version']}",
            r["policy_sha256"][:12],
            f"{ingest.get('read', 0):,}",
            f"{len(gates)} ({failed} not ok)",
        )
    console.print(table)


@app.command()
def show(
    run: Annotated[str, typer.Argument(help="Run id or a unique prefix of it")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Everything the ledger knows about one run."""
    from modsweep import store

    record = store.get_run(_engine(), run)
    if record is None:
        raise _fail(f"no run matches {run!r}")
    if as_json:
        print(json.dumps(record, default=str, indent=2))
        return
    table = Table("field", "value", title=f"Run {record['run_id']}", show_lines=True)
    for key in (
        "run_key",
        "flow",
        "trigger",
        "requested_by",
        "state",
        "started_at",
        "ended_at",
        "policy_pack",
        "policy_version",
        "policy_sha256",
        "code_version",
        "input_fingerprint",
        "prefect_flow_run_id",
    ):
        table.add_row(key, str(record.get(key)))
    table.add_row("parameters", json.dumps(record.get("parameters"), indent=1, default=str))
    table.add_row("stage counts", json.dumps(record.get("stage_counts"), indent=1, default=str))
    table.add_row("outputs", json.dumps(record.get("outputs"), default=str))
    from modsweep.serving import flow_run_link

    link = flow_run_link(record.get("prefect_flow_run_id"))
    if link:
        table.add_row("prefect UI", link)
    if record.get("error"):
        e = record["error"]
        table.add_row(
            "error", f"stage {e.get('stage')} partition {e.get('partition')}: {e.get('type')}: {e.get('message')}"
        )
    console.print(table)
    _print_findings(record)
    for note in (record.get("outputs") or {}).get("threshold_notes") or []:
        console.print(f"threshold: {note}", markup=False, highlight=False)
    gates = Table("suite", "partition", "rows", "result", "failed expectations", title="Gate results")
    for g in record.get("gate_results") or []:
        failures = "; ".join(
            f"{f.get('expectation_type')}({', '.join(f.get('columns') or [])}) ×{f.get('unexpected_count')}"
            for f in g.get("failures", [])
        )
        gates.add_row(g.get("suite", ""), str(g.get("partition")), str(g.get("rows")), g.get("severity", ""), failures)
    console.print(gates)


def _print_findings(record: dict[str, Any]) -> None:
    """The latest audit's findings, one sentence each, and the policies whose automation was paused."""
    from rich.text import Text

    from modsweep.ledger import findings_of
    from modsweep.tasks.findings import sentences

    found = findings_of(record)
    table = Table("severity", Column("finding", overflow="fold"), title=f"Findings ({len(found)})")
    for f, text in zip(found, sentences(found), strict=True):
        severity = str(f.get("severity", ""))
        shown = text.removeprefix(f"{severity.capitalize()}: ")  # the severity has its own column
        table.add_row(Text(severity), Text(shown))  # data shown literally, never as markup
    console.print(table if found else "Findings: none")
    paused = ((record.get("stage_counts") or {}).get("audit") or {}).get("automation_paused_during_run")
    if paused:
        console.print(f"automation paused (circuit breaker) during this run: {', '.join(paused)}", markup=False)


@app.command("verify-log")
def verify_log(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the audit log's hash chain; exit 1 at the first broken link."""
    from dataclasses import asdict

    from modsweep import store

    result = store.verify_audit_log(_engine())
    data = asdict(result) if hasattr(result, "__dataclass_fields__") else dict(result)
    if as_json:
        print(json.dumps(data, default=str))
    elif result.ok:
        console.print(f"OK: {data.get('rows_checked', data.get('rows'))} audit-log rows, chain intact")
    else:
        console.print(f"[red]BROKEN[/red] at seq {data.get('first_broken_seq')}: {data.get('reason')}")
    if not result.ok:
        raise typer.Exit(1)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (systemd, docker stop, kill) stops the command promptly: the run is recorded as cancelled."""
    from modsweep.cli_common import err

    err.print("stopped by SIGTERM: a run in progress is recorded as cancelled; the same command resumes it")
    raise SystemExit(143)


def main() -> None:  # pragma: no cover - console entry point
    import signal

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
