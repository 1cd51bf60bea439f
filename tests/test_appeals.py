"""Appeals, reversals, the overturn-rate breaker and mass revert, on SQLite and PostgreSQL (small frames, no flows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine
from store_fixtures import postgres_store, postgres_unavailable_reason, sqlite_store
from test_strikes import AUTHORS, SPECS, decisions

from modsweep import store
from modsweep.lifecycle import AppealSpec, EnforcementSpec
from modsweep.store import lifecycle as ls
from modsweep.tasks import appeals, appeals_io, lifecycle_io, revert, reviews_io, strikes

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = pd.Timestamp(NOW - timedelta(days=2))
ENFORCEMENT = EnforcementSpec(appeals=AppealSpec(window_days=30, sla_hours=48, overturn_ceiling=0.3, min_appeals=4))
KEY = "test-key"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated store on each backend holding one completed run with five enforced hate-speech decisions
    (d1-d4 by alice, d3 by bob) and their strikes."""
    if request.param == "sqlite":
        with sqlite_store(tmp_path) as e:
            yield _seeded(e)
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_store() as e:
        yield _seeded(e)


def _seeded(engine: Engine) -> Engine:
    store.upgrade_schema(engine)
    run_id = store.start_run(
        engine,
        run_key="rk",
        flow="daily-sweep",
        trigger="manual",
        requested_by="test",
        parameters={"day": T0.date().isoformat()},
        policy_pack="p",
        policy_version="v1",
        policy_sha256="0" * 64,
        code_version="test",
    )
    store.finish_run(engine, run_id, "completed")
    rows = [(f"d{i}", f"i{i}", "hate.speech", "remove") for i in range(1, 5)] + [
        ("d5", "i5", "hate.speech", "escalate")
    ]
    frame = decisions(rows, created_at=T0).assign(run_id=run_id)
    store.insert_decisions(engine, frame)
    ls.insert_strikes(engine, strikes.strikes_from_decisions(frame, AUTHORS, SPECS, ["remove"], day=T0.date()))
    return engine


def write_appeals(path: Path, rows: list[dict[str, str]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def appeal(decision_id: str, hours: float = 1, **extra: str) -> dict[str, str]:
    received = (T0 + pd.Timedelta(hours=1 + hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"decision_id": decision_id, "received_at": received, "statement": "please look again", **extra}


def decide(engine: Engine, tmp_path: Path, labels: dict[str, str], reviewer: str = "rev-2") -> reviews_io.ImportReport:
    """Reviewers' verdicts on the appeal tasks of these decisions, through `reviews import`."""
    found = ls.fetch_appeals(engine, decision_ids=list(labels))
    rows = pd.DataFrame(
        {
            "task_id": found["task_id"],
            "reviewer_id": reviewer,
            "label": found["decision_id"].map(labels),
            "decided_at": NOW.isoformat(),
        }
    )
    path = tmp_path / f"verdicts-{len(list(tmp_path.iterdir()))}.csv"
    rows.to_csv(path, index=False)
    return reviews_io.import_outcomes_file(engine, path, actor="test")


def test_every_bad_row_is_rejected_with_its_reason() -> None:
    raw = pd.DataFrame(
        {
            "decision_id": ["d1", "d1", "nope", "d5", "d2", "d3", "d4", None, "d6"],
            "received_at": [
                "2026-11-24T10:00:00Z",
                "2026-11-24T11:00:00Z",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:00:00Z",
                "2027-01-30T10:00:00Z",
                "2026-11-24T10:00:00",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:00:00Z",
                "2026-11-20T10:00:00Z",
            ],
            "statement": ["s"] * 9,
            "channel": [None, None, None, None, None, None, "fax", None, None],
            "__line": range(2, 11),
            "__malformed": None,
        }
    )
    applied = pd.Timestamp("2026-11-23 09:00", tz="UTC")
    context = pd.DataFrame({c: None for c in appeals.CONTEXT_COLUMNS}, index=range(5)).assign(
        decision_id=["d1", "d2", "d3", "d4", "d6"],
        item_id="i",
        policy_id="hate.speech",
        region="DE",
        applied_action=["remove", "remove", "remove", "remove", "label"],
        applied_at=applied,
        reviewed=False,
        status="active",
    )
    context = pd.concat([context, context.iloc[[0]].assign(decision_id="d5", applied_action=None)])
    valid, rejected = appeals.validate_appeals(
        raw, context, set(), window_days=30, now=datetime(2026, 11, 25, tzinfo=UTC)
    )
    assert valid["decision_id"].tolist() == ["d1"]
    assert dict(zip(rejected["__line"], rejected["rejection"], strict=True)) == {
        3: "duplicate_appeal",
        4: "unknown_decision",
        5: "not_enforced",
        6: "bad_timestamp",
        7: "bad_timestamp",
        8: "invalid_channel",
        9: "missing_value",
        10: "bad_timestamp",
    }
    _, late = appeals.validate_appeals(
        raw.iloc[[4]], context, set(), window_days=30, now=datetime(2027, 2, 1, tzinfo=UTC)
    )
    assert late["rejection"].tolist() == ["outside_window"]


def test_appeals_become_tasks_and_reimporting_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write_appeals(tmp_path / "appeals.csv", [appeal("d1"), appeal("d2"), appeal("d5"), appeal("zz")])
    first = appeals_io.import_appeals_file(engine, path, ENFORCEMENT, key=KEY, actor="test", now=NOW)
    assert (first.created, first.rejected, first.rejections) == (2, 2, {"not_enforced": 1, "unknown_decision": 1})
    assert Path(first.report_path).name == "appeals.rejected.csv"
    tasks = store.fetch_review_tasks(engine, status="open")
    assert set(tasks["reason"]) == {"appeal"} and set(tasks["queue"]) == {"appeal:hate.speech:DE"}
    due = ls.fetch_appeals(engine)["due_by"] - ls.fetch_appeals(engine)["received_at"]
    assert (due == pd.Timedelta(hours=48)).all()
    again = appeals_io.import_appeals_file(engine, path, ENFORCEMENT, key=KEY, actor="test", now=NOW)
    assert (again.created, again.unchanged, again.rejections) == (0, 2, first.rejections)  # same rejections
    assert len(store.fetch_review_tasks(engine)) == 2 and len(ls.fetch_appeals(engine)) == 2


def test_an_overturn_reverses_the_decision_and_removes_its_strike_once(engine: Engine, tmp_path: Path) -> None:
    path = write_appeals(tmp_path / "appeals.csv", [appeal("d1"), appeal("d2")])
    appeals_io.import_appeals_file(engine, path, ENFORCEMENT, key=KEY, actor="test", now=NOW)
    report = decide(engine, tmp_path, {"d1": "benign", "d2": "violating"})
    assert report.lifecycle["appeals_overturned"] == 1 and report.lifecycle["appeals_upheld"] == 1
    assert report.lifecycle["strikes_removed"] == 1
    status = ls.fetch_appeals(engine).set_index("decision_id")["status"].to_dict()
    assert status == {"d1": "overturned", "d2": "upheld"}
    assert store.fetch_decisions(engine).set_index("decision_id").loc["d1", "status"] == "reversed"
    assert ls.strikes_of(engine).set_index("strike_id")["status"].to_dict() == {
        "d1": "removed",
        "d2": "active",
        "d3": "active",
        "d4": "active",
    }
    rev = ls.reversals(engine)
    assert rev[["decision_id", "cause", "by"]].to_dict("records") == [
        {"decision_id": "d1", "cause": "appeal", "by": "rev-2"}
    ]
    assert decide(engine, tmp_path, {"d1": "benign", "d2": "violating"}).lifecycle["appeals_overturned"] == 0
    assert len(ls.reversals(engine)) == 1
    metrics = store.fetch_metrics(engine, run_key="rk").set_index(["policy_id", "region", "metric"])
    assert metrics.loc[("hate.speech", "ALL", "overturn_rate"), "value"] == 0.5
    assert metrics.loc[("ALL", "ALL", "appeal_rate"), "n"] == 4  # four enforced decisions, two appealed


def test_the_original_reviewer_cannot_decide_the_appeal(engine: Engine, tmp_path: Path) -> None:
    task = pd.DataFrame(
        {
            "task_id": ["t-esc"],
            "item_id": ["i5"],
            "policy_id": ["hate.speech"],
            "queue": ["q"],
            "reason": ["review_band"],
            "stratum": ["s"],
            "inclusion_prob": [1.0],
            "priority": [1.0],
            "score": [0.9],
            "region": ["DE"],
            "language": ["de"],
            "views": [1],
            "due_by": [T0],
            "created_at": [T0],
            "run_id": ["r"],
            "run_key": ["rk"],
        }
    )
    store.insert_review_tasks(engine, task)
    store.apply_review_outcomes(
        engine,
        pd.DataFrame(
            {
                "task_id": ["t-esc"],
                "reviewer_id": ["rev-1"],
                "label": ["violating"],
                "final_action": ["remove"],
                "decided_at": [T0 + pd.Timedelta(minutes=30)],
            }
        ),
    )
    path = write_appeals(tmp_path / "appeals.csv", [appeal("d5")])
    assert appeals_io.import_appeals_file(engine, path, ENFORCEMENT, key=KEY, actor="t", now=NOW).created == 1
    assert ls.fetch_appeals(engine)["original_reviewer"].tolist() == ["rev-1"]
    own = decide(engine, tmp_path, {"d5": "benign"}, reviewer="rev-1")
    assert own.rejections == {"original_reviewer": 1} and own.applied == 0
    assert decide(engine, tmp_path, {"d5": "benign"}, reviewer="rev-9").lifecycle["appeals_overturned"] == 1


def test_overturn_breaker_trips_with_enough_appeals_and_a_person_re_enables(engine: Engine, tmp_path: Path) -> None:
    path = write_appeals(tmp_path / "appeals.csv", [appeal(f"d{i}") for i in range(1, 5)])
    appeals_io.import_appeals_file(engine, path, ENFORCEMENT, key=KEY, actor="test", now=NOW)
    lifecycle = decide(engine, tmp_path, {"d1": "benign", "d2": "benign", "d3": "benign", "d4": "benign"}).lifecycle
    assert lifecycle["breaker_tripped"] == []  # the shipped pack wants 20 decided appeals before it may trip
    tripped = appeals_io.refresh_appeal_metrics(engine, ["rk"], ENFORCEMENT)  # this pack: 4, ceiling 0.3
    assert tripped == ["hate.speech"]  # 4/4 overturned: Wilson lower bound 0.51 > 0.3
    assert store.paused_policies(engine) == ["hate.speech"]
    record = store.policy_automation(engine).set_index("policy_id").loc["hate.speech"]
    assert record["changed_by"] == "circuit-breaker" and "overturn rate" in record["reason"]
    assert store.set_policy_automation(engine, "hate.speech", state="enabled", reason="rule fixed", changed_by="alice")
    assert store.paused_policies(engine) == []
    assert (
        store.latest_audit_entry(engine, event="policy.automation.enabled", subject="hate.speech")["actor"] == "alice"
    )


def test_too_few_appeals_never_trip_the_breaker() -> None:
    metrics = pd.DataFrame(
        {
            "policy_id": ["hate.speech"],
            "region": "ALL",
            "metric": "overturn_rate.automated",
            "value": 1.0,
            "ci_low": 0.44,
            "ci_high": 1.0,
            "n": 3,
        }
    )
    assert appeals.overturn_breaches(metrics, {"hate.speech": 0.3}, min_appeals=4).empty
    assert len(appeals.overturn_breaches(metrics, {"hate.speech": 0.3}, min_appeals=3)) == 1


def test_revert_dry_run_changes_nothing_then_reverses_each_decision_once(engine: Engine) -> None:
    since, until = T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=1)
    window = {"policy": "hate.speech", "detector": None, "policy_version": None}
    window |= {"since": since.isoformat(), "until": until.isoformat()}
    rid = revert.revert_id_for(window)
    assert rid == revert.revert_id_for(dict(reversed(window.items())))

    def matched() -> pd.DataFrame:
        return ls.decisions_matching(engine, policy_id="hate.speech", since=since, until=until)

    def run() -> dict[str, int]:
        return lifecycle_io.run_revert(
            engine, matched(), EnforcementSpec(), revert_id=rid, filter=window, reason="bad lexicon", by="alice"
        )

    audit_before = store.verify_audit_log(engine).rows_checked
    plan = revert.revert_plan(matched())  # the dry run: a plan, nothing written
    assert (plan["to_reverse"], plan["by_action"]) == (4, {"remove": 4})  # the escalation is not automated
    assert ls.reversals(engine).empty and ls.revert_events(engine).empty
    assert store.verify_audit_log(engine).rows_checked == audit_before
    assert set(store.fetch_decisions(engine)["status"]) == {"active"}

    first = revert.chunks(matched(), size=3)[0]  # a revert stopped after its first chunk ...
    ls.start_revert(engine, revert_id=rid, filter=window, reason="bad lexicon", requested_by="alice", matched=4)
    lifecycle_io.reverse_and_reevaluate(
        engine, first, EnforcementSpec(), by="alice", reason="bad lexicon", cause="revert", revert_id=rid
    )
    done = run()  # ... resumed: the rest, once
    assert (done["reversed_now"], done["reversed_total"]) == (1, 4)
    again = run()  # the same revert again reverses nothing
    assert (again["reversed_now"], again["reversed_total"], again["strikes_removed"]) == (0, 4, 0)
    rev = ls.reversals(engine, revert_id=rid)
    assert sorted(rev["decision_id"]) == ["d1", "d2", "d3", "d4"] and set(rev["cause"]) == {"revert"}
    assert len(ls.reversals(engine)) == 4  # one reversal per decision
    assert set(ls.strikes_of(engine)["status"]) == {"removed"}
    events = ls.revert_events(engine)
    assert len(events) == 1 and events["state"].tolist() == ["completed"] and events["reversed"].tolist() == [4]
    statuses = store.fetch_decisions(engine).set_index("decision_id")["status"].to_dict()
    assert statuses == {"d1": "reversed", "d2": "reversed", "d3": "reversed", "d4": "reversed", "d5": "active"}
    assert store.verify_audit_log(engine).ok


def test_reviews_export_shows_appeals_with_the_original_decision(engine: Engine, tmp_path: Path) -> None:
    from modsweep.lake import Lake

    path = write_appeals(tmp_path / "appeals.csv", [appeal("d1")])
    appeals_io.import_appeals_file(engine, path, ENFORCEMENT, key=KEY, actor="test", now=NOW)
    result = reviews_io.export_reviews(engine, Lake(str(tmp_path / "lake")), tmp_path / "out", key=KEY, formats=["csv"])
    exported = pd.read_csv(result.queues[0].files[0])
    assert result.queues[0].queue == "appeal:hate.speech:DE" and exported["kind"].tolist() == ["appeal"]
    row = exported.iloc[0]
    assert row["appeal_statement"] == "please look again" and row["original_action"] == "remove"
    assert row["original_score"] == pytest.approx(0.9) and bool(row["original_automated"])


def test_appeal_metrics_split_by_who_enforced_and_by_detector() -> None:
    enforced = pd.DataFrame(
        {
            "decision_id": ["a", "b", "c", "d"],
            "policy_id": "hate.speech",
            "region": "DE",
            "reviewed": [False, False, False, True],
            "detector": ["lex", "lex", "clf", "clf"],
        }
    )
    stored = pd.DataFrame(
        {
            "decision_id": ["a", "b", "d"],
            "policy_id": "hate.speech",
            "region": "DE",
            "status": ["overturned", "upheld", "open"],
            "received_at": T0,
            "decided_at": [T0, T0, None],
            "due_by": T0 + pd.Timedelta(hours=1),
        }
    )
    m = appeals.appeal_metrics(enforced, stored, now=NOW, day=T0.date(), run_id="r").set_index(
        ["policy_id", "region", "metric"]
    )
    assert m.loc[("hate.speech", "ALL", "appeal_rate.automated"), ["value", "n"]].tolist() == [2 / 3, 3]
    assert m.loc[("hate.speech", "ALL", "appeal_rate.human"), ["value", "n"]].tolist() == [1.0, 1]
    assert m.loc[("hate.speech", "ALL", "overturn_rate.detector:lex"), ["value", "n"]].tolist() == [0.5, 2]
    assert ("hate.speech", "ALL", "overturn_rate.detector:clf") not in m.index  # its one appeal is still open
    low, high = m.loc[("ALL", "ALL", "overturn_rate"), ["ci_low", "ci_high"]]
    assert 0 < low < 0.5 < high < 1
    assert m.loc[("ALL", "ALL", "appeal_sla_breach_rate"), "value"] == pytest.approx(1 / 3)  # d: open past due


def test_a_reversed_decision_earns_no_strike_when_the_ledger_sees_it_later(engine: Engine, tmp_path: Path) -> None:
    import pyarrow as pa

    from modsweep.catalog import RunCatalog
    from modsweep.policy import load_pack

    frame = decisions([("d9", "i1", "hate.speech", "remove")], created_at=T0)
    store.insert_decisions(engine, frame)
    ls.reverse_decisions(engine, pd.DataFrame({"decision_id": ["d9"]}), by="alice", reason="bad rule", cause="revert")
    cat = RunCatalog(str(tmp_path / "lake"), T0.date(), "rk")
    cat.lake.write(
        pa.Table.from_pandas(frame.drop(columns="day"), preserve_index=False),
        "decisions",
        T0.date(),
        "rk",
        "part-00009",
    )
    cat.lake.write(pa.Table.from_pandas(AUTHORS, preserve_index=False), "items", T0.date(), "rk", "part-00009")
    ctx = lifecycle_io.LedgerContext(day=T0.date(), run_key="rk", run_id="r", as_of=NOW, hmac_key="k")
    strikes = lifecycle_io.partition_strikes(cat, ctx, "part-00009", load_pack())
    assert lifecycle_io.store_strikes(engine, strikes)["strikes_new"] == 0
