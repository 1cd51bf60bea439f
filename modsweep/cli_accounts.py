"""`modsweep accounts …`: an author's strikes and restrictions, the riskiest accounts of a day, and recording a past
run's strikes (runs swept before the ledger existed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from modsweep.cli_common import console
from modsweep.cli_common import engine as _engine
from modsweep.cli_common import fail as _fail
from modsweep.cli_common import parse_day as _parse_day
from modsweep.lifecycle import ACCOUNT_ACTION_ORDER

accounts_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Accounts: strikes, restrictions (warn … terminate) and their history.",
)


def _plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return json.loads(json.dumps(out, default=str))


def account_view(engine: Any, author_id: str, now: datetime) -> dict[str, Any]:
    """An author's strikes (with their decisions and expiry), current restriction and account history."""
    from modsweep.store import lifecycle as ls

    strikes = ls.strikes_of(engine, author_id=author_id)
    history = ls.account_decisions(engine, author_id=author_id)
    live = strikes[(strikes["status"] == "active") & (pd.to_datetime(strikes["expires_at"], utc=True) > now)]
    current = history[history["status"] == "active"]
    restriction = None
    if len(current):
        order = ACCOUNT_ACTION_ORDER
        top = current.assign(rank=current["action"].map(order)).sort_values(["rank", "decided_at"]).iloc[-1]
        restriction = {
            "action": top["action"],
            "since": str(top["decided_at"]),
            "end_date": None if pd.isna(top["end_date"]) else str(top["end_date"]),
            "features": top["features"],
            "account_decision_id": top["account_decision_id"],
        }
    return {
        "author_id": author_id,
        "as_of": now.isoformat(timespec="seconds"),
        "active_weight": float(live["weight"].sum()),
        "active_strikes": len(live),
        "current_restriction": restriction,
        "pending_review": int((history["status"] == "pending_review").sum()),
        "strikes": _plain(
            strikes[
                [
                    "strike_id",
                    "decision_id",
                    "item_id",
                    "policy_id",
                    "weight",
                    "created_at",
                    "expires_at",
                    "status",
                    "removed_reason",
                ]
            ]
        ),
        "history": _plain(
            history[
                [
                    "account_decision_id",
                    "action",
                    "status",
                    "automated",
                    "active_weight",
                    "threshold",
                    "end_date",
                    "decided_at",
                    "reason",
                    "lifted_at",
                    "lifted_reason",
                ]
            ]
        ),
    }


@accounts_app.command("show")
def show(
    author: Annotated[str, typer.Argument(metavar="AUTHOR", help="Author pseudonym (as in review exports)")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Strikes with their decisions and expiry, the current restriction, and the account's history."""
    doc = account_view(_engine(), author, datetime.now(UTC))
    if not doc["strikes"] and not doc["history"]:
        raise _fail(f"no strikes or account decisions for author {author!r}")
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
        return
    print_account(doc)


def print_account(doc: dict[str, Any]) -> None:
    r = doc["current_restriction"]
    console.print(
        f"[bold]{doc['author_id']}[/bold]: active weight {doc['active_weight']:g} from "
        f"{doc['active_strikes']} strike(s); restriction: "
        + (f"{r['action']}" + (f" until {r['end_date'][:10]}" if r["end_date"] else "") if r else "none")
        + (f"; {doc['pending_review']} awaiting review" if doc["pending_review"] else "")
    )
    strikes = Table("strike (decision)", "policy", "item", "weight", "created", "expires", "status", title="Strikes")
    for s in doc["strikes"]:
        strikes.add_row(
            s["strike_id"][:16],
            s["policy_id"],
            s["item_id"],
            f"{s['weight']:g}",
            s["created_at"][:16],
            s["expires_at"][:16],
            s["status"],
        )
    console.print(strikes)
    history = Table(
        "action", "status", "automated", "weight", "threshold", "end date", "decided", "why", title="Account decisions"
    )
    for h in doc["history"]:
        why = h["lifted_reason"] or h["reason"]
        history.add_row(
            h["action"],
            h["status"],
            "yes" if h["automated"] else "no",
            f"{h['active_weight']:g}",
            f"{h['threshold']:g}",
            (h["end_date"] or "")[:10],
            h["decided_at"][:16],
            why,
        )
    console.print(history)


@accounts_app.command("top")
def top(
    day: Annotated[str, typer.Option(help="Strike day (the swept day), YYYY-MM-DD")],
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The riskiest accounts of a day: by active strike weight, with the day's strikes and current restriction."""
    from modsweep.store import lifecycle as ls

    when = _parse_day(day)
    engine = _engine()
    todays = ls.strikes_of(engine, day=when)
    if todays.empty:
        raise _fail(f"no strikes recorded for {when} (is the day swept? `modsweep accounts update --run RUN`)")
    now = datetime.now(UTC)
    authors = todays["author_id"].unique().tolist()
    state = ls.author_state(ls.active_strikes(engine, authors, now))
    counts = todays.groupby("author_id").agg(
        strikes_that_day=("strike_id", "size"), policies=("policy_id", lambda p: ",".join(sorted(set(p))))
    )
    live = ls.account_decisions_of(engine, authors, statuses=("active", "pending_review"))
    order = ACCOUNT_ACTION_ORDER
    restriction = (
        live.assign(rank=live["action"].map(order))
        .sort_values("rank")
        .groupby("author_id")
        .agg(restriction=("action", "last"), status=("status", "last"))
    )
    board = counts.join(state.set_index("author_id")[["active_weight"]]).join(restriction).reset_index()
    board["active_weight"] = board["active_weight"].fillna(0.0)
    board = board.sort_values(["active_weight", "strikes_that_day", "author_id"], ascending=[False, False, True])
    board = board.head(limit)
    if as_json:
        print(json.dumps(_plain(board), indent=2))
        return
    table = Table(
        "author",
        "active weight",
        "strikes that day",
        "policies",
        "restriction",
        "status",
        title=f"Riskiest accounts of {when} (weights as of {now:%Y-%m-%d %H:%M} UTC)",
    )
    for r in board.itertuples(index=False):
        table.add_row(
            r.author_id,
            f"{r.active_weight:g}",
            str(r.strikes_that_day),
            r.policies,
            r.restriction if isinstance(r.restriction, str) else "",
            r.status if isinstance(r.status, str) else "",
        )
    console.print(table)


@accounts_app.command("update")
def update(
    run: Annotated[str, typer.Option(help="A completed sweep (id or unique prefix) whose strikes to record")],
) -> None:
    """Record a past run's strikes and account actions (idempotent; sweeps do this themselves)."""
    from modsweep import store
    from modsweep.catalog import RunCatalog
    from modsweep.config import get_settings
    from modsweep.policy import PolicyPackError, load_pack
    from modsweep.runs import day_window, run_day
    from modsweep.tasks import lifecycle_io

    engine = _engine()
    try:
        record = store.get_run(engine, run)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if record is None or record["state"] != "completed":
        raise _fail(f"no completed run matches {run!r}; `modsweep history` lists the runs")
    day = run_day(record)
    try:
        pack = load_pack(record["parameters"].get("pack", "community-guidelines"))
    except PolicyPackError as exc:
        raise _fail(str(exc).splitlines()[0]) from exc
    ctx = lifecycle_io.LedgerContext(
        day=day,
        run_key=record["run_key"],
        run_id=record["run_id"],  # type: ignore[arg-type]
        as_of=day_window(day)[1],
        hmac_key=get_settings().hmac_key.get_secret_value(),
    )  # type: ignore[arg-type]
    cat = RunCatalog(get_settings().lake_root, day, record["run_key"])  # type: ignore[arg-type]
    counts = lifecycle_io.update_strike_ledger_run(engine, cat, ctx, pack)
    console.print(
        f"run {record['run_id'][:8]} ({day}): " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items())
    )


def explain_author(author: str, as_json: bool) -> None:
    """`explain --author A`: the account view of `accounts show`."""
    doc = account_view(_engine(), author, datetime.now(UTC))
    if not doc["strikes"] and not doc["history"]:
        raise _fail(f"unknown author {author!r}: no strikes or account decisions")
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
        return
    print_account(doc)


def item_lifecycle(engine: Any, decisions: pd.DataFrame) -> dict[str, Any]:
    """An item's appeals with their outcomes, its decisions' reversals and strikes."""
    from modsweep.store import lifecycle as ls

    ids = decisions["decision_id"].astype(str).tolist() if len(decisions) else []
    appeals = ls.fetch_appeals(engine, decision_ids=ids)
    cols = [
        "appeal_id",
        "decision_id",
        "policy_id",
        "channel",
        "received_at",
        "due_by",
        "status",
        "decided_at",
        "decided_by",
        "statement",
    ]
    return {
        "appeals": _plain(appeals[cols]),
        "reversals": _plain(ls.reversals(engine, decision_ids=ids)),
        "strikes": _plain(
            ls.strikes_of(engine, decision_ids=ids)[
                ["strike_id", "author_id", "policy_id", "weight", "expires_at", "status", "removed_reason"]
            ]
        ),
    }


def print_item_lifecycle(doc: dict[str, Any]) -> None:
    if not (doc["appeals"] or doc["reversals"] or doc["strikes"]):
        return
    table = Table("what", "decision", "policy", "when", "status / by", "detail", title="Appeals, reversals, strikes")
    for a in doc["appeals"]:
        table.add_row(
            "appeal",
            a["decision_id"][:16],
            a["policy_id"],
            str(a["received_at"])[:16],
            f"{a['status']}" + (f" by {a['decided_by']}" if a["decided_by"] else ""),
            a["statement"][:60],
        )
    for r in doc["reversals"]:
        table.add_row(
            "reversal",
            r["decision_id"][:16],
            "",
            str(r["reversed_at"])[:16],
            f"{r['cause']} by {r['by']}",
            (r["reason"] or "")[:60],
        )
    for s in doc["strikes"]:
        table.add_row(
            "strike",
            s["strike_id"][:16],
            s["policy_id"],
            str(s["expires_at"])[:16],
            s["status"],
            f"author {s['author_id']}, weight {s['weight']:g}",
        )
    console.print(table)
