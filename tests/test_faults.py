"""Faults a sweep must survive: a flaky source, a dropped database connection, a killed process, an unwritable
or full lake, corrupt Parquet files. After each, nothing is lost, duplicated or half-committed.

Each test that gets through its fault adds itself to the tally printed at the end of the module (`fault
scenarios survived: …, rows lost: …`); rows lost are counted from the lake, not from the ledger.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers.logs import capture_all_logs, task_runs
from helpers.sweeps import (
    SMALL_SAMPLE,
    assert_no_duplicates,
    assert_same_outputs,
    committed_files,
    isolated_home,
    kill_group,
    lake_parts,
    postgres_schema,
    rows_lost,
    run_daily,
    snapshot,
    start_sweep,
    wait_until,
    write_small_day,
)

from modsweep import resources, store

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

DAY = date(2026, 11, 23)
PARTS = 3
SURVIVED: list[str] = []
LOST: list[int] = []


@pytest.fixture(scope="module", autouse=True)
def report_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the fault scenarios this module survived and the rows lost in them."""
    yield
    line = (
        f"fault scenarios survived: {len(SURVIVED)}; rows lost: {sum(LOST)} over {len(LOST)} completed runs "
        f"({', '.join(SURVIVED)})"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _survived(name: str, *lost: int) -> None:
    assert all(n == 0 for n in lost), f"{name}: rows lost {lost}"
    SURVIVED.append(name)
    LOST.extend(lost)


def _lost(summary: Any, source: Path, unreadable: tuple[Path, ...] = ()) -> int:
    """Rows of the run's readable source files that are neither items nor quarantined (from the lake)."""
    run = store.get_run(resources.store_engine(), summary.run_id)
    files = [f for f in sorted(source.rglob("*.parquet")) if f not in unreadable]
    return rows_lost(
        resources.lake(), DAY, summary.run_key, files, run["stage_counts"]["ingest"].get("out_of_scope", 0)
    )


@pytest.fixture(scope="module")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """2,400 generated rows in 3 source partitions (dirty rows included)."""
    return write_small_day(tmp_path_factory.mktemp("faults-source"), DAY, PARTS * 800, 800)


@pytest.fixture
def home(sweep_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home scoring in the task's own thread (where a monkeypatch applies), with small review samples."""
    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "1")
    for key, value in SMALL_SAMPLE.items():
        monkeypatch.setenv(key, value)
    resources.reset()
    return sweep_home


def _source_rows(folder: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.rglob("*.parquet")))


def _assert_conserved(ingest: dict[str, int]) -> None:
    assert ingest["read"] == ingest["processed"] + ingest["quarantined"] + ingest.get("out_of_scope", 0), ingest


def _visible_parquet(lake_root: Path) -> list[Path]:
    return [p for p in lake_root.rglob("*.parquet") if "_staging" not in p.parts]


def _assert_every_visible_partition_is_whole(lake_root: Path) -> int:
    """Every partition outside `_staging` opens and reads completely (no half-written file is visible)."""
    files = _visible_parquet(lake_root)
    for f in files:
        pq.read_table(f)
    return len(files)


# --- a flaky source -----------------------------------------------------------------------------------


@pytest.fixture
def no_ingest_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same three retries, without the seconds of back-off between them (the flow calls `t.ingest_partition`)."""
    from modsweep.tasks import pipeline

    monkeypatch.setattr(
        pipeline,
        "ingest_partition",
        pipeline.ingest_partition.with_options(retry_delay_seconds=0, retry_jitter_factor=None),
    )


def test_source_read_failing_twice_is_retried_and_the_run_succeeds(home, small_day, monkeypatch, no_ingest_retry_delay):
    from modsweep.tasks import ingest

    flaky = sorted(small_day["items"].rglob("*.parquet"))[2]
    real = ingest.read_source
    failures: list[str] = []

    def read_twice_failing(path: Path):
        if Path(path) == flaky and len(failures) < 2:
            failures.append(str(path))
            raise OSError(f"Connection reset by peer while reading {path}")
        return real(path)

    monkeypatch.setattr(ingest, "read_source", read_twice_failing)
    with capture_all_logs(logging.INFO, only=("prefect",)) as logs:
        summary = run_daily(small_day)

    assert len(failures) == 2
    run = store.get_run(resources.store_engine(), summary.run_id)
    counts = run["stage_counts"]["ingest"]
    assert run["state"] == "completed"
    # The flaky file was read on the third attempt: every row counted, none lost to a file-level quarantine.
    assert counts.get("unreadable_files", 0) == 0, f"a transient OSError quarantined the whole file: {counts}"
    assert counts["read"] == _source_rows(small_day["items"]) == small_day["rows"]
    _assert_conserved(counts)
    # The retries are visible: in the logs and in Prefect's task-run records.
    retried = [line for line in logs.lines if "Retry 1/3" in line or "Retry 2/3" in line]
    assert len(retried) == 2 and all("OSError" in line for line in retried), logs.text()[-3000:]
    ingests = task_runs(run["prefect_flow_run_id"], "ingest-partition")
    assert sorted(r.run_count for r in ingests) == [1] * (PARTS - 1) + [3]
    _survived("flaky source", _lost(summary, small_day["items"]))


# --- a dropped database connection ---------------------------------------------------------------------


def _drop_connection_on(engine: Any, backend: str, statement_prefix: str, nth: int) -> dict[str, int]:
    """On the `nth` executemany whose SQL starts with `statement_prefix`, lose the connection once.

    PostgreSQL: the server really terminates the session (pg_terminate_backend) just before the chunk is sent.
    SQLite has no connection to lose: the chunk fails as a dropped network file system would (disk I/O error).
    """
    from sqlalchemy import event

    seen = {"calls": 0, "dropped": 0}

    def before(conn, cursor, statement, parameters, context, executemany):
        if not (executemany and statement.lstrip().upper().startswith(statement_prefix)):
            return
        seen["calls"] += 1
        if seen["calls"] != nth or seen["dropped"]:
            return
        seen["dropped"] += 1
        if backend == "sqlite":
            import sqlite3

            raise sqlite3.OperationalError("disk I/O error")
        import psycopg
        from conftest import PG_URL
        from sqlalchemy.engine import make_url

        pid = conn.connection.dbapi_connection.info.backend_pid
        url = make_url(PG_URL)
        with psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_connection_dropped_while_writing_decisions_rolls_back_and_the_retry_writes_each_once(
    home, small_day, store_backend, monkeypatch
):
    from modsweep.store import repo

    monkeypatch.setattr(repo, "CHUNK_ROWS", 100)  # several chunks per insert, so the drop lands mid-transaction
    engine = resources.store_engine()
    seen = _drop_connection_on(engine, store_backend, "INSERT INTO DECISIONS", nth=2)
    with capture_all_logs(logging.INFO, only=("prefect",)) as logs:
        summary = run_daily(small_day)

    assert seen["dropped"] == 1
    run = store.get_run(engine, summary.run_id)
    decide = run["stage_counts"]["decide"]
    stored = store.fetch_decisions(engine, run_key=summary.run_key)
    lake_ids = (
        resources.lake().read_all("decisions", DAY, summary.run_key, columns=["decision_id"]).column(0).to_pylist()
    )
    # The first chunk went out before the drop; it was rolled back, so the retry inserted every row itself.
    assert decide["decisions"] == decide["decisions_inserted"] == len(stored) == len(lake_ids) > 100
    assert stored["decision_id"].is_unique and set(stored["decision_id"]) == set(lake_ids)
    lake = resources.lake()
    chunks = sum(-(-lake.read(p).num_rows // 100) for p in lake.parts("decisions", DAY, summary.run_key))
    assert seen["calls"] == 2 + chunks  # two chunks of the failed attempt + every chunk (per partition) of the retry
    assert any("OperationalError" in line and "Retry 1/3" in line for line in logs.lines)
    assert [r.run_count for r in task_runs(run["prefect_flow_run_id"], "persist-decisions")] == [2]
    _assert_conserved(run["stage_counts"]["ingest"])
    assert run["state"] == "completed" and store.verify_audit_log(engine).ok
    _survived(f"connection dropped ({store_backend})", _lost(summary, small_day["items"]))


# --- a killed process ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(prefect_harness, small_day, synthetic_day, tmp_path_factory) -> dict[str, Any]:
    """The outputs of the small day swept once, start to end, in a home of its own."""
    with isolated_home(tmp_path_factory.mktemp("uninterrupted"), synthetic_day["models"]):
        summary = run_daily(small_day)
        snap = snapshot(resources.store_engine(), resources.lake(), DAY, summary.run_key)
    return {"run_key": summary.run_key, "snapshot": snap}


@pytest.fixture
def kill_home(tmp_path: Path, synthetic_day: dict[str, Any]) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(synthetic_day["models"])
    yield home


def _slow_decision_inserts(url: str) -> None:
    """Migrate the store, then make each statement inserting into `decisions` take ~1 ms longer (a trigger in the
    test's own schema): the insert transaction then lasts long enough to be caught and killed half-way."""
    from sqlalchemy import text

    from modsweep.store import make_engine, upgrade_schema

    engine = make_engine(url)
    upgrade_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep(0.001); RETURN NULL; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER slow_decisions AFTER INSERT ON decisions FOR EACH STATEMENT "
                "EXECUTE FUNCTION slow_insert()"
            )
        )
    engine.dispose()


def _drop_slow_decision_inserts(url: str) -> None:
    from sqlalchemy import text

    from modsweep.store import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER slow_decisions ON decisions"))
    engine.dispose()


def _backends(application_name: str, inserting_decisions: bool = False) -> int:
    """PostgreSQL sessions of one application (optionally: those in an open transaction inserting decisions)."""
    import psycopg
    from sqlalchemy.engine import make_url
    from store_fixtures import PG_URL

    url = make_url(PG_URL)
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    if inserting_decisions:
        query += " AND state IN ('active', 'idle in transaction') AND query ILIKE 'INSERT INTO decisions%%'"
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True) as conn:
        return int(conn.execute(query, (application_name,)).fetchone()[0])


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["detection", pytest.param("decisions-insert", marks=pytest.mark.postgres)])
def test_sigkill_mid_stage_then_rerun_gives_the_uninterrupted_outputs(
    moment, kill_home, small_day, uninterrupted, tmp_path, monkeypatch
):
    """`modsweep sweep` is SIGKILLed (with every process it started) during detection, as soon as its first
    detections partition is committed (SQLite store); or while it writes the decisions to the store, inside the
    insert transaction (PostgreSQL). The same command's run key then resumes in-process and must end with
    exactly the outputs of a run never interrupted, without redoing any partition committed before the kill."""
    import prefect.settings

    env = {"MODSWEEP_DETECT_PROCESSES": "1", **SMALL_SAMPLE}
    with contextlib.ExitStack() as stack:
        if moment == "decisions-insert":
            app = f"modsweep-killed-{uuid.uuid4().hex[:8]}"
            env["MODSWEEP_DATABASE_URL"] = stack.enter_context(postgres_schema("ms_kill")) + f"&application_name={app}"
            _slow_decision_inserts(env["MODSWEEP_DATABASE_URL"])
            ready, what = (lambda: _backends(app, inserting_decisions=True) > 0), "an open decisions insert"
        else:
            ready, what = (lambda: len(lake_parts(kill_home, "detections")) >= 1), "a first detections partition"
        log = tmp_path / "killed-sweep.log"
        proc = start_sweep(kill_home, small_day, prefect.settings.PREFECT_API_URL.value(), log, **env)
        try:
            waited = wait_until(ready, proc, 180, what)
            kill_group(proc)
        finally:
            if proc.poll() is None:
                kill_group(proc)
        assert proc.returncode == -9
        if moment == "decisions-insert":
            assert len(lake_parts(kill_home, "decisions")) == PARTS  # every decisions partition was committed
            deadline = time.monotonic() + 30
            while _backends(app) and time.monotonic() < deadline:  # the server notices the client is gone
                time.sleep(0.05)
            _drop_slow_decision_inserts(env["MODSWEEP_DATABASE_URL"])
        else:
            committed = len(lake_parts(kill_home, "detections"))
            assert 1 <= committed <= PARTS, f"killed after {waited:.1f} s with {committed}/{PARTS + 1} detections parts"
            assert not lake_parts(kill_home, "decisions")
        _assert_every_visible_partition_is_whole(kill_home / "lake")
        before = committed_files(kill_home)

        monkeypatch.setenv("MODSWEEP_HOME", str(kill_home))
        monkeypatch.delenv("MODSWEEP_DATABASE_URL", raising=False)
        monkeypatch.delenv("MODSWEEP_LAKE_URL", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        resources.reset()
        engine = resources.store_engine()
        killed = store.list_runs(engine)
        assert [r["state"] for r in killed] == ["running"]  # a SIGKILL leaves no chance to record anything
        assert store.fetch_decisions(engine).empty, "the killed insert transaction was not rolled back"

        summary = run_daily(small_day)
        assert summary.run_key == uninterrupted["run_key"]
        snap = snapshot(engine, resources.lake(), DAY, summary.run_key)
        assert_no_duplicates(snap)
        assert_same_outputs(snap, uninterrupted["snapshot"])
        run = store.get_run(engine, summary.run_id)
        assert run["state"] == "completed"
        assert run["stage_counts"]["decide"]["decisions_inserted"] == len(snap["decisions"])  # none were stored before
        ingest = run["stage_counts"]["ingest"]
        _assert_conserved(ingest)
        assert ingest["read"] == small_day["rows"]
        assert store.verify_audit_log(engine).ok
        # No committed partition was redone: every file visible after the kill is the same file (inode, size, mtime).
        after = committed_files(kill_home)
        redone = sorted(f for f, stat in before.items() if after.get(f) != stat)
        assert not redone, f"partitions committed before the kill were written again: {redone}"
        assert len(after) > len(before)
        _survived(f"SIGKILL during {moment}", _lost(summary, small_day["items"]))
        resources.reset()


def test_cross_partition_duplicates_in_quarantine_name_the_source_file_they_came_from(uninterrupted, small_day):
    quarantine = uninterrupted["snapshot"]["quarantine"]
    duplicates = quarantine[quarantine["reason"] == "duplicate_item_id"]
    across = duplicates[duplicates["row_number"] <= -2]  # moved by the cross-partition check (-2 - row in items)
    assert len(across) > 0  # the generator plants duplicates within and across partitions
    elsewhere = duplicates[~duplicates["source_file"].str.startswith(str(small_day["items"]))]
    assert elsewhere.empty, f"quarantined duplicates name no source file: {sorted(set(elsewhere['source_file']))}"
    # Each names the items partition and row it was moved from.
    assert across["detail"].str.fullmatch(r"item_id seen in an earlier partition \(row \d+ of items part-\d{5}\)").all()


# --- an unwritable lake --------------------------------------------------------------------------------


def test_lake_under_a_file_fails_at_ingest_naming_the_path_and_commits_nothing(
    home, small_day, tmp_path, monkeypatch, no_ingest_retry_delay
):
    from modsweep.lake import LakeError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake's parent folder should be")
    lake_url = blocker / "lake"
    monkeypatch.setenv("MODSWEEP_LAKE_URL", str(lake_url))
    resources.reset()
    with pytest.raises(LakeError) as info:
        run_daily(small_day)
    assert str(lake_url) in str(info.value)
    failed = store.list_runs(resources.store_engine(), state="failed")
    assert len(failed) == 1 and failed[0]["error"]["stage"] == "ingest"
    assert failed[0]["error"]["type"] == "LakeError" and str(lake_url) in failed[0]["error"]["message"]
    assert blocker.is_file() and not list(tmp_path.rglob("*.parquet"))
    _survived("lake path under a file")


def test_unwritable_items_dataset_fails_cleanly_then_the_rerun_completes(home, small_day, no_ingest_retry_delay):
    from modsweep.lake import LakeError

    lake_root = home / "lake"
    lake_root.mkdir(parents=True)
    (lake_root / "items").write_text("blocks the items dataset")  # quarantine partitions can be written, items not
    with pytest.raises(LakeError, match=r"cannot write items partition part-\d+ under .*lake"):
        run_daily(small_day)
    engine = resources.store_engine()
    failed = store.list_runs(engine, state="failed")
    assert len(failed) == 1 and failed[0]["error"]["stage"] == "ingest"
    assert str(lake_root) in failed[0]["error"]["message"]
    assert _assert_every_visible_partition_is_whole(lake_root) > 0  # only whole quarantine partitions are visible
    assert not [p for p in (lake_root / "_staging").glob("*") if p.is_file()]  # the failed writes cleaned up

    (lake_root / "items").unlink()
    summary = run_daily(small_day)
    run = store.get_run(engine, summary.run_id)
    assert run["state"] == "completed" and run["stage_counts"]["ingest"]["read"] == small_day["rows"]
    _assert_conserved(run["stage_counts"]["ingest"])
    assert_no_duplicates(snapshot(engine, resources.lake(), DAY, summary.run_key))
    _survived("unwritable items dataset", _lost(summary, small_day["items"]))


def test_disk_full_while_writing_detections_fails_naming_the_partition_and_commits_no_half_file(
    home, small_day, monkeypatch
):
    """The second detections partition hits ENOSPC half-way through its staged file: the run fails naming the
    partition and the cause, the half-written file is removed, and only whole partitions are visible."""
    from modsweep import lake as lake_module
    from modsweep.lake import LakeError

    real_write = lake_module.pq.write_table
    detections_written: list[int] = []

    def write_until_full(table, where, **kwargs):
        if "detector_id" not in table.schema.names or not hasattr(where, "write"):
            return real_write(table, where, **kwargs)
        detections_written.append(table.num_rows)
        if len(detections_written) != 2:
            return real_write(table, where, **kwargs)
        buffer = io.BytesIO()
        real_write(table, buffer, **kwargs)
        where.write(buffer.getvalue()[: buffer.tell() // 2])  # half a file reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lake_module.pq, "write_table", write_until_full)
    with pytest.raises(LakeError, match=r"cannot write detections partition part-\d+ under .*No space left on device"):
        run_daily(small_day)
    engine = resources.store_engine()
    failed = store.list_runs(engine, state="failed")
    assert len(failed) == 1 and failed[0]["error"]["stage"] == "detect"
    assert re.fullmatch(r"part-\d{5}", failed[0]["error"]["partition"] or ""), failed[0]["error"]
    assert "No space left on device" in failed[0]["error"]["message"]
    lake_root = home / "lake"
    assert not [p for p in (lake_root / "_staging").glob("*") if p.is_file()], "the half-written file is left"
    _assert_every_visible_partition_is_whole(lake_root)
    committed = lake_parts(home, "detections")
    assert 1 <= len(committed) < PARTS and len(detections_written) >= 2
    assert not lake_parts(home, "decisions") and store.fetch_decisions(engine).empty
    _survived("disk full while writing detections")


# --- empty partitions ----------------------------------------------------------------------------------


def test_a_surge_that_leaves_some_partitions_empty_completes(home, small_day):
    """A rare region over one hour: most partitions hold none of its items (an empty partition is no fault)."""
    import pandas as pd

    from modsweep.flows.surge_run import surge_run

    since, until = pd.Timestamp("2026-11-23T10:00Z"), pd.Timestamp("2026-11-23T11:00Z")
    files = sorted(small_day["items"].rglob("*.parquet"))
    frames = [pd.read_parquet(f, columns=["region", "created_at"]).assign(part=k) for k, f in enumerate(files)]
    raw = pd.concat(frames, ignore_index=True)
    created = pd.to_datetime(raw["created_at"], utc=True, errors="coerce")
    in_window = raw[(created >= since) & (created < until)]
    per_part = (
        in_window.groupby(["region", "part"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=range(len(files)), fill_value=0)
    )
    sparse = per_part[(per_part.sum(axis=1) > 0) & (per_part == 0).any(axis=1)]
    region = str(sparse.sum(axis=1).idxmin())

    summary = surge_run(
        regions=[region],
        since=since.to_pydatetime(),
        until=until.to_pydatetime(),
        source=str(small_day["items"]),
        requested_by="pytest",
    )
    run = store.get_run(resources.store_engine(), summary.run_id)
    assert run["state"] == "completed"
    ingest = run["stage_counts"]["ingest"]
    _assert_conserved(ingest)
    items = resources.lake().read_all("items", DAY, summary.run_key).to_pandas()
    assert set(items["region"]) == {region} and ingest["processed"] == len(items) > 0
    _survived("surge with empty partitions", _lost(summary, small_day["items"]))


# --- corrupt Parquet -----------------------------------------------------------------------------------


def test_corrupt_and_truncated_parquet_files_are_quarantined_whole_and_the_rest_is_processed(
    home, small_day, tmp_path, no_ingest_retry_delay
):
    source = tmp_path / "source" / f"date={DAY.isoformat()}"
    shutil.copytree(next(small_day["items"].glob("date=*")), source)
    good = sorted(source.glob("*.parquet"))
    truncated = good[0]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    flipped = good[2]
    data = bytearray(flipped.read_bytes())
    for i in range(len(data) - 400, len(data) - 12):  # scramble the footer metadata, keep the magic bytes
        data[i] ^= 0x5A
    flipped.write_bytes(bytes(data))
    empty = source / "part-00099.parquet"
    empty.write_bytes(b"")
    readable_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in good if f not in (truncated, flipped))

    summary = run_daily({**small_day, "items": source.parent})
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    ingest = run["stage_counts"]["ingest"]
    assert run["state"] == "completed"
    assert ingest["unreadable_files"] == 3
    assert ingest["read"] == readable_rows and summary.items_read == readable_rows
    _assert_conserved(ingest)
    quarantine = resources.lake().read_all("quarantine", DAY, summary.run_key).to_pandas()
    whole = quarantine[quarantine["reason"] == "unreadable_file"]
    assert sorted(Path(f).name for f in whole["source_file"]) == sorted(p.name for p in (truncated, flipped, empty))
    assert (whole["row_number"] == -1).all() and whole["detail"].str.len().gt(0).all()
    assert whole["detail"].str.contains("Parquet").all()  # the reader's own reason is kept
    assert len(quarantine) - len(whole) == ingest["quarantined"]
    items = resources.lake().read_all("items", DAY, summary.run_key).num_rows
    assert items == ingest["processed"] > 0
    assert_no_duplicates(snapshot(engine, resources.lake(), DAY, summary.run_key))
    _survived("corrupt, truncated and empty Parquet files", _lost(summary, source.parent, (truncated, flipped, empty)))


def test_with_unreadable_files_set_to_fail_one_corrupt_file_stops_the_run_naming_it(
    home, small_day, tmp_path, monkeypatch
):
    from modsweep.flows.sweep import UnreadableSourceFilesError

    source = tmp_path / "source" / f"date={DAY.isoformat()}"
    shutil.copytree(next(small_day["items"].glob("date=*")), source)
    truncated = sorted(source.glob("*.parquet"))[2]
    truncated.write_bytes(truncated.read_bytes()[:100])
    monkeypatch.setenv("MODSWEEP_UNREADABLE_FILES", "fail")
    resources.reset()
    with pytest.raises(UnreadableSourceFilesError, match=re.escape(f"1 of {PARTS} source files unreadable")) as info:
        run_daily({**small_day, "items": source.parent})
    assert str(truncated) in str(info.value)
    failed = store.list_runs(resources.store_engine(), state="failed")
    assert len(failed) == 1 and failed[0]["error"]["stage"] == "ingest"
    assert failed[0]["error"]["type"] == "UnreadableSourceFilesError"
    assert failed[0]["stage_counts"]["ingest"]["unreadable_files"] == 1
    quarantine = resources.lake().read_all("quarantine", DAY, failed[0]["run_key"]).to_pandas()
    whole = quarantine[quarantine["reason"] == "unreadable_file"]
    assert whole["source_file"].tolist() == [str(truncated)] and "Parquet" in whole["detail"].iloc[0]
    assert not lake_parts(home, "detections") and not lake_parts(home, "decisions")
    _survived("corrupt file with unreadable_files=fail")


def test_a_source_where_no_file_is_readable_fails_the_run_instead_of_sweeping_nothing(
    home, small_day, tmp_path, no_ingest_retry_delay
):
    source = tmp_path / "source" / f"date={DAY.isoformat()}"
    source.mkdir(parents=True)
    for k in range(3):
        (source / f"part-{k:05d}.parquet").write_bytes(os.urandom(64))
    with pytest.raises(Exception, match=r"(?i)unreadable|quarantine"):
        run_daily({**small_day, "items": source.parent})
    failed = store.list_runs(resources.store_engine(), state="failed")
    assert len(failed) == 1 and failed[0]["error"]["stage"] == "ingest"
    assert failed[0]["stage_counts"]["ingest"]["unreadable_files"] == 3
    _survived("no readable source file")


def test_a_one_partition_day_is_scored_in_slices_with_the_same_outputs(
    prefect_harness, synthetic_day, tmp_path_factory
):
    """With fewer partitions than worker processes, each partition's rows are scored in slices side by side (both
    cores busy on a one-file day); the committed detections and every output equal those of one-process scoring."""
    from modsweep.tasks import pipeline

    one_file = write_small_day(tmp_path_factory.mktemp("one-file"), DAY, 1_500, 1_500)
    slices, snaps, detections = {}, {}, {}
    for processes in ("1", "2"):
        with isolated_home(
            tmp_path_factory.mktemp(f"slices-{processes}"), synthetic_day["models"], MODSWEEP_DETECT_PROCESSES=processes
        ):
            slices[processes] = pipeline.detect_slices(1)
            summary = run_daily(one_file)
            snaps[processes] = snapshot(resources.store_engine(), resources.lake(), DAY, summary.run_key)
            found = resources.lake().read_all("detections", DAY, summary.run_key).to_pandas().drop(columns="run_id")
            detections[processes] = found.sort_values(["item_id", "policy_id", "detector_id"], ignore_index=True)
    assert slices == {"1": 1, "2": 2}
    assert len(detections["2"]) > 0
    pd.testing.assert_frame_equal(detections["1"], detections["2"])
    for name in snaps["1"]:
        pd.testing.assert_frame_equal(snaps["1"][name], snaps["2"][name])
