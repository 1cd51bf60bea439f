"""`modsweep calibrate`: thresholds re-estimated from reviewed QA samples, written as a candidate pack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer
import yaml

from modsweep.cli_common import console, engine, fail, one_line, parse_day, safe_path


def calibrate(
    since: Annotated[str, typer.Option(help="Use review outcomes of runs on or after this day (YYYY-MM-DD)")],
    out: Annotated[
        Path, typer.Option(help="Where to write the candidate pack (a .yaml file; its resources are copied beside it)")
    ],
    pack: Annotated[str, typer.Option(help="The pack to start from (name or .yaml path)")] = "community-guidelines",
    profile: Annotated[str, typer.Option(help="Profile whose thresholds are resolved")] = "standard",
    min_reviewed: Annotated[
        int, typer.Option(min=5, help="Fewest reviewed QA tasks a policy needs to be re-estimated")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON")] = False,
) -> None:
    """Re-estimate each policy's thresholds from review outcomes (each reviewed QA task weighted by
    1/inclusion_prob) and write a candidate pack plus a diff; `modsweep shadow --candidate OUT` shows its effect."""
    from modsweep import resources
    from modsweep.policy import PolicyPackError, load_pack, resolve_pack_path
    from modsweep.registry import ModelNotFoundError
    from modsweep.store import repo
    from modsweep.tasks.calibrate import apply_to_raw, calibrated_bands, diff_lines

    day = parse_day(since, "--since")
    out = safe_path(out, "--out")
    if out.suffix not in (".yaml", ".yml"):
        raise fail(f"--out {out} must be a .yaml file")
    try:
        base = resources.pack(pack, profile)  # a name or a .yaml path; auto@ bands from the latest model's card
    except (PolicyPackError, ModelNotFoundError) as exc:
        raise fail(one_line(exc)) from exc
    tasks = repo.fetch_review_tasks(engine(), status="decided")
    if len(tasks):
        days = tasks["day"].map(lambda d: d if d is not None else None)
        tasks = tasks[days.notna() & (days >= day)]
    if not len(tasks):
        raise fail(
            f"no decided review tasks from runs on or after {day}: import review outcomes first "
            "(`modsweep reviews import FILE`)"
        )
    bands = calibrated_bands(base, tasks, min_reviewed)
    source_path = resolve_pack_path(pack)
    raw = yaml.safe_load(source_path.read_text())
    candidate = apply_to_raw(raw, base, bands, f"+calibrated.{day.isoformat()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Candidate pack from `modsweep calibrate --since {day}` on {source_path.name} ({base.version}, profile "
        f"{profile}):\n# thresholds re-estimated from {len(tasks):,} decided review tasks, weighted by 1/inclusion_prob.\n"
    )
    out.write_text(header + yaml.safe_dump(candidate, sort_keys=False, allow_unicode=True))
    for rel in {Path(r).parts[0] for r in base.resources}:  # resources travel with the candidate
        src, dst = source_path.parent / rel, out.parent / rel
        if src.is_dir() and src.resolve() != dst.resolve():
            shutil.copytree(src, dst, dirs_exist_ok=True)
    try:
        load_pack(str(out), profile)
    except PolicyPackError as exc:  # never leave an unusable candidate behind
        out.unlink(missing_ok=True)
        raise fail(f"the candidate pack does not load: {one_line(exc)}", 1) from exc
    lines = diff_lines(bands)
    diff_path = out.with_suffix(".diff.txt")
    diff_path.write_text("\n".join(lines) + "\n")
    if as_json:
        console.print_json(
            json.dumps({"candidate": str(out), "diff": str(diff_path), "bands": [b.__dict__ for b in bands]})
        )
        return
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(f"candidate pack → {out} (diff → {diff_path}); try it: modsweep shadow --candidate {out} --day D")
