"""Store reads and writes of the enforcement lifecycle (DESIGN §10): strikes, account decisions, appeals,
reversals and revert events. Every state change is idempotent (deterministic keys, conditional updates) and
goes to the audit log with who and why.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ARRAY, JSON, Date, String, Table, and_, any_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from modsweep.store.engine import is_sqlite, json_dumps, write_transaction
from modsweep.store.models import Base, UTCDateTime
from modsweep.store.repo import (
    _chunks,
    _dialect_insert,
    _driver_params,
    _to_frame,
    append_audit,
    utcnow,
)

STRIKES: Table = Base.metadata.tables["strikes"]
ACCOUNT_DECISIONS: Table = Base.metadata.tables["account_decisions"]
APPEALS: Table = Base.metadata.tables["appeals"]
REVERSALS: Table = Base.metadata.tables["reversals"]
REVERT_EVENTS: Table = Base.metadata.tables["revert_events"]
DECISIONS: Table = Base.metadata.tables["decisions"]
REVIEW_TASKS: Table = Base.metadata.tables["review_tasks"]


def _insert_ignoring(conn: Connection, engine: Engine, table: Table, df: pd.DataFrame, key: str) -> int:
    """Insert ``df`` on an open transaction, skipping keys already stored; returns rows new."""
    if df.empty:
        return 0
    sql, params = _driver_params(engine, table, df, key)
    return sum(conn.exec_driver_sql(sql, list(chunk)).rowcount for chunk in _chunks(params))


def member_of(engine: Engine | Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values`` (text ids) as one bound parameter whatever their number: a JSON array read by
    ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL. One statement instead of a chunk of bind
    parameters per thousand ids (each value bound and rendered by SQLAlchemy: most of the time of such reads)."""
    wanted = [str(v) for v in dict.fromkeys(values)]
    if is_sqlite(engine):
        each = func.json_each(bindparam(None, json.dumps(wanted), type_=String)).table_valued("value")
        return column.in_(select(each.c.value))
    return column == any_(bindparam(None, wanted, type_=ARRAY(String)))


def _frame_in(engine: Engine, stmt: Any, column: Any, values: Sequence[Any]) -> pd.DataFrame:
    """``stmt`` restricted to ``column IN values`` (`member_of`: one query)."""
    with engine.connect() as conn:
        return _to_frame(conn, stmt.where(member_of(engine, column, values)))


# ------------------------------------------------------------------------------------------ strikes


def _bulk_params(engine: Engine, table: Table, df: pd.DataFrame, key: str) -> tuple[str, list[Any]]:
    """The insert-or-skip SQL and the frame's rows as driver parameters, converted a column at a time with
    vectorised pandas (no per-value bind processors): text, numbers, UTC timestamps and dates only."""
    names = [str(c) for c in df.columns]
    compiled = (
        _dialect_insert(engine, table)
        .on_conflict_do_nothing(index_elements=[key])
        .compile(dialect=engine.dialect, column_keys=names)
    )
    sqlite = is_sqlite(engine)
    columns: dict[str, list[Any]] = {}
    for name in names:
        kind, series = table.c[name].type, df[name]
        if isinstance(kind, UTCDateTime):
            ts = pd.to_datetime(series, utc=True)
            values = (
                _sqlite_text(ts.dt.tz_convert(None), "us") if sqlite else pd.Series(ts.dt.to_pydatetime(), dtype=object)
            )
            values = values.where(ts.notna().to_numpy(), None)
        elif isinstance(kind, Date):
            days = pd.to_datetime(series)
            values = _sqlite_text(days, "D") if sqlite else pd.Series(days.dt.date, dtype=object)
            values = values.where(days.notna().to_numpy(), None)
        elif isinstance(kind, JSON):
            values = pd.Series([None if _missing(v) else json_dumps(v) for v in series], dtype=object)
        else:
            values = series
        columns[name] = values.astype(object).where(values.notna(), None).tolist()
    if compiled.positional:
        return compiled.string, list(zip(*(columns[n] for n in compiled.positiontup or []), strict=True))
    return compiled.string, [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _sqlite_text(times: pd.Series, unit: str) -> pd.Series:
    """Naive UTC times as the text SQLAlchemy's SQLite types store and compare (`YYYY-MM-DD HH:MM:SS.ffffff`, or
    `YYYY-MM-DD` for unit "D"), formatted by numpy (several times faster than strftime)."""
    text = np.datetime_as_string(times.to_numpy(dtype=f"datetime64[{unit}]"), unit=unit)
    return pd.Series(np.char.replace(text, "T", " ") if unit != "D" else text, index=times.index, dtype=object)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def insert_strikes(engine: Engine, strikes: pd.DataFrame) -> int:
    """Insert strikes, skipping strike ids already stored (a re-run adds none); returns how many were new."""
    if strikes.empty:
        return 0
    strikes = strikes.sort_values("strike_id", kind="stable")  # primary-key order: inserts touch the b-tree in order
    sql, params = _bulk_params(engine, STRIKES, strikes, "strike_id")
    with write_transaction(engine) as conn:
        return sum(conn.exec_driver_sql(sql, list(chunk)).rowcount for chunk in _chunks(params))


def run_author_pages(engine: Engine, *, run_key: str, day: dt.date, size: int) -> Iterator[list[str]]:
    """The authors struck by a run, ``size`` at a time in id order (keyset pages: memory is one page)."""
    c = STRIKES.c
    last = ""
    while True:
        stmt = (
            select(c.author_id)
            .where(c.day == day, c.run_key == run_key, c.author_id > last)
            .distinct()
            .order_by(c.author_id)
            .limit(size)
        )
        with engine.connect() as conn:
            page = [r[0] for r in conn.execute(stmt)]
        if not page:
            return
        yield page
        last = page[-1]


def expire_strikes(engine: Engine, as_of: dt.datetime) -> int:
    """Mark active strikes whose TTL ran out by ``as_of`` as expired; returns how many changed."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(STRIKES).where(STRIKES.c.status == "active", STRIKES.c.expires_at <= as_of).values(status="expired")
        )
    return int(result.rowcount)


def _tuples_in(engine: Engine, stmt: Any, column: Any, values: Sequence[Any], names: list[str]) -> pd.DataFrame:
    """Like `_frame_in`, for plain columns (text, numbers): rows as tuples straight into a frame, no per-row
    type processing (aggregates and ids; several times faster than `_frame_in` on tens of thousands of rows)."""
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt.where(member_of(engine, column, values))).fetchall()]
    return pd.DataFrame.from_records(rows, columns=names)


def active_weights_before(engine: Engine, *, day: dt.date, as_of: dt.datetime) -> pd.DataFrame:
    """Every author's summed weight of the strikes of days before ``day`` that count at ``as_of`` (active, not yet
    expired): author_id, active_weight. One grouped query; its size is the authors with active strikes."""
    c = STRIKES.c
    stmt = (
        select(c.author_id, func.sum(c.weight))
        .where(c.status == "active", c.expires_at > as_of, c.day < day)
        .group_by(c.author_id)
        .order_by(c.author_id)
    )
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt)]
    out = pd.DataFrame.from_records(rows, columns=["author_id", "active_weight"])
    return out.astype({"author_id": object, "active_weight": "float64"})


def active_strikes(engine: Engine, author_ids: Sequence[str], as_of: dt.datetime) -> pd.DataFrame:
    """Strikes of these authors that count at ``as_of`` (active, not yet expired): author, weight, creation,
    decision and policy."""
    c = STRIKES.c
    stmt = select(c.author_id, c.weight, c.created_at, c.decision_id, c.policy_id).where(
        c.status == "active", c.expires_at > as_of
    )
    return _frame_in(engine, stmt, c.author_id, author_ids)


def author_state(strikes: pd.DataFrame) -> pd.DataFrame:
    """Per author: active weight and the latest strike's decision and policy."""
    if strikes.empty:
        return pd.DataFrame(columns=["author_id", "active_weight", "decision_id", "policy_id"])
    weights = strikes.groupby("author_id")["weight"].sum().rename("active_weight")
    latest = strikes.sort_values(["created_at", "decision_id"]).drop_duplicates("author_id", keep="last")
    return latest.set_index("author_id")[["decision_id", "policy_id"]].join(weights).reset_index()


ACTIVE_STATE_COLUMNS = ["author_id", "active_weight", "decision_id", "policy_id"]


def active_state(engine: Engine, author_ids: Sequence[str], as_of: dt.datetime) -> pd.DataFrame:
    """Per author with strikes that count at ``as_of`` (active, not yet expired): their summed weight and the
    latest one's decision and policy (what an account decision is triggered by), in one windowed query."""
    c = STRIKES.c
    latest = func.row_number().over(partition_by=c.author_id, order_by=(c.created_at.desc(), c.decision_id.desc()))
    ranked = (
        select(
            c.author_id,
            func.sum(c.weight).over(partition_by=c.author_id).label("active_weight"),
            c.decision_id,
            c.policy_id,
            latest.label("rank"),
        )
        .where(c.status == "active", c.expires_at > as_of, member_of(engine, c.author_id, author_ids))
        .subquery()
    )
    stmt = select(*(ranked.c[n] for n in ACTIVE_STATE_COLUMNS)).where(ranked.c.rank == 1)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(stmt).fetchall()]
    out = pd.DataFrame.from_records(rows, columns=ACTIVE_STATE_COLUMNS)
    return out.astype({"author_id": object, "active_weight": "float64", "decision_id": object, "policy_id": object})


def decision_scopes(engine: Engine, decision_ids: Sequence[str]) -> pd.DataFrame:
    """Region, DSA category and territorial scope of these decisions (an account decision's and its statement's),
    with defaults for decisions no longer stored."""
    d = DECISIONS.c
    stmt = select(d.decision_id, d.region, d.category, d.territorial_scope)
    found = _frame_in(engine, stmt, d.decision_id, decision_ids).drop_duplicates("decision_id")
    out = pd.DataFrame({"decision_id": list(dict.fromkeys(decision_ids))}).merge(found, on="decision_id", how="left")
    out["region"] = out["region"].fillna("ZZ")
    out["category"] = out["category"].fillna("STATEMENT_CATEGORY_OTHER_VIOLATION_TC")
    return out


def ended_account_decisions(engine: Engine, author_ids: Sequence[str], as_of: dt.datetime) -> pd.DataFrame:
    """Ended account decisions (a served suspension) and ones a reviewer rejected, of these authors, that still
    count: their triggering strike is active at ``as_of``, so the same strikes do not propose them again."""
    a = ACCOUNT_DECISIONS.c
    stmt = (
        select(a.account_decision_id, a.author_id, a.action, a.status, a.threshold, a.end_date)
        .join(STRIKES, STRIKES.c.strike_id == ACCOUNT_DECISIONS.c.decision_id)
        .where(
            ACCOUNT_DECISIONS.c.status.in_(["ended", "rejected"]),
            STRIKES.c.status == "active",
            STRIKES.c.expires_at > as_of,
        )
    )
    out = _tuples_in(engine, stmt, ACCOUNT_DECISIONS.c.author_id, author_ids, STANDING_COLUMNS)
    out["end_date"] = pd.to_datetime(out["end_date"], utc=True, format="mixed")
    return out


def account_decisions_of(engine: Engine, author_ids: Sequence[str], *, statuses: Sequence[str]) -> pd.DataFrame:
    """These authors' account decisions in one of ``statuses``."""
    stmt = select(ACCOUNT_DECISIONS).where(ACCOUNT_DECISIONS.c.status.in_(list(statuses)))
    return _frame_in(engine, stmt, ACCOUNT_DECISIONS.c.author_id, author_ids)


STANDING_COLUMNS = ["account_decision_id", "author_id", "action", "status", "threshold", "end_date"]


def standing_of(engine: Engine, author_ids: Sequence[str], *, statuses: Sequence[str]) -> pd.DataFrame:
    """`account_decisions_of` with only the columns re-evaluation needs (end_date as UTC timestamps)."""
    c = ACCOUNT_DECISIONS.c
    stmt = select(c.account_decision_id, c.author_id, c.action, c.status, c.threshold, c.end_date).where(
        c.status.in_(list(statuses))
    )
    out = _tuples_in(engine, stmt, c.author_id, author_ids, STANDING_COLUMNS)
    out["end_date"] = pd.to_datetime(out["end_date"], utc=True, format="mixed")
    return out


def decided_account_reviews(engine: Engine) -> pd.DataFrame:
    """Pending account decisions whose review task has been decided, with the task's label and reviewer."""
    stmt = (
        select(ACCOUNT_DECISIONS.c.account_decision_id, REVIEW_TASKS.c.label, REVIEW_TASKS.c.reviewer_id)
        .join(REVIEW_TASKS, REVIEW_TASKS.c.task_id == ACCOUNT_DECISIONS.c.task_id)
        .where(ACCOUNT_DECISIONS.c.status == "pending_review", REVIEW_TASKS.c.status == "decided")
    )
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


def insert_account_decisions(engine: Engine, decisions: pd.DataFrame, tasks: pd.DataFrame, *, actor: str) -> int:
    """Insert account decisions and the review tasks of those awaiting a person in one transaction (existing
    ids skipped); the new ones go to the audit log. Returns how many were new."""
    if decisions.empty:
        return 0
    sql, params = _bulk_params(engine, ACCOUNT_DECISIONS, decisions, "account_decision_id")
    with write_transaction(engine) as conn:
        new = sum(conn.exec_driver_sql(sql, list(chunk)).rowcount for chunk in _chunks(params))
        if len(tasks):
            _insert_ignoring(conn, engine, REVIEW_TASKS, tasks, "task_id")
    if new:
        counts = decisions.groupby(["action", "status"]).size()
        append_audit(
            engine,
            actor=actor,
            event="accounts.decided",
            subject=str(decisions["run_key"].iloc[0])[-255:],
            payload={
                "offered": len(decisions),
                "new": new,
                "by_action": {f"{a}.{s}": int(n) for (a, s), n in counts.items()},
                "account_decision_ids": sorted(decisions["account_decision_id"])[:1000],
            },
        )
    return new


def account_decisions(engine: Engine, *, author_id: str | None = None, day: dt.date | None = None) -> pd.DataFrame:
    """Stored account decisions, oldest first, for an author or a day."""
    stmt = select(ACCOUNT_DECISIONS).order_by(ACCOUNT_DECISIONS.c.decided_at, ACCOUNT_DECISIONS.c.account_decision_id)
    if author_id is not None:
        stmt = stmt.where(ACCOUNT_DECISIONS.c.author_id == author_id)
    if day is not None:
        stmt = stmt.where(ACCOUNT_DECISIONS.c.day == day)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


def strikes_of(
    engine: Engine,
    *,
    author_id: str | None = None,
    day: dt.date | None = None,
    decision_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Stored strikes (any status) of an author, a day or some decisions, oldest first."""
    stmt = select(STRIKES).order_by(STRIKES.c.created_at, STRIKES.c.strike_id)
    if author_id is not None:
        stmt = stmt.where(STRIKES.c.author_id == author_id)
    if day is not None:
        stmt = stmt.where(STRIKES.c.day == day)
    if decision_ids is not None:
        return _frame_in(engine, stmt, STRIKES.c.decision_id, decision_ids)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


def set_account_status(
    engine: Engine, ids: Sequence[str], *, status: str, from_statuses: Sequence[str], reason: str, actor: str
) -> int:
    """Move account decisions to ``status`` (lifted, rejected, active, ended) from one of ``from_statuses``;
    returns how many changed. Lifts stamp lifted_at and lifted_reason; the change goes to the audit log."""
    if not len(ids):
        return 0
    values: dict[str, Any] = {"status": status}
    if status in ("lifted", "rejected"):
        values |= {"lifted_at": utcnow(), "lifted_reason": reason}
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(ACCOUNT_DECISIONS)
            .where(
                member_of(engine, ACCOUNT_DECISIONS.c.account_decision_id, list(ids)),
                ACCOUNT_DECISIONS.c.status.in_(list(from_statuses)),
            )
            .values(**values)
        )
        changed = int(result.rowcount)
    if changed:
        append_audit(
            engine,
            actor=actor,
            event=f"accounts.{status}",
            subject=str(ids[0])[-255:],
            payload={"account_decision_ids": sorted(ids)[:1000], "changed": changed, "reason": reason},
        )
    return changed


def confirmed_escalations_without_strike(engine: Engine, final_actions: Sequence[str]) -> pd.DataFrame:
    """Escalations a reviewer confirmed with an enforcing final action that have no strike yet: the decision
    (id, item, policy, run key, day, created_at) and the reviewer's final action."""
    d, t, s_ = DECISIONS.c, REVIEW_TASKS.c, STRIKES.c
    stmt = (
        select(d.decision_id, d.item_id, d.policy_id, d.run_key, d.day, d.created_at, t.final_action)
        .join(REVIEW_TASKS, and_(t.run_key == d.run_key, t.item_id == d.item_id, t.policy_id == d.policy_id))
        .join(STRIKES, s_.strike_id == d.decision_id, isouter=True)
        .where(
            d.action == "escalate",
            d.status == "active",
            t.reason == "review_band",
            t.status == "decided",
            t.label == "violating",
            t.final_action.in_(list(final_actions)),
            s_.strike_id.is_(None),
        )
    )
    with engine.connect() as conn:
        return _to_frame(conn, stmt).drop_duplicates("decision_id")


# ---------------------------------------------------------------------------------------- reversals


def reverse_decisions(
    engine: Engine, decisions: pd.DataFrame, *, by: str, reason: str, cause: str, revert_id: str | None = None
) -> pd.DataFrame:
    """Reverse decisions in one transaction: a reversal row each (skipped when one exists), the decision's
    status `reversed` (the row stays), its strike `removed`. ``decisions`` has decision_id and optionally
    appeal_id. Returns the newly reversed decisions' ids with their strikes' authors (author_id may be None)."""
    if decisions.empty:
        return pd.DataFrame(columns=["decision_id", "author_id"])
    now = utcnow()
    rows = pd.DataFrame(
        {
            "decision_id": decisions["decision_id"].astype(str).to_numpy(),
            "reversed_at": now,
            "by": by,
            "reason": reason,
            "cause": cause,
            "appeal_id": decisions["appeal_id"].to_numpy() if "appeal_id" in decisions else None,
            "revert_id": revert_id,
        }
    ).drop_duplicates("decision_id")
    ids = rows["decision_id"].tolist()
    with write_transaction(engine) as conn:
        found = conn.execute(select(REVERSALS.c.decision_id).where(member_of(conn, REVERSALS.c.decision_id, ids)))
        fresh = rows[~rows["decision_id"].isin({r[0] for r in found})]
        if fresh.empty:
            return pd.DataFrame(columns=["decision_id", "author_id"])
        _insert_ignoring(conn, engine, REVERSALS, fresh, "decision_id")
        todo = fresh["decision_id"].tolist()
        conn.execute(update(DECISIONS).where(member_of(conn, DECISIONS.c.decision_id, todo)).values(status="reversed"))
        struck = conn.execute(
            select(STRIKES.c.strike_id, STRIKES.c.author_id).where(member_of(conn, STRIKES.c.strike_id, todo))
        )
        authors = {r.strike_id: r.author_id for r in struck}
        conn.execute(
            update(STRIKES)
            .where(member_of(conn, STRIKES.c.strike_id, todo), STRIKES.c.status != "removed")
            .values(status="removed", removed_at=now, removed_reason=f"decision reversed ({cause}): {reason}")
        )
    out = pd.DataFrame({"decision_id": fresh["decision_id"].to_numpy()})
    out["author_id"] = out["decision_id"].map(authors)
    append_audit(
        engine,
        actor=by,
        event="decisions.reversed",
        subject=(revert_id or str(out["decision_id"].iloc[0]))[-255:],
        payload={
            "cause": cause,
            "reason": reason,
            "revert_id": revert_id,
            "reversed": len(out),
            "strikes_removed": int(out["author_id"].notna().sum()),
            "decision_ids": sorted(out["decision_id"])[:1000],
        },
    )
    return out


def reversed_ids(engine: Engine, decision_ids: Sequence[str]) -> set[str]:
    """Which of these decisions were reversed (they earn no strike, even when the ledger first sees them later)."""
    c = REVERSALS.c
    return set(_tuples_in(engine, select(c.decision_id), c.decision_id, decision_ids, ["decision_id"])["decision_id"])


def reversals(
    engine: Engine, *, decision_ids: Sequence[str] | None = None, revert_id: str | None = None
) -> pd.DataFrame:
    """Stored reversals of some decisions or of one revert."""
    stmt = select(REVERSALS).order_by(REVERSALS.c.reversed_at, REVERSALS.c.decision_id)
    if revert_id is not None:
        stmt = stmt.where(REVERSALS.c.revert_id == revert_id)
    if decision_ids is not None:
        return _frame_in(engine, stmt, REVERSALS.c.decision_id, decision_ids)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


# ------------------------------------------------------------------------------------------ appeals


def insert_appeals(engine: Engine, appeals: pd.DataFrame, tasks: pd.DataFrame) -> int:
    """Insert appeals and their review tasks in one transaction (appeal ids and decisions already appealed are
    skipped); returns how many appeals were new."""
    if appeals.empty:
        return 0
    with write_transaction(engine) as conn:
        new = _insert_ignoring(conn, engine, APPEALS, appeals, "appeal_id")
        _insert_ignoring(conn, engine, REVIEW_TASKS, tasks, "task_id")
    return new


def fetch_appeals(
    engine: Engine, *, status: str | None = None, decision_ids: Sequence[str] | None = None, item_id: str | None = None
) -> pd.DataFrame:
    """Stored appeals matching every given filter, oldest first."""
    stmt = select(APPEALS).order_by(APPEALS.c.received_at, APPEALS.c.appeal_id)
    if status is not None:
        stmt = stmt.where(APPEALS.c.status == status)
    if item_id is not None:
        stmt = stmt.where(APPEALS.c.item_id == item_id)
    if decision_ids is not None:
        return _frame_in(engine, stmt, APPEALS.c.decision_id, decision_ids)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


def decided_open_appeals(engine: Engine) -> pd.DataFrame:
    """Open appeals whose review task has been decided: appeal columns plus the task's label, reviewer, time and
    run key (the appealed decision's)."""
    stmt = (
        select(
            APPEALS,
            REVIEW_TASKS.c.label,
            REVIEW_TASKS.c.reviewer_id,
            REVIEW_TASKS.c.decided_at.label("task_decided_at"),
            REVIEW_TASKS.c.run_key,  # the appealed decision's run
        )
        .join(REVIEW_TASKS, REVIEW_TASKS.c.task_id == APPEALS.c.task_id)
        .where(APPEALS.c.status == "open", REVIEW_TASKS.c.status == "decided")
    )
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


def close_appeals(engine: Engine, outcomes: pd.DataFrame) -> int:
    """Record appeal outcomes (appeal_id, status upheld|overturned, decided_at, decided_by) on open appeals."""
    changed = 0
    with write_transaction(engine) as conn:
        for r in outcomes.itertuples(index=False):  # one row per decided appeal of an import, not per item of a day
            result = conn.execute(
                update(APPEALS)
                .where(and_(APPEALS.c.appeal_id == r.appeal_id, APPEALS.c.status == "open"))
                .values(status=r.status, decided_at=r.decided_at, decided_by=r.decided_by)
            )
            changed += int(result.rowcount)
    return changed


# ------------------------------------------------------------------------------------------- reverts


def revert_event(engine: Engine, revert_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(REVERT_EVENTS).where(REVERT_EVENTS.c.revert_id == revert_id)).mappings().first()
    return dict(row) if row is not None else None


def revert_events(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return _to_frame(conn, select(REVERT_EVENTS).order_by(REVERT_EVENTS.c.started_at))


def start_revert(
    engine: Engine, *, revert_id: str, filter: dict[str, Any], reason: str, requested_by: str, matched: int
) -> bool:
    """Record a revert event (once: a resumed revert keeps its first record); True when it is new."""
    with write_transaction(engine) as conn:
        exists = conn.execute(select(REVERT_EVENTS.c.revert_id).where(REVERT_EVENTS.c.revert_id == revert_id)).first()
        if exists is None:
            conn.execute(
                insert(REVERT_EVENTS).values(
                    revert_id=revert_id,
                    filter=filter,
                    reason=reason,
                    requested_by=requested_by,
                    state="running",
                    matched=matched,
                    reversed=0,
                    started_at=utcnow(),
                    ended_at=None,
                )
            )
    if exists is None:
        append_audit(
            engine,
            actor=requested_by,
            event="revert.started",
            subject=revert_id,
            payload={"filter": filter, "reason": reason, "matched": matched},
        )
    return exists is None


def finish_revert(engine: Engine, revert_id: str, *, reversed_total: int, actor: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(
            update(REVERT_EVENTS)
            .where(REVERT_EVENTS.c.revert_id == revert_id)
            .values(state="completed", reversed=reversed_total, ended_at=utcnow())
        )
    append_audit(engine, actor=actor, event="revert.completed", subject=revert_id, payload={"reversed": reversed_total})


def decisions_matching(
    engine: Engine, *, policy_id: str, since: dt.datetime, until: dt.datetime, policy_version: str | None = None
) -> pd.DataFrame:
    """Automated enforcement decisions of a policy decided in [since, until), with their status."""
    stmt = (
        select(DECISIONS)
        .where(
            DECISIONS.c.policy_id == policy_id,
            DECISIONS.c.automated.is_(True),
            DECISIONS.c.action != "escalate",
            DECISIONS.c.decided_at >= since,
            DECISIONS.c.decided_at < until,
        )
        .order_by(DECISIONS.c.decided_at, DECISIONS.c.decision_id)
    )
    if policy_version is not None:
        stmt = stmt.where(DECISIONS.c.policy_version == policy_version)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)
