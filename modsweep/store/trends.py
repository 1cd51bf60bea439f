"""The `trends` table: the radar's signals per run and day (insert once per key, read back for reports)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
from sqlalchemy import Engine, select

from modsweep.store.models import Trend
from modsweep.store.repo import _insert_frames_ignoring_conflicts, _to_frame

TRENDS_TABLE = Trend.__table__
KEY = ("run_key", "day", "region", "language", "kind", "signal")


def trend_ids(frame: pd.DataFrame) -> list[str]:
    """Deterministic ids: a re-run of the same run key stores nothing twice."""
    parts = frame[list(KEY)].astype(str).agg("\x1f".join, axis=1)
    return [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in parts]


def insert_trends(engine: Engine, trends: pd.DataFrame, run_key: str) -> int:
    """Store a day's trends (lake `trends` rows) for a run; returns rows new (0 on a re-run)."""
    if trends.empty:
        return 0
    frame = trends.assign(run_key=run_key)
    frame["trend_id"] = trend_ids(frame)
    cols = [c.name for c in TRENDS_TABLE.columns]
    frame = frame[cols].astype(object).where(frame[cols].notna(), None)
    return _insert_frames_ignoring_conflicts(engine, TRENDS_TABLE, [frame], "trend_id")[1]


def fetch_trends(engine: Engine, *, day: dt.date | None = None, run_key: str | None = None) -> pd.DataFrame:
    """Stored trends, by day, region and risk rank."""
    stmt = select(TRENDS_TABLE).order_by(TRENDS_TABLE.c.day, TRENDS_TABLE.c.region, TRENDS_TABLE.c.rank_risk)
    if day is not None:
        stmt = stmt.where(TRENDS_TABLE.c.day == day)
    if run_key is not None:
        stmt = stmt.where(TRENDS_TABLE.c.run_key == run_key)
    with engine.connect() as conn:
        return _to_frame(conn, stmt)
