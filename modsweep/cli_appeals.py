"""`modsweep appeals …`: import users' appeals (they become review tasks), plant a demo appeals file, list them.

Exit codes as the main CLI: 0 success, 1 some rows were rejected (the valid ones were applied), 2 bad usage or an
unusable file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modsweep.cli_common import actor as _actor
from modsweep.cli_common import console, print_import_counts
from modsweep.cli_common import engine as _engine
from modsweep.cli_common import fail as _fail
from modsweep.cli_common import safe_path as _safe_path
from modsweep.config import get_settings

appeals_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Users' appeals against enforcement: import, generate (demo), list.",
)


def _enforcement(pack: str) -> object:
    from modsweep.policy import PolicyPackError, load_pack

    try:
        return load_pack(pack).spec.enforcement
    except PolicyPackError as exc:
        raise _fail(str(exc).splitlines()[0]) from exc


@appeals_app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="Appeals (CSV or JSONL): decision_id, received_at, statement, optional appellant, channel",
        ),
    ],
    fmt: Annotated[str | None, typer.Option("--format", help="csv|jsonl (default: from the suffix)")] = None,
    pack: Annotated[str, typer.Option(help="Pack whose appeal window and SLA apply")] = "community-guidelines",
) -> None:
    """Validate every appeal; valid ones become review tasks (reason `appeal`); rejects go to NAME.rejected.csv."""
    from modsweep.tasks import appeals_io

    source = _safe_path(file, "FILE")
    if not source.is_file():
        raise _fail(f"{source}: no such file")
    enforcement = _enforcement(pack)
    try:
        report = appeals_io.import_appeals_file(
            _engine(),
            source,
            enforcement,  # type: ignore[arg-type]
            key=get_settings().hmac_key.get_secret_value(),
            actor=_actor(),
            fmt=fmt,
        )
    except appeals_io.AppealsFileError as exc:
        raise _fail(f"{exc}; nothing was imported") from exc
    print_import_counts(
        f"Appeals {report.file} ({report.rows:,} rows, sha256 {report.sha256[:16]})",
        {
            "appeal tasks created": report.created,
            "unchanged (imported before)": report.unchanged,
            "rejected": report.rejected,
        },
        report.rejections,
        report.report_path,
    )
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@appeals_app.command("generate")
def generate(
    run: Annotated[str, typer.Option(help="The run whose enforced decisions get appeals (id or unique prefix)")],
    out: Annotated[Path, typer.Option(help="Appeals CSV to write")],
    truth: Annotated[
        Path | None, typer.Option(help="Generator ground truth (default MODSWEEP_HOME/source/truth)")
    ] = None,
    share_violating: Annotated[float, typer.Option(min=0, max=1, help="Share of correct enforcements appealed")] = 0.05,
    share_benign: Annotated[float, typer.Option(min=0, max=1, help="Share of wrong enforcements appealed")] = 0.4,
) -> None:
    """Demo: plant appeals for a run's enforced decisions (more of the false positives, per the generator's truth)."""
    from modsweep import resources, store
    from modsweep.tasks import appeals_io, reviews_io

    settings = get_settings()
    engine = _engine()
    try:
        record = store.get_run(engine, run)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if record is None:
        raise _fail(f"no run matches {run!r}; `modsweep history` lists the runs")
    truth_dir = _safe_path(truth, "--truth") if truth else settings.home / "source" / "truth"
    try:
        truth_rows = reviews_io.read_truth(truth_dir)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    target = _safe_path(out, "--out")
    n = appeals_io.generate_appeals(
        engine,
        resources.lake(),
        record,
        truth_rows,
        target,
        key=settings.hmac_key.get_secret_value(),
        share_violating=share_violating,
        share_benign=share_benign,
    )
    console.print(
        f"{n:,} appeals for run {record['run_id'][:8]} → {target} (planted from the generator's truth: "
        f"{share_benign:.0%} of wrong enforcements, {share_violating:.0%} of correct ones)"
    )


@appeals_app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="open|upheld|overturned")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Stored appeals (newest first) with their outcome."""
    from modsweep.store import lifecycle as ls

    found = ls.fetch_appeals(_engine(), status=status).iloc[::-1].head(limit)
    cols = [
        "appeal_id",
        "decision_id",
        "policy_id",
        "region",
        "automated",
        "channel",
        "received_at",
        "due_by",
        "status",
        "decided_at",
        "decided_by",
    ]
    if as_json:
        print(
            json.dumps(
                found[cols].astype(object).where(found[cols].notna(), None).to_dict("records"), default=str, indent=2
            )
        )
        return
    table = Table(*cols[2:], "appeal", title=f"Appeals ({len(found)} shown)")
    for r in found.itertuples(index=False):
        table.add_row(
            r.policy_id,
            r.region,
            "yes" if r.automated else "no",
            r.channel,
            f"{r.received_at:%Y-%m-%d %H:%M}",
            f"{r.due_by:%Y-%m-%d %H:%M}",
            r.status,
            "" if r.decided_at is None or r.decided_at != r.decided_at else f"{r.decided_at:%Y-%m-%d %H:%M}",
            r.decided_by or "",
            r.appeal_id[:16],
        )
    console.print(table)
