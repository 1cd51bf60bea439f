"""The SQL store on both backends: SQLite in tmp_path and a fresh PostgreSQL schema per test."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from store_fixtures import postgres_store, postgres_unavailable_reason, sqlite_store

from modsweep import schemas
from modsweep.store import (
    GENESIS_HASH,
    Base,
    append_audit,
    apply_review_outcomes,
    current_revision,
    downgrade_schema,
    fetch_decisions,
    fetch_metrics,
    fetch_review_tasks,
    finish_run,
    get_run,
    insert_decisions,
    insert_metrics,
    insert_review_tasks,
    last_completed_run,
    list_runs,
    start_run,
    update_run,
    upgrade_schema,
    verify_audit_log,
)
from modsweep.store import repo as store_repo

STORE_TABLES = {"runs", "decisions", "review_tasks", "metrics", "audit_log"}
DAY = dt.date(2024, 5, 6)
T0 = pd.Timestamp("2024-05-06 08:00", tz="UTC")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, unmigrated store on each backend."""
    if request.param == "sqlite":
        with sqlite_store(tmp_path) as engine:
            yield engine
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_store() as engine:
        yield engine


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """A migrated, empty store."""
    upgrade_schema(bare_engine)
    return bare_engine


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(sa.table(table)))


def new_run(engine: Engine, run_key: str = "daily-sweep/2024-05-06/ALL/abc/standard", **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "run_key": run_key,
        "flow": "daily-sweep",
        "trigger": "schedule",
        "requested_by": "scheduler",
        "parameters": {"day": DAY, "profile": "standard"},
        "policy_pack": "community-guidelines",
        "policy_version": "2024.05",
        "policy_sha256": "f" * 64,
        "code_version": "0.1.0",
    }
    return start_run(engine, **(fields | overrides))


def decisions_frame(n: int, *, start: int = 0, run_key: str = "rk", run_id: str = "run-1") -> pd.DataFrame:
    ids = range(start, start + n)
    return pd.DataFrame(
        {
            "decision_id": [f"dec-{i:05d}" for i in ids],
            "item_id": [f"item-{i:05d}" for i in ids],
            "policy_id": "hate.speech",
            "policy_version": "2024.05",
            "action": ["remove" if i % 2 else "escalate" for i in ids],
            "automated": [bool(i % 2) for i in ids],
            "score": [0.5 + (i % 50) / 100 for i in ids],
            "threshold": 0.5,
            "region": "DE",
            "language": "de",
            "item_type": "video",
            "views": [1000 * i for i in ids],
            "user_reports": 0,
            "created_at": T0,
            "run_id": run_id,
            "run_key": run_key,
            "decided_at": T0 + pd.Timedelta(hours=1),
            "decision_visibility": "CONTENT_REMOVED",
            "category": "ILLEGAL_OR_HARMFUL_SPEECH",
            "category_specification": [["KEYWORD_HATE_SPEECH"] for _ in ids],
            "automated_detection": True,
            "automated_decision": "AUTOMATED_DECISION_FULLY",
            "territorial_scope": [["DE", "AT"] for _ in ids],
        }
    )


def tasks_frame(n: int, *, start: int = 0, run_key: str = "rk", status: str = "open") -> pd.DataFrame:
    ids = range(start, start + n)
    return pd.DataFrame(
        {
            "task_id": [f"task-{i:05d}" for i in ids],
            "item_id": [f"item-{i:05d}" for i in ids],
            "policy_id": "hate.speech",
            "queue": "hate.speech/de/DE",
            "reason": "review_band",
            "stratum": "hate.speech|escalate",
            "inclusion_prob": 1.0,
            "replica": 0,
            "priority": [float(i) for i in ids],
            "score": 0.6,
            "action": None,
            "region": "DE",
            "language": "de",
            "views": 100,
            "due_by": T0 + pd.Timedelta(days=1),
            "status": status,
            "created_at": T0,
            "run_id": "run-1",
            "run_key": run_key,
            "day": DAY,
        }
    )


# ----------------------------------------------------------------------------------------- migrations


def test_upgrade_creates_all_tables_and_rerun_is_a_noop(bare_engine: Engine) -> None:
    assert current_revision(bare_engine) is None
    upgrade_schema(bare_engine)
    assert current_revision(bare_engine) == "0004"
    tables = set(sa.inspect(bare_engine).get_table_names())
    assert tables >= STORE_TABLES | {"alembic_version"}
    upgrade_schema(bare_engine)
    assert current_revision(bare_engine) == "0004"
    assert set(sa.inspect(bare_engine).get_table_names()) == tables


def test_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_on_a_migrated_database_keeps_its_data(engine: Engine) -> None:
    run_id = new_run(engine)
    insert_decisions(engine, decisions_frame(5, run_id=run_id))
    append_audit(engine, actor="test", event="run.started", subject=run_id, payload={})
    upgrade_schema(engine)
    assert count(engine, "decisions") == 5
    assert get_run(engine, run_id) is not None
    assert verify_audit_log(engine).ok


def test_downgrade_to_base_then_upgrade_recreates_the_schema(engine: Engine) -> None:
    downgrade_schema(engine, "base")
    assert current_revision(engine) is None
    assert not STORE_TABLES & set(sa.inspect(engine).get_table_names())
    upgrade_schema(engine)
    assert set(sa.inspect(engine).get_table_names()) >= STORE_TABLES


def test_concurrent_upgrades_do_not_break(bare_engine: Engine) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            upgrade_schema(bare_engine)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_revision(bare_engine) == "0004"


def test_sqlite_engine_has_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    with sqlite_store(tmp_path) as engine, engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000
    assert (tmp_path / "store" / "modsweep.db").exists()


# ----------------------------------------------------------------------------------------- run ledger


def test_run_ledger_start_update_finish_get_and_list(engine: Engine) -> None:
    run_id = new_run(engine, prefect_flow_run_id="pf-1")
    run = get_run(engine, run_id)
    assert run is not None
    assert run["state"] == "running"
    assert run["started_at"].tzinfo is not None
    assert run["ended_at"] is None
    assert run["parameters"] == {"day": "2024-05-06", "profile": "standard"}

    update_run(engine, run_id, stage_counts={"ingest": {"ingested": 10, "quarantined": 1}})
    update_run(engine, run_id, stage_counts={"ingest": {"processed": 9}, "detect": {"rows": 9}})
    update_run(engine, run_id, gate_results={"suite": "items.raw", "success": True})
    update_run(engine, run_id, gate_results=[{"suite": "detections.detect", "success": False}])
    update_run(engine, run_id, input_fingerprint="sha256:abc")
    finish_run(engine, run_id, "completed", outputs={"report": "reports/x.html"})

    run = get_run(engine, run_id[:8])
    assert run is not None
    assert run["run_id"] == run_id
    assert run["state"] == "completed"
    assert run["stage_counts"] == {"ingest": {"ingested": 10, "quarantined": 1, "processed": 9}, "detect": {"rows": 9}}
    assert [g["suite"] for g in run["gate_results"]] == ["items.raw", "detections.detect"]
    assert run["input_fingerprint"] == "sha256:abc"
    assert run["outputs"] == {"report": "reports/x.html"}
    assert run["ended_at"] >= run["started_at"]
    assert last_completed_run(engine, run["run_key"])["run_id"] == run_id

    failed = new_run(engine, run_key="surge/x", flow="surge-run", trigger="surge", policy_version="2024.06")
    finish_run(engine, failed, "failed", error={"stage": "detect", "partition": "p3", "message": "boom"})
    assert get_run(engine, failed)["error"] == {"stage": "detect", "partition": "p3", "message": "boom"}
    assert last_completed_run(engine, "surge/x") is None

    assert [r["run_id"] for r in list_runs(engine)] == [failed, run_id]
    assert [r["run_id"] for r in list_runs(engine, flow="daily-sweep")] == [run_id]
    assert [r["run_id"] for r in list_runs(engine, trigger="surge", state="failed")] == [failed]
    assert [r["run_id"] for r in list_runs(engine, policy_version="2024.06")] == [failed]
    assert list_runs(engine, since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == []
    assert len(list_runs(engine, until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), limit=1)) == 1
    assert get_run(engine, "no-such-run") is None


def test_run_ledger_rejects_bad_input(engine: Engine) -> None:
    with pytest.raises(ValueError, match="trigger"):
        new_run(engine, trigger="cron")
    run_id = new_run(engine)
    with pytest.raises(ValueError, match="run_key"):
        update_run(engine, run_id, run_key="other")
    with pytest.raises(ValueError, match="state"):
        finish_run(engine, run_id, "running")
    with pytest.raises(KeyError):
        update_run(engine, "missing", stage_counts={})


def test_get_run_with_an_ambiguous_prefix_raises(engine: Engine) -> None:
    run_ids = [new_run(engine) for _ in range(17)]  # 17 ids over 16 hex digits: two share a first digit
    first = [r[0] for r in run_ids]
    shared = next(c for c in first if first.count(c) > 1)
    with pytest.raises(ValueError, match="more than one"):
        get_run(engine, shared)


# ------------------------------------------------------------------------------ decisions and tasks


def test_rerun_with_same_decisions_adds_nothing(engine: Engine) -> None:
    frame = decisions_frame(50)
    assert insert_decisions(engine, frame) == 50
    assert insert_decisions(engine, frame) == 0
    assert count(engine, "decisions") == 50
    assert insert_decisions(engine, decisions_frame(20, start=40)) == 10
    assert count(engine, "decisions") == 60


def test_decisions_read_back_with_types(engine: Engine) -> None:
    frame = decisions_frame(3)
    frame["created_at"] = pd.Timestamp("2024-05-06 23:30", tz="America/New_York")  # = 05-07 03:30 UTC
    insert_decisions(engine, frame)
    stored = fetch_decisions(engine, run_key="rk")
    assert len(stored) == 3
    row = stored.iloc[0]
    assert row["created_at"] == pd.Timestamp("2024-05-07 03:30", tz="UTC")
    assert str(stored["decided_at"].dt.tz) == "UTC"
    assert row["day"] == dt.date(2024, 5, 7)  # derived from created_at in UTC
    assert row["territorial_scope"] == ["DE", "AT"]
    assert list(stored["automated"]) == [False, True, False]
    assert len(fetch_decisions(engine, item_id="item-00001")) == 1
    assert fetch_decisions(engine, day=DAY).empty
    assert len(fetch_decisions(engine, day=dt.date(2024, 5, 7))) == 3


def test_bulk_insert_column_texts_equal_what_sqlalchemy_binds() -> None:
    """The vectorised SQLite timestamp text and the memoised JSON text are what the types' own bind processors
    write for every value (naive, aware in another zone, microseconds, missing; string lists, empty, nested)."""
    from sqlalchemy.dialects import sqlite

    from modsweep.store.models import UTCDateTime

    dialect = sqlite.dialect()
    stamps = pd.Series(
        pd.to_datetime(
            ["2026-11-23 00:00:00", "2026-11-23 23:59:59.999999", "2024-02-29 12:00:00.5", None],
            utc=True,
            format="ISO8601",
        )
    )
    aware = pd.Series(pd.to_datetime(["2024-05-06 23:30:00.000001"]).tz_localize("America/New_York"))
    for series in (stamps, aware):
        bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        expected = [None if pd.isna(v) else bind(v.to_pydatetime()) for v in series]
        assert store_repo._sqlite_datetime_texts(series) == expected
    json_type = sa.JSON(none_as_null=True)
    process = json_type.dialect_impl(dialect).bind_processor(dialect)
    cells = pd.Series(
        [
            np.array(["DE", "AT"], dtype=object),
            np.array([], dtype=object),
            None,
            np.array(["DE", "AT"], dtype=object),
            {"a": [1, 2.5]},
            [np.int64(3)],
            np.array([1, "DE"], dtype=object),
            np.array([np.array(["x"], dtype=object)], dtype=object),
        ],
        dtype=object,
    )
    expected = [None if v is None else process(store_repo._json_cell(v)) for v in cells]
    assert store_repo._json_texts(cells, process) == expected


def test_review_task_insert_is_idempotent(engine: Engine) -> None:
    assert insert_review_tasks(engine, tasks_frame(30)) == 30
    assert insert_review_tasks(engine, tasks_frame(30)) == 0
    carried = tasks_frame(5, start=30, status="carried_over").assign(carry_over_reason="queue over capacity")
    assert insert_review_tasks(engine, carried) == 5
    assert len(fetch_review_tasks(engine, status="open", queue="hate.speech/de/DE")) == 30
    tasks = fetch_review_tasks(engine, status="carried_over")
    assert set(tasks["carry_over_reason"]) == {"queue over capacity"}
    assert tasks["priority"].is_monotonic_decreasing
    assert str(tasks["due_by"].dt.tz) == "UTC"


@pytest.mark.parametrize("table", ["decisions", "review_tasks"])
def test_a_failing_bulk_insert_writes_nothing(engine: Engine, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_repo, "CHUNK_ROWS", 10)  # the bad row sits in the third chunk
    insert: Callable[[Engine, pd.DataFrame], int]
    if table == "decisions":
        frame, insert, column = decisions_frame(25), insert_decisions, "action"
    else:
        frame, insert, column = tasks_frame(25), insert_review_tasks, "queue"
    frame.loc[24, column] = None
    with pytest.raises(sa.exc.IntegrityError):
        insert(engine, frame)
    assert count(engine, table) == 0


def test_decision_frames_go_in_one_transaction(engine: Engine) -> None:
    """Partitions are inserted one frame at a time, but all or nothing: a bad later frame undoes the earlier."""
    bad = decisions_frame(5, start=10).assign(day=DAY)
    bad.loc[4, "action"] = None
    frames = [decisions_frame(10).assign(day=DAY), bad]
    with pytest.raises(sa.exc.IntegrityError):
        store_repo.insert_decision_frames(engine, iter(frames))
    assert count(engine, "decisions") == 0
    frames[1].loc[4, "action"] = "remove"
    assert store_repo.insert_decision_frames(engine, iter(frames)) == (15, 15)
    assert store_repo.insert_decision_frames(engine, iter(frames)) == (15, 0)


def test_equal_json_values_of_other_types_are_stored_apart(engine: Engine) -> None:
    """JSON text is made once per distinct value; True, 1 and 1.0 (equal in Python) stay distinct."""
    frame = decisions_frame(4)
    frame["category_specification"] = [[True], [1], [1.0], [True]]
    insert_decisions(engine, frame)
    stored = fetch_decisions(engine, run_key="rk")["category_specification"].tolist()
    assert [type(v[0]) for v in stored] == [bool, int, float, bool] and stored == [[True], [1], [1.0], [True]]


@pytest.mark.parametrize("arrow_dtypes", [False, True], ids=["numpy", "arrow"])
def test_frames_shaped_by_the_contract_schemas_are_stored(engine: Engine, arrow_dtypes: bool) -> None:
    mapper = pd.ArrowDtype if arrow_dtypes else None
    decisions = pa.Table.from_pandas(
        decisions_frame(3).astype({"score": "float32"}), schema=schemas.DECISIONS, preserve_index=False
    )
    tasks = tasks_frame(3).drop(columns="day").astype({"replica": "int8", "score": "float32"})
    tasks_table = pa.Table.from_pandas(tasks, schema=schemas.REVIEW_TASKS, preserve_index=False)
    metrics = pa.table(
        {"day": [DAY], "policy_id": ["hate.speech"], "region": ["ALL"], "metric": ["precision"], "value": [0.9]}
        | {"ci_low": [0.8], "ci_high": [None], "n": [120], "run_id": ["run-1"]},
        schema=schemas.METRICS,
    )
    assert insert_decisions(engine, decisions.to_pandas(types_mapper=mapper)) == 3
    assert insert_review_tasks(engine, tasks_table.to_pandas(types_mapper=mapper)) == 3
    assert insert_metrics(engine, metrics.to_pandas(types_mapper=mapper).assign(run_key="rk")) == 1
    stored = fetch_decisions(engine).iloc[0]
    assert stored["category_specification"] == ["KEYWORD_HATE_SPEECH"]
    assert stored["created_at"] == T0
    assert fetch_metrics(engine).iloc[0]["n"] == 120


def test_unknown_columns_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="unknown columns"):
        insert_decisions(engine, decisions_frame(1).assign(decisionid="x"))


# ---------------------------------------------------------------------------------- review outcomes


def test_review_import_validates_rows_and_double_import_is_a_noop(engine: Engine) -> None:
    insert_review_tasks(engine, tasks_frame(6))
    decided = T0 + pd.Timedelta(hours=3)
    outcomes = pd.DataFrame(
        {
            "task_id": ["task-00000", "task-00001", "task-00002", "task-00003", "task-99999", "task-00004"],
            "reviewer_id": ["rev_a", "rev_b", "bad reviewer!", "rev_c", "rev_a", "rev_d"],
            "label": ["violating", "benign", "violating", "maybe", "benign", "benign"],
            "final_action": ["remove", None, None, None, None, None],
            "decided_at": [decided, decided, decided, decided, decided, None],
        }
    )
    first = apply_review_outcomes(engine, outcomes)
    assert (first.applied, first.unchanged, first.rejected) == (2, 0, 4)
    assert dict(zip(first.rejections["task_id"], first.rejections["rejection"], strict=True)) == {
        "task-00002": "invalid_reviewer",
        "task-00003": "invalid_label",
        "task-99999": "unknown_task",
        "task-00004": "invalid_decided_at",
    }

    before = fetch_review_tasks(engine)
    again = apply_review_outcomes(engine, outcomes)
    assert (again.applied, again.unchanged, again.rejected) == (0, 2, 4)
    pd.testing.assert_frame_equal(fetch_review_tasks(engine), before)

    changed = outcomes.iloc[[0, 1]].assign(label=["benign", "benign"], reviewer_id=["rev_a", "rev_z"])
    third = apply_review_outcomes(engine, changed)
    assert (third.applied, third.unchanged, third.rejected) == (0, 0, 2)
    assert set(third.rejections["rejection"]) == {"already_decided"}

    task = fetch_review_tasks(engine, item_id="item-00000").iloc[0]
    assert (task["status"], task["label"], task["reviewer_id"], task["final_action"]) == (
        "decided",
        "violating",
        "rev_a",
        "remove",
    )
    assert task["decided_at"] == decided
    assert len(fetch_review_tasks(engine, status="decided")) == 2
    assert len(fetch_review_tasks(engine, status="open")) == 4


# ------------------------------------------------------------------------------------------- metrics


def test_metrics_upsert_replaces_values_on_the_unique_key(engine: Engine) -> None:
    frame = pd.DataFrame(
        {
            "day": [DAY, DAY],
            "policy_id": ["hate.speech", "hate.speech"],
            "region": ["ALL", "DE"],
            "metric": ["precision", "precision"],
            "value": [0.9, 0.8],
            "ci_low": [0.85, None],
            "ci_high": [0.95, None],
            "n": [200, 50],
            "run_id": "run-1",
            "run_key": "rk",
        }
    )
    assert insert_metrics(engine, frame) == 2
    updated = frame.iloc[[0]].assign(value=0.7, n=300, run_id="run-2")
    extra = frame.iloc[[0]].assign(metric="recall", value=0.5)
    assert insert_metrics(engine, pd.concat([updated, extra])) == 2
    stored = fetch_metrics(engine, run_key="rk", day=DAY)
    assert len(stored) == 3
    precision_all = stored[(stored["region"] == "ALL") & (stored["metric"] == "precision")].iloc[0]
    assert (precision_all["value"], precision_all["n"], precision_all["run_id"]) == (0.7, 300, "run-2")
    assert pd.isna(stored[stored["region"] == "DE"].iloc[0]["ci_low"])


# ------------------------------------------------------------------------------------------ audit log


def append_many(engine: Engine, n: int) -> None:
    for i in range(n):
        append_audit(engine, actor="tester", event="policy.disable", subject=f"s{i}", payload={"i": i, "x": 1e20})


def test_audit_chain_appends_and_verifies(engine: Engine) -> None:
    assert verify_audit_log(engine).ok
    assert append_audit(engine, actor="a", event="e", subject="s", payload={"when": T0, "n": 1.5}) == 1
    append_many(engine, 4)
    result = verify_audit_log(engine)
    assert (result.ok, result.rows_checked, result.last_seq) == (True, 5, 5)
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT prev_hash FROM audit_log WHERE seq = 1")).scalar_one()
    assert first == GENESIS_HASH


def test_audit_verify_detects_an_edited_payload(engine: Engine) -> None:
    append_many(engine, 6)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET payload = :p WHERE seq = 4"), {"p": '{"i": 99, "x": 1e20}'})
    result = verify_audit_log(engine)
    assert (result.ok, result.first_broken_seq, result.rows_checked) == (False, 4, 3)
    assert "edited" in (result.reason or "")


def test_audit_verify_detects_a_deleted_row(engine: Engine) -> None:
    append_many(engine, 6)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 3"))
    result = verify_audit_log(engine)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "deleted" in (result.reason or "")


def test_audit_verify_detects_reordered_rows(engine: Engine) -> None:
    append_many(engine, 6)
    with engine.begin() as conn:
        for old, new in ((2, -1), (5, 2), (-1, 5)):
            conn.execute(sa.text("UPDATE audit_log SET seq = :new WHERE seq = :old"), {"new": new, "old": old})
    result = verify_audit_log(engine)
    assert (result.ok, result.first_broken_seq) == (False, 2)


def test_concurrent_audit_appenders_keep_one_valid_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(25):
                append_audit(engine, actor=f"worker-{k}", event="test.append", subject=str(i), payload={"k": k})
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify_audit_log(engine)
    assert (result.ok, result.rows_checked, result.last_seq) == (True, 100, 100)
