"""`modsweep reviews …`: the loop with an external review tool (export, import, simulate, queues).

A Typer sub-app mounted by the main CLI with ``app.add_typer(reviews_app, name="reviews")``. Exit codes as the
main CLI: 0 success, 1 some rows were rejected (the valid ones were applied), 2 bad usage or an unusable file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from modsweep.cli_common import actor as _actor
from modsweep.cli_common import console, err, print_import_counts
from modsweep.cli_common import engine as _engine
from modsweep.cli_common import fail as _fail
from modsweep.cli_common import parse_day as _parse_day
from modsweep.cli_common import safe_path as _safe_path
from modsweep.config import Settings, get_settings

reviews_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Review tasks with an external review tool: export, import, simulate, queues.",
)


def _run_key(engine: Any, run: str | None) -> str | None:
    """The run key of a run id or unique prefix (tasks belong to run keys: a re-run shares its tasks)."""
    if run is None:
        return None
    from modsweep import store

    try:
        record = store.get_run(engine, run)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if record is None:
        raise _fail(f"no run matches {run!r}")
    return str(record["run_key"])


def _print_import(report: Any) -> None:
    console.print(f"imported {report.file} ({report.format}, {report.rows:,} rows, sha256 {report.sha256[:16]})")
    counts = {"applied": report.applied, "unchanged": report.unchanged, "rejected": report.rejected}
    print_import_counts(None, counts, report.rejections, report.report_path)
    done = {k: v for k, v in getattr(report, "lifecycle", {}).items() if v}
    if done:  # appeals decided (overturns reversed), account reviews applied, breaker trips
        console.print("enforcement lifecycle: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in done.items()))


@reviews_app.command("export")
def export(
    queue: Annotated[list[str] | None, typer.Option("--queue", help="Only this queue (repeatable)")] = None,
    run: Annotated[str | None, typer.Option(help="Only tasks of this run's key (run id or unique prefix)")] = None,
    day: Annotated[str | None, typer.Option(help="Only tasks of this swept day, YYYY-MM-DD")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv|jsonl|both")] = "both",
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default MODSWEEP_HOME/exports/reviews/<UTC time>)")
    ] = None,
    include_carried_over: Annotated[bool, typer.Option(help="Also export carried-over tasks")] = False,
    policy: Annotated[list[str] | None, typer.Option("--policy", help="Only this policy (repeatable)")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Only this region (repeatable)")] = None,
    list_files: Annotated[bool, typer.Option("--list-files", help="List every queue's files, not a summary")] = False,
) -> None:
    """Write the open review tasks, blind and pseudonymised, one file per queue and format; print a summary
    per policy (every queue's files with --list-files)."""
    from modsweep import resources
    from modsweep.tasks import reviews_io

    if run is not None and day is not None:
        raise _fail("give --run or --day, not both")
    formats = {"both": list(reviews_io.EXPORT_FORMATS), "csv": ["csv"], "jsonl": ["jsonl"]}.get(fmt)
    if formats is None:
        raise _fail(f"--format {fmt!r}: use csv, jsonl or both")
    the_day = _parse_day(day) if day else None
    settings = get_settings()
    target = _safe_path(out, "--out") if out else reviews_io.default_export_dir(settings.exports_dir)
    key = settings.hmac_key.get_secret_value()
    if key == Settings.model_fields["hmac_key"].default.get_secret_value():
        err.print("[yellow]warning:[/yellow] author pseudonyms use the development key; set MODSWEEP_HMAC_KEY")
    engine = _engine()
    try:
        result = reviews_io.export_reviews(
            engine,
            resources.lake(),
            target,
            key=key,
            formats=formats,
            run_key=_run_key(engine, run),
            day=the_day,
            queues=queue,
            policies=policy,
            regions=region,
            include_carried_over=include_carried_over,
            actor=_actor(),
        )
    except OSError as exc:
        raise _fail(f"cannot write the export under {target}: {exc}") from exc
    if not result.queues:
        console.print("no open review tasks match; nothing written")
        return
    if list_files:
        table = Table(
            Column("queue", no_wrap=True),
            "tasks",
            Column("file", no_wrap=True),
            title=f"Review export → {result.out_dir}",
        )
        for q in result.queues:
            table.add_row(q.queue, f"{q.tasks:,}", "\n".join(Path(f).name for f in q.files))
        table.add_row("[bold]total[/bold]", f"[bold]{result.tasks:,}[/bold]", "")
    else:
        table = Table(
            Column("policy", no_wrap=True),
            "queues",
            "tasks",
            "files",
            title=f"Review export → {result.out_dir} (one file per queue and format; --list-files lists them)",
        )
        by_policy: dict[str, list[int]] = {}
        for q in result.queues:
            entry = by_policy.setdefault(q.queue.split(":")[0], [0, 0, 0])
            entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + q.tasks, entry[2] + len(q.files)
        for name, (n_queues, tasks, files) in sorted(by_policy.items()):
            table.add_row(name, f"{n_queues:,}", f"{tasks:,}", f"{files:,}")
        table.add_row("[bold]total[/bold]", f"{len(result.queues):,}", f"[bold]{result.tasks:,}[/bold]", "")
    console.print(table)
    if result.missing_content:
        err.print(
            f"[yellow]warning:[/yellow] {result.missing_content:,} task(s) have no item content in the lake "
            "(their rows are exported with empty content)"
        )


@reviews_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Reviewer decisions (CSV or JSONL)")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv|jsonl (default: from the suffix)")] = None,
    reviewer_default: Annotated[str | None, typer.Option(help="reviewer_id for rows that have none")] = None,
) -> None:
    """Apply reviewer decisions in one transaction; rejected rows go to <name>.rejected.csv (exit 1)."""
    from modsweep.tasks import reviews_io

    source = _safe_path(file, "FILE")
    if not source.is_file():
        raise _fail(f"{source}: no such file")
    try:
        report = reviews_io.import_outcomes_file(
            _engine(), source, fmt=fmt, reviewer_default=reviewer_default, actor=_actor()
        )
    except reviews_io.OutcomesFileError as exc:
        raise _fail(f"{exc}; nothing was applied") from exc
    _print_import(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@reviews_app.command("simulate")
def simulate(
    run: Annotated[str | None, typer.Option(help="Only open tasks of this run's key (run id or prefix)")] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Generator ground truth (default MODSWEEP_HOME/source/truth)")
    ] = None,
    accuracy: Annotated[float | None, typer.Option(min=0.5, max=1.0, help="Reviewers' recall on violations")] = None,
) -> None:
    """Play simulated reviewers on the open tasks and import their decisions through the real import."""
    from modsweep.tasks import reviews_io

    settings = get_settings()
    truth_dir = _safe_path(truth, "--truth") if truth else settings.home / "source" / "truth"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = settings.exports_dir / "reviews" / "simulated" / f"decisions-{stamp}.csv"
    engine = _engine()
    try:
        open_tasks, report = reviews_io.simulate_reviews(
            engine,
            truth_dir=truth_dir,
            out_path=out_path,
            run_key=_run_key(engine, run),
            accuracy=settings.reviewer_accuracy if accuracy is None else accuracy,
            false_positive_rate=settings.reviewer_false_positive_rate,
        )
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    except reviews_io.OutcomesFileError as exc:
        raise _fail(f"{exc}; nothing was applied") from exc
    if report is None:
        console.print("no open review tasks; nothing to simulate")
        return
    console.print(f"{open_tasks:,} open task(s) reviewed by simulated reviewers → {report.file}")
    _print_import(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@reviews_app.command("queues")
def queues(
    run: Annotated[str | None, typer.Option(help="Only tasks of this run's key (run id or prefix)")] = None,
    day: Annotated[str | None, typer.Option(help="Only tasks of this swept day, YYYY-MM-DD")] = None,
    policy: Annotated[list[str] | None, typer.Option("--policy", help="Only this policy (repeatable)")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", help="Only this region (repeatable)")] = None,
    by: Annotated[str, typer.Option(help="policy (a summary) or queue (every queue)")] = "policy",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Per policy (or per queue with --by queue): open, claimed, decided, carried-over counts, the oldest
    pending due_by and SLA breaches."""
    import pandas as pd

    from modsweep.tasks import reviews_io

    group = {"policy": "policy_id", "queue": "queue"}.get(by)
    if group is None:
        raise _fail(f"--by {by!r}: use policy or queue")
    engine = _engine()
    now = datetime.now(UTC)
    summary = reviews_io.read_queue_summary(
        engine,
        now=now,
        run_key=_run_key(engine, run),
        day=_parse_day(day) if day else None,
        policies=policy,
        regions=region,
        by=group,
    )
    if as_json:
        summary["oldest_due_by"] = [None if pd.isna(t) else t.isoformat() for t in summary["oldest_due_by"]]
        rows = summary.astype(object).where(summary.notna(), None).to_dict("records")
        print(json.dumps({"now": now.isoformat(), "queues": rows}, default=str, indent=2))
        return
    if summary.empty:
        console.print("no review tasks match")
        return
    table = Table(
        Column(by, no_wrap=True),
        *(["queues"] if by == "policy" else []),
        "open",
        "claimed",
        "decided",
        "carried",
        "expired",
        Column("oldest due", no_wrap=True),
        "late",
        "overdue",
        "breaches",
        title=f"Review queues at {now:%Y-%m-%d %H:%M} UTC (breaches = decided late + overdue)"
        + ("; --by queue lists every queue" if by == "policy" else ""),
    )
    for r in summary.itertuples(index=False):
        due = (
            "" if r.oldest_due_by is None or r.oldest_due_by != r.oldest_due_by else f"{r.oldest_due_by:%Y-%m-%d %H:%M}"
        )
        breaches = f"[red]{r.sla_breaches:,}[/red]" if r.sla_breaches else "0"
        name = [r.policy_id, f"{r.queues:,}"] if by == "policy" else [r.queue]
        table.add_row(
            *name,
            f"{r.open:,}",
            f"{r.claimed:,}",
            f"{r.decided:,}",
            f"{r.carried_over:,}",
            f"{r.expired:,}",
            due,
            f"{r.late_decided:,}",
            f"{r.overdue:,}",
            breaches,
        )
    if len(summary):
        totals = summary[
            ["open", "claimed", "decided", "carried_over", "expired", "late_decided", "overdue", "sla_breaches"]
        ].sum()
        table.add_row(
            "[bold]total[/bold]",
            *([f"{int(summary['queues'].sum()):,}"] if by == "policy" else []),
            *(f"{int(totals[c]):,}" for c in ("open", "claimed", "decided", "carried_over", "expired")),
            "",
            f"{int(totals['late_decided']):,}",
            f"{int(totals['overdue']):,}",
            f"{int(totals['sla_breaches']):,}",
        )
    console.print(table)
