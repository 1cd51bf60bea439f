"""Strike ledger and account actions: pure functions on small frames, and the store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine
from store_fixtures import postgres_store, postgres_unavailable_reason, sqlite_store

from modsweep import resources, store
from modsweep.catalog import RunCatalog, catalog_of
from modsweep.config import get_settings
from modsweep.lifecycle import AccountThreshold, EnforcementSpec, StrikeSpec
from modsweep.runs import RunContext
from modsweep.store import lifecycle as ls
from modsweep.tasks import bodies, lifecycle_io, strikes
from modsweep.tasks.explain import explain_item
from modsweep.tasks.reviews_io import pseudonymise

T0 = pd.Timestamp("2026-11-23 08:00", tz="UTC")
DAY = date(2026, 11, 23)
SPECS = pd.DataFrame({"policy_id": ["hate.speech", "deceptive.spam"], "weight": [3.0, 1.0], "ttl_days": [30, 10]})
ENFORCEMENT = EnforcementSpec(
    account_thresholds=[
        AccountThreshold(min_weight=2, action="warn"),
        AccountThreshold(min_weight=4, action="feature_restrict", features=["live"]),
        AccountThreshold(min_weight=6, action="suspend", days=7),
        AccountThreshold(min_weight=12, action="terminate"),
    ],
    automate_account_actions=["warn", "feature_restrict", "suspend"],
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store on each backend."""
    if request.param == "sqlite":
        with sqlite_store(tmp_path) as e:
            store.upgrade_schema(e)
            yield e
        return
    reason = postgres_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_store() as e:
        store.upgrade_schema(e)
        yield e


def decisions(
    rows: list[tuple[str, str, str, str]], *, created_at: pd.Timestamp = T0, run_key: str = "rk"
) -> pd.DataFrame:
    """(decision_id, item_id, policy_id, action) rows as stored decisions."""
    ids, items, policies, actions = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "decision_id": ids,
            "item_id": items,
            "policy_id": policies,
            "policy_version": "v1",
            "action": actions,
            "automated": True,
            "score": 0.9,
            "threshold": 0.5,
            "region": "DE",
            "language": "de",
            "item_type": "video",
            "views": 10,
            "user_reports": 0,
            "created_at": created_at,
            "run_id": "run-1",
            "run_key": run_key,
            "decided_at": created_at + pd.Timedelta(hours=1),
            "decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED",
            "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
            "category_specification": [[] for _ in ids],
            "automated_detection": True,
            "automated_decision": "AUTOMATED_DECISION_FULLY",
            "territorial_scope": [["DE"] for _ in ids],
            "day": created_at.date(),
        }
    )


AUTHORS = pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4"], "author_id": ["alice", "alice", "bob", "alice"]})


def record(
    engine: Engine, frame: pd.DataFrame | list[tuple[str, str, str, str]], as_of: datetime | None = None
) -> tuple[int, int, int]:
    """Store decisions (a frame, or `decisions` rows made at T0), their strikes and the account actions, as the
    sweep's ledger task does."""
    if isinstance(frame, list):
        frame = decisions(frame)
    as_of = as_of or T0.to_pydatetime()
    store.insert_decisions(engine, frame)
    found = strikes.strikes_from_decisions(frame, AUTHORS, SPECS, ENFORCEMENT.strike_actions, day=frame["day"].iloc[0])
    new = ls.insert_strikes(engine, found)
    made, lifted = lifecycle_io.evaluate_accounts(
        engine,
        found["author_id"].unique().tolist(),
        ENFORCEMENT,
        as_of=as_of,
        run_key="rk",
        run_id="run-1",
        day=DAY,
        actor="test",
    )
    return new, made, lifted


def strike_alice(engine: Engine, frame: pd.DataFrame, enforcement: EnforcementSpec) -> None:
    """Store decisions and their strikes, then evaluate alice's account under ``enforcement``."""
    store.insert_decisions(engine, frame)
    found = strikes.strikes_from_decisions(frame, AUTHORS, SPECS, enforcement.strike_actions, day=DAY)
    ls.insert_strikes(engine, found)
    lifecycle_io.evaluate_accounts(
        engine, ["alice"], enforcement, as_of=T0.to_pydatetime(), run_key="rk", run_id="run-1", day=DAY, actor="test"
    )


def review_account_tasks(engine: Engine, tasks: pd.DataFrame, label: str) -> dict[str, int]:
    """A lead reviewer labels the account-review ``tasks``; the pending account actions are then resolved."""
    outcomes = {"task_id": tasks["task_id"], "reviewer_id": "lead-1", "label": label, "decided_at": datetime.now(UTC)}
    store.apply_review_outcomes(engine, pd.DataFrame(outcomes))
    return lifecycle_io.resolve_account_reviews(engine, actor="lead-1")


def test_strikes_only_for_enforcement_actions_with_ttl_from_creation() -> None:
    frame = decisions(
        [
            ("d1", "i1", "hate.speech", "remove"),
            ("d2", "i2", "deceptive.spam", "label"),
            ("d3", "i3", "deceptive.spam", "reduce_reach"),
            ("d9", "i9", "hate.speech", "remove"),
        ]
    )
    found = strikes.strikes_from_decisions(frame, AUTHORS, SPECS, ["remove", "reduce_reach"], day=DAY)
    assert found["strike_id"].tolist() == ["d1", "d3"]  # label earns none; i9 has no author
    assert found["weight"].tolist() == [3.0, 1.0]
    assert (found["expires_at"] - found["created_at"]).tolist() == [timedelta(days=30), timedelta(days=10)]


def test_target_action_is_the_highest_threshold_reached() -> None:
    got = strikes.target_actions(pd.Series([0.5, 2, 5.9, 6, 100], index=list("abcde")), ENFORCEMENT)
    assert got["action"].fillna("-").tolist() == ["-", "warn", "feature_restrict", "suspend", "terminate"]


def test_pack_validation_refuses_a_suspend_without_days() -> None:
    with pytest.raises(ValueError, match="days"):
        AccountThreshold(min_weight=1, action="suspend")
    assert ENFORCEMENT.strike_for(4, StrikeSpec(weight=9, ttl_days=1)).weight == 9
    assert ENFORCEMENT.strike_for(4).weight == 3


def test_rerunning_a_key_adds_no_strike_or_account_decision(engine: Engine) -> None:
    frame = decisions([("d1", "i1", "hate.speech", "remove"), ("d2", "i2", "hate.speech", "remove")])
    first = record(engine, frame, T0.to_pydatetime())
    again = record(engine, frame, T0.to_pydatetime())
    assert first == (2, 1, 0) and again == (0, 0, 0)
    acct = ls.account_decisions(engine, author_id="alice")
    assert acct[["action", "status", "end_date"]].to_dict("records") == [
        {"action": "suspend", "status": "active", "end_date": T0 + pd.Timedelta(days=7)}
    ]
    assert len(ls.strikes_of(engine, author_id="alice")) == 2


def test_strikes_expire_by_ttl_across_days_and_the_ladder_restarts(engine: Engine) -> None:
    record(
        engine,
        decisions([("d1", "i1", "deceptive.spam", "remove"), ("d2", "i2", "deceptive.spam", "remove")]),
        T0.to_pydatetime(),
    )
    assert ls.account_decisions(engine, author_id="alice")["action"].tolist() == ["warn"]
    later = T0 + pd.Timedelta(days=11)  # spam strikes last 10 days
    assert ls.expire_strikes(engine, later.to_pydatetime()) == 2
    assert ls.active_strikes(engine, ["alice"], later.to_pydatetime()).empty
    new, made, lifted = record(
        engine, decisions([("d4", "i4", "deceptive.spam", "remove")], created_at=later), later.to_pydatetime()
    )
    assert (new, made, lifted) == (1, 0, 1)  # weight 1: below warn; the old warning is lifted
    statuses = ls.strikes_of(engine, author_id="alice").set_index("strike_id")["status"].to_dict()
    assert statuses == {"d1": "expired", "d2": "expired", "d4": "active"}


def test_an_overturn_removes_exactly_one_strike_and_lifts_a_suspension(engine: Engine) -> None:
    record(
        engine,
        [
            ("d1", "i1", "hate.speech", "remove"),
            ("d2", "i2", "hate.speech", "remove"),
            ("d3", "i3", "hate.speech", "remove"),
        ],
    )
    assert ls.account_decisions(engine, author_id="alice")["status"].tolist() == ["active"]  # suspend at weight 6
    counts = lifecycle_io.reverse_and_reevaluate(
        engine,
        pd.DataFrame({"decision_id": ["d2"]}),
        ENFORCEMENT,
        by="reviewer-7",
        reason="appeal overturned",
        cause="appeal",
        as_of=(T0 + pd.Timedelta(hours=2)).to_pydatetime(),
    )
    assert counts == {"reversed": 1, "strikes_removed": 1, "account_decisions_lifted": 1}
    status = ls.strikes_of(engine).set_index("strike_id")["status"].to_dict()
    assert status == {"d1": "active", "d2": "removed", "d3": "active"}
    acct = ls.account_decisions(engine, author_id="alice")
    assert acct["action"].tolist() == ["suspend", "warn"] and acct["status"].tolist() == ["lifted", "active"]
    stored = store.fetch_decisions(engine).set_index("decision_id")["status"].to_dict()
    assert stored == {"d1": "active", "d2": "reversed", "d3": "active"}  # the row stays, its status says reversed
    again = lifecycle_io.reverse_and_reevaluate(
        engine,
        pd.DataFrame({"decision_id": ["d2"]}),
        ENFORCEMENT,
        by="reviewer-7",
        reason="appeal overturned",
        cause="appeal",
    )
    assert again["reversed"] == 0
    assert store.verify_audit_log(engine).ok


def test_account_statements_exported_from_the_store_validate(engine: Engine, tmp_path: Path) -> None:
    """Strikes up the ladder to a feature restriction and then a suspension; the day's DSA export beside the
    content statements (`NAME.accounts.jsonl`) holds one valid statement per restriction with its account
    fields, none for a warning; a reversed decision's content statement is listed as superseded."""
    import json

    from modsweep.tasks import account_dsa

    # alice 3 + 1 = 4: feature_restrict; bob 3: warn
    record(
        engine,
        [
            ("d1", "i1", "hate.speech", "remove"),
            ("d4", "i4", "deceptive.spam", "remove"),
            ("d3", "i3", "hate.speech", "remove"),
        ],
    )
    later = T0 + pd.Timedelta(hours=1)
    record(engine, decisions([("d2", "i2", "hate.speech", "remove")], created_at=later), later.to_pydatetime())
    lifecycle_io.reverse_and_reevaluate(
        engine, pd.DataFrame({"decision_id": ["d3"]}), ENFORCEMENT, by="lead-1", reason="overturned", cause="appeal"
    )
    target = tmp_path / "exports" / f"dsa-statements-{DAY}.jsonl"
    done = lifecycle_io.write_account_and_superseded(engine, DAY, store.fetch_decisions(engine), target, None)
    assert done["account_problems"] == [] and done["account_statements"] == 2 and done["superseded"] == 1
    lines = [json.loads(line) for line in Path(done["accounts_file"]).read_text().splitlines()]
    statements = [account_dsa.validate_account_statement(line) for line in lines]
    assert all(isinstance(s, account_dsa.AccountStatement) for s in statements)
    stored = ls.account_decisions(engine).set_index("account_decision_id")
    by_action = {
        stored.loc[a, "action"]: line
        for a in stored.index
        for line in lines
        if line["puid"] == account_dsa.account_puid(a)
    }
    assert set(by_action) == {"feature_restrict", "suspend"}  # bob's warning restricts nothing: no statement
    restrict, suspend = by_action["feature_restrict"], by_action["suspend"]
    assert restrict["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert "decision_account" not in restrict and "end_date_account_restriction" not in restrict
    assert suspend["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert suspend["decision_provision"] == "DECISION_PROVISION_TOTAL_SUSPENSION"
    assert suspend["end_date_account_restriction"] == (later + pd.Timedelta(days=7)).date().isoformat()
    assert {line["account_type"] for line in lines} == {"ACCOUNT_TYPE_PRIVATE"}
    assert {tuple(line["territorial_scope"]) for line in lines} == {("DE",)}
    gone = [json.loads(line) for line in Path(done["superseded_file"]).read_text().splitlines()]
    assert [g["decision_id"] for g in gone] == ["d3"] and gone[0]["cause"] == "appeal"


def test_unautomated_actions_wait_in_an_account_queue(engine: Engine) -> None:
    strict = ENFORCEMENT.model_copy(update={"automate_account_actions": ["warn"]})
    frame = decisions([("d1", "i1", "hate.speech", "remove"), ("d2", "i2", "hate.speech", "remove")])
    strike_alice(engine, frame, strict)
    acct = ls.account_decisions(engine, author_id="alice").set_index("action")
    assert acct.loc["suspend", "status"] == "pending_review" and not acct.loc["suspend", "automated"]
    assert acct.loc["warn", "status"] == "active" and acct.loc["warn", "automated"]  # the automated rung meanwhile
    tasks = store.fetch_review_tasks(engine, queue="accounts:suspend")
    assert tasks["reason"].tolist() == ["account_review"] and tasks["task_id"].tolist() == [
        acct.loc["suspend", "task_id"]
    ]
    assert review_account_tasks(engine, tasks, "violating") == {
        "account_actions_confirmed": 1,
        "account_actions_rejected": 0,
    }
    assert ls.account_decisions(engine, author_id="alice")["status"].tolist() == ["active", "active"]


def test_a_rejected_pending_action_leaves_the_automated_rung_below_it(engine: Engine) -> None:
    strict = ENFORCEMENT.model_copy(update={"automate_account_actions": ["warn", "feature_restrict"]})
    frame = decisions([(f"d{i}", "i1", "hate.speech", "remove") for i in range(4)])  # weight 12: terminate at once
    strike_alice(engine, frame, strict)
    acct = ls.account_decisions(engine, author_id="alice").set_index("action")
    assert sorted(acct.index) == ["feature_restrict", "terminate"]  # the top rung waits; the automated one applies
    assert acct.loc["terminate", "status"] == "pending_review" and acct.loc["feature_restrict", "status"] == "active"
    tasks = store.fetch_review_tasks(engine, queue="accounts:terminate")
    assert review_account_tasks(engine, tasks, "benign")["account_actions_rejected"] == 1
    after = ls.account_decisions(engine, author_id="alice").set_index("action")["status"].to_dict()
    assert after == {"feature_restrict": "active", "terminate": "rejected"}
    strike_alice(engine, frame.iloc[:0], strict)  # re-evaluating the same strikes adds and changes nothing
    assert ls.account_decisions(engine, author_id="alice").set_index("action")["status"].to_dict() == after


def test_the_run_update_reads_the_lake_a_partition_at_a_time_and_a_rerun_adds_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    import pyarrow as pa

    from modsweep.catalog import RunCatalog
    from modsweep.policy import load_pack
    from modsweep.tasks.reviews_io import pseudonymise

    cat = RunCatalog(str(tmp_path / "lake"), DAY, "rk")
    frames = {
        "part-00000": decisions([("d1", "i1", "hate.speech", "remove"), ("d2", "i2", "hate.speech", "label")]),
        "part-00001": decisions([("d3", "i3", "hate.speech", "remove"), ("d4", "i4", "hate.speech", "remove")]),
    }
    for part, frame in frames.items():
        store.insert_decisions(engine, frame)
        cat.lake.write(
            pa.Table.from_pandas(frame.drop(columns="day"), preserve_index=False), "decisions", DAY, "rk", part
        )
        items = AUTHORS[AUTHORS["item_id"].isin(frame["item_id"])]
        cat.lake.write(pa.Table.from_pandas(items, preserve_index=False), "items", DAY, "rk", part)
    ctx = lifecycle_io.LedgerContext(day=DAY, run_key="rk", run_id="run-1", as_of=T0.to_pydatetime(), hmac_key="k")
    pack = load_pack()  # hate speech: severity 4, weight 3; warn at 3, feature_restrict at 6 (live, ads)
    first = lifecycle_io.update_strike_ledger_run(engine, cat, ctx, pack, authors_per_page=1)
    assert (first["strikes_new"], first["account_decisions_new"], first["author_pages"]) == (3, 2, 2)
    again = lifecycle_io.update_strike_ledger_run(engine, cat, ctx, pack, authors_per_page=1)
    assert (again["strikes_new"], again["account_decisions_new"]) == (0, 0)
    alice = pseudonymise(pd.Series(["alice"]), "k").iloc[0]
    acct = ls.account_decisions(engine, author_id=alice)
    assert acct[["action", "status", "active_weight"]].to_dict("records") == [
        {"action": "feature_restrict", "status": "active", "active_weight": 6.0}
    ]
    assert acct["features"].tolist() == [["live", "ads"]]


def test_actor_risk_raises_priority_for_strikes_young_accounts_bursts_and_coordination() -> None:
    authors = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(24)],
            "author_id": ["repeat", "young", "coord"] + ["burst"] * 21,
            "author_account_age_days": [400, 2, 400] + [400] * 21,
            "coordinated": [False, False, True] + [False] * 21,
        }
    )
    weights = pd.Series({"repeat": 10.0})
    off = strikes.actor_risk(authors, weights, EnforcementSpec())
    assert (
        off["i0"] == 1.0 and off["i1"] == 1.2 and off["i2"] == 1.3 and off["i3"] == 1.2
    )  # strikes count only if asked
    spec = EnforcementSpec.model_validate(
        {"repeat_offenders": {"min_active_weight": 5, "priority_boost": 3, "raise_review_priority": True}}
    )
    assert strikes.actor_risk(authors, weights, spec)["i0"] == 3.0


REPEAT_OFFENDERS = {"min_active_weight": 3, "escalate_offset": -0.1, "raise_review_priority": True, "priority_boost": 2}


def _pack_with_repeat_offenders(tmp_path: Path) -> Path:
    """The shipped pack's policies with fixed bands (no model card needed) and `enforcement.repeat_offenders` on;
    its lists are read from the shipped folder."""
    import yaml

    from modsweep.policy import resolve_pack_path

    raw = yaml.safe_load(resolve_pack_path("community-guidelines").read_text())
    fixed = [p for p in raw["policies"] if not any("auto@" in str(b["min_score"]) for b in p["bands"])]
    raw |= {"policies": fixed, "profiles": {"standard": raw["profiles"]["standard"]}}
    raw["enforcement"] = {"repeat_offenders": REPEAT_OFFENDERS}
    path = tmp_path / "packs" / "repeat-offenders.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run_context(tmp_path: Path, day: date, run_key: str, pack: str) -> RunContext:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    return RunContext(
        run_id=f"run-{run_key}",
        run_key=run_key,
        flow="daily-sweep",
        day=day,
        window_start=start,
        window_end=start + timedelta(days=1),
        pack=pack,
        profile="standard",
        policy_sha256="test",
        seed="seed",
        lake_root=str(tmp_path / "lake"),
        model_version="none",
    )


def _write_part(cat: RunCatalog, dataset: str, frame: pd.DataFrame) -> None:
    cat.lake.write(pa.Table.from_pandas(frame, preserve_index=False), dataset, cat.day, cat.run_key, "part-00000")


def _day_items(day: date, rows: list[tuple[str, str]]) -> pd.DataFrame:
    """(item_id, author_id) rows as US items created at 10:00 on ``day``, with a year-old account."""
    ids, authors = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "item_id": ids,
            "author_id": authors,
            "author_account_age_days": 400,
            "region": "US",
            "language": "en",
            "item_type": "text_post",
            "views": 100,
            "user_reports": 0,
            "created_at": pd.Timestamp(f"{day} 10:00", tz="UTC"),
        }
    )


def test_a_repeat_offenders_borderline_item_escalates_the_next_day_and_anothers_does_not(
    engine: Engine, tmp_path: Path
) -> None:
    """Day 1: alice's item is removed (a strike of weight 5). Day 2: alice's and bob's items score the same 0.3
    on minor safety (US escalate band 0.35): alice's escalates at 0.25 (the pack's offset -0.1, recorded with
    the decision's actor signals), bob's is not decided; automated bands stay where they are."""
    pack_path = str(_pack_with_repeat_offenders(tmp_path))
    day1, day2 = date(2026, 11, 22), date(2026, 11, 23)
    key = "test-hmac-key"
    ctx1 = _run_context(tmp_path, day1, "day1", pack_path)
    cat1 = catalog_of(ctx1)
    _write_part(cat1, "items", _day_items(day1, [("d1-alice", "alice")]))
    removed = decisions(
        [("dec-d1", "d1-alice", "minor_safety", "remove")], created_at=pd.Timestamp(f"{day1} 10:00", tz="UTC")
    )
    _write_part(cat1, "decisions", removed.drop(columns="day"))
    pack = resources.pack(pack_path, "standard", "none")
    ledger = lifecycle_io.LedgerContext(
        day=day1, run_key="day1", run_id="run-day1", as_of=ctx1.window_end, hmac_key=key
    )
    assert lifecycle_io.update_strike_ledger_run(engine, cat1, ledger, pack)["strikes_new"] == 1

    ctx2 = _run_context(tmp_path, day2, "day2", pack_path)
    cat2 = catalog_of(ctx2)
    _write_part(cat2, "items", _day_items(day2, [("d2-alice", "alice"), ("d2-bob", "bob")]))
    scores = pd.DataFrame(
        {"item_id": ["d2-alice", "d2-bob"], "policy_id": "minor_safety", "detector_id": "minors-lexicon", "score": 0.3}
    )
    _write_part(cat2, "detections", scores)
    _write_part(cat2, "coordination", scores.iloc[:0])
    today = strikes.strikes_from_decisions(
        decisions(
            [("dec-d2-other", "d2-bob", "minor_safety", "remove")], created_at=pd.Timestamp(f"{day2} 01:00", tz="UTC")
        ),
        pd.DataFrame({"item_id": ["d2-bob"], "author_id": [pseudonymise(pd.Series(["bob"]), key)[0]]}),
        lifecycle_io.policy_strike_specs(pack),
        ["remove"],
        day=day2,
    )
    ls.insert_strikes(engine, today)  # a strike of the run's own day never counts for its decisions
    assert lifecycle_io.snapshot_actor_weights(engine, cat2, day=day2, as_of=ctx2.window_start) == 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODSWEEP_HMAC_KEY", key)
        get_settings.cache_clear()
        bodies.decide_part(ctx2, "part-00000", [], 10, 200, 10)
    get_settings.cache_clear()
    made = cat2.load("decisions", "part-00000").to_pandas()
    assert made[["item_id", "action", "automated"]].values.tolist() == [["d2-alice", "escalate", False]]
    assert made["threshold"].iloc[0] == pytest.approx(0.25)
    signals = cat2.load("actor_risk", "part-00000").to_pandas().set_index("item_id")
    assert signals.loc["d2-alice", "escalate_offset"] == pytest.approx(-0.1)
    assert signals.loc["d2-alice", "active_weight"] == 5.0 and "d2-bob" not in signals.index
    assert signals.loc["d2-alice", "actor_risk"] == pytest.approx(2.0)  # strikes at the boost, nothing else
    escalations = bodies.sample_inputs(ctx2, ["part-00000"], 10)["escalations"]
    assert escalations.set_index("item_id")["actor_risk"].to_dict() == {"d2-alice": pytest.approx(2.0)}
    doc = explain_item(
        "d2-alice",
        decisions=made.assign(day=day2),
        tasks=pd.DataFrame(),
        detections=pd.DataFrame(),
        items=pd.DataFrame(),
        runs=[],
        actor=signals.reset_index().assign(day=day2, run_key="day2"),
        packs={"run-day2": pack},
    )
    applied = doc["decisions"][0]["band_applied"]
    assert applied["min_score"] == pytest.approx(0.25) and "under the escalate band 0.350" in applied["repeat_offender"]


def test_with_repeat_offenders_off_decide_reads_no_strikes(engine: Engine, tmp_path: Path) -> None:
    from modsweep.policy import load_pack

    ctx = _run_context(tmp_path, DAY, "rk", "community-guidelines")
    cat = catalog_of(ctx)
    _write_part(cat, "items", _day_items(DAY, [("i1", "alice")]))
    shipped = load_pack()
    off = shipped.model_copy(update={"spec": shipped.spec.model_copy(update={"enforcement": EnforcementSpec()})})
    items = cat.load("items", "part-00000").to_pandas()
    assert lifecycle_io.actor_signals_part(cat, off, "k", items, pd.Series([], dtype=str)) is None
    assert not cat.exists("actor_weights", lifecycle_io.ACTOR_WEIGHTS_PART)
    with pytest.raises(ValueError, match="min_active_weight"):
        EnforcementSpec.model_validate({"repeat_offenders": {"escalate_offset": -0.1}})


def test_actor_risk_orders_escalations_before_queue_capacity() -> None:
    from modsweep.policy import load_pack
    from modsweep.tasks import sample

    esc = pd.DataFrame(
        {
            "item_id": ["calm", "risky"],
            "policy_id": "hate.speech",
            "score": 0.5,
            "action": "escalate",
            "region": "DE",
            "language": "de",
            "views": 100,
            "user_reports": 0,
        }
    )
    empty_qa = pd.DataFrame(columns=["item_id", "policy_id", "reason", "stratum", "inclusion_prob", "score", "action"])
    args = dict(double_review_share=0.0, seed="s", id_key=b"k", run_id="r", run_key="rk", now=T0.to_pydatetime())
    plain = sample.build_review_tasks(esc, empty_qa, esc, load_pack(), **args)
    risky = sample.build_review_tasks(esc.assign(actor_risk=[1.0, 2.5]), empty_qa, esc, load_pack(), **args)
    base = plain.set_index("item_id")["priority"]
    assert base["calm"] == base["risky"]
    assert risky.set_index("item_id")["priority"].to_dict() == {"calm": base["calm"], "risky": 2.5 * base["risky"]}
    kept, _ = sample.apply_queue_capacity(risky, risky.iloc[:0], capacity_per_queue=1)
    assert kept.set_index("item_id")["status"].to_dict() == {"risky": "open", "calm": "carried_over"}


def test_lake_rows_and_author_pseudonyms_of_items_across_runs(tmp_path: Path) -> None:
    lake_root = str(tmp_path / "lake")
    for day, run_key, rows in ((DAY, "a", [("i1", "alice"), ("i2", "bob")]), (DAY, "b", [("i1", "carol")])):
        _write_part(RunCatalog(lake_root, day, run_key), "items", _day_items(day, rows))
    wanted = pd.DataFrame({"day": DAY, "run_key": ["a", "b", "a", "gone"], "item_id": ["i1", "i1", "i9", "i1"]})
    found = lifecycle_io.rows_of_items(lake_root, wanted, "items", ["item_id", "author_id"])
    assert sorted(map(tuple, found[["run_key", "item_id", "author_id"]].values.tolist())) == [
        ("a", "i1", "alice"),
        ("b", "i1", "carol"),
    ]
    names = lifecycle_io.author_pseudonyms(lake_root, wanted, "k")
    expected = pseudonymise(pd.Series(["alice", "carol"]), "k").tolist()
    assert names.tolist()[:2] == expected and names.iloc[2] is None and names.iloc[3] is None


def test_another_packs_repeat_offender_setting_applies_to_the_stored_active_weights() -> None:
    signals = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "active_weight": [8.0, 3.0, 0.0]})
    items = pd.Series(["i3", "i1", "i4", "i2"])  # i4: no signal (an author without strikes)
    on = EnforcementSpec.model_validate({"repeat_offenders": {"min_active_weight": 6, "escalate_offset": -0.1}})
    lower = EnforcementSpec.model_validate({"repeat_offenders": {"min_active_weight": 2, "escalate_offset": -0.2}})
    assert strikes.escalate_offsets_under(items, signals, on).tolist() == [0.0, -0.1, 0.0, 0.0]
    assert strikes.escalate_offsets_under(items, signals, lower).tolist() == [0.0, -0.2, 0.0, -0.2]
    assert strikes.escalate_offsets_under(items, signals, EnforcementSpec()).tolist() == [0.0] * 4  # off
    assert strikes.escalate_offsets_under(items, signals.iloc[:0], on).tolist() == [0.0] * 4
