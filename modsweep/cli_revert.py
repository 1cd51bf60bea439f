"""`modsweep revert`: reverse every automated action a policy (optionally one detector or pack version) took in a
time window: dry run first, then one revert event and a reversal per decision, idempotent and resumable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from modsweep.cli_common import actor as _actor
from modsweep.cli_common import console
from modsweep.cli_common import engine as _engine
from modsweep.cli_common import fail as _fail
from modsweep.lake import write_file_atomically


def _instant(value: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"{what} {value!r} is not an ISO-8601 time (e.g. 2026-11-23T00:00Z)") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def matching_decisions(engine: Any, filter: dict[str, Any]) -> Any:
    """Automated actions matching the filter (with --detector: those the detector could have taken alone)."""
    from modsweep import resources
    from modsweep.store import lifecycle as ls
    from modsweep.tasks import revert
    from modsweep.tasks.lifecycle_io import rows_of_items

    found = ls.decisions_matching(
        engine,
        policy_id=filter["policy"],
        since=datetime.fromisoformat(filter["since"]),
        until=datetime.fromisoformat(filter["until"]),
        policy_version=filter["policy_version"],
    )
    if filter["detector"] is None or found.empty:
        return found
    columns = ["item_id", "policy_id", "detector_id", "score"]
    detections = rows_of_items(resources.lake().url, found, "detections", columns)
    return revert.by_detector(found, detections, filter["detector"])


def revert(
    policy: Annotated[str, typer.Option(help="Policy id whose automated actions to reverse")],
    since: Annotated[str, typer.Option(help="Decided at or after (ISO-8601, UTC if no zone)")],
    until: Annotated[str, typer.Option(help="Decided before (ISO-8601)")],
    reason: Annotated[str, typer.Option(help="Why (recorded with every reversal and in the audit log)")],
    detector: Annotated[str | None, typer.Option(help="Only actions this detector could have taken alone")] = None,
    policy_version: Annotated[str | None, typer.Option(help="Only decisions of this pack version")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be reversed; change nothing")] = False,
    pack: Annotated[
        str, typer.Option(help="Pack whose account thresholds re-evaluate restrictions")
    ] = "community-guidelines",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Reverse every automated action matching the filter: one revert event, a reversal per decision, strikes
    removed and restrictions re-evaluated. Running it again reverses nothing twice; a stopped one resumes."""
    from modsweep.policy import PolicyPackError, load_pack
    from modsweep.schemas import POLICY_IDS
    from modsweep.tasks import lifecycle_io
    from modsweep.tasks import revert as rv

    if policy not in POLICY_IDS:
        raise _fail(f"unknown policy {policy!r}; one of {', '.join(POLICY_IDS)}")
    start, end = _instant(since, "--since"), _instant(until, "--until")
    if end <= start:
        raise _fail(f"--until {until} is not after --since {since}")
    if not reason.strip():
        raise _fail("--reason must say why")
    filter = {
        "policy": policy,
        "detector": detector,
        "policy_version": policy_version,
        "since": start.isoformat(),
        "until": end.isoformat(),
    }
    revert_id = rv.revert_id_for(filter)
    engine = _engine()
    matched = matching_decisions(engine, filter)
    plan = rv.revert_plan(matched) | {"revert_id": revert_id, "filter": filter, "dry_run": dry_run}
    try:
        loaded = load_pack(pack)
    except PolicyPackError as exc:
        raise _fail(str(exc).splitlines()[0]) from exc
    known = {d.id for p in loaded.spec.policies if p.id == policy for d in p.detectors}
    if detector is not None and detector not in known:
        raise _fail(
            f"--detector {detector!r} is not a detector of {policy} in {pack}; one of {', '.join(sorted(known))}"
        )
    if dry_run or matched.empty:
        _print_plan(plan | {"dry_run": True}, as_json)
        if matched.empty and not dry_run:
            console.print("nothing matches the filter: nothing reversed, no revert event recorded")
        return
    done = lifecycle_io.run_revert(
        engine, matched, loaded.spec.enforcement, revert_id=revert_id, filter=filter, reason=reason, by=_actor()
    )
    _print_plan(plan | done, as_json)


def _print_plan(plan: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(plan, indent=2, default=str))
        return
    verb = "would reverse" if plan["dry_run"] else "reversed"
    n = plan["to_reverse"] if plan["dry_run"] else plan["reversed_now"]
    console.print(
        f"revert {plan['revert_id']}: {plan['matched']:,} automated action(s) match; {verb} {n:,}"
        f" ({plan['already_reversed']:,} already reversed)"
    )
    if not plan["dry_run"]:
        console.print(
            f"{plan['reversed_total']:,} reversed by this revert in all, {plan['strikes_removed']:,} strikes "
            f"removed, {plan['account_decisions_lifted']:,} account restrictions lifted"
        )
    table = Table(
        "action / region", "decisions", title="Still in force before this command" if plan["dry_run"] else "Matched"
    )
    for key, count in plan["by_action_region"].items():
        table.add_row(key, f"{count:,}")
    console.print(table)
    if plan["examples"]:
        ex = Table("decision", "item", "action", "region", "score", "decided", title="Examples")
        for e in plan["examples"]:
            ex.add_row(
                e["decision_id"][:16], e["item_id"], e["action"], e["region"], e["score"][:5], e["decided_at"][:19]
            )
        console.print(ex)


def export_actions(
    day: Annotated[str, typer.Option(help="Decision day (the swept day), YYYY-MM-DD")],
    out: Annotated[str | None, typer.Option(help="JSONL file (default MODSWEEP_HOME/exports/actions-D.jsonl)")] = None,
) -> None:
    """The day's action feed: each enforcement decision's action and whether it is in force, or reversed (by an
    appeal or a revert) with the content's visibility restored; the feed surfaces apply."""
    from pathlib import Path

    from modsweep import store
    from modsweep.cli_common import parse_day, safe_path
    from modsweep.config import get_settings
    from modsweep.store import lifecycle as ls
    from modsweep.tasks.revert import action_feed

    when = parse_day(day)
    target = safe_path(Path(out), "--out") if out else get_settings().exports_dir / f"actions-{when.isoformat()}.jsonl"
    engine = _engine()
    decisions = store.fetch_decisions(engine, day=when)
    if decisions.empty:
        raise _fail(f"no stored decisions for {when}: nothing to export")
    feed = action_feed(decisions, ls.reversals(engine, decision_ids=decisions["decision_id"].astype(str).tolist()))
    lines = [json.dumps(r, default=str, ensure_ascii=False, separators=(",", ":")) for r in feed.to_dict("records")]
    write_file_atomically(target, "".join(line + "\n" for line in lines).encode("utf-8"))
    restored = int((feed["visibility"] == "restored").sum()) if len(feed) else 0
    console.print(f"{len(feed):,} actions for {when} → {target} ({restored:,} reversed, visibility restored)")
