"""`modsweep explain` on hand-built frames, and one sweep end to end: `export dsa`, `export transparency`, `explain`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.cli_audit import explain, export_app
from modsweep.policy import load_pack
from modsweep.tasks import dsa
from modsweep.tasks.explain import explain_item, is_unknown
from tests.helpers.cards import linear_card

T0 = pd.Timestamp("2026-11-23 10:00", tz="UTC")
DAY = date(2026, 11, 23)


def _app() -> typer.Typer:
    """The commands mounted as modsweep.cli mounts them."""
    app = typer.Typer(add_completion=False)
    app.add_typer(export_app, name="export")
    app.command("explain")(explain)
    return app


def _frames() -> dict[str, object]:
    decisions = pd.DataFrame(
        [
            {
                "decision_id": "d1",
                "item_id": "it-1",
                "policy_id": "hate.speech",
                "policy_version": "2026.11.1",
                "action": "escalate",
                "automated": False,
                "score": 0.6,
                "threshold": 0.45,
                "region": "DE",
                "language": "de",
                "item_type": "comment",
                "day": DAY,
                "created_at": T0,
                "decided_at": T0,
                "run_id": "run-1",
                "run_key": "key-1",
                "decision_visibility": "DECISION_VISIBILITY_OTHER",
                "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
                "category_specification": ["KEYWORD_HATE_SPEECH"],
                "automated_detection": True,
                "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
                "territorial_scope": ["DE"],
            }
        ]
    )
    tasks = pd.DataFrame(
        [
            {
                "task_id": "t1",
                "policy_id": "hate.speech",
                "queue": "hate.speech|de|DE",
                "reason": "review_band",
                "stratum": "hate.speech|review_band",
                "replica": 0,
                "status": "decided",
                "priority": 3.0,
                "score": 0.6,
                "action": None,
                "inclusion_prob": 1.0,
                "created_at": T0,
                "due_by": T0 + pd.Timedelta(hours=24),
                "claimed_at": T0 + pd.Timedelta(hours=1),
                "decided_at": T0 + pd.Timedelta(hours=2),
                "reviewer_id": "rv-7f3a",
                "label": "violating",
                "final_action": "remove",
                "run_id": "run-1",
                "run_key": "key-1",
                "day": DAY,
            }
        ]
    )
    detections = pd.DataFrame(
        [
            {
                "item_id": "it-1",
                "policy_id": "hate.speech",
                "detector_id": "hate-lexicon",
                "detector_version": "lexicon-1",
                "score": 0.6,
                "evidence": '{"terms": ["slur"], "truncated": false}',
                "run_id": "run-1",
                "day": DAY,
                "run_key": "key-1",
            },
            {
                "item_id": "it-1",
                "policy_id": "deceptive.spam",
                "detector_id": "spam-patterns",
                "detector_version": "regex-1",
                "score": 0.1,
                "evidence": "not json",
                "run_id": "run-1",
                "day": DAY,
                "run_key": "key-1",
            },
        ]
    )
    items = pd.DataFrame(
        [
            {
                "item_id": "it-1",
                "item_type": "comment",
                "author_id": "au-9",
                "text": "a caption",
                "created_at": T0,
                "region": "DE",
                "language": "de",
                "views": 10,
                "user_reports": 0,
                "day": DAY,
                "run_key": "key-1",
            }
        ]
    )
    runs = [
        {
            "run_id": "run-1",
            "run_key": "key-1",
            "flow": "daily-sweep",
            "trigger": "schedule",
            "state": "completed",
            "policy_pack": "community-guidelines",
            "policy_version": "2026.11.1",
            "policy_sha256": "f" * 64,
            "code_version": "0.1.0+abc",
            "started_at": T0,
            "ended_at": T0,
            "parameters": {"pack": "community-guidelines", "profile": "standard"},
        }
    ]
    return {"decisions": decisions, "tasks": tasks, "detections": detections, "items": items, "runs": runs}


def test_explanation_holds_detections_decision_bands_review_and_run():
    pack = load_pack("community-guidelines").with_model_thresholds(linear_card())  # auto@P resolves to P
    doc = explain_item("it-1", **_frames(), packs={"run-1": pack})
    assert not is_unknown(doc)
    d = doc["decisions"][0]
    assert d["band_applied"] == {"action": "escalate", "min_score": 0.45}
    # the pack's bands for DE, auto@P resolved from the card: escalate at auto@0.3 first
    assert d["bands_in_force"][0] == {"min_score": 0.3, "action": "escalate", "auto_precision": 0.3}
    assert all(b["min_score"] is not None for b in d["bands_in_force"])
    assert d["bands_from_run_pack"] is False  # the run's sha256 is not the current pack's
    assert d["profile"] == "standard" and d["policy_version"] == "2026.11.1"
    assert [x["detector_id"] for x in doc["detections"]] == ["spam-patterns", "hate-lexicon"]
    assert doc["detections"][1]["evidence"] == {"terms": ["slur"], "truncated": False}
    assert doc["detections"][0]["evidence"] == "not json"
    task = doc["review_tasks"][0]
    assert (task["reviewer_id"], task["label"], task["final_action"]) == ("rv-7f3a", "violating", "remove")
    assert doc["runs"][0]["policy_sha256"] == "f" * 64 and doc["runs"][0]["code_version"] == "0.1.0+abc"
    assert doc["summary"]["outcome_by_policy"] == {"hate.speech": "reviewed: violating → remove"}
    assert "author_id" not in doc["item"] and "text" not in doc["item"]
    json.dumps(doc)  # JSON-friendly throughout


def test_an_item_nobody_saw_is_unknown():
    empty = pd.DataFrame()
    doc = explain_item("nope", decisions=empty, tasks=empty, detections=empty, items=empty, runs=[])
    assert is_unknown(doc)


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_sweep_then_export_dsa_transparency_and_explain(sweep_home, synthetic_day, tmp_path, monkeypatch):
    from modsweep.flows.daily_sweep import daily_sweep

    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "1")  # score in the task's thread: no process pool start-up
    resources.reset()

    summary = daily_sweep(
        day=synthetic_day["day"],
        source=str(synthetic_day["items"]),
        trigger="manual",
        requested_by="pytest",
        simulate_reviews_from=str(synthetic_day["truth"]),
    )
    day = synthetic_day["day"].isoformat()
    runner, app = CliRunner(), _app()
    out, batches = tmp_path / "dsa.jsonl", tmp_path / "batches"

    # export dsa: valid JSONL, byte-identical on repeat, API bodies of at most 100 statements.
    args = ["export", "dsa", "--day", day, "--out", str(out), "--api-batches", str(batches)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = out.read_bytes()
    statements = [dsa.Statement.model_validate(json.loads(line)) for line in data.decode().splitlines()]
    assert statements and len({s.puid for s in statements}) == len(statements)
    assert all(set(s.territorial_scope) <= set(dsa.TERRITORIAL_SCOPE_CODES) for s in statements)
    assert {s.decision_ground for s in statements} <= set(dsa.DECISION_GROUNDS)
    assert any(s.automated_decision == "AUTOMATED_DECISION_PARTIALLY" for s in statements)  # reviewer-confirmed
    bodies = {p.name: p.read_bytes() for p in sorted(batches.glob("*.json"))}
    sizes = [len(json.loads(b)["statements"]) for b in bodies.values()]
    assert sizes and max(sizes) <= 100 and sum(sizes) == len(statements)
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert out.read_bytes() == data
    assert {p.name: p.read_bytes() for p in sorted(batches.glob("*.json"))} == bodies

    engine = resources.store_engine()
    decisions = store.fetch_decisions(engine, run_key=summary.run_key)
    puids = {s.puid for s in statements}
    in_eu = pd.Series([bool(scope) for scope in decisions["territorial_scope"]], index=decisions.index)
    automated_eu = decisions[in_eu & (decisions["action"] != "escalate")]
    assert set(automated_eu["decision_id"].map(dsa.puid_for)) <= puids
    outside = decisions[~in_eu]
    assert len(outside) and not set(outside["decision_id"].map(dsa.puid_for)) & puids

    # export transparency: every automated action of the day, plus the confirmed escalations.
    period = runner.invoke(app, ["export", "transparency", "--start", day, "--end", day, "--json"])
    assert period.exit_code == 0, period.output
    totals = json.loads(period.stdout)
    assert totals["automated"] == int((decisions["action"] != "escalate").sum())
    assert totals["actions"] >= len(statements) and 0 < totals["automated_share"] <= 1
    assert runner.invoke(app, ["export", "transparency", "--start", day, "--end", day]).exit_code == 0

    # explain: a reviewed item, as a table and as JSON; an item detected but never decided; an unknown item.
    tasks = store.fetch_review_tasks(engine, run_key=summary.run_key)
    reviewed = tasks[(tasks["reason"] == "review_band") & (tasks["status"] == "decided")]["item_id"].iloc[0]
    shown = runner.invoke(app, ["explain", reviewed, "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["decisions"] and doc["review_tasks"] and doc["detections"] and doc["item"]
    assert doc["review_tasks"][0]["reviewer_id"]
    run = store.get_run(engine, summary.run_id)
    assert {r["policy_sha256"] for r in doc["runs"]} == {run["policy_sha256"]}
    assert all(d["bands_in_force"] and d["bands_from_run_pack"] for d in doc["decisions"])
    table = runner.invoke(app, ["explain", reviewed])
    assert table.exit_code == 0 and reviewed in table.stdout and "Detections" in table.stdout

    detected = pd.read_parquet(next(Path(resources.lake().root, "detections").rglob("part-00000.parquet")))
    quiet = sorted(set(detected["item_id"]) - set(decisions["item_id"]) - set(tasks["item_id"]))[0]
    scanned = runner.invoke(app, ["explain", quiet, "--json"])
    assert scanned.exit_code == 0, scanned.output
    assert not json.loads(scanned.stdout)["decisions"] and json.loads(scanned.stdout)["detections"]
    assert runner.invoke(app, ["explain", "no-such-item"]).exit_code == 2


def _seed_store(rows: list[dict[str, object]]) -> str:
    """A run and its decisions written straight to the store (no sweep): the export's input."""
    engine = resources.store_engine()
    run_id = store.start_run(
        engine,
        run_key="key-1",
        flow="daily-sweep",
        trigger="manual",
        requested_by="pytest",
        parameters={"pack": "community-guidelines", "profile": "standard"},
        policy_pack="community-guidelines",
        policy_version="2026.11.1",
        policy_sha256="0" * 64,
        code_version="test",
    )
    base = _frames()["decisions"].iloc[0].to_dict()
    frame = pd.DataFrame(
        [
            {
                **base,
                "action": "remove",
                "automated": True,
                "score": 0.97,
                "threshold": 0.92,
                "decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED",
                "automated_decision": "AUTOMATED_DECISION_FULLY",
                "run_id": run_id,
                **r,
            }
            for r in rows
        ]
    )
    store.insert_decisions(engine, frame)
    return run_id


def test_export_rejects_an_invalid_statement_naming_the_field_and_writes_the_rest(modsweep_home, tmp_path):
    _seed_store(
        [{"decision_id": "a" * 32, "item_id": "it-a"}, {"decision_id": "b" * 32, "item_id": "it-b", "language": "zz"}]
    )
    out = tmp_path / "dsa.jsonl"
    result = CliRunner().invoke(_app(), ["export", "dsa", "--day", DAY.isoformat(), "--out", str(out)])
    assert result.exit_code == 1
    assert "content_language" in result.output and "modsweep-" + "b" * 32 in result.output
    assert [json.loads(line)["puid"] for line in out.read_text().splitlines()] == ["modsweep-" + "a" * 32]
    assert store.verify_audit_log(resources.store_engine()).ok  # the export is in the audit log


def test_export_and_explain_reject_bad_input(modsweep_home, tmp_path):
    runner, app = CliRunner(), _app()
    # A day never swept is an error (exit 2, no file), not an empty export that reads as "no enforcement".
    never = runner.invoke(app, ["export", "dsa", "--day", "2026-01-01", "--out", str(tmp_path / "none.jsonl")])
    assert never.exit_code == 2 and "no completed sweep of 2026-01-01" in never.output, never.output
    assert not (tmp_path / "none.jsonl").exists()
    # A day swept without enforcement gives an empty file, exit 0.
    engine = resources.store_engine()
    run_id = store.start_run(
        engine,
        run_key="key-empty",
        flow="daily-sweep",
        trigger="manual",
        requested_by="pytest",
        parameters={"day": "2026-01-02"},
        policy_pack="community-guidelines",
        policy_version="2026.11.1",
        policy_sha256="0" * 64,
        code_version="test",
    )
    store.finish_run(engine, run_id, "completed")
    empty = runner.invoke(app, ["export", "dsa", "--day", "2026-01-02", "--out", str(tmp_path / "empty.jsonl")])
    assert empty.exit_code == 0 and (tmp_path / "empty.jsonl").read_bytes() == b"", empty.output
    assert runner.invoke(app, ["export", "dsa", "--day", "23/11/2026"]).exit_code == 2
    assert runner.invoke(app, ["export", "dsa", "--day", "2026-11-23", "--out", "../escape.jsonl"]).exit_code == 2
    assert runner.invoke(app, ["export", "transparency", "--start", "2026-11-23", "--end", "2026-11-01"]).exit_code == 2
    assert runner.invoke(app, ["explain", "never-seen"]).exit_code == 2
