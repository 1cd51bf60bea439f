"""Small generated days, sweeps run in-process or as a killable subprocess, and output snapshots.

A snapshot holds only what must be identical between an interrupted-then-resumed run and an uninterrupted
one of the same run key: decision ids, actions and scores; review task ids and their sampling; the items and
quarantine rows of the lake. Times (decided_at, created_at, due_by) and run ids legitimately differ.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from modsweep import store
from modsweep.lake import Lake

DECISION_COLUMNS = ["decision_id", "item_id", "policy_id", "action", "automated", "score", "threshold", "region"]
TASK_COLUMNS = [
    "task_id",
    "item_id",
    "policy_id",
    "queue",
    "reason",
    "stratum",
    "inclusion_prob",
    "replica",
    "priority",
    "status",
    "label",
    "reviewer_id",
    "final_action",
]
QUARANTINE_COLUMNS = ["source_file", "row_number", "item_id", "reason", "detail", "raw"]
MODSWEEP_CLI = str(Path(sys.executable).parent / "modsweep")
# Smaller QA and prevalence samples than production: a sweep of a few thousand rows then stores ~900 review
# tasks instead of ~3,000, which makes each sweep about 40% cheaper. Nothing these tests check depends on
# the sample sizes; every run of one test module (in-process or subprocess) uses the same values.
SMALL_SAMPLE = {"MODSWEEP_PREVALENCE_SAMPLE_SIZE": "20", "MODSWEEP_QA_CAP": "30", "MODSWEEP_QA_FLOOR": "5"}


@contextmanager
def isolated_home(root: Path, models: Path, **env: str) -> Iterator[Path]:
    """MODSWEEP_HOME at `root`/home for a module-scoped fixture: the session's model registry, scoring in the
    tasks' threads, SMALL_SAMPLE, then `env` (e.g. MODSWEEP_DATABASE_URL); cached handles reset in and out."""
    from modsweep import resources

    home = root / "home"
    home.mkdir(parents=True)
    (home / "models").symlink_to(models)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODSWEEP_HOME", str(home))
        mp.setenv("MODSWEEP_DETECT_PROCESSES", "1")
        mp.delenv("MODSWEEP_DATABASE_URL", raising=False)
        mp.delenv("MODSWEEP_LAKE_URL", raising=False)
        for key, value in {**SMALL_SAMPLE, **env}.items():
            mp.setenv(key, value)
        resources.reset()
        try:
            yield home
        finally:
            resources.reset()


@contextmanager
def postgres_schema(prefix: str, password: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL schema for a store; yields a MODSWEEP_DATABASE_URL whose search_path is that schema
    (with `password` in the URL when given: trust authentication ignores it). Dropped (CASCADE) afterwards."""
    from store_fixtures import PG_URL, postgres_unavailable_reason

    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL)
    if password is not None:
        url = url.set(password=password)
    try:
        yield f"{url.render_as_string(hide_password=False)}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def write_small_day(root: Path, day: date, rows: int, partition_rows: int, seed: int = 42) -> dict[str, Any]:
    """A generated day (items/, truth/, golden/) small enough for a sweep of a few seconds."""
    from modsweep.tasks.generate import write_synthetic_day

    write_synthetic_day(root, day, rows, seed=seed, partition_rows=partition_rows)
    return {"day": day, "items": root / "items", "truth": root / "truth", "golden": root / "golden", "rows": rows}


def run_daily(source_day: dict[str, Any], **kw: Any) -> Any:
    """The daily sweep flow in this process (under the session's Prefect test harness)."""
    from modsweep.flows.daily_sweep import daily_sweep

    kw.setdefault("simulate_reviews_from", str(source_day["truth"]))
    kw.setdefault("golden_set_from", str(source_day["golden"]))
    return daily_sweep(
        day=source_day["day"], source=str(source_day["items"]), trigger="manual", requested_by="pytest", **kw
    )


def snapshot(engine: Engine, lake: Lake, day: date, run_key: str) -> dict[str, pd.DataFrame]:
    """The run key's comparable outputs, each sorted by its key."""
    decisions = store.fetch_decisions(engine, run_key=run_key)[DECISION_COLUMNS]
    tasks = store.fetch_review_tasks(engine, run_key=run_key)[TASK_COLUMNS]
    items = lake.read_all("items", day, run_key).to_pandas()
    quarantine = lake.read_all("quarantine", day, run_key).to_pandas()[QUARANTINE_COLUMNS]
    # Rows moved by the cross-partition duplicate check name the lake's items partition, not the source file:
    # compare them relative to the lake, whichever home it is in.
    quarantine["source_file"] = quarantine["source_file"].str.replace(lake.root, "<lake>", regex=False)
    lake_decisions = lake.read_all("decisions", day, run_key).to_pandas()[DECISION_COLUMNS]
    return {
        "decisions": decisions.sort_values("decision_id").reset_index(drop=True),
        "lake_decisions": lake_decisions.sort_values("decision_id").reset_index(drop=True),
        "tasks": tasks.sort_values("task_id").reset_index(drop=True),
        "items": items.sort_values("item_id").reset_index(drop=True),
        "quarantine": quarantine.sort_values(["source_file", "row_number", "reason"]).reset_index(drop=True),
    }


def assert_same_outputs(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    """Every dataset of two snapshots is equal, row for row (scores to 1e-9)."""
    for name, expected in want.items():
        actual = got[name]
        assert len(actual) == len(expected), f"{name}: {len(actual)} rows, uninterrupted run has {len(expected)}"
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9, obj=name)


def rows_lost(lake: Lake, day: date, run_key: str, source_files: list[Path], out_of_scope: int) -> int:
    """Source rows that are neither an item nor a quarantined row of the run (counted from the lake itself,
    not from the ledger): readable source rows − items − row-level quarantine − rows outside the run's scope.

    A whole unreadable file has no rows to count: pass only the readable `source_files`.
    """
    import pyarrow.parquet as pq

    read = sum(pq.ParquetFile(f).metadata.num_rows for f in source_files)
    items = lake.read_all("items", day, run_key, columns=["item_id"]).num_rows
    reasons = lake.read_all("quarantine", day, run_key, columns=["reason"]).column(0).to_pylist()
    quarantined = sum(r != "unreadable_file" for r in reasons)
    return read - items - quarantined - out_of_scope


def committed_files(home: Path) -> dict[str, tuple[int, int, int]]:
    """Every committed lake file with (inode, size, mtime_ns): a rewritten partition gets a new inode.

    Committed as the run catalog means it (`RunCatalog.exists`): a partition of a dataset saved with metadata
    counts once its `.meta.json` is there too; one killed between its Parquet file and its metadata is not
    committed, and a re-run rightly writes it again. (A folder with no metadata at all, e.g. trend_aggregates,
    is written without it: its files count as they are.)"""
    out = {}
    for f in (home / "lake").rglob("*.parquet"):
        meta = f.with_name(f.name.removesuffix(".parquet") + ".meta.json")
        if not meta.exists() and any(f.parent.glob("*.meta.json")):
            continue
        if "_staging" not in f.parts:
            st = f.stat()
            out[str(f.relative_to(home))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def assert_no_duplicates(snap: dict[str, pd.DataFrame]) -> None:
    assert snap["decisions"]["decision_id"].is_unique
    assert snap["tasks"]["task_id"].is_unique
    assert snap["items"]["item_id"].is_unique
    keys = snap["decisions"][["item_id", "policy_id"]]
    assert not keys.duplicated().any(), "two decisions for one item × policy"
    # The store holds exactly the lake's decisions: none missing, none extra.
    assert set(snap["decisions"]["decision_id"]) == set(snap["lake_decisions"]["decision_id"])


# --- subprocess sweeps -------------------------------------------------------------------------------


def sweep_env(home: Path, api_url: str, **extra: str) -> dict[str, str]:
    """Environment of a `modsweep sweep` subprocess: its own home, the test harness's Prefect API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODSWEEP_", "PREFECT_"))}
    env.update(
        MODSWEEP_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GX_ANALYTICS_ENABLED="false",
        USER="pytest",
        **extra,
    )
    return env


def start_sweep(home: Path, source_day: dict[str, Any], api_url: str, log: Path, **extra: str) -> subprocess.Popen:
    """`modsweep sweep` in a new process group (so the test can kill it and every worker it started)."""
    args = [
        MODSWEEP_CLI,
        "sweep",
        "--day",
        source_day["day"].isoformat(),
        "--source",
        str(source_day["items"]),
        "--simulate-reviews",
        str(source_day["truth"]),
        "--golden-set",
        str(source_day["golden"]),
    ]
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            env=sweep_env(home, api_url, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home.parent,
            start_new_session=True,
        )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group this test started (the sweep and its scoring workers)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float, what: str) -> float:
    """Poll `condition` every 20 ms while `proc` runs; returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if condition():
            return time.monotonic() - t0
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {proc.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout} s")


def lake_parts(home: Path, dataset: str) -> list[Path]:
    """Committed partition files of one dataset (never the staging area)."""
    return sorted((home / "lake" / dataset).glob("date=*/run_key=*/*.parquet"))
