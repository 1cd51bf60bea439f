"""Helpers that give a test its own SQL store: a SQLite file under tmp_path, or a fresh PostgreSQL schema.

Import from test modules (``from store_fixtures import ...``) or wrap in fixtures in ``conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import Engine, make_url

from modsweep.store import make_engine

PG_URL = os.environ.get("MODSWEEP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@lru_cache(maxsize=1)
def postgres_unavailable_reason() -> str | None:
    """Why the test PostgreSQL cannot be used, or None when it answers (checked once per session)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    url = make_url(PG_URL)
    try:
        with psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, connect_timeout=3
        ) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {url.host}:{url.port} is unreachable: {exc}"
    return None


@contextmanager
def sqlite_store(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh SQLite file in ``tmp_path`` (nested folder: make_engine creates it)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store' / 'modsweep.db'}")
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def postgres_store() -> Iterator[Engine]:
    """An engine whose search_path is a brand-new schema ``ms_<uuid>``, dropped (CASCADE) afterwards."""
    schema = f"ms_{uuid.uuid4().hex}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in PG_URL else "?"
        engine = make_engine(f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}")
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        admin.dispose()
