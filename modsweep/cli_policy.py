"""`modsweep policy lint` and `policy diff`: tools for policy teams (DESIGN §11)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from modsweep.cli_common import console, fail, one_line, parse_day


def _read_raw(pack: str) -> tuple[Path, dict[str, Any]]:
    """The pack's file and raw YAML mapping; one-line errors (exit 2) for a missing file or broken YAML."""
    from modsweep.policy import PolicyPackError, resolve_pack_path

    try:
        path = resolve_pack_path(pack)
    except PolicyPackError as exc:
        raise fail(str(exc)) from None
    try:
        raw = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as exc:
        raise fail(f"{path}: not valid YAML: {one_line(exc)}") from None
    if not isinstance(raw, dict):
        raise fail(f"{path}: a policy pack is a YAML mapping (got {type(raw).__name__})")
    return path, raw


def _pack_resources(path: Path, raw: dict[str, Any]) -> dict[str, str]:
    """Resource texts the pack names, read like load_pack does (beside the pack, else the shipped folder)."""
    from importlib import resources as ires

    from modsweep.policy import _resource_file

    shipped = Path(str(ires.files("modsweep.policies")))
    refs: set[str] = set()
    detectors = [d for p in raw.get("policies") or [] if isinstance(p, dict) for d in p.get("detectors") or []]
    for prof in (raw.get("profiles") or {}).values():
        for dets in ((prof or {}).get("extra_detectors") or {}).values():
            detectors.extend(dets or [])
    for d in detectors:
        for key, value in ((d or {}).get("params") or {}).items():
            if key in ("terms", "claims", "hashes", "patterns") and isinstance(value, str):
                refs.add(value)
    out = {}
    for rel in sorted(refs):
        res = _resource_file(path.parent, rel) or _resource_file(shipped, rel)
        if res is not None:
            out[rel] = res.read_text(encoding="utf-8")
    return out


def _latest_card() -> dict[str, Any] | None:
    """The registered text-policy model's card, or None when this home has none."""
    from modsweep.config import get_settings
    from modsweep.registry import load_card

    try:
        return load_card(get_settings().models_dir, "text-policy")
    except Exception:  # no registry, no model, an unreadable card: label and curve checks are skipped
        return None


def _lake_regions(limit_days: int = 3) -> frozenset[str]:
    """Regions in the lake's ingested items of the newest few days (region column only)."""
    import pyarrow.compute as pc

    from modsweep import resources

    lake = resources.lake()
    regions: set[str] = set()
    for day in lake.days("items")[-limit_days:]:
        for path in (p for key in lake.run_keys("items", day) for p in lake.parts("items", day, key)):
            try:
                regions.update(pc.unique(lake.read(path, ["region"])["region"]).to_pylist())
            except Exception:  # a partition another process is writing, or not an items file: skip it
                continue
    return frozenset(r for r in regions if isinstance(r, str))


def policy_lint(
    pack: Annotated[str, typer.Argument(help="Pack: name of a shipped pack or a .yaml path")],
    profile: Annotated[str | None, typer.Option(help="Check this profile only (default: every profile)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON")] = False,
    use_lake: Annotated[
        bool, typer.Option("--lake/--no-lake", help="Also check regions seen in MODSWEEP_HOME's lake")
    ] = True,
) -> None:
    """Semantic checks beyond the schema (gaps, conflicts, inconsistencies): code, severity, YAML path and one line
    each; exit 1 when any is an error. With a registered model, classifier labels and auto@ thresholds are checked."""
    from modsweep.tasks.policy_lint import LintContext, exit_code, lint_pack

    path, raw = _read_raw(pack)
    card = _latest_card()
    ctx = LintContext(
        resources=_pack_resources(path, raw),
        card=card,
        seen_regions=_lake_regions() if use_lake else frozenset(),
        today=date.today(),
        profile=profile,
    )
    findings = lint_pack(raw, ctx)
    errors = sum(f.severity == "error" for f in findings)
    if as_json:
        print(
            json.dumps(
                {
                    "pack": str(path),
                    "model": (card or {}).get("version"),
                    "errors": errors,
                    "warnings": len(findings) - errors,
                    "findings": [f.as_dict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        for f in findings:
            colour = "red" if f.severity == "error" else "yellow"
            console.print(
                f"{path}:{f.path}: [{colour}]{f.severity}[/{colour}] {f.code} {f.message}",
                highlight=False,
                soft_wrap=True,
            )
        model = (
            f"model {card.get('version')}" if card else "no registered model (labels and auto@ thresholds not checked)"
        )
        console.print(f"{path}: {errors} error(s), {len(findings) - errors} warning(s); {model}", highlight=False)
    raise typer.Exit(exit_code(findings))


def _parse_days(value: str | None) -> list[date]:
    """`D1..D2` (or one day) → the days in between, inclusive."""
    from modsweep.tasks.policy_diff_io import day_range

    if not value:
        return []
    first, sep, last = value.partition("..")
    start = parse_day(first.strip(), "--days")
    end = parse_day(last.strip(), "--days") if sep else start
    try:
        return day_range(start, end)
    except ValueError as exc:
        raise fail(str(exc)) from None


def policy_diff(
    old: Annotated[str, typer.Argument(help="The pack before the change: name or .yaml path")],
    new: Annotated[str, typer.Argument(help="The pack after the change: name or .yaml path")],
    days: Annotated[str | None, typer.Option(help="Past days to re-decide with both packs: D1..D2 (inclusive)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or html")] = "md",
    out: Annotated[Path | None, typer.Option(help="Write the brief here (default: print it)")] = None,
    profile: Annotated[str, typer.Option(help="Profile for both packs")] = "standard",
    examples: Annotated[int, typer.Option(min=0, max=20, help="Example items per policy × change")] = 3,
) -> None:
    """A change brief for moderators: what changed per policy (bands by region and profile, detectors, lexicon terms,
    claims, SLA, floors) and, with --days, the items whose outcome changes on past traffic, with examples."""
    from modsweep.cli_common import safe_path
    from modsweep.policy import PolicyPackError, UnresolvedThresholdError
    from modsweep.registry import ModelNotFoundError
    from modsweep.tasks.policy_diff import render_html, render_markdown
    from modsweep.tasks.policy_diff_io import NoSweptDayError, build_brief

    if fmt not in ("md", "html"):
        raise fail(f"--format {fmt!r}: md or html")
    wanted = _parse_days(days)
    for pack in (old, new):
        _read_raw(pack)  # one line for a missing file or broken YAML
    try:
        brief = build_brief(old, new, profile, wanted, examples)
    except (PolicyPackError, UnresolvedThresholdError, ModelNotFoundError, NoSweptDayError) as exc:
        raise fail(one_line(exc)) from None
    text = render_html(brief) if fmt == "html" else render_markdown(brief)
    if out is None:
        print(text, end="")
        return
    out = safe_path(out, "--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"{len(brief.changes)} change(s); brief written to {out}", highlight=False)


def write_candidate_pack(pack: str, patches: list[dict[str, Any]], out: Path, note: str) -> Path:
    """A candidate pack at `out`: the pack's YAML (version suffixed) and its resources with the patches' lines
    appended, loadable by `policy lint`, `policy diff` and `shadow`."""
    import shutil

    from modsweep.policy import load_pack, resolve_pack_path
    from modsweep.tasks.trends import apply_patches

    source = resolve_pack_path(pack)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["version"] = f"{raw.get('version', '0')}+{note}"
    base = load_pack(str(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    for rel in {Path(r).parts[0] for r in base.resources}:
        src, dst = source.parent / rel, out.parent / rel
        if src.is_dir() and src.resolve() != dst.resolve():
            shutil.copytree(src, dst, dirs_exist_ok=True)
    texts = {
        rel: (out.parent / rel).read_text(encoding="utf-8") if (out.parent / rel).is_file() else text
        for rel, text in base.resources.items()
    }
    for rel, text in apply_patches(texts, patches).items():
        if text != texts.get(rel):
            target = out.parent / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    header = f"# Candidate pack from the emerging-risk radar ({note}): {len(patches)} suggested line(s) added.\n"
    out.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    load_pack(str(out))  # never leave an unusable candidate behind (raises PolicyPackError)
    return out


def trends_command(
    day: Annotated[str, typer.Option(help="A swept day, YYYY-MM-DD")],
    pack: Annotated[
        str | None,
        typer.Option(help="Pack whose detector files receive the suggestions (default: the run's; given: recompute)"),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="Profile of that pack (default: the run's; given: recompute)")
    ] = None,
    recompute: Annotated[
        bool, typer.Option("--recompute", help="Run the radar again instead of reading the run's stored result")
    ] = False,
    region: Annotated[str | None, typer.Option(help="Only this region")] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="Signals shown per region")] = 10,
    candidate: Annotated[
        Path | None, typer.Option(help="Write the top signals' suggestions as a candidate pack (.yaml)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trends as JSON")] = False,
) -> None:
    """The emerging-risk radar on a swept day: signals (hashtags, URL domains, word bigrams, near-duplicate
    clusters) bursting against the earlier days' aggregates, ranked per region by enforcement overlap and reach.
    Reads the result the day's completed sweep stored; computes it when there is none, or with --recompute."""
    from rich.table import Table

    from modsweep import resources, store
    from modsweep.cli_common import safe_path
    from modsweep.policy import PolicyPackError
    from modsweep.registry import ModelNotFoundError
    from modsweep.tasks.policy_diff_io import NoSweptDayError, swept_run_key
    from modsweep.tasks.trends import or_dash
    from modsweep.tasks.trends_io import candidate_patches, radar_for_run, read_trends

    when = parse_day(day)
    if candidate is not None:
        candidate = safe_path(candidate, "--candidate")
        if candidate.suffix not in (".yaml", ".yml"):
            raise fail(f"--candidate {candidate} must be a .yaml file")
    lake = resources.lake()
    try:
        run_key = swept_run_key(lake, when)
        run = store.last_completed_run(resources.store_engine(), run_key) or {}
        explicit = pack is not None or profile is not None
        stored = None if recompute or explicit else read_trends(lake, when, run_key)
        pack = pack or run.get("policy_pack") or "community-guidelines"
        profile = profile or (run.get("parameters") or {}).get("profile") or "standard"
        if stored is not None:
            outcome, source = stored, f"read the radar result stored by run {run_key} (--recompute runs it again)"
        else:
            why = "--recompute" if recompute else "--pack/--profile given" if explicit else "none stored"
            outcome = radar_for_run(lake.url, when, run_key, pack, profile, resources.model_version_for(pack, profile))
            source = f"recomputed the radar over run {run_key} ({why})"
    except (NoSweptDayError, PolicyPackError, ModelNotFoundError) as exc:
        raise fail(one_line(exc)) from None
    t = outcome.trends
    lead = t[(t["rank_risk"] > 0) & (t["rank_risk"] <= top)] if len(t) else t
    if region is not None and len(lead):
        lead = lead[lead["region"] == region]
    if candidate is not None:
        patches = candidate_patches(t, region, top)
        if not patches:
            raise fail("no suggested patch among the leading signals: nothing to write", 1)
        try:
            write_candidate_pack(pack, patches, candidate, f"radar.{when.isoformat()}")
        except PolicyPackError as exc:
            raise fail(f"the candidate pack does not load: {one_line(exc)}", 1) from None
    if as_json:
        print(
            json.dumps(
                {
                    **outcome.counts(),
                    "day": when.isoformat(),
                    "run_key": run_key,
                    "source": "stored" if stored is not None else "recomputed",
                    "trends": json.loads(lead.to_json(orient="records", date_format="iso")),
                },
                indent=2,
            )
        )
        return
    table = Table(
        "region",
        "rank",
        "kind",
        "signal",
        "items",
        "expected",
        "z",
        "q",
        "reach",
        "young",
        "overlap",
        "suggestion",
        title=f"Emerging signals {when} (baseline {outcome.baseline_days} day(s))",
    )
    for r in lead.sort_values(["region", "rank_risk"]).itertuples():
        overlap = f"{r.top_policy} {r.top_overlap:.0%}" if isinstance(r.top_policy, str) else "—"
        table.add_row(
            r.region,
            str(r.rank_risk),
            r.kind,
            r.label[:48],
            f"{r.volume:,}",
            f"{r.expected:.1f}",
            f"{r.z:.1f}",
            f"{r.q_value:.1e}",
            f"{r.reach:,}",
            f"{r.young_share:.0%}",
            overlap,
            or_dash(r.suggestion),
        )
    console.print(table)
    console.print(source, highlight=False, soft_wrap=True)
    console.print(
        f"{outcome.signals} signal(s) from {outcome.candidates} candidates over {outcome.items:,} items; "
        f"{outcome.suggestions} with a suggested patch" + (f"; candidate pack → {candidate}" if candidate else ""),
        highlight=False,
    )
