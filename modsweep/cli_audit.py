"""`modsweep export dsa|transparency` and `modsweep explain ITEM`: what auditors and regulators read.

A Typer sub-app and a command mounted by the main CLI::

    app.add_typer(export_app, name="export")
    app.command("explain")(explain)

I/O lives here (store queries, lake reads filtered on item ids, atomic file writes); the statements, the period
summary and the explanation are built by the pure functions of ``modsweep.tasks.dsa`` and ``modsweep.tasks.explain``.
Exit codes as the main CLI: 0 success, 1 a statement or the gate failed (message names the field or expectation),
2 bad usage or bad input (an unknown item for ``explain``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from modsweep.cli_common import actor as _actor
from modsweep.cli_common import console, err
from modsweep.cli_common import engine as _engine
from modsweep.cli_common import fail as _fail
from modsweep.cli_common import parse_day as _parse_day
from modsweep.cli_common import safe_path as _safe_path
from modsweep.config import get_settings
from modsweep.lake import write_file_atomically

if TYPE_CHECKING:
    import pandas as pd

    from modsweep.lake import Lake
    from modsweep.policy import PolicyPack

export_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Regulatory exports: DSA statements of reasons, period transparency summaries.",
)
SHOWN_PROBLEMS = 20
SCAN_RUNS = 10  # runs whose detections `explain` scans for an item that was never decided


def _lake() -> Lake:
    from modsweep import resources

    return resources.lake()


# ----------------------------------------------------------------------------------------- gathering


def _runs(engine: Any, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    from modsweep import store

    out = {}
    for run_id in sorted({str(r) for r in run_ids}):
        record = store.get_run(engine, run_id)
        if record is not None:
            out[run_id] = record
    return out


def _pack_for_run(run: dict[str, Any], cache: dict[tuple[str, str, str], PolicyPack | None]) -> PolicyPack | None:
    """The pack (name or path, profile) a run was started with; None when it can no longer be loaded."""
    from modsweep import resources
    from modsweep.policy import PolicyPackError

    params = run.get("parameters") or {}
    # with the model the run used: its card resolved the pack's auto@ bands
    key = (
        str(params.get("pack") or run.get("policy_pack")),
        str(params.get("profile") or "standard"),
        str(params.get("model_version") or "latest"),
    )
    if key not in cache:
        try:
            cache[key] = resources.pack(*key)
        except (PolicyPackError, OSError):
            cache[key] = None
    return cache[key]


def _enforced_for_day(engine: Any, day: date) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """The day's enforced decisions (every region) and the runs behind them."""
    import pandas as pd

    from modsweep import store
    from modsweep.tasks.dsa import enforced_decisions

    decisions = store.fetch_decisions(engine, day=day)
    if decisions.empty:
        return enforced_decisions(decisions, pd.DataFrame()), {}
    runs = _runs(engine, decisions["run_id"].unique())
    shadow = [r for r, rec in runs.items() if rec.get("trigger") == "shadow"]
    escalated_keys = decisions.loc[decisions["action"] == "escalate", "run_key"].unique()
    frames = [f for f in (store.fetch_review_tasks(engine, run_key=str(k)) for k in sorted(escalated_keys)) if len(f)]
    tasks = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return enforced_decisions(decisions, tasks, skip_run_ids=shadow), runs


def _read_filtered(lake: Lake, paths: list[str], item_ids: list[str], columns: list[str] | None) -> pd.DataFrame:
    """Rows of these Parquet files whose item_id is one of ``item_ids``, streamed with a pushed-down filter."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if not paths or not item_ids:
        return pd.DataFrame(columns=columns or [])
    dataset = ds.dataset(paths, format="parquet", filesystem=lake.fs)
    wanted = pc.field("item_id") == item_ids[0] if len(item_ids) == 1 else pc.field("item_id").isin(item_ids)
    return dataset.to_table(filter=wanted, columns=columns).to_pandas()


def _lake_rows(
    lake: Lake,
    dataset: str,
    locations: Iterable[tuple[date, str]],
    item_ids: list[str],
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """``_read_filtered`` over several (day, run_key) partitions, tagging rows with their day and run_key."""
    import pandas as pd

    frames = []
    for day, run_key in sorted(set(locations)):
        found = _read_filtered(lake, lake.parts(dataset, day, run_key), item_ids, columns)
        if len(found):
            frames.append(found.assign(day=day, run_key=run_key))
    return (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*(columns or []), "day", "run_key"])
    )


# ------------------------------------------------------------------------------------- export dsa


def _write_batches(directory: Path, day: date, bodies: list[dict[str, Any]]) -> list[Path]:
    """One request body per file (``dsa-statements-D-0001.json``…); batch files of an earlier, longer export go."""
    stem = f"dsa-statements-{day.isoformat()}-"
    written = []
    for i, body in enumerate(bodies, start=1):
        path = directory / f"{stem}{i:04d}.json"
        write_file_atomically(
            path, (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        )
        written.append(path)
    keep = {p.name for p in written}
    for stale in directory.glob(f"{stem}*.json"):
        if stale.name not in keep:
            stale.unlink()
    return written


def _swept(engine: Any, day: date) -> bool:
    """Whether a completed (non-shadow) run of the ledger covers `day`."""
    from modsweep import store
    from modsweep.runs import run_day

    runs = store.list_runs(engine, state="completed", limit=100_000)
    return any(run_day(r) == day and r["trigger"] != "shadow" for r in runs)


@export_app.command("dsa")
def export_dsa(
    day: Annotated[str, typer.Option(help="Decision day (the swept day), YYYY-MM-DD")],
    out: Annotated[
        Path | None, typer.Option(help="JSONL file (default MODSWEEP_HOME/exports/dsa-statements-D.jsonl)")
    ] = None,
    api_batches: Annotated[Path | None, typer.Option(help="Also write request bodies of ≤ 100 statements here")] = None,
) -> None:
    """Statements of reasons (DSA Transparency Database API fields and values) for the day's EU/EEA enforcement."""
    from modsweep import store
    from modsweep.tasks import dsa
    from modsweep.tasks.gates import DataQualityError, check_gate

    when = _parse_day(day)
    settings = get_settings()
    target = _safe_path(out, "--out") if out else settings.exports_dir / f"dsa-statements-{when.isoformat()}.jsonl"
    batch_dir = _safe_path(api_batches, "--api-batches") if api_batches else None
    if batch_dir is not None and batch_dir.exists() and not batch_dir.is_dir():
        raise _fail(f"--api-batches {batch_dir} is not a directory")
    engine = _engine()
    enforced, runs = _enforced_for_day(engine, when)
    if not runs and not _swept(engine, when):  # an empty file would read as "no enforcement that day"
        raise _fail(
            f"no completed sweep of {when} in the ledger: nothing to export (sweep it first: "
            f"`modsweep sweep --day {when} --source DIR`; `modsweep history` lists the runs)"
        )
    all_enforced = enforced  # reversed decisions' statements are superseded (listed beside the file), not re-sent
    if "status" in enforced.columns:
        enforced = enforced[enforced["status"] != "reversed"].reset_index(drop=True)
    scoped = dsa.in_dsa_scope(enforced)

    lake = _lake()
    locations = {(when, str(k)) for k in scoped["run_key"].unique()} if len(scoped) else set()
    items = sorted(scoped["item_id"].astype(str).unique()) if len(scoped) else []
    detections = _lake_rows(
        lake,
        "detections",
        locations,
        items,
        ["item_id", "policy_id", "detector_id", "detector_version", "score", "evidence"],
    )
    authors = _lake_rows(lake, "items", locations, items, ["item_id", "author_id"])
    cache: dict[tuple[str, str, str], PolicyPack | None] = {}
    policies = {}
    for run_id, run in runs.items():
        pack = _pack_for_run(run, cache)
        policies[run_id] = dsa.policy_infos(pack) if pack is not None else {}
    batch = dsa.build_statements(
        enforced, detections, policies, author_ids=dict(zip(authors["item_id"], authors["author_id"], strict=True))
    )

    try:
        gate = check_gate(dsa.statements_frame(batch.statements), "dsa.statements", partition=when.isoformat())
    except DataQualityError as exc:
        raise _fail(f"no statements written: {exc}", 1) from exc
    data = "".join(dsa.to_json_line(s) + "\n" for s in batch.statements).encode("utf-8")
    write_file_atomically(target, data)
    batch_files = _write_batches(batch_dir, when, dsa.api_batches(batch.statements)) if batch_dir else []
    digest = hashlib.sha256(data).hexdigest()
    store.append_audit(
        engine,
        actor=_actor(),
        event="export.dsa",
        subject=when.isoformat(),
        payload={
            "file": str(target),
            "sha256": digest,
            "statements": len(batch.statements),
            "rejected": len({p.decision_id for p in batch.problems}),
            "api_batches": len(batch_files),
            "gate": gate.severity,
        },
    )

    console.print(f"{len(batch.statements):,} statements of reasons for {when} → {target} (sha256 {digest[:12]})")
    from modsweep.tasks.lifecycle_io import write_account_and_superseded

    lifecycle = write_account_and_superseded(
        engine, when, all_enforced, target, next((p for p in cache.values() if p is not None), None)
    )
    console.print(
        f"{lifecycle['account_statements']:,} account statements → {lifecycle['accounts_file']}; "
        f"{lifecycle['superseded']:,} statements superseded by reversals → {lifecycle['superseded_file']}"
    )
    for p in lifecycle["account_problems"][:SHOWN_PROBLEMS]:
        err.print(f"  {p.describe()}", markup=False, highlight=False)
    if batch_dir:
        console.print(f"{len(batch_files)} API request bodies (≤ {dsa.API_BATCH_SIZE} statements each) → {batch_dir}")
    if len(enforced) > len(scoped):
        console.print(f"{len(enforced) - len(scoped):,} enforcement decisions outside the EU/EEA need no statement")
    if batch.problems:
        rejected = sorted({p.decision_id for p in batch.problems})
        for p in batch.problems[:SHOWN_PROBLEMS]:
            err.print(f"  {p.describe()}", markup=False, highlight=False)
        more = len(batch.problems) - SHOWN_PROBLEMS
        if more > 0:
            err.print(f"  … and {more} more problems", markup=False)
        fields = sorted({p.field for p in batch.problems})
        raise _fail(
            f"{len(rejected)} statement(s) failed validation and were not written (fields: {', '.join(fields)})", 1
        )


# --------------------------------------------------------------------------- export transparency


@export_app.command("transparency")
def export_transparency(
    start: Annotated[str, typer.Option(help="First decision day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last decision day (inclusive), YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Period summary: actions by DSA category and action, automated share, time to action, territorial scope."""
    import pandas as pd

    from modsweep.tasks.dsa import transparency_summary

    first, last = _parse_day(start, "--start"), _parse_day(end, "--end")
    if last < first:
        raise _fail(f"--end {end} is before --start {start}")
    if (last - first).days > 366:
        raise _fail("the period is longer than a year; export it in parts")
    engine = _engine()
    frames = [_enforced_for_day(engine, first + timedelta(days=k))[0] for k in range((last - first).days + 1)]
    frames = [f for f in frames if len(f)]
    enforced = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    summary = transparency_summary(enforced, first, last)
    from modsweep.tasks.lifecycle_io import reversal_summary

    summary["reversals"] = reversal_summary(engine, first, last)  # appeals overturned, mass reverts (#17)
    if as_json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    head = Table("", "value", title=f"Enforcement {first} → {last}")
    head.add_row("actions", f"{summary['actions']:,}")
    head.add_row("automated / reviewed", f"{summary['automated']:,} / {summary['reviewed']:,}")
    share = summary["automated_share"]
    head.add_row("automated share", "n/a" if share is None else f"{share:.1%}")
    for key, label in (
        ("median_hours_to_action", "median time to action"),
        ("p90_hours_to_action", "p90 time to action"),
    ):
        value = summary[key]
        head.add_row(label, "n/a" if value is None else f"{value:.2f} h")
    head.add_row("outside the EU/EEA", f"{summary['outside_eea']:,}")
    rev = summary["reversals"]
    head.add_row(
        "reversed in the period",
        f"{rev['reversed']:,}" + "".join(f", {n:,} by {c}" for c, n in rev["by_cause"].items()),
    )
    for e in rev["reverts"]:
        head.add_row(
            "mass revert",
            f"{e['revert_id']}: {e['filter'].get('policy')} {e['filter'].get('since')[:10]} → "
            f"{e['filter'].get('until')[:10]}, {e['reversed']:,} reversed, by {e['requested_by']}: {e['reason']}",
        )
    console.print(head)
    actions = sorted(summary["by_action"])
    cats = Table("DSA category", *actions, "total", title="Actions by DSA category")
    for cat, total in summary["by_category"].items():
        row = summary["by_category_and_action"].get(cat, {})
        cats.add_row(cat.removeprefix("STATEMENT_CATEGORY_"), *(f"{row.get(a, 0):,}" for a in actions), f"{total:,}")
    console.print(cats)
    scope = Table("territorial scope", "actions", title="EU/EEA territorial scope")
    for code, n in summary["by_territorial_scope"].items():
        scope.add_row(code, f"{n:,}")
    console.print(scope)


# ------------------------------------------------------------------------------------------ explain


def explain(
    item: Annotated[str | None, typer.Argument(metavar="ITEM", help="Item id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    scan_runs: Annotated[
        int, typer.Option(min=1, max=500, help="Recent runs scanned when the item was never decided")
    ] = SCAN_RUNS,
    author: Annotated[
        str | None, typer.Option("--author", help="Explain an account (author pseudonym) instead")
    ] = None,
) -> None:
    """Everything about one item: detections of every run that saw it, decisions and bands, reviews, appeals and
    reversals, runs. `--author A`: the account's strikes, restrictions and history."""
    from modsweep import store
    from modsweep.cli_accounts import explain_author, item_lifecycle, print_item_lifecycle
    from modsweep.tasks.explain import explain_item, is_unknown

    if author is not None:
        explain_author(author, as_json)
        return
    if item is None:
        raise _fail("give an ITEM id, or --author PSEUDONYM")
    item_id = item.strip()
    if not item_id or len(item_id) > 255:
        raise _fail("ITEM must be a non-empty item id of at most 255 characters")
    engine = _engine()
    lake = _lake()
    decisions = store.fetch_decisions(engine, item_id=item_id)
    tasks = store.fetch_review_tasks(engine, item_id=item_id)
    locations: set[tuple[date, str]] = set()
    for frame in (decisions, tasks):
        if len(frame):
            locations |= {(d, str(k)) for d, k in frame[["day", "run_key"]].dropna().itertuples(index=False)}
    run_ids = set(decisions["run_id"]) | set(tasks["run_id"]) if len(decisions) or len(tasks) else set()
    if not locations:  # never decided: look in the most recent runs' partitions
        for run in _recent_runs(engine, scan_runs):
            for day in _partition_days(lake, "detections", run["run_key"]):
                locations.add((day, run["run_key"]))
    detections = _lake_rows(lake, "detections", locations, [item_id])
    items = _lake_rows(lake, "items", locations, [item_id])
    run_ids |= set(detections["run_id"]) if len(detections) else set()
    if len(items) and not run_ids:
        run_ids |= {r["run_id"] for r in _recent_runs(engine, scan_runs) if r["run_key"] in set(items["run_key"])}
    runs = _runs(engine, run_ids)
    cache: dict[tuple[str, str, str], PolicyPack | None] = {}
    packs = {run_id: _pack_for_run(run, cache) for run_id, run in runs.items()}
    actor = _lake_rows(lake, "actor_risk", locations, [item_id])  # repeat offenders' lowered bands (#17)
    doc = explain_item(
        item_id,
        decisions=decisions,
        tasks=tasks,
        detections=detections,
        items=items,
        runs=runs.values(),
        packs=packs,
        actor=actor,
    )
    if is_unknown(doc):
        raise _fail(
            f"unknown item {item_id!r}: no decision, review task or detection (scanned {scan_runs} recent runs)"
        )
    doc["lifecycle"] = item_lifecycle(engine, decisions)  # appeals, outcomes, reversals, strikes (#17)
    if as_json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))
        return
    _print_explanation(doc)
    print_item_lifecycle(doc["lifecycle"])


def _recent_runs(engine: Any, limit: int) -> list[dict[str, Any]]:
    """The newest runs, one per run key (a re-run shares its key's partitions)."""
    from modsweep import store

    seen, out = set(), []
    for run in store.list_runs(engine, limit=limit * 4):
        if run["run_key"] not in seen and run.get("trigger") != "shadow":
            seen.add(run["run_key"])
            out.append(run)
        if len(out) == limit:
            break
    return out


def _partition_days(lake: Lake, dataset: str, run_key: str) -> list[date]:
    """Days under which a run key has partitions of ``dataset`` (a surge window can span two days)."""
    days = []
    for path in lake.fs.glob(f"{lake.root}/{dataset}/date=*/run_key={run_key}"):
        part = next((p for p in str(path).split("/") if p.startswith("date=")), None)
        if part:
            try:
                days.append(date.fromisoformat(part.removeprefix("date=")))
            except ValueError:
                continue
    return sorted(days)


def _band_score(band: dict[str, Any]) -> str:
    if band.get("min_score") is None:
        return f"auto@{band.get('auto_precision')} (unresolved)"
    auto = f" (auto@{band['auto_precision']:g})" if band.get("auto_precision") else ""
    return f"{band['min_score']:.2f}{auto}"


def _short(value: Any, limit: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_explanation(doc: dict[str, Any]) -> None:
    s = doc["summary"]
    head = Table("", Column("value", overflow="fold"), title=f"Item {doc['item_id']}")
    for key, value in (doc.get("item") or {}).items():
        if key != "seen_in":
            head.add_row(key, _short(value))
    head.add_row("decisions / review tasks / detections", f"{s['decisions']} / {s['review_tasks']} / {s['detections']}")
    for policy, outcome in s["outcome_by_policy"].items():
        head.add_row(f"outcome: {policy}", outcome)
    console.print(head)
    if doc["decisions"]:
        t = Table(
            *_folded(
                "policy",
                "action",
                "score",
                "band applied",
                "bands in force (min score → action)",
                "region",
                "decided at",
                "decision",
                "run",
            ),
            title="Decisions",
        )
        for d in doc["decisions"]:
            ladder = d.get("bands_in_force")
            shown = ", ".join(f"{_band_score(b)} → {b['action']}" for b in ladder) if ladder else "n/a"
            if d.get("bands_from_run_pack") is False:
                shown += " (current pack, not the run's)"
            lowered = d["band_applied"].get("repeat_offender")
            t.add_row(
                d["policy_id"],
                d["action"],
                f"{d['score']:.3f}",
                f"{d['threshold']:.2f} → {d['action']}" + (f" ({lowered})" if lowered else ""),
                shown,
                d["region"],
                str(d["decided_at"])[:19],
                str(d["decision_id"]),
                str(d["run_id"])[:8],
            )
        console.print(t)
    if doc["review_tasks"]:
        t = Table(
            *_folded("policy", "reason", "status", "reviewer", "label", "final action", "decided at", "queue", "run"),
            title="Review tasks",
        )
        for r in doc["review_tasks"]:
            t.add_row(
                r["policy_id"],
                r["reason"],
                r["status"],
                str(r.get("reviewer_id") or ""),
                str(r.get("label") or ""),
                str(r.get("final_action") or ""),
                str(r.get("decided_at") or "")[:19],
                r["queue"],
                str(r["run_id"])[:8],
            )
        console.print(t)
    if doc["detections"]:
        t = Table(*_folded("day", "policy", "detector", "version", "score", "evidence", "run"), title="Detections")
        for d in doc["detections"]:
            t.add_row(
                str(d["day"]),
                d["policy_id"],
                d["detector_id"],
                d["detector_version"],
                f"{d['score']:.3f}",
                _short(d["evidence"], 200),
                str(d["run_id"])[:8],
            )
        console.print(t)
    if doc["runs"]:
        t = Table(
            *_folded("run", "flow", "trigger", "state", "pack", "profile", "policy sha256", "code version", "started"),
            title="Runs",
        )
        for r in doc["runs"]:
            t.add_row(
                str(r["run_id"]),
                r["flow"],
                r["trigger"],
                r["state"],
                f"{r['policy_pack']} {r['policy_version']}",
                str(r.get("profile") or ""),
                str(r["policy_sha256"]),
                str(r["code_version"]),
                str(r["started_at"])[:19],
            )
        console.print(t)


def _folded(*names: str) -> list[Column]:
    """Columns that wrap long ids instead of cutting them off."""
    return [Column(n, overflow="fold") for n in names]
