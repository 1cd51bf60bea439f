"""The enforcement lifecycle's I/O edge: the strike-ledger update a sweep runs a partition at a time, account
re-evaluation, and reversals with their consequences. Pure logic lives in `strikes`, `appeals` and `revert`.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import Engine

from modsweep.catalog import RunCatalog
from modsweep.lake import write_file_atomically
from modsweep.lifecycle import EnforcementSpec
from modsweep.policy import PolicyPack
from modsweep.store import lifecycle as ls
from modsweep.tasks import revert as rv
from modsweep.tasks import strikes as st
from modsweep.tasks.ingest import sum_counts
from modsweep.tasks.reviews_io import pseudonymise

DECISION_COLUMNS = ["decision_id", "item_id", "policy_id", "action", "created_at", "run_key"]
ACCOUNT_REVIEW_SLA = timedelta(hours=24)


@dataclass(frozen=True)
class LedgerContext:
    """What the strike-ledger update needs of a run (plain values: it travels to a Prefect task)."""

    day: date
    run_key: str
    run_id: str
    as_of: datetime  # strikes count until their expiry; the run's window end
    hmac_key: str


def rows_of_items(lake_root: str, wanted: pd.DataFrame, dataset: str, columns: list[str]) -> pd.DataFrame:
    """Rows of a run dataset (items, detections …) for the items of ``wanted`` (day, run_key, item_id), read
    a run and a partition at a time with a pushed-down filter on item_id; tagged with their run_key."""
    frames = []
    for (day, run_key), group in wanted.groupby(["day", "run_key"]):
        cat = RunCatalog(lake_root, pd.Timestamp(day).date(), str(run_key))
        among = pc.field("item_id").isin(group["item_id"].astype(str).unique().tolist())
        for part in cat.parts(dataset):
            table = cat.load(dataset, part, columns=columns, filters=among)
            if table.num_rows:
                frames.append(table.to_pandas().assign(run_key=str(run_key)))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*columns, "run_key"]})
    return pd.concat(frames, ignore_index=True)


def author_pseudonyms(lake_root: str, wanted: pd.DataFrame, key: str) -> pd.Series:
    """Per row of ``wanted`` (day, run_key, item_id): the item's author pseudonym from its run's lake items (None
    when the run's items are gone)."""
    found = rows_of_items(lake_root, wanted, "items", ["item_id", "author_id"]).drop_duplicates(["run_key", "item_id"])
    found["author_id"] = pseudonymise(found["author_id"], key).to_numpy()
    lookup = found.set_index(["run_key", "item_id"])["author_id"]
    rows = pd.MultiIndex.from_arrays([wanted["run_key"].astype(str), wanted["item_id"].astype(str)])
    names = pd.Series(lookup.reindex(rows).to_numpy(dtype=object), index=wanted.index, dtype=object)
    return names.where(names.notna(), None)


def policy_strike_specs(pack: PolicyPack) -> pd.DataFrame:
    """Strike weight and TTL of every policy of the pack."""
    return st.strike_specs({p.id: (p.severity, p.strikes) for p in pack.spec.policies}, pack.spec.enforcement)


def partition_strikes(cat: RunCatalog, ctx: LedgerContext, part: str, pack: PolicyPack) -> pd.DataFrame:
    """The strikes of one decisions partition's enforced violations (lake reads only: the partition's
    strike-earning decisions and those items' authors, filters pushed down, so memory is bounded by the
    partition), authors pseudonymised. Strike ids are decision ids, so recording them twice adds nothing."""
    enforcement = pack.spec.enforcement
    table = cat.load(
        "decisions", part, columns=DECISION_COLUMNS, filters=pc.field("action").isin(enforcement.strike_actions)
    )
    if table.num_rows == 0:
        return pd.DataFrame(columns=list(st.STRIKE_COLUMNS))
    items = cat.load(
        "items",
        part,
        columns=["item_id", "author_id"],
        filters=pc.field("item_id").isin(table["item_id"].combine_chunks()),
    ).to_pandas()
    items["author_id"] = pseudonymise(items["author_id"], ctx.hmac_key).to_numpy()
    return st.strikes_from_decisions(
        table.to_pandas(), items, policy_strike_specs(pack), enforcement.strike_actions, day=ctx.day
    )


def store_strikes(engine: Engine, strikes: pd.DataFrame) -> dict[str, int]:
    """Insert strikes not yet stored, except those of decisions already reversed; returns offered and new."""
    if strikes.empty:
        return {"strikes_offered": 0, "strikes_new": 0}
    strikes = strikes[~strikes["decision_id"].isin(ls.reversed_ids(engine, strikes["decision_id"].tolist()))]
    return {"strikes_offered": len(strikes), "strikes_new": ls.insert_strikes(engine, strikes)}


LEDGER_THREADS = 2  # update_strike_ledger_run evaluates two pages at once (the sweep spreads them over its workers)


def update_strike_ledger_run(
    engine: Engine,
    cat: RunCatalog,
    ctx: LedgerContext,
    pack: PolicyPack,
    parts: list[str] | None = None,
    authors_per_page: int = 5_000,
) -> dict[str, Any]:
    """The run's strike-ledger update: `record_run_strikes`, then every page of the run's struck authors
    re-evaluated (`evaluate_author_page`), two pages at once (the pages' authors are disjoint: neither reads what
    the other writes). Idempotent and resumable: a re-run adds nothing and finishes an evaluation a crash
    interrupted. Returns the summed counts. (The sweep spreads the pages over its worker processes instead:
    `strike_ledger_io.update_strike_ledger`.)"""
    recorded = record_run_strikes(engine, cat, ctx, pack, parts)
    pages = struck_author_pages(engine, ctx, authors_per_page)
    with ThreadPoolExecutor(max_workers=LEDGER_THREADS, thread_name_prefix="strike-ledger") as pool:
        evaluated = list(pool.map(lambda authors: evaluate_author_page(engine, ctx, pack, authors), pages))
    return ledger_counts(recorded, evaluated)


def record_run_strikes(
    engine: Engine, cat: RunCatalog, ctx: LedgerContext, pack: PolicyPack, parts: list[str] | None = None
) -> dict[str, int]:
    """Strikes whose TTL ran out by the window end expire; each decisions partition's strikes are recorded a
    partition at a time (the next one read and pseudonymised while this one is inserted). Returns the counts."""
    expired = ls.expire_strikes(engine, ctx.as_of)
    names = cat.parts("decisions") if parts is None else parts
    recorded = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="strike-read-ahead") as pool:
        ahead = deque(pool.submit(partition_strikes, cat, ctx, p, pack) for p in names[:1])
        for i in range(len(names)):
            strikes = ahead.popleft().result()
            if i + 1 < len(names):
                ahead.append(pool.submit(partition_strikes, cat, ctx, names[i + 1], pack))
            recorded.append(store_strikes(engine, strikes))
    return {**sum_counts(recorded), "strikes_expired": expired, "partitions": len(names)}


def struck_author_pages(engine: Engine, ctx: LedgerContext, size: int = 5_000) -> list[list[str]]:
    """The run's struck authors, ``size`` at a time in id order (the evaluation's units of work)."""
    return list(ls.run_author_pages(engine, run_key=ctx.run_key, day=ctx.day, size=size))


def evaluate_author_page(engine: Engine, ctx: LedgerContext, pack: PolicyPack, authors: list[str]) -> tuple[int, int]:
    """One page of the run's struck authors re-evaluated (`evaluate_accounts`); (new, lifted)."""
    return evaluate_accounts(
        engine,
        authors,
        pack.spec.enforcement,
        as_of=ctx.as_of,
        run_key=ctx.run_key,
        run_id=ctx.run_id,
        day=ctx.day,
        actor="strike-ledger",
    )


def ledger_counts(recorded: dict[str, int], evaluated: list[tuple[int, int]]) -> dict[str, Any]:
    """The ledger update's counts: the recorded strikes' and the evaluated pages' (new and lifted decisions)."""
    return {
        **recorded,
        "account_decisions_new": sum(n for n, _ in evaluated),
        "account_decisions_lifted": sum(g for _, g in evaluated),
        "author_pages": len(evaluated),
    }


def evaluate_accounts(
    engine: Engine,
    authors: list[str],
    enforcement: EnforcementSpec,
    *,
    as_of: datetime,
    run_key: str,
    run_id: str,
    day: date,
    actor: str,
) -> tuple[int, int]:
    """Re-evaluate these authors' restrictions at ``as_of``: rungs newly reached become account decisions (the
    ones the pack does not automate wait in an `accounts:` review queue); restrictions whose author's active
    weight fell below their threshold are lifted; suspensions past their end date end. Returns (new, lifted)."""
    if not authors:
        return 0, 0
    state = ls.active_state(engine, authors, as_of)
    weights = state.set_index("author_id")["active_weight"]
    live = ls.standing_of(engine, authors, statuses=("active", "pending_review"))
    lift = st.decisions_to_lift(live, weights)
    lifted = (
        ls.set_account_status(
            engine,
            lift["account_decision_id"].tolist(),
            status="lifted",
            from_statuses=("active", "pending_review"),
            actor=actor,
            reason="active strike weight fell below the action's threshold",
        )
        if len(lift)
        else 0
    )
    live = live[~live["account_decision_id"].isin(lift["account_decision_id"])]
    served = live[(live["action"] == "suspend") & live["end_date"].notna()]
    served = served[pd.to_datetime(served["end_date"], utc=True) <= pd.Timestamp(as_of)]
    if len(served):
        ls.set_account_status(
            engine,
            served["account_decision_id"].tolist(),
            status="ended",
            from_statuses=("active",),
            reason="suspension reached its end date",
            actor=actor,
        )
    standing = pd.concat([live, ls.ended_account_decisions(engine, authors, as_of)], ignore_index=True)
    made = st.new_account_decisions(
        state,
        standing,
        enforcement,
        as_of=as_of,
        run_key=run_key,
        day=day,
        scope=lambda rows: rows.merge(ls.decision_scopes(engine, rows["decision_id"].tolist()), on="decision_id"),
    )
    tasks = account_review_tasks(made, run_id=run_id)
    if len(tasks):
        made = made.merge(tasks[["task_id", "account_decision_id"]], on="account_decision_id", how="left")
    new = (
        ls.insert_account_decisions(
            engine, made, tasks.drop(columns="account_decision_id", errors="ignore"), actor=actor
        )
        if len(made)
        else 0
    )
    return new, lifted


def account_review_tasks(made: pd.DataFrame, *, run_id: str) -> pd.DataFrame:
    """Review tasks for account decisions awaiting a person (suspend/terminate unless the pack automates them)."""
    pending = made[made["status"] == "pending_review"]
    if pending.empty:
        return pd.DataFrame()
    now = datetime.now(UTC)  # the task exists from now (the account decision is dated at the run's window end)
    task_ids = ["acct-task-" + hashlib.sha256(i.encode()).hexdigest()[:32] for i in pending["account_decision_id"]]
    return pd.DataFrame(
        {
            "task_id": task_ids,
            "item_id": "account:" + pending["author_id"].astype(str),
            "policy_id": pending["policy_id"].to_numpy(),
            "queue": "accounts:" + pending["action"].astype(str),
            "reason": "account_review",
            "stratum": "account",
            "inclusion_prob": 1.0,
            "replica": 0,
            "priority": pending["active_weight"].astype(float).to_numpy(),
            "score": 1.0,
            "action": pending["action"].to_numpy(),
            "region": pending["region"].to_numpy(),
            "language": "und",
            "views": 0,
            "due_by": now + ACCOUNT_REVIEW_SLA,
            "status": "open",
            "created_at": now,
            "run_id": run_id,
            "run_key": pending["run_key"].to_numpy(),
            "day": pending["day"].to_numpy(),
            "account_decision_id": pending["account_decision_id"].to_numpy(),
        }
    )


def resolve_account_reviews(engine: Engine, *, actor: str) -> dict[str, int]:
    """Apply decided account-review tasks: violating confirms the pending account action, benign rejects it."""
    decided = ls.decided_account_reviews(engine)
    if decided.empty:
        return {"account_actions_confirmed": 0, "account_actions_rejected": 0}
    confirm = decided[decided["label"] == "violating"]["account_decision_id"].tolist()
    reject = decided[decided["label"] != "violating"]["account_decision_id"].tolist()
    confirmed = ls.set_account_status(
        engine,
        confirm,
        status="active",
        from_statuses=("pending_review",),
        reason="confirmed by a reviewer",
        actor=actor,
    )
    rejected = ls.set_account_status(
        engine,
        reject,
        status="rejected",
        from_statuses=("pending_review",),
        reason="rejected by a reviewer",
        actor=actor,
    )
    return {"account_actions_confirmed": confirmed, "account_actions_rejected": rejected}


def reverse_and_reevaluate(
    engine: Engine,
    decisions: pd.DataFrame,
    enforcement: EnforcementSpec,
    *,
    by: str,
    reason: str,
    cause: str,
    revert_id: str | None = None,
    as_of: datetime | None = None,
) -> dict[str, int]:
    """Reverse decisions (reversal rows, status `reversed`, strikes removed), then re-evaluate the restrictions
    of the authors whose strikes went. Returns counts."""
    done = ls.reverse_decisions(engine, decisions, by=by, reason=reason, cause=cause, revert_id=revert_id)
    authors = done["author_id"].dropna().unique().tolist()
    when = as_of or datetime.now(UTC)
    _, lifted = evaluate_accounts(
        engine,
        authors,
        enforcement,
        as_of=when,
        run_key=f"reversal:{cause}",
        run_id=revert_id or "reversal",
        day=when.date(),
        actor=by,
    )
    return {
        "reversed": len(done),
        "strikes_removed": int(done["author_id"].notna().sum()),
        "account_decisions_lifted": lifted,
    }


def run_revert(
    engine: Engine,
    matched: pd.DataFrame,
    enforcement: EnforcementSpec,
    *,
    revert_id: str,
    filter: dict[str, Any],
    reason: str,
    by: str,
) -> dict[str, int]:
    """A mass revert of ``matched`` (the filter's automated actions, `revert.revert_plan` shows them first): one
    revert event (recorded once), reversals a chunk at a time (each commits, so a stopped revert resumes with
    what is still in force), strikes removed and restrictions re-evaluated, the runs' appeal and overturn
    metrics refreshed. Running it again reverses nothing twice. Returns what this call and the revert did."""
    from modsweep.tasks.appeals_io import refresh_appeal_metrics  # local: appeals_io imports this module

    ls.start_revert(engine, revert_id=revert_id, filter=filter, reason=reason, requested_by=by, matched=len(matched))
    done = {"reversed": 0, "strikes_removed": 0, "account_decisions_lifted": 0}
    for chunk in rv.chunks(matched):
        got = reverse_and_reevaluate(
            engine, chunk, enforcement, by=by, reason=reason, cause="revert", revert_id=revert_id
        )
        done = {k: done[k] + got[k] for k in done}
    refresh_appeal_metrics(engine, sorted(matched["run_key"].astype(str).unique()), enforcement)
    total = len(ls.reversals(engine, revert_id=revert_id))
    if done["reversed"] or (ls.revert_event(engine, revert_id) or {}).get("state") != "completed":
        ls.finish_revert(engine, revert_id, reversed_total=total, actor=by)
    return {
        "reversed_now": done["reversed"],
        "reversed_total": total,
        "strikes_removed": done["strikes_removed"],
        "account_decisions_lifted": done["account_decisions_lifted"],
    }


def write_account_and_superseded(
    engine: Engine, day: date, enforced: pd.DataFrame, target: Path, pack: PolicyPack | None
) -> dict[str, Any]:
    """Beside a day's DSA export (``target``): ``<stem>.accounts.jsonl``, the statements of the day's account
    restrictions in the EU/EEA (validated), and ``<stem>.superseded.jsonl``, the day's content statements that a
    reversal superseded (appeal, revert). Both are written atomically, also when empty."""
    from modsweep.schemas import EEA_REGIONS
    from modsweep.tasks import account_dsa
    from modsweep.tasks.dsa import to_json_line

    titles = {p.id: p.title for p in pack.spec.policies} if pack is not None else {}
    name = f"{pack.name} {pack.version}" if pack is not None else "community guidelines"
    statements, problems = account_dsa.account_statements(
        ls.account_decisions(engine, day=day), titles, name, tuple(EEA_REGIONS)
    )
    accounts_path = target.with_name(f"{target.stem}.accounts.jsonl")
    superseded_path = target.with_name(f"{target.stem}.superseded.jsonl")
    from modsweep.tasks.dsa import in_dsa_scope

    enforced = in_dsa_scope(enforced)  # only statements that were (or would have been) sent
    ids = enforced["decision_id"].astype(str).tolist() if len(enforced) else []
    gone = (
        account_dsa.superseded(enforced, ls.reversals(engine, decision_ids=ids))
        if ids
        else account_dsa.superseded(enforced, pd.DataFrame())
    )
    for path, lines in (
        (accounts_path, [to_json_line(s) for s in statements]),
        (superseded_path, [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in gone.to_dict("records")]),
    ):
        write_file_atomically(path, "".join(line + "\n" for line in lines).encode("utf-8"))
    return {
        "account_statements": len(statements),
        "account_problems": problems,
        "superseded": len(gone),
        "accounts_file": str(accounts_path),
        "superseded_file": str(superseded_path),
    }


def reversal_summary(engine: Engine, first: date, last: date) -> dict[str, Any]:
    """Reversals made in [first, last] by cause, and the mass reverts (filter, reason, who, how many) started then."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=start.tzinfo)
    rev = ls.reversals(engine)
    rev = rev[
        (pd.to_datetime(rev["reversed_at"], utc=True) >= start) & (pd.to_datetime(rev["reversed_at"], utc=True) < end)
    ]
    events = ls.revert_events(engine)
    events = events[
        (pd.to_datetime(events["started_at"], utc=True) >= start)
        & (pd.to_datetime(events["started_at"], utc=True) < end)
    ]
    return {
        "reversed": len(rev),
        "by_cause": {str(k): int(v) for k, v in rev["cause"].value_counts().sort_index().items()},
        "reverts": [
            {
                "revert_id": e.revert_id,
                "filter": e.filter,
                "reason": e.reason,
                "requested_by": e.requested_by,
                "state": e.state,
                "reversed": int(e.reversed),
            }
            for e in events.itertuples()
        ],
    }


ACTOR_WEIGHTS_PART = "weights"


def snapshot_actor_weights(engine: Engine, cat: RunCatalog, *, day: date, as_of: datetime) -> int:
    """The run's author → active strike weight table (strikes of earlier days that count at ``as_of``, the window
    start, so a re-run of the key decides the same way), read from the store once and saved as
    `actor_weights/weights` for every decide part; a resumed run keeps the saved one. Returns its rows."""
    if cat.exists("actor_weights", ACTOR_WEIGHTS_PART):
        return int(cat.meta("actor_weights", ACTOR_WEIGHTS_PART)["rows"])
    weights = ls.active_weights_before(engine, day=day, as_of=as_of)
    return cat.save("actor_weights", ACTOR_WEIGHTS_PART, pa.Table.from_pandas(weights, preserve_index=False))


ACTOR_ITEM_COLUMNS: tuple[str, ...] = ("item_id", "author_id", "author_account_age_days")  # what actor risk reads


def actor_signals_part(
    cat: RunCatalog, pack: PolicyPack, hmac_key: str, items: pd.DataFrame, coordinated_ids: pd.Series
) -> pd.DataFrame | None:
    """One items part's actor signals (`strikes.actor_signals`: active weight, review-priority multiplier,
    escalation offset), or None when the pack uses no actor risk or nothing could change (no author has active
    strikes and priorities stay the pack's). ``items``: the part's item_id, author_id, author_account_age_days
    (as decide loaded them); ``coordinated_ids``: its items in coordination clusters. Authors are pseudonymised
    only when some author has strikes."""
    enforcement = pack.spec.enforcement
    spec = enforcement.repeat_offenders
    if not spec.reads_strikes or not cat.exists("actor_weights", ACTOR_WEIGHTS_PART):
        return None
    table = cat.load("actor_weights", ACTOR_WEIGHTS_PART)
    if table.num_rows == 0 and not spec.raise_review_priority:
        return None
    weights = table.to_pandas().set_index("author_id")["active_weight"]
    authors = items[list(ACTOR_ITEM_COLUMNS)].copy()
    if len(weights):
        authors["author_id"] = pseudonymise(authors["author_id"], hmac_key).to_numpy()
    authors["coordinated"] = authors["item_id"].isin(pd.unique(coordinated_ids))
    return st.actor_signals(authors, weights, enforcement)


def record_reviewed_strikes(
    engine: Engine, lake_root: str, pack: PolicyPack, *, key: str, actor: str
) -> dict[str, int]:
    """Strikes for escalations a reviewer confirmed with an enforcing final action (a person's enforcement counts
    like an automated one), the authors read from each run's lake items; then those authors' account actions."""
    enforcement = pack.spec.enforcement
    confirmed = ls.confirmed_escalations_without_strike(engine, enforcement.strike_actions)
    if confirmed.empty:
        return {"reviewed_strikes_new": 0}
    confirmed = confirmed.assign(
        author_id=author_pseudonyms(lake_root, confirmed, key), action=confirmed["final_action"]
    )
    frames = [
        st.strikes_from_decisions(
            group,
            group[["item_id", "author_id"]].dropna(),
            policy_strike_specs(pack),
            enforcement.strike_actions,
            day=pd.Timestamp(day).date(),
        )
        for day, group in confirmed.groupby("day")
    ]
    strikes = pd.concat(frames, ignore_index=True)
    new = ls.insert_strikes(engine, strikes)
    now = datetime.now(UTC)
    made, _ = evaluate_accounts(
        engine,
        strikes["author_id"].unique().tolist(),
        enforcement,
        as_of=now,
        run_key="reviews",
        run_id="reviews",
        day=now.date(),
        actor=actor,
    )
    return {"reviewed_strikes_new": new, "account_decisions_new": made}
