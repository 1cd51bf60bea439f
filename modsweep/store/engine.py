"""The one engine factory: SQLite file by default, PostgreSQL in production."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

SQLITE_BUSY_TIMEOUT_S = 60
# Execution option read by the SQLite ``begin`` hook: "DEFERRED" (reads) or "IMMEDIATE" (writes).
SQLITE_BEGIN_OPTION = "modsweep_sqlite_begin"


def json_default(value: Any) -> Any:
    """Make numpy/pandas scalars, arrays, dates and decimals JSON-serialisable."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_dumps(value: Any) -> str:
    """JSON text for the store's JSON columns (strict: NaN/Infinity are rejected)."""
    return json.dumps(value, default=json_default, allow_nan=False, ensure_ascii=False)


def is_sqlite(engine: Engine | Connection) -> bool:
    """True when ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and real BEGINs."""
    u = make_url(url)
    kwargs.setdefault("json_serializer", json_dumps)
    if u.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(u, **kwargs)

    database = u.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(kwargs.pop("connect_args", {}) or {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
    engine = sa.create_engine(u, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it skips it for SELECT and DDL); the "begin" hook
        # below emits it, so transactions are real and writers can ask for BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def engine_from_settings() -> Engine:
    """The process-wide engine for ``get_settings().sqlalchemy_url`` (one per URL, created on first use)."""
    from modsweep.config import get_settings

    return _engine_for(get_settings().sqlalchemy_url)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: ``BEGIN IMMEDIATE`` on SQLite (takes the write lock up front, so
    read-then-write cannot deadlock), a plain transaction elsewhere. Commits on success."""
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn
