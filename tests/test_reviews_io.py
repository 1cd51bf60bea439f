"""The review loop: blind, pseudonymised, reproducible exports; validated, idempotent, audited imports; queues."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli_reviews import reviews_app
from modsweep.config import get_settings
from modsweep.schemas import ITEMS, REVIEW_TASKS, TRUTH
from modsweep.tasks import reviews_io as rio

DAY = date(2026, 11, 23)
RUN_KEY = "rk-reviews-test"
OLD_KEY = "rk-reviews-older"
HMAC_KEY = "test-hmac-key"
Q_HATE, Q_SPAM = "hate.speech:de:DE", "deceptive.spam:en:IE"
CREATED = datetime(2026, 11, 23, 6, tzinfo=UTC)
SECRET_AUTHOR = "author-SECRET-"
FORMULA = '=HYPERLINK("http://evil.example","click")'
MULTILINE = 'line one\nline two, with "quotes" — ünïcode'
HEADER = "task_id,reviewer_id,label,final_action,claimed_at,decided_at\n"


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(reviews_app, name="reviews")
    return app


def invoke(*args: str):
    return CliRunner().invoke(_cli(), ["reviews", *args])


def _items(rows: list[dict]) -> pa.Table:
    base = {
        "source": "test",
        "item_type": "comment",
        "created_at": CREATED,
        "region": "DE",
        "language": "de",
        "text": None,
        "transcript": None,
        "ocr_text": None,
        "hashtags": [],
        "media_hash": None,
        "ai_disclosed": False,
        "ai_provenance": None,
        "author_account_age_days": 100,
        "author_followers": 10,
        "views": 100,
        "user_reports": 0,
        "report_reasons": [],
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    return pa.Table.from_pandas(frame[list(ITEMS.names)], schema=ITEMS, preserve_index=False)


def _task(task_id, item_id, queue, reason, priority, *, run_id, run_key=RUN_KEY, day=DAY, status="open", **kw):
    policy, language, region = queue.split(":")
    return {
        "task_id": task_id,
        "item_id": item_id,
        "policy_id": policy,
        "queue": queue,
        "reason": reason,
        "stratum": f"{policy}|{reason}",
        "inclusion_prob": 0.25 if reason.startswith("qa_") else 1.0,
        "replica": 0,
        "priority": priority,
        "score": 0.8,
        "action": kw.get("action"),
        "region": region,
        "language": language,
        "views": 100,
        "due_by": kw.get("due_by", CREATED + timedelta(hours=24)),
        "status": status,
        "created_at": CREATED,
        "run_id": run_id,
        "run_key": run_key,
        "day": day,
        "carry_over_reason": "queue capacity reached" if status == "carried_over" else None,
    }


def _start_run(engine, run_key: str, day: date) -> str:
    return store.start_run(
        engine,
        run_key=run_key,
        flow="daily-sweep",
        trigger="manual",
        requested_by="pytest",
        parameters={"day": day.isoformat()},
        policy_pack="community-guidelines",
        policy_version="test",
        policy_sha256="0" * 64,
        code_version="test",
    )


@pytest.fixture
def world(modsweep_home, store_backend, monkeypatch) -> dict:
    """A store with open, decided and carried-over tasks of two run keys, and their items in the lake."""
    monkeypatch.setenv("MODSWEEP_HMAC_KEY", HMAC_KEY)
    get_settings.cache_clear()
    engine = resources.store_engine()
    lake = resources.lake()
    lake.write(
        _items(
            [
                {"item_id": "i1", "author_id": SECRET_AUTHOR + "1", "text": FORMULA, "hashtags": ["#a", "#b"]},
                {"item_id": "i2", "author_id": SECRET_AUTHOR + "2", "text": MULTILINE, "transcript": "spoken words"},
                {
                    "item_id": "i3",
                    "author_id": SECRET_AUTHOR + "1",
                    "ocr_text": "text in the image",
                    "item_type": "image",
                },
            ]
        ),
        "items",
        DAY,
        RUN_KEY,
        "part-00000",
    )
    lake.write(
        _items(
            [
                {
                    "item_id": "i4",
                    "author_id": SECRET_AUTHOR + "4",
                    "text": "buy followers now",
                    "region": "IE",
                    "language": "en",
                },
                {
                    "item_id": "i5",
                    "author_id": SECRET_AUTHOR + "5",
                    "text": "great deal",
                    "region": "IE",
                    "language": "en",
                    "media_hash": "ab" * 16,
                },
                {
                    "item_id": "i6",
                    "author_id": SECRET_AUTHOR + "6",
                    "text": "free crypto",
                    "region": "IE",
                    "language": "en",
                },
            ]
        ),
        "items",
        DAY,
        RUN_KEY,
        "part-00001",
    )
    old_day = DAY - timedelta(days=1)
    lake.write(
        _items([{"item_id": "i7", "author_id": SECRET_AUTHOR + "7", "text": "older post"}]),
        "items",
        old_day,
        OLD_KEY,
        "part-00000",
    )
    run_id = _start_run(engine, RUN_KEY, DAY)
    old_run_id = _start_run(engine, OLD_KEY, old_day)
    tasks = pd.DataFrame(
        [
            _task("t-rb-1", "i1", Q_HATE, "review_band", 5.0, run_id=run_id),
            _task("t-qa-1", "i2", Q_HATE, "qa_actioned", 7.0, run_id=run_id, action="remove"),
            _task("t-gold-1", "i3", Q_HATE, "golden", 3.0, run_id=run_id),
            _task("t-rb-2", "i4", Q_SPAM, "review_band", 2.0, run_id=run_id),
            _task("t-prev-1", "i5", Q_SPAM, "prevalence", 9.0, run_id=run_id),
            _task("t-done", "i6", Q_SPAM, "review_band", 4.0, run_id=run_id),
            _task("t-ghost", "ghost", Q_SPAM, "review_band", 1.0, run_id=run_id),  # its item is not in the lake
            _task(
                "t-carried",
                "i7",
                Q_HATE,
                "review_band",
                6.0,
                run_id=old_run_id,
                run_key=OLD_KEY,
                day=old_day,
                status="carried_over",
            ),
        ]
    )
    assert set(REVIEW_TASKS.names) <= set(tasks.columns)
    store.insert_review_tasks(engine, tasks)
    done = pd.DataFrame(
        [
            {
                "task_id": "t-done",
                "reviewer_id": "rev-9",
                "label": "violating",
                "decided_at": CREATED + timedelta(hours=30),
            }
        ]
    )
    assert store.apply_review_outcomes(engine, done).applied == 1
    return {"engine": engine, "run_id": run_id, "home": modsweep_home}


def _tasks(engine) -> pd.DataFrame:
    return store.fetch_review_tasks(engine).set_index("task_id")


def _audit(engine, event: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(store.AuditEntry.__table__.select().order_by(store.AuditEntry.seq)).mappings().all()
    return [dict(r) for r in rows if r["event"] == event]


# ---------------------------------------------------------------------------------------------------- export


def test_pseudonyms_are_keyed_truncated_hmacs_and_queue_file_names_are_safe_and_distinct():
    ids = pd.Series(["a1", "a2", "a1", None])
    first = rio.pseudonymise(ids, "k1")
    assert first[0] == first[2] != first[1] and first[3] is None
    assert len(first[0]) == 16 and int(first[0], 16) >= 0
    assert rio.pseudonymise(ids, "k2")[0] != first[0]
    names = [rio.safe_queue_filename(q) for q in (Q_HATE, "hate.speech_de_DE", "../../etc/passwd", "a/b", "a_b")]
    assert len(set(names)) == len(names)
    assert all("/" not in n and ":" not in n and not n.startswith(".") for n in names)
    assert names[1] == "hate.speech_de_DE"  # already safe: kept as is
    with pytest.raises(ValueError, match="raw author_id"):
        rio.export_frames(pd.DataFrame(columns=["item_id"]), pd.DataFrame(columns=["item_id", "author_id"]))


def test_export_writes_blind_pseudonymised_files_per_queue_byte_identical_on_repeat(world, tmp_path):
    first, second = tmp_path / "x1", tmp_path / "x2"
    out = invoke("export", "--out", str(first))
    assert out.exit_code == 0, out.output
    assert "hate.speech" in out.output and "1 task(s) have no item content" in out.output  # a summary per policy
    listed = invoke("export", "--list-files", "--out", str(second))
    assert listed.exit_code == 0 and "hate.speech:de:DE" in listed.output  # every queue with --list-files
    files = sorted(p.name for p in first.iterdir())
    stems = {rio.safe_queue_filename(Q_HATE), rio.safe_queue_filename(Q_SPAM)}
    assert files == sorted(f"{s}.{f}" for s in stems for f in ("csv", "jsonl"))
    for name in files:
        data = (first / name).read_bytes()
        assert data == (second / name).read_bytes()  # reproducible
        text = data.decode("utf-8")
        assert SECRET_AUTHOR not in text  # no raw author id anywhere
        assert HMAC_KEY not in text
        for hidden in ("golden", "qa_actioned", "prevalence", "review_band", "stratum", "inclusion_prob", "score"):
            assert hidden not in text, (name, hidden)

    hate = pd.read_csv(first / f"{rio.safe_queue_filename(Q_HATE)}.csv", dtype=str, keep_default_na=False)
    assert tuple(hate.columns) == rio.EXPORT_COLUMNS
    assert hate["task_id"].tolist() == ["t-qa-1", "t-rb-1", "t-gold-1"]  # by priority; carried-over left out
    assert set(hate["kind"]) == {"review"}  # golden and QA look like any other task
    expected = rio.pseudonymise(pd.Series([SECRET_AUTHOR + "2", SECRET_AUTHOR + "1", SECRET_AUTHOR + "1"]), HMAC_KEY)
    assert hate["author_pseudonym"].tolist() == expected.tolist()
    by_task = hate.set_index("task_id")
    assert by_task.loc["t-rb-1", "text"] == "'" + FORMULA  # spreadsheet formula neutralised in CSV
    assert by_task.loc["t-qa-1", "text"] == MULTILINE and by_task.loc["t-qa-1", "transcript"] == "spoken words"
    assert (
        by_task.loc["t-gold-1", "ocr_text"] == "text in the image" and by_task.loc["t-gold-1", "item_type"] == "image"
    )
    assert json.loads(by_task.loc["t-rb-1", "hashtags"]) == ["#a", "#b"]
    assert by_task.loc["t-rb-1", "due_by"] == "2026-11-24T06:00:00Z"
    assert by_task.loc["t-rb-1", "item_created_at"] == "2026-11-23T06:00:00Z"

    spam_lines = (first / f"{rio.safe_queue_filename(Q_SPAM)}.jsonl").read_text(encoding="utf-8").splitlines()
    spam = [json.loads(line) for line in spam_lines]
    assert [r["task_id"] for r in spam] == ["t-prev-1", "t-rb-2", "t-ghost"]  # decided t-done is not open
    assert spam[0]["media_hash"] == "ab" * 16 and spam[0]["hashtags"] == []
    assert spam[2]["text"] is None and spam[2]["author_pseudonym"] is None  # no content: kept, empty
    hate_jsonl = [json.loads(line) for line in (first / f"{rio.safe_queue_filename(Q_HATE)}.jsonl").open()]
    assert hate_jsonl[1]["text"] == FORMULA  # JSONL is verbatim

    exported = _audit(world["engine"], "reviews.exported")
    assert len(exported) == 2 and exported[0]["payload"]["tasks"] == 6
    assert exported[0]["payload"]["files"] == exported[1]["payload"]["files"]


def test_an_account_review_is_not_counted_as_an_item_without_content(world, tmp_path):
    account = _task("t-acct", "account:5f3a", Q_SPAM, "account_review", 6.0, run_id=world["run_id"])
    account.update(queue="accounts:suspend", stratum="account", action="suspend", language="und")
    store.insert_review_tasks(world["engine"], pd.DataFrame([account]))
    out = invoke("export", "--out", str(tmp_path / "x"))
    assert out.exit_code == 0, out.output
    assert "1 task(s) have no item content" in out.output  # the ghost item only, not the account
    assert (tmp_path / "x" / f"{rio.safe_queue_filename('accounts:suspend')}.csv").is_file()


def test_export_filters_and_default_folder(world, tmp_path):
    out = invoke("export", "--include-carried-over", "--format", "csv", "--out", str(tmp_path / "all"))
    assert out.exit_code == 0, out.output
    hate = pd.read_csv(tmp_path / "all" / f"{rio.safe_queue_filename(Q_HATE)}.csv", dtype=str, keep_default_na=False)
    assert hate["task_id"].tolist() == ["t-qa-1", "t-carried", "t-rb-1", "t-gold-1"]
    assert hate.set_index("task_id").loc["t-carried", "text"] == "older post"  # from its own run key and day
    assert not list((tmp_path / "all").glob("*.jsonl"))

    run_only = invoke("export", "--include-carried-over", "--run", world["run_id"][:8], "--out", str(tmp_path / "run"))
    assert run_only.exit_code == 0, run_only.output
    hate = pd.read_csv(tmp_path / "run" / f"{rio.safe_queue_filename(Q_HATE)}.csv", dtype=str)
    assert "t-carried" not in set(hate["task_id"])

    queue_only = invoke("export", "--queue", Q_SPAM, "--format", "jsonl")
    assert queue_only.exit_code == 0, queue_only.output
    (folder,) = (world["home"] / "exports" / "reviews").iterdir()
    assert [p.name for p in folder.iterdir()] == [f"{rio.safe_queue_filename(Q_SPAM)}.jsonl"]

    by_policy = invoke("export", "--policy", "deceptive.spam", "--region", "IE", "--out", str(tmp_path / "spam"))
    assert by_policy.exit_code == 0, by_policy.output
    assert sorted(p.name for p in (tmp_path / "spam").iterdir()) == sorted(
        f"{rio.safe_queue_filename(Q_SPAM)}.{f}" for f in ("csv", "jsonl")
    )
    assert "deceptive.spam" in by_policy.output and "hate.speech" not in by_policy.output  # a summary per policy
    listed = invoke("export", "--policy", "deceptive.spam", "--list-files", "--out", str(tmp_path / "listed"))
    assert listed.exit_code == 0 and f"{rio.safe_queue_filename(Q_SPAM)}.csv" in listed.output
    assert invoke("export", "--region", "XX", "--out", str(tmp_path / "none")).output.startswith("no open")
    assert invoke("export", "--day", "2020-01-01", "--out", str(tmp_path / "none")).output.startswith("no open")
    assert not (tmp_path / "none").exists()
    assert invoke("export", "--run", "x", "--day", "2026-11-23").exit_code == 2
    assert invoke("export", "--format", "xml").exit_code == 2
    assert invoke("export", "--run", "nope").exit_code == 2
    assert invoke("export", "--out", "../escape").exit_code == 2


def test_export_reads_only_needed_columns_and_wanted_items_partition_by_partition(modsweep_home, monkeypatch):
    lake = resources.lake()
    for k in range(3):
        lake.write(
            _items([{"item_id": f"p{k}-{j}", "author_id": "a"} for j in range(5)]),
            "items",
            DAY,
            RUN_KEY,
            f"part-{k:05d}",
        )
    calls = []
    real = rio.pq.read_table

    def spy(path, **kw):
        calls.append((path, kw))
        return real(path, **kw)

    monkeypatch.setattr(rio.pq, "read_table", spy)
    tasks = pd.DataFrame({"item_id": ["p1-3", "p0-1"], "day": [DAY, DAY], "run_key": [RUN_KEY, RUN_KEY]})
    items = rio.read_item_content(lake, tasks, "k")
    assert sorted(items["item_id"]) == ["p0-1", "p1-3"] and "author_id" not in items.columns
    assert len(calls) == 2  # part-00002 never opened: every id was found
    assert all(kw["columns"] == list(rio.LAKE_CONTENT_COLUMNS) and kw["filters"] is not None for _, kw in calls)


# ---------------------------------------------------------------------------------------------------- import


def _raw(text: str, fmt: str = "csv") -> pd.DataFrame:
    return rio.outcomes_frame(text, fmt)


def test_parse_outcomes_rejects_each_problem_with_a_reason():
    text = HEADER + "\n".join(
        [
            "t1,rev-1,violating,remove,2026-11-23T05:00:00Z,2026-11-23T07:05:00+01:00",  # 2 valid
            "t2,rev-1,benign,none,,2026-11-23T07:05:00Z,extra",  # 3 malformed
            "t3,rev-1,,none,,2026-11-23T07:05:00Z",  # 4 missing label
            "t4,rev-1,benign,none,,2026-11-23 07:05:00",  # 5 no zone
            "t5,rev-1,benign,none,,yesterday",  # 6 not a timestamp
            "t6,rev-1,benign,none,2026-11-23T09:00:00Z,2026-11-23T08:00:00Z",  # 7 claimed after decided
            "t7,rev-1,benign,obliterate,,2026-11-23T08:00:00Z",  # 8 unknown action
            "t8,,Violating,,,2026-11-23T08:00:00Z",  # 9 no reviewer (no default)
        ]
    )
    valid, rejected = rio.parse_outcomes(_raw(text))
    assert valid["task_id"].tolist() == ["t1"]
    assert valid["decided_at"].iloc[0] == pd.Timestamp("2026-11-23T06:05:00Z")  # converted to UTC
    reasons = dict(zip(rejected[rio.LINE], rejected["rejection"], strict=True))
    assert reasons == {
        3: "malformed_row",
        4: "missing_value",
        5: "bad_timestamp",
        6: "bad_timestamp",
        7: "bad_timestamp",
        8: "invalid_final_action",
        9: "missing_value",
    }
    details = dict(zip(rejected[rio.LINE], rejected["detail"], strict=True))
    assert "time zone" in details[5] and "after decided_at" in details[7] and "reviewer_id" in details[9]

    valid, rejected = rio.parse_outcomes(_raw(text), reviewer_default="lead-1")
    assert valid.set_index("task_id").loc["t8", ["reviewer_id", "label"]].tolist() == ["lead-1", "violating"]

    with pytest.raises(rio.OutcomesFileError, match="missing required column"):
        rio.parse_outcomes(_raw("task_id,label,reviewer_id\nt1,benign,r\n"))
    with pytest.raises(rio.OutcomesFileError, match="empty"):
        _raw("")
    jsonl = '{"task_id":"t1","reviewer_id":"r","label":"benign","decided_at":"2026-11-23T08:00:00Z"}\n\n{oops\n[1]\n'
    valid, rejected = rio.parse_outcomes(_raw(jsonl, "jsonl"))
    assert len(valid) == 1 and rejected["rejection"].tolist() == ["malformed_row", "malformed_row"]
    assert rejected[rio.LINE].tolist() == [3, 4]


def test_a_decision_timed_in_the_future_is_rejected_with_its_reason(world, tmp_path):
    engine = world["engine"]
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    soon = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # within the clock skew
    path = tmp_path / "ahead.csv"
    path.write_text(
        HEADER + f"t-rb-1,rev-1,violating,remove,,{future}\n"
        f"t-rb-2,rev-1,benign,none,{future},{future}\n"
        f"t-qa-1,rev-2,benign,none,,{soon}\n",
        encoding="utf-8",
    )
    out = invoke("import", str(path))
    assert out.exit_code == 1, out.output
    report = pd.read_csv(tmp_path / "ahead.rejected.csv", dtype=str, keep_default_na=False)
    assert dict(zip(report["line"].astype(int), report["rejection"], strict=True)) == {
        2: "bad_timestamp",
        3: "bad_timestamp",
    }
    assert report["detail"].str.contains("in the future").all()
    tasks = _tasks(engine)
    assert tasks.loc["t-rb-1", "status"] == "open" and tasks.loc["t-rb-2", "status"] == "open"
    assert tasks.loc["t-qa-1", "status"] == "decided"


def test_import_applies_a_valid_file_once_and_audits_every_import(world, tmp_path):
    engine = world["engine"]
    path = tmp_path / "decisions.csv"
    path.write_text(
        HEADER + "t-rb-1,rev-1,violating,remove,2026-11-23T07:00:00Z,2026-11-23T07:04:00Z\n"
        "t-qa-1,rev-2,benign,none,,2026-11-23T08:00:00+01:00\n"
        "t-gold-1,rev-3,violating,,,2026-11-23T09:00:00Z\n",
        encoding="utf-8",
    )
    first = invoke("import", str(path))
    assert first.exit_code == 0, first.output
    tasks = _tasks(engine)
    assert tasks.loc["t-rb-1", ["status", "label", "reviewer_id", "final_action"]].tolist() == [
        "decided",
        "violating",
        "rev-1",
        "remove",
    ]
    assert tasks.loc["t-rb-1", "claimed_at"] == pd.Timestamp("2026-11-23T07:00:00Z")
    assert tasks.loc["t-qa-1", "decided_at"] == pd.Timestamp("2026-11-23T07:00:00Z")
    assert not (tmp_path / "decisions.rejected.csv").exists()

    again = rio.import_outcomes_file(engine, path, actor="pytest")  # a second import changes nothing
    assert (again.applied, again.unchanged, again.rejected, again.exit_code) == (0, 3, 0, 0)
    assert invoke("import", str(path)).exit_code == 0
    pd.testing.assert_frame_equal(_tasks(engine), tasks)

    imported = _audit(engine, "reviews.imported")
    assert len(imported) == 3
    assert [(e["payload"]["applied"], e["payload"]["unchanged"]) for e in imported] == [(3, 0), (0, 3), (0, 3)]
    assert imported[0]["payload"]["sha256"] == again.sha256 and imported[1]["actor"] == "pytest"
    assert store.verify_audit_log(engine).ok


def test_mixed_file_applies_valid_rows_reports_each_rejection_and_exits_1(world, tmp_path):
    engine = world["engine"]
    path = tmp_path / "mixed.csv"
    path.write_text(
        HEADER
        + "\n".join(
            [
                "t-rb-2,rev-1,benign,none,2026-11-23T07:00:00Z,2026-11-23T07:04:00Z",  # 2 applied
                "t-rb-1,rev-1,benign,none,,2026-11-23T07:05:00Z,extra",  # 3 malformed_row
                "t-gold-1,rev-1,,none,,2026-11-23T07:05:00Z",  # 4 missing_value
                "t-gold-1,rev-1,benign,none,,2026-11-23 07:05",  # 5 bad_timestamp
                "t-gold-1,rev-1,benign,nuke,,2026-11-23T07:05:00Z",  # 6 invalid_final_action
                "t-nope,rev-1,benign,none,,2026-11-23T07:05:00Z",  # 7 unknown_task
                "t-done,rev-1,benign,none,,2026-11-23T07:05:00Z",  # 8 already_decided (another label and reviewer)
                "t-qa-1,rev-1,maybe,none,,2026-11-23T07:05:00Z",  # 9 invalid_label
                "t-prev-1,bad reviewer!,benign,none,,2026-11-23T07:05:00Z",  # 10 invalid_reviewer
                "t-done,rev-9,violating,,,2026-11-24T12:00:00Z",  # 11 unchanged (the stored decision)
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    before = _tasks(engine)
    out = invoke("import", str(path))
    assert out.exit_code == 1, out.output
    assert "applied" in out.output and "mixed.rejected.csv" in out.output
    after = _tasks(engine)
    assert after.loc["t-rb-2", "status"] == "decided" and after.loc["t-rb-2", "label"] == "benign"
    changed = [t for t in before.index if not before.loc[t].equals(after.loc[t])]
    assert changed == ["t-rb-2"]

    report = pd.read_csv(tmp_path / "mixed.rejected.csv", dtype=str, keep_default_na=False)
    assert report.columns.tolist()[:3] == ["line", "rejection", "detail"]
    assert dict(zip(report["line"].astype(int), report["rejection"], strict=True)) == {
        3: "malformed_row",
        4: "missing_value",
        5: "bad_timestamp",
        6: "invalid_final_action",
        7: "unknown_task",
        8: "already_decided",
        9: "invalid_label",
        10: "invalid_reviewer",
    }
    assert report.set_index("line").loc["7", "task_id"] == "t-nope"  # the row as the reviewer sent it
    assert "extra" in report.set_index("line").loc["3", "raw"]
    (entry,) = _audit(engine, "reviews.imported")
    assert entry["payload"] == entry["payload"] | {"rows": 10, "applied": 1, "unchanged": 1, "rejected": 8}
    assert entry["payload"]["rejections"]["bad_timestamp"] == 1

    # The report, fixed, imports like any file (its extra columns are ignored).
    fixed = report[report["rejection"] == "invalid_label"].assign(label="violating")
    fixed_path = tmp_path / "fixed.csv"
    fixed.to_csv(fixed_path, index=False)
    assert invoke("import", str(fixed_path)).exit_code == 0
    assert _tasks(engine).loc["t-qa-1", "label"] == "violating"


def test_unusable_files_exit_2_and_apply_nothing(world, tmp_path):
    engine = world["engine"]
    before = _tasks(engine)
    no_decided = tmp_path / "nodecided.csv"
    no_decided.write_text("task_id,reviewer_id,label\nt-rb-1,rev-1,benign\n", encoding="utf-8")
    out = invoke("import", str(no_decided))
    assert out.exit_code == 2 and "decided_at" in out.output and "nothing was applied" in out.output
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    assert invoke("import", str(binary)).exit_code == 2
    other = tmp_path / "decisions.xlsx"
    other.write_text(HEADER, encoding="utf-8")
    assert invoke("import", str(other)).exit_code == 2
    assert invoke("import", str(tmp_path / "missing.csv")).exit_code == 2
    assert invoke("import", str(no_decided), "--format", "xml").exit_code == 2
    pd.testing.assert_frame_equal(_tasks(engine), before)
    assert not _audit(engine, "reviews.imported")
    assert not list(tmp_path.glob("*.rejected.csv"))


def test_jsonl_import_with_default_reviewer(world, tmp_path):
    path = tmp_path / "decisions.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "task_id": "t-rb-2",
                        "label": "violating",
                        "final_action": "remove",
                        "decided_at": "2026-11-23T10:00:00Z",
                    }
                ),
                json.dumps(
                    {
                        "task_id": "t-prev-1",
                        "label": "benign",
                        "reviewer_id": "rev-7",
                        "claimed_at": "2026-11-23T09:00:00Z",
                        "decided_at": "2026-11-23T10:00:00Z",
                    }
                ),
                "{not json",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = invoke("import", str(path), "--reviewer-default", "lead-1")
    assert out.exit_code == 1, out.output
    tasks = _tasks(world["engine"])
    assert tasks.loc["t-rb-2", ["reviewer_id", "label"]].tolist() == ["lead-1", "violating"]
    assert tasks.loc["t-prev-1", "reviewer_id"] == "rev-7"
    report = pd.read_csv(tmp_path / "decisions.rejected.csv")
    assert report["rejection"].tolist() == ["malformed_row"] and report["line"].tolist() == [3]


# -------------------------------------------------------------------------------------------- simulate, queues


def test_simulate_plays_reviewers_through_the_import(world, tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    truth_rows = pd.DataFrame({"item_id": ["i1"], "policy_id": ["hate.speech"], "campaign_id": [None]})
    pq.write_table(pa.Table.from_pandas(truth_rows, schema=TRUTH, preserve_index=False), truth / "part-00000.parquet")
    out = invoke("simulate", "--truth", str(truth), "--run", world["run_id"][:8], "--accuracy", "1.0")
    assert out.exit_code == 0, out.output
    tasks = _tasks(world["engine"])
    mine = tasks[(tasks["run_key"] == RUN_KEY)]
    assert (mine["status"] == "decided").all()
    assert mine.loc["t-rb-1", "label"] == "violating" and mine.loc["t-rb-1", "reviewer_id"].startswith("sim-reviewer-")
    assert tasks.loc["t-carried", "status"] == "carried_over"  # not open: not simulated
    (decisions,) = (world["home"] / "exports" / "reviews" / "simulated").glob("decisions-*.csv")
    assert len(pd.read_csv(decisions)) == 6
    (entry,) = _audit(world["engine"], "reviews.imported")
    assert entry["actor"] == "simulated-reviewers" and entry["payload"]["applied"] == 6
    again = invoke("simulate", "--truth", str(truth))
    assert again.exit_code == 0 and "no open review tasks" in again.output
    assert invoke("simulate", "--truth", str(tmp_path / "absent")).exit_code == 2


def test_queue_summary_counts_statuses_oldest_due_and_sla_breaches():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    due_past, due_future = now - timedelta(hours=2), now + timedelta(hours=5)

    def row(queue, status, due, decided=None):
        return {"queue": queue, "status": status, "due_by": due, "decided_at": decided}

    tasks = pd.DataFrame(
        [
            row("a", "open", due_past),  # overdue
            row("a", "open", due_future),
            row("a", "claimed", due_past - timedelta(hours=1)),  # overdue, oldest
            row("a", "decided", due_past, decided=due_past + timedelta(minutes=1)),  # late
            row("a", "decided", due_future, decided=now),  # on time
            row("b", "carried_over", due_future),
            row("b", "expired", due_past),  # overdue, not pending
            row("b", "decided", due_past, decided=due_past - timedelta(hours=1)),
        ]
    )
    summary = rio.queue_summary(tasks, now).set_index("queue")
    assert summary.loc["a", ["open", "claimed", "decided", "carried_over", "expired"]].tolist() == [2, 1, 2, 0, 0]
    assert summary.loc["a", ["late_decided", "overdue", "sla_breaches"]].tolist() == [1, 2, 3]
    assert summary.loc["a", "oldest_due_by"] == pd.Timestamp(due_past - timedelta(hours=1))
    assert summary.loc["b", ["carried_over", "expired", "late_decided", "overdue", "sla_breaches"]].tolist() == [
        1,
        1,
        0,
        1,
        1,
    ]
    assert summary.loc["b", "oldest_due_by"] == pd.Timestamp(due_future)
    assert rio.queue_summary(tasks.iloc[0:0], now).empty


def test_queues_command_prints_per_queue_numbers(world):
    out = invoke("queues", "--json", "--by", "queue")
    assert out.exit_code == 0, out.output
    rows = {r["queue"]: r for r in json.loads(out.output)["queues"]}
    assert (rows[Q_HATE]["open"], rows[Q_HATE]["carried_over"]) == (3, 1)
    assert (rows[Q_SPAM]["open"], rows[Q_SPAM]["decided"], rows[Q_SPAM]["late_decided"]) == (3, 1, 1)
    assert rows[Q_SPAM]["overdue"] == 3  # due 2026-11-24 06:00, long past
    assert rows[Q_HATE]["oldest_due_by"].startswith("2026-11-24T06:00")
    run_only = json.loads(invoke("queues", "--json", "--by", "queue", "--run", world["run_id"]).output)["queues"]
    assert {r["queue"]: r["carried_over"] for r in run_only}[Q_HATE] == 0
    table = invoke("queues", "--by", "queue")
    assert table.exit_code == 0 and Q_SPAM in table.output and "total" in table.output
    # By default a summary per policy; --policy / --region filter.
    summary = {r["policy_id"]: r for r in json.loads(invoke("queues", "--json").output)["queues"]}
    assert (summary["hate.speech"]["open"], summary["hate.speech"]["queues"]) == (rows[Q_HATE]["open"], 1)
    only = json.loads(invoke("queues", "--json", "--policy", "deceptive.spam", "--region", "IE").output)["queues"]
    assert [r["policy_id"] for r in only] == ["deceptive.spam"] and only[0]["open"] == rows[Q_SPAM]["open"]
    assert invoke("queues", "--region", "XX").output.startswith("no review tasks match")
    assert invoke("queues", "--by", "reviewer").exit_code == 2


def test_simulated_verdicts_are_never_in_the_future():
    """Tasks created just now: simulated claim and decision times are capped at the moment of simulation,
    so `reviews simulate` right after a sweep passes the import's future-timestamp check."""
    from modsweep.tasks.review import simulate_outcomes

    now = pd.Timestamp.now(tz="UTC")
    tasks = pd.DataFrame(
        {
            "task_id": [f"t{k}" for k in range(200)],
            "item_id": [f"i{k}" for k in range(200)],
            "policy_id": "hate.speech",
            "action": None,
            "created_at": now,
        }
    )
    out = simulate_outcomes(
        tasks,
        pd.DataFrame({"item_id": ["i1"], "policy_id": ["hate.speech"]}),
        accuracy=1.0,
        false_positive_rate=0.0,
        seed="s",
        not_after=now,
    )
    decided, claimed = pd.to_datetime(out["decided_at"], utc=True), pd.to_datetime(out["claimed_at"], utc=True)
    assert (decided <= now).all() and (claimed <= decided).all()
    assert out.loc[out["task_id"] == "t1", "label"].item() == "violating"
