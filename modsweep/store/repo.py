"""Reads and writes of the SQL store: schema migrations, run ledger, decisions, review tasks, metrics, audit log.

Plain functions taking an ``Engine``. Bulk writes take DataFrames, go out as executemany batches of
``CHUNK_ROWS`` rows and run in one transaction each (all or nothing). Every statement is parameterised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Date, Float, Integer, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Select

from modsweep.store.engine import is_sqlite, json_default, write_transaction
from modsweep.store.models import (
    REVIEW_LABELS,
    RUN_STATES,
    RUN_TRIGGERS,
    Base,
    UTCDateTime,
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CHUNK_ROWS = 5_000
GENESIS_HASH = "0" * 64
REVIEWER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Keys for PostgreSQL transaction-level advisory locks (arbitrary, but fixed for all modsweep processes).
PG_LOCK_MIGRATIONS = 0x6D73_0001
PG_LOCK_AUDIT = 0x6D73_0002

RUNS: Table = Base.metadata.tables["runs"]
DECISIONS: Table = Base.metadata.tables["decisions"]
REVIEW_TASKS: Table = Base.metadata.tables["review_tasks"]
METRICS: Table = Base.metadata.tables["metrics"]
AUDIT_LOG: Table = Base.metadata.tables["audit_log"]

METRIC_KEY: tuple[str, ...] = ("run_key", "day", "policy_id", "region", "metric")
FINAL_RUN_STATES: tuple[str, ...] = ("completed", "failed", "cancelled")
_RUN_UPDATABLE = frozenset(
    {
        "requested_by",
        "parameters",
        "policy_pack",
        "policy_version",
        "policy_sha256",
        "code_version",
        "input_fingerprint",
        "prefect_flow_run_id",
        "stage_counts",
        "gate_results",
        "outputs",
        "state",
        "error",
    }
)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------- schema


def _alembic() -> Any:
    """The Alembic package with the modules the store uses (imported on first use: only migrations need them)."""
    import alembic.command  # local: Alembic (≈0.25 s to import) only migrates; the worker processes never do
    import alembic.config  # local: as above
    import alembic.runtime.migration  # local: as above

    return alembic


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` built in code (no alembic.ini), pointing at the packaged migrations."""
    cfg = _alembic().config.Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _lock_for_migration(conn: Connection) -> None:
    # SQLite: write_transaction already holds the write lock (BEGIN IMMEDIATE).
    if not is_sqlite(conn):
        conn.execute(select(func.pg_advisory_xact_lock(PG_LOCK_MIGRATIONS)))


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (head); a no-op when already there, safe to run concurrently."""
    with write_transaction(engine) as conn:
        _lock_for_migration(conn)
        _alembic().command.upgrade(alembic_config(conn), revision)


def downgrade_schema(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` drops every table)."""
    with write_transaction(engine) as conn:
        _lock_for_migration(conn)
        _alembic().command.downgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None before the first migration."""
    with engine.connect() as conn:
        return _alembic().runtime.migration.MigrationContext.configure(conn).get_current_revision()


# ----------------------------------------------------------------------------------------- run ledger


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def start_run(
    engine: Engine,
    *,
    run_key: str,
    flow: str,
    trigger: str,
    requested_by: str,
    parameters: Mapping[str, Any],
    policy_pack: str,
    policy_version: str,
    policy_sha256: str,
    code_version: str,
    input_fingerprint: str | None = None,
    prefect_flow_run_id: str | None = None,
) -> str:
    """Record a new run in state ``running``; returns its new ``run_id`` (uuid4)."""
    _check_choice("trigger", trigger, RUN_TRIGGERS)
    run_id = str(uuid.uuid4())
    with write_transaction(engine) as conn:
        conn.execute(
            insert(RUNS).values(
                run_id=run_id,
                run_key=run_key,
                flow=flow,
                trigger=trigger,
                requested_by=requested_by,
                parameters=dict(parameters),
                policy_pack=policy_pack,
                policy_version=policy_version,
                policy_sha256=policy_sha256,
                code_version=code_version,
                input_fingerprint=input_fingerprint,
                stage_counts={},
                gate_results=[],
                outputs={},
                state="running",
                error=None,
                prefect_flow_run_id=prefect_flow_run_id,
                started_at=utcnow(),
                ended_at=None,
            )
        )
    return run_id


def _locked_run(conn: Connection, run_id: str) -> Mapping[str, Any]:
    row = conn.execute(select(RUNS).where(RUNS.c.run_id == run_id).with_for_update()).mappings().first()
    if row is None:
        raise KeyError(f"unknown run_id {run_id!r}")
    return row


def _run_changes(row: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("stage_counts", "outputs"):
            changes[name] = _deep_merge(row[name] or {}, value or {})
        elif name == "gate_results":
            new = [value] if isinstance(value, Mapping) else list(value or [])
            changes[name] = [*(row[name] or []), *new]
        else:
            if name == "state":
                _check_choice("state", value, RUN_STATES)
            changes[name] = value
    return changes


def update_run(engine: Engine, run_id: str, **fields: Any) -> None:
    """Change a run: ``stage_counts``/``outputs`` are deep-merged, ``gate_results`` (a dict or a list of
    dicts) are appended, other ledger fields are replaced."""
    unknown = sorted(set(fields) - _RUN_UPDATABLE)
    if unknown:
        raise ValueError(f"update_run: cannot set {', '.join(unknown)}")
    if not fields:
        return
    with write_transaction(engine) as conn:
        row = _locked_run(conn, run_id)
        conn.execute(update(RUNS).where(RUNS.c.run_id == run_id).values(**_run_changes(row, fields)))


def finish_run(
    engine: Engine,
    run_id: str,
    state: str,
    error: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
) -> None:
    """Close a run as completed, failed or cancelled, stamping ``ended_at`` (``outputs`` are merged)."""
    _check_choice("state", state, FINAL_RUN_STATES)
    fields: dict[str, Any] = {"state": state, "error": dict(error) if error is not None else None}
    if outputs:
        fields["outputs"] = outputs
    with write_transaction(engine) as conn:
        row = _locked_run(conn, run_id)
        changes = _run_changes(row, fields) | {"ended_at": utcnow()}
        conn.execute(update(RUNS).where(RUNS.c.run_id == run_id).values(**changes))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_run(engine: Engine, run_id_or_prefix: str) -> dict[str, Any] | None:
    """The run with this id or unique id prefix; None if none matches, ValueError if ambiguous."""
    if not run_id_or_prefix:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(RUNS).where(RUNS.c.run_id == run_id_or_prefix)).mappings().first()
        if row is not None:
            return dict(row)
        pattern = _escape_like(run_id_or_prefix) + "%"
        rows = conn.execute(select(RUNS).where(RUNS.c.run_id.like(pattern, escape="\\")).limit(2)).mappings().all()
    if len(rows) > 1:
        raise ValueError(f"run id prefix {run_id_or_prefix!r} matches more than one run")
    return dict(rows[0]) if rows else None


def list_runs(
    engine: Engine,
    *,
    flow: str | None = None,
    trigger: str | None = None,
    state: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    policy_version: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Runs, newest first, filtered on flow, trigger, state, start time window and policy version."""
    stmt = select(RUNS).order_by(RUNS.c.started_at.desc(), RUNS.c.run_id).limit(limit)
    for column, value in (("flow", flow), ("trigger", trigger), ("state", state), ("policy_version", policy_version)):
        if value is not None:
            stmt = stmt.where(RUNS.c[column] == value)
    if since is not None:
        stmt = stmt.where(RUNS.c.started_at >= since)
    if until is not None:
        stmt = stmt.where(RUNS.c.started_at < until)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def last_completed_run(engine: Engine, run_key: str) -> dict[str, Any] | None:
    """The most recently finished completed run with this run key, if any."""
    stmt = (
        select(RUNS)
        .where(RUNS.c.run_key == run_key, RUNS.c.state == "completed")
        .order_by(RUNS.c.ended_at.desc(), RUNS.c.started_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row is not None else None


# ------------------------------------------------------------------------------ DataFrame ⇄ SQL rows


def _json_cell(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_json_cell(v) for v in value] if value.dtype == object else value.tolist()
    if isinstance(value, tuple):
        return [_json_cell(v) for v in value]
    if isinstance(value, list):
        return [_json_cell(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_cell(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _column_values(series: pd.Series, column_type: Any) -> list[Any]:
    """One column as plain Python values for the DB driver (missing values become None)."""
    if isinstance(column_type, JSON):
        return [_json_cell(v) for v in series]
    if isinstance(column_type, UTCDateTime):
        ts = pd.to_datetime(series, utc=True).dt.tz_localize(None)  # naive UTC; the type re-attaches UTC
        return ts.to_numpy(dtype="datetime64[us]").astype(object).tolist()
    if isinstance(column_type, Date):
        days = pd.to_datetime(series)
        if isinstance(days.dtype, pd.DatetimeTZDtype):
            days = days.dt.tz_convert("UTC").dt.tz_localize(None)
        return days.to_numpy(dtype="datetime64[D]").astype(object).tolist()
    values = series.to_numpy(dtype=object, na_value=None)
    if isinstance(column_type, Boolean):
        return [None if v is None else bool(v) for v in values]
    if isinstance(column_type, Integer):
        return [None if v is None else int(v) for v in values]
    if isinstance(column_type, Float):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else str(v) for v in values]


def _frame_rows(df: pd.DataFrame, table: Table) -> list[dict[str, Any]]:
    unknown = [str(c) for c in df.columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: unknown columns {', '.join(unknown)}")
    names = [str(c) for c in df.columns]
    columns = [_column_values(df[name], table.c[name].type) for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _chunks(rows: Sequence[Any], size: int | None = None) -> Iterator[Sequence[Any]]:
    size = size or CHUNK_ROWS
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _dialect_insert(engine: Engine | Connection, table: Table) -> Any:
    return (sqlite.insert if is_sqlite(engine) else postgresql.insert)(table)


def _insert_frames_ignoring_conflicts(
    engine: Engine, table: Table, frames: Iterable[pd.DataFrame], key: str
) -> tuple[int, int]:
    """Insert the rows of several frames (e.g. one per lake partition, read lazily) in one write transaction,
    skipping keys already stored; returns (rows offered, rows new).

    Values are converted a column at a time by the same bind processors SQLAlchemy applies row by row (the
    columns' own types: UTC timestamps, JSON text, booleans; equal JSON values serialised once) and handed to
    the driver's executemany in CHUNK_ROWS batches: about 2× faster than `_executemany`, and memory is
    bounded by one frame, not the whole set.
    """
    offered = affected = 0
    with write_transaction(engine) as conn:
        for df in frames:
            if df.empty:
                continue
            # In key order: each insert lands next to the previous one in the key's b-tree (10–20% faster).
            sql, params = _driver_params(engine, table, df.sort_values(key, kind="stable"), key)
            for chunk in _chunks(params):
                affected += conn.exec_driver_sql(sql, list(chunk)).rowcount
            offered += len(df)
    return offered, affected


def _driver_params(engine: Engine, table: Table, df: pd.DataFrame, key: str) -> tuple[str, list[Any]]:
    """The insert's SQL text and the frame's rows as driver parameters (tuples or dicts, per paramstyle)."""
    names = [str(c) for c in df.columns]
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: unknown columns {', '.join(unknown)}")
    dialect = engine.dialect
    compiled = (
        _dialect_insert(engine, table)
        .on_conflict_do_nothing(index_elements=[key])
        .compile(dialect=dialect, column_keys=names)
    )
    if set(compiled.binds) != set(names):
        raise ValueError(f"{table.name}: bind names {sorted(compiled.binds)} differ from the columns {names}")
    columns: dict[str, list[Any]] = {}
    for name in names:
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
            columns[name] = _sqlite_datetime_texts(df[name])  # what `process` writes, formatted vectorised
        elif process is not None and isinstance(column_type, JSON):
            columns[name] = _json_texts(df[name], process)
        else:
            values = _column_values(df[name], column_type)
            columns[name] = [None if v is None else process(v) for v in values] if process else values
    if compiled.positional:
        return compiled.string, list(zip(*(columns[n] for n in compiled.positiontup or []), strict=True))
    return compiled.string, [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _sqlite_datetime_texts(series: pd.Series) -> list[str | None]:
    """UTC timestamps as SQLite DATETIME text, naive UTC (the text SQLAlchemy's SQLite bind processor writes for
    `UTCDateTime`, which a test checks), formatted for the whole column at once; missing values become None."""
    ts = pd.to_datetime(series, utc=True).dt.tz_localize(None)
    text = ts.dt.strftime("%Y-%m-%d %H:%M:%S.%f").astype(object)
    return text.where(ts.notna().to_numpy(), None).tolist()


def _json_texts(series: pd.Series, process: Callable[[Any], Any]) -> list[Any]:
    """A JSON column's driver values: each distinct cell converted and serialised once. Cells read from Parquet
    are arrays of a few distinct string lists (DSA categories, territorial scope): they are keyed by their
    items, without walking them; any other cell goes through `_json_cell` and the memo of `_memoised`."""
    memo, cache = _memoised(process), {}  # cache: only tuples of str (no str equals a number or a bool)
    out: list[Any] = []
    for value in series:
        if isinstance(value, np.ndarray) and value.dtype == object:
            key = tuple(value)
            try:
                text = cache.get(key)
            except TypeError:  # an unhashable item (a nested list): the general path below
                text = None
            else:
                if text is None and all(type(v) is str for v in key):
                    text = cache[key] = process(list(key))
            if text is not None:
                out.append(text)
                continue
        cell = _json_cell(value)
        out.append(None if cell is None else memo(cell))
    return out


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process` with its result kept per distinct value (JSON columns repeat a few lists: one dumps each)."""
    cache: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        try:
            key = _frozen(value)
        except TypeError:  # unhashable inside: no memo
            return process(value)
        if key not in cache:
            cache[key] = process(value)
        return cache[key]

    return run


def _frozen(value: Any) -> Any:
    """A hashable key equal only for values that serialise alike (types kept apart: True, 1 and 1.0 differ)."""
    if isinstance(value, list | tuple):
        return (list, tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((k, _frozen(v)) for k, v in value.items()))
    hash(value)
    return (type(value), value)


def _executemany(engine: Engine, stmt: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Run ``stmt`` for every row (driver executemany, CHUNK_ROWS at a time) in one write transaction;
    returns the rows affected. No RETURNING: psycopg's executemany is several times faster than
    SQLAlchemy's multi-VALUES "insertmanyvalues" path with RETURNING, and rowcount is exact."""
    affected = 0
    with write_transaction(engine) as conn:
        conn = conn.execution_options(preserve_rowcount=True)
        for chunk in _chunks(rows):
            affected += conn.execute(stmt, list(chunk)).rowcount
    return affected


def _to_frame(conn: Connection, stmt: Select[Any]) -> pd.DataFrame:
    """Query result as a DataFrame with stable dtypes (nullable ints, UTC timestamps), even when empty."""
    result = conn.execute(stmt)
    names, rows = list(result.keys()), result.all()
    if rows:  # column by column: a frame built from Row objects probes each row for named-tuple attributes
        df = pd.DataFrame(dict(enumerate(map(list, zip(*rows, strict=True)))))
        df.columns = names
    else:
        df = pd.DataFrame([], columns=names)
    for column in stmt.selected_columns:
        name, column_type = column.name, column.type
        if isinstance(column_type, UTCDateTime):
            df[name] = pd.to_datetime(df[name], utc=True).astype("datetime64[us, UTC]")
        elif isinstance(column_type, Boolean):
            df[name] = df[name].astype("boolean" if df[name].isna().any() else bool)
        elif isinstance(column_type, Integer):
            df[name] = df[name].astype("Int64")
        elif isinstance(column_type, Float):
            df[name] = df[name].astype("float64")
    return df


# ----------------------------------------------------------------------- decisions, tasks, metrics


def insert_decisions(engine: Engine, df: pd.DataFrame) -> int:
    """Insert decisions, skipping ``decision_id``s already stored; returns how many were new.
    ``day`` defaults to the UTC date of ``created_at``."""
    if df.empty:
        return 0
    if "day" not in df.columns and "created_at" in df.columns:
        df = df.assign(day=pd.to_datetime(df["created_at"], utc=True).dt.date)
    return insert_decision_frames(engine, [df])[1]


def insert_decision_frames(engine: Engine, frames: Iterable[pd.DataFrame]) -> tuple[int, int]:
    """Decisions from several frames (read lazily, e.g. one per lake partition) in one transaction, skipping
    ``decision_id``s already stored; returns (rows, rows new). Every frame needs a ``day`` column."""
    return _insert_frames_ignoring_conflicts(engine, DECISIONS, frames, "decision_id")


def insert_review_tasks(engine: Engine, df: pd.DataFrame) -> int:
    """Insert review tasks, skipping ``task_id``s already stored; returns how many were new.
    ``status`` defaults to ``open`` and ``replica`` to 0."""
    if df.empty:
        return 0
    if "status" not in df.columns:
        df = df.assign(status="open")
    if "replica" not in df.columns:
        df = df.assign(replica=0)
    return _insert_frames_ignoring_conflicts(engine, REVIEW_TASKS, [df], "task_id")[1]


def reopen_carried_over(engine: Engine, task_ids: Sequence[str]) -> int:
    """Open carried-over tasks that now fit a queue's capacity; returns how many changed."""
    if not len(task_ids):
        return 0
    changed = 0
    with write_transaction(engine) as conn:
        for chunk in _chunks(list(task_ids)):
            result = conn.execute(
                update(REVIEW_TASKS)
                .where(REVIEW_TASKS.c.task_id.in_(chunk), REVIEW_TASKS.c.status == "carried_over")
                .values(status="open", carry_over_reason=None)
            )
            changed += result.rowcount
    return changed


def insert_metrics(engine: Engine, df: pd.DataFrame) -> int:
    """Upsert metric rows on (run_key, day, policy_id, region, metric); returns rows written.
    A key repeated within ``df`` keeps its last row."""
    if df.empty:
        return 0
    missing = [c for c in METRIC_KEY if c not in df.columns]
    if missing:
        raise ValueError(f"metrics: missing key columns {', '.join(missing)}")
    rows = list({tuple(r[k] for k in METRIC_KEY): r for r in _frame_rows(df, METRICS)}.values())
    ins = _dialect_insert(engine, METRICS)
    payload = [c for c in rows[0] if c not in METRIC_KEY]
    stmt = ins.on_conflict_do_update(index_elements=list(METRIC_KEY), set_={c: ins.excluded[c] for c in payload})
    return _executemany(engine, stmt, rows)


def _where_equal(stmt: Select[Any], table: Table, **filters: Any) -> Select[Any]:
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(table.c[column] == value)
    return stmt


def fetch_decisions(
    engine: Engine, *, run_key: str | None = None, day: dt.date | None = None, item_id: str | None = None
) -> pd.DataFrame:
    """Stored decisions matching every given filter."""
    stmt = select(DECISIONS).order_by(DECISIONS.c.day, DECISIONS.c.item_id, DECISIONS.c.policy_id)
    stmt = _where_equal(stmt, DECISIONS, run_key=run_key, day=day, item_id=item_id)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


def fetch_review_tasks(
    engine: Engine,
    *,
    status: str | None = None,
    run_key: str | None = None,
    queue: str | None = None,
    item_id: str | None = None,
    task_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Stored review tasks matching every given filter (`task_ids`: any of these ids, queried CHUNK_ROWS at a
    time), by queue then priority (highest first)."""
    stmt = select(REVIEW_TASKS).order_by(REVIEW_TASKS.c.queue, REVIEW_TASKS.c.priority.desc(), REVIEW_TASKS.c.task_id)
    stmt = _where_equal(stmt, REVIEW_TASKS, status=status, run_key=run_key, queue=queue, item_id=item_id)
    with engine.connect() as conn:
        if task_ids is None:
            return _to_frame(conn, stmt)
        ids = list(dict.fromkeys(task_ids))
        frames = [_to_frame(conn, stmt.where(REVIEW_TASKS.c.task_id.in_(chunk))) for chunk in _chunks(ids)]
        if len(frames) <= 1:
            return frames[0] if frames else _to_frame(conn, stmt.where(REVIEW_TASKS.c.task_id.in_([])))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["queue", "priority", "task_id"], ascending=[True, False, True], ignore_index=True)


def count_review_tasks(engine: Engine, *, run_key: str) -> dict[tuple[str, str], int]:
    """How many of a run key's stored review tasks there are per (reason, status), counted in SQL."""
    stmt = (
        select(REVIEW_TASKS.c.reason, REVIEW_TASKS.c.status, func.count())
        .where(REVIEW_TASKS.c.run_key == run_key)
        .group_by(REVIEW_TASKS.c.reason, REVIEW_TASKS.c.status)
    )
    with engine.connect() as conn:
        return {(str(reason), str(status)): int(n) for reason, status, n in conn.execute(stmt)}


def fetch_metrics(engine: Engine, *, run_key: str | None = None, day: dt.date | None = None) -> pd.DataFrame:
    """Stored metric rows matching every given filter."""
    stmt = select(*(c for c in METRICS.c if c.name != "id")).order_by(
        METRICS.c.day, METRICS.c.policy_id, METRICS.c.region, METRICS.c.metric
    )
    stmt = _where_equal(stmt, METRICS, run_key=run_key, day=day)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)


# ------------------------------------------------------------------------------------ review outcomes


@dataclass(frozen=True)
class ReviewImportResult:
    """What an import of review outcomes did; ``rejections`` holds the rejected rows plus ``rejection``."""

    applied: int
    unchanged: int
    rejected: int
    rejections: pd.DataFrame


_OUTCOME_COLUMNS = ("task_id", "reviewer_id", "label", "decided_at")


def _optional_times(outcomes: pd.DataFrame, column: str) -> list[dt.datetime | None]:
    if column not in outcomes.columns:
        return [None] * len(outcomes)
    ts = pd.to_datetime(outcomes[column], utc=True, errors="coerce").dt.tz_localize(None)
    return ts.to_numpy(dtype="datetime64[us]").astype(object).tolist()


def _outcome_problem(task_id: Any, reviewer: Any, label: Any, decided_at: Any) -> str | None:
    if not isinstance(reviewer, str) or not REVIEWER_ID_RE.match(reviewer):
        return "invalid_reviewer"
    if label not in REVIEW_LABELS:
        return "invalid_label"
    if decided_at is None:
        return "invalid_decided_at"
    if not isinstance(task_id, str) or not task_id:
        return "unknown_task"
    return None


def apply_review_outcomes(engine: Engine, outcomes: pd.DataFrame) -> ReviewImportResult:
    """Record reviewers' labels on their tasks in one transaction. Rows are rejected as
    ``invalid_reviewer``, ``invalid_label``, ``invalid_decided_at``, ``unknown_task`` or
    ``already_decided`` (a repeat of the stored label by the same reviewer counts as ``unchanged``).
    Open, claimed, expired and carried-over tasks can be decided; valid rows are applied all together."""
    missing = [c for c in _OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise ValueError(f"review outcomes: missing columns {', '.join(missing)}")
    out = outcomes.reset_index(drop=True)
    task_ids = out["task_id"].to_numpy(dtype=object, na_value=None).tolist()
    reviewers = out["reviewer_id"].to_numpy(dtype=object, na_value=None).tolist()
    labels = out["label"].to_numpy(dtype=object, na_value=None).tolist()
    final_actions = (
        out["final_action"].to_numpy(dtype=object, na_value=None).tolist()
        if "final_action" in out.columns
        else [None] * len(out)
    )
    decided = _optional_times(out, "decided_at")
    claimed = _optional_times(out, "claimed_at")

    applied = unchanged = 0
    rejected_rows: list[int] = []
    reasons: list[str] = []
    with write_transaction(engine) as conn:
        wanted = sorted({t for t in task_ids if isinstance(t, str)})
        state: dict[str, tuple[str, str | None, str | None]] = {}
        for chunk in _chunks(wanted, 1_000):
            stmt = (
                select(REVIEW_TASKS.c.task_id, REVIEW_TASKS.c.status, REVIEW_TASKS.c.label, REVIEW_TASKS.c.reviewer_id)
                .where(REVIEW_TASKS.c.task_id.in_(chunk))
                .with_for_update()
            )
            state.update({r.task_id: (r.status, r.label, r.reviewer_id) for r in conn.execute(stmt)})

        updates: list[dict[str, Any]] = []
        for i, (task_id, reviewer, label) in enumerate(zip(task_ids, reviewers, labels, strict=True)):
            reason = _outcome_problem(task_id, reviewer, label, decided[i])
            current = state.get(task_id) if reason is None else None
            if reason is None and current is None:
                reason = "unknown_task"
            elif current is not None and current[0] == "decided":
                if (current[1], current[2]) == (label, reviewer):
                    unchanged += 1
                    continue
                reason = "already_decided"
            if reason is not None:
                rejected_rows.append(i)
                reasons.append(reason)
                continue
            state[task_id] = ("decided", label, reviewer)
            updates.append(
                {
                    "b_task_id": task_id,
                    "b_reviewer_id": reviewer,
                    "b_label": label,
                    "b_final_action": final_actions[i],
                    "b_claimed_at": claimed[i],
                    "b_decided_at": decided[i],
                }
            )
        if updates:
            stmt = (
                update(REVIEW_TASKS)
                .where(REVIEW_TASKS.c.task_id == bindparam("b_task_id"), REVIEW_TASKS.c.status != "decided")
                .values(
                    status="decided",
                    reviewer_id=bindparam("b_reviewer_id"),
                    label=bindparam("b_label"),
                    final_action=bindparam("b_final_action"),
                    claimed_at=func.coalesce(bindparam("b_claimed_at", type_=UTCDateTime()), REVIEW_TASKS.c.claimed_at),
                    decided_at=bindparam("b_decided_at", type_=UTCDateTime()),
                )
            )
            for chunk in _chunks(updates):
                conn.execute(stmt, list(chunk))
            applied = len(updates)

    rejections = out.iloc[rejected_rows].assign(rejection=reasons).reset_index(drop=True)
    return ReviewImportResult(applied=applied, unchanged=unchanged, rejected=len(reasons), rejections=rejections)


# ------------------------------------------------------------------------------------------ audit log


@dataclass(frozen=True)
class AuditVerification:
    """Outcome of re-deriving the audit hash chain. ``last_hash`` anchors the chain's head: keep it
    elsewhere to detect truncation, which a chain alone cannot show."""

    ok: bool
    rows_checked: int
    first_broken_seq: int | None = None
    reason: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None


def canonical_json(value: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces, UTF-8) used for hashing."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=json_default
    )


def audit_hash(*, seq: int, ts: dt.datetime, actor: str, event: str, subject: str, payload: Any, prev_hash: str) -> str:
    """sha256 hex of the canonical JSON of one audit row (everything but its own hash)."""
    document = {
        "seq": seq,
        "ts": ts.astimezone(dt.UTC).isoformat(),
        "actor": actor,
        "event": event,
        "subject": subject,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def append_audit(engine: Engine, *, actor: str, event: str, subject: str, payload: Mapping[str, Any]) -> int:
    """Append one hash-chained entry to the audit log; returns its ``seq``. Appenders are serialised
    (PostgreSQL advisory lock / SQLite ``BEGIN IMMEDIATE``) so the chain never forks."""
    # Store exactly what is hashed: the payload after a canonical JSON round trip.
    document = json.loads(canonical_json(dict(payload)))
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            conn.execute(select(func.pg_advisory_xact_lock(PG_LOCK_AUDIT)))
        last = conn.execute(select(AUDIT_LOG.c.seq, AUDIT_LOG.c.hash).order_by(AUDIT_LOG.c.seq.desc()).limit(1)).first()
        seq = last.seq + 1 if last is not None else 1
        prev_hash = last.hash if last is not None else GENESIS_HASH
        ts = utcnow()
        entry = {"seq": seq, "ts": ts, "actor": actor, "event": event, "subject": subject, "payload": document}
        digest = audit_hash(**entry, prev_hash=prev_hash)
        conn.execute(insert(AUDIT_LOG).values(**entry, prev_hash=prev_hash, hash=digest))
    return seq


def latest_audit_entry(engine: Engine, *, event: str, subject: str) -> dict[str, Any] | None:
    """The newest audit-log entry of an event about a subject (e.g. the answer to a run key's approval)."""
    stmt = (
        select(AUDIT_LOG)
        .where(AUDIT_LOG.c.event == event, AUDIT_LOG.c.subject == subject)
        .order_by(AUDIT_LOG.c.seq.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row is not None else None


def _audit_rows(conn: Connection) -> Iterable[Any]:
    stmt = select(AUDIT_LOG).order_by(AUDIT_LOG.c.seq)
    return conn.execution_options(yield_per=2_000).execute(stmt)


def verify_audit_log(engine: Engine) -> AuditVerification:
    """Re-derive the whole hash chain; reports the first seq that is missing, edited or out of place."""
    checked = 0
    expected_seq, prev_hash = 1, GENESIS_HASH
    with engine.connect() as conn:
        for row in _audit_rows(conn):
            problem: str | None = None
            if row.seq != expected_seq:
                problem = f"seq {expected_seq} expected, found {row.seq}: rows deleted or renumbered"
            elif row.prev_hash != prev_hash:
                problem = "prev_hash does not match the previous row's hash: rows deleted or reordered"
            else:
                fields = {k: getattr(row, k) for k in ("seq", "ts", "actor", "event", "subject", "payload")}
                if audit_hash(**fields, prev_hash=row.prev_hash) != row.hash:
                    problem = "hash does not match the row's content: row edited"
            if problem is not None:
                return AuditVerification(
                    ok=False,
                    rows_checked=checked,
                    first_broken_seq=expected_seq,
                    reason=problem,
                    last_seq=expected_seq - 1 if checked else None,
                    last_hash=prev_hash if checked else None,
                )
            checked += 1
            expected_seq, prev_hash = row.seq + 1, row.hash
    return AuditVerification(
        ok=True,
        rows_checked=checked,
        last_seq=expected_seq - 1 if checked else None,
        last_hash=prev_hash if checked else None,
    )


POLICY_AUTOMATION: Table = Base.metadata.tables["policy_automation"]


def paused_policies(engine: Engine) -> list[str]:
    """Policies whose automated enforcement the circuit breaker has paused."""
    with engine.connect() as conn:
        rows = conn.execute(select(POLICY_AUTOMATION.c.policy_id).where(POLICY_AUTOMATION.c.state == "paused"))
        return sorted(r[0] for r in rows)


def set_policy_automation(
    engine: Engine, policy_id: str, *, state: str, reason: str, changed_by: str, run_id: str | None = None
) -> bool:
    """Pause or enable a policy's automation; returns False when it was already in that state.

    The change and the audit-log entry are written in one transaction.
    """
    _check_choice("state", state, ("paused", "enabled"))
    with write_transaction(engine) as conn:
        current = conn.execute(
            select(POLICY_AUTOMATION.c.state).where(POLICY_AUTOMATION.c.policy_id == policy_id)
        ).scalar()
        if current == state or (current is None and state == "enabled"):
            return False
        values = {"state": state, "reason": reason, "changed_by": changed_by, "changed_at": utcnow(), "run_id": run_id}
        if current is None:
            conn.execute(insert(POLICY_AUTOMATION).values(policy_id=policy_id, **values))
        else:
            conn.execute(update(POLICY_AUTOMATION).where(POLICY_AUTOMATION.c.policy_id == policy_id).values(**values))
    append_audit(
        engine,
        actor=changed_by,
        event=f"policy.automation.{state}",
        subject=policy_id,
        payload={"reason": reason, "run_id": run_id},
    )
    return True


def policy_automation(engine: Engine) -> pd.DataFrame:
    """Every policy's circuit-breaker record."""
    with engine.connect() as conn:
        return _to_frame(conn, select(POLICY_AUTOMATION))
