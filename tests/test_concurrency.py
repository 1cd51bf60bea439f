"""Runs at the same time against one store, on SQLite and on PostgreSQL: two daily sweeps of the same day (a
scheduled run and a manual re-run: one run key) beside a surge over an overlapping window, then review imports
beside a resumed sweep. Nothing is lost, nothing is written twice, every ledger entry is complete, the audit
chain holds.

The flows run in threads of this process, under the session's Prefect test harness (subprocesses would each need
their own Prefect server start-up); the store is shared exactly as workers would share it. Each backend's store
goes through both scenarios in order (a module-scoped fixture per scenario), so three concurrent sweeps, one
resumed sweep and one import per backend cover every test below.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest
from helpers.sweeps import (
    assert_no_duplicates,
    isolated_home,
    postgres_schema,
    rows_lost,
    run_daily,
    snapshot,
    write_small_day,
)

from modsweep import resources, store

pytestmark = [pytest.mark.flow, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

DAY = date(2026, 11, 23)
STAGES = ("ingest", "detect", "decide", "sample", "audit")
SURGE_REGIONS = ["US", "IN", "DE", "BR"]
SURGE_WINDOW = (datetime(2026, 11, 23, 6, tzinfo=UTC), datetime(2026, 11, 23, 18, tzinfo=UTC))
LOST: list[int] = []


@pytest.fixture(scope="module", autouse=True)
def report_rows_lost(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the rows lost over every run of the module (counted from the lake)."""
    yield
    line = f"concurrency: rows lost {sum(LOST)} over {len(LOST)} run keys swept concurrently"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@pytest.fixture(scope="module")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_small_day(tmp_path_factory.mktemp("concurrency-source"), DAY, 2_100, 700, seed=11)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, prefect_harness, synthetic_day, tmp_path_factory) -> Iterator[str]:
    """One home per backend, shared by the module's scenarios (on PostgreSQL: a fresh schema)."""
    root = tmp_path_factory.mktemp(f"concurrency-{request.param}")
    if request.param == "sqlite":
        with isolated_home(root, synthetic_day["models"]):
            yield "sqlite"
        return
    with postgres_schema("ms_conc") as url, isolated_home(root, synthetic_day["models"], MODSWEEP_DATABASE_URL=url):
        yield "postgres"


def _run_together(calls: dict[str, Callable[[], Any]], timeout: float = 180) -> dict[str, Any]:
    """Start every call at the same instant in its own thread; return results, raising the first failure."""
    barrier = threading.Barrier(len(calls))
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def target(name: str, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[name] = call()
        except BaseException as exc:  # reported below, in the test's thread
            errors[name] = exc

    threads = [threading.Thread(target=target, args=(n, c), name=f"concurrent-{n}") for n, c in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not [t.name for t in threads if t.is_alive()], "a concurrent call did not finish in time"
    if errors:
        name, exc = next(iter(errors.items()))
        raise AssertionError(f"{name} failed while running concurrently: {exc!r}") from exc
    return results


def _assert_complete_ledger_entry(run: dict[str, Any]) -> None:
    assert run["state"] == "completed" and run["ended_at"] is not None and run["error"] is None
    assert set(STAGES) <= set(run["stage_counts"]), sorted(run["stage_counts"])
    ingest = run["stage_counts"]["ingest"]
    assert ingest["read"] == ingest["processed"] + ingest["quarantined"] + ingest.get("out_of_scope", 0)
    assert {g["suite"] for g in run["gate_results"]} >= {"items.ingested", "detections.scored", "decisions.made"}
    assert run["outputs"].get("report")


def _audit_events(engine: Any, subject: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(store.AuditEntry.__table__.select().where(store.AuditEntry.subject == subject))
        return [r.event for r in rows]


ACCOUNT_TASK = "acct-task-"  # review tasks of account actions (suspend, terminate), made by the strike stage


def _sample(run_key: str) -> set[str]:
    """The task ids of a run's committed review sample (its lake dataset)."""
    return set(resources.lake().read_all("review_tasks", DAY, run_key, columns=["task_id"]).column(0).to_pylist())


# --- scenario 1: two daily sweeps of one key and a surge over an overlapping window, all at once ---------------


@pytest.fixture(scope="module")
def at_once(backend: str, small_day: dict[str, Any]) -> dict[str, Any]:
    """A scheduled and a manual daily sweep of the same day (tasks left open for reviewers) and a surge with
    simulated reviewers, started at the same instant."""
    from modsweep.flows.surge_run import surge_run

    since, until = SURGE_WINDOW
    return _run_together(
        {
            "scheduled": lambda: run_daily(small_day, simulate_reviews_from=None),
            "manual": lambda: run_daily(small_day, simulate_reviews_from=None),
            "surge": lambda: surge_run(
                regions=SURGE_REGIONS,
                since=since,
                until=until,
                source=str(small_day["items"]),
                requested_by="pytest",
                simulate_reviews_from=str(small_day["truth"]),
            ),
        }
    )


def test_two_daily_sweeps_and_a_surge_at_once_lose_and_duplicate_nothing(at_once, small_day):
    scheduled, manual, surge = at_once["scheduled"], at_once["manual"], at_once["surge"]
    assert scheduled.run_key == manual.run_key != surge.run_key
    assert len({scheduled.run_id, manual.run_id, surge.run_id}) == 3
    engine = resources.store_engine()
    lake = resources.lake()
    daily_key = scheduled.run_key
    snaps = {"daily": snapshot(engine, lake, DAY, daily_key), "surge": snapshot(engine, lake, DAY, surge.run_key)}
    runs = {name: store.get_run(engine, s.run_id) for name, s in at_once.items()}
    for snap in snaps.values():
        assert_no_duplicates(snap)  # decision, task and item ids unique; the store holds exactly the lake's decisions
    for run in runs.values():
        _assert_complete_ledger_entry(run)
        assert _audit_events(engine, run["run_id"]).count("run.completed") == 1

    # The daily key: both runs counted every source row; between them they inserted each decision once.
    daily = snaps["daily"]
    assert len(daily["items"]) + len(daily["quarantine"]) == small_day["rows"]  # each row in exactly one of them
    for name in ("scheduled", "manual"):
        ingest = runs[name]["stage_counts"]["ingest"]
        assert ingest["read"] == small_day["rows"] and ingest["processed"] == len(daily["items"])
        assert runs[name]["stage_counts"]["decide"]["decisions"] == len(daily["decisions"])
    inserted = sum(runs[name]["stage_counts"]["decide"]["decisions_inserted"] for name in ("scheduled", "manual"))
    assert inserted == len(daily["decisions"]), "a decision was inserted twice, or never"
    # The surge: every decision it counted is in the store, once, inserted by it.
    decide = runs["surge"]["stage_counts"]["decide"]
    assert decide["decisions"] == len(snaps["surge"]["decisions"]) == decide["decisions_inserted"]

    # The two keys share items, never a decision.
    assert set(daily["items"]["item_id"]) & set(snaps["surge"]["items"]["item_id"])
    assert not set(daily["decisions"]["decision_id"]) & set(snaps["surge"]["decisions"]["decision_id"])
    assert len(store.fetch_decisions(engine)) == len(daily["decisions"]) + len(snaps["surge"]["decisions"])

    # Review tasks: a task id is item × policy × reason × replica, whichever run stores it first. Every sampled
    # task is stored exactly once, and the three runs' insert counts add up to what is stored.
    samples = {"daily": _sample(daily_key), "surge": _sample(surge.run_key)}
    for name, run in runs.items():
        assert run["stage_counts"]["sample"]["review_tasks"] == len(samples["surge" if name == "surge" else "daily"])
    stored = store.fetch_review_tasks(engine)
    assert stored["task_id"].is_unique
    stored = stored[~stored["task_id"].str.startswith(ACCOUNT_TASK)]  # account actions' tasks: the strike stage's
    assert set(stored["task_id"]) == samples["daily"] | samples["surge"]  # none lost
    assert sum(run["stage_counts"]["sample"]["review_tasks_inserted"] for run in runs.values()) == len(stored)
    for key, snap in ((daily_key, daily), (surge.run_key, snaps["surge"])):
        sampled = {t for t in snap["tasks"]["task_id"] if not t.startswith(ACCOUNT_TASK)}
        assert sampled <= samples["surge" if key == surge.run_key else "daily"]

    assert {r["state"] for r in store.list_runs(engine)} == {"completed"} and len(store.list_runs(engine)) == 3
    assert store.verify_audit_log(engine).ok
    files = sorted(small_day["items"].rglob("*.parquet"))
    lost = [
        rows_lost(lake, DAY, daily_key, files, runs["scheduled"]["stage_counts"]["ingest"].get("out_of_scope", 0)),
        rows_lost(lake, DAY, surge.run_key, files, runs["surge"]["stage_counts"]["ingest"]["out_of_scope"]),
    ]
    LOST.extend(lost)
    assert lost == [0, 0]


def test_the_surge_reviews_and_audits_its_whole_sample_including_tasks_the_daily_runs_stored(at_once):
    """The surge samples some of the daily sample's item × policy × reason: whichever run stored such a task
    first, it belongs to the surge's sample too, and the surge's reviewers and audit must see all of it."""
    engine = resources.store_engine()
    surge = at_once["surge"]
    sample = _sample(surge.run_key)
    assert sample & _sample(at_once["scheduled"].run_key), "the samples should overlap for this check to mean anything"
    tasks = store.fetch_review_tasks(engine, task_ids=sorted(sample)).set_index("task_id")
    assert len(tasks) == len(sample)
    undecided = tasks[tasks["status"] != "decided"]
    elsewhere = int((tasks["run_key"] != surge.run_key).sum())
    assert undecided.empty, (
        f"{len(undecided)} of the surge's {len(sample)} sampled tasks were never reviewed "
        f"in its run ({elsewhere} are stored under the daily key)"
    )
    # The daily runs review nothing: every task of the surge's sample was decided by the surge's reviewers.
    review = store.get_run(engine, surge.run_id)["stage_counts"]["review"]
    own = store.fetch_review_tasks(engine, run_key=surge.run_key)
    accounts = int(own["task_id"].str.startswith(ACCOUNT_TASK).sum())  # account actions awaiting a reviewer
    assert review["reviews_applied"] == len(sample) + accounts and review["reviews_rejected"] == 0


# --- scenario 2: review imports while the daily key resumes ---------------------------------------------------


def _import_in_batches(engine: Any, task_ids: list[str], stop_after: float, batch: int = 25) -> dict[str, int]:
    """A review tool sending its decisions batch by batch (each batch twice, as retrying clients do)."""
    applied = unchanged = rejected = 0
    pause = stop_after / max(len(task_ids) / batch, 1)
    decided_at = datetime(2026, 11, 23, 23, tzinfo=UTC)
    for start in range(0, len(task_ids), batch):
        chunk = task_ids[start : start + batch]
        outcomes = pd.DataFrame(
            {
                "task_id": chunk,
                "reviewer_id": "human-7",
                "label": "violating",
                "final_action": "remove",
                "decided_at": decided_at,
            }
        )
        for _ in range(2):
            result = store.apply_review_outcomes(engine, outcomes)
            applied, unchanged, rejected = (
                applied + result.applied,
                unchanged + result.unchanged,
                rejected + result.rejected,
            )
        time.sleep(pause)
    return {"applied": applied, "unchanged": unchanged, "rejected": rejected}


@pytest.fixture(scope="module")
def resumed_with_import(at_once: dict[str, Any], small_day: dict[str, Any]) -> dict[str, Any]:
    """The daily key re-run (it plays simulated reviewers on its open tasks) while a review tool imports decisions
    for the same open tasks."""
    engine = resources.store_engine()
    open_tasks = store.fetch_review_tasks(engine, run_key=at_once["scheduled"].run_key, status="open")
    task_ids = sorted(open_tasks["task_id"])
    started = time.monotonic()
    results = _run_together(
        {
            "resume": lambda: run_daily(small_day),
            "import": lambda: _import_in_batches(engine, task_ids, stop_after=4.0),
        }
    )
    return {**results, "task_ids": task_ids, "seconds": time.monotonic() - started}


def test_review_imports_while_the_same_run_key_resumes_decide_every_task_exactly_once(at_once, resumed_with_import):
    """Each open task is decided once, by the import or by the resumed run's reviewers, and both tallies add up."""
    resumed, imported, task_ids = (resumed_with_import[k] for k in ("resume", "import", "task_ids"))
    assert resumed.run_key == at_once["scheduled"].run_key
    assert len(task_ids) > 100
    engine = resources.store_engine()
    tasks = store.fetch_review_tasks(engine, task_ids=task_ids).set_index("task_id")
    assert tasks.index.is_unique and len(tasks) == len(task_ids)
    assert (tasks["status"] == "decided").all()
    by_import = tasks[tasks["reviewer_id"] == "human-7"]
    by_simulation = tasks[tasks["reviewer_id"].str.startswith("sim-reviewer-")]
    assert len(by_import) + len(by_simulation) == len(tasks)
    run = store.get_run(engine, resumed.run_id)
    _assert_complete_ledger_entry(run)
    review = run["stage_counts"]["review"]
    # No lost update: every task was applied by exactly one side, and each side's count says so.
    assert imported["applied"] == len(by_import)
    assert review["reviews_applied"] == len(by_simulation)
    assert imported["applied"] + review["reviews_applied"] == len(task_ids)
    # A repeat of one's own decision is unchanged; a task the other side decided first is rejected.
    assert imported["unchanged"] >= imported["applied"]
    assert imported["applied"] + imported["unchanged"] + imported["rejected"] == 2 * len(task_ids)
    assert (by_import["label"] == "violating").all() and (by_import["final_action"] == "remove").all()
    assert run["stage_counts"]["decide"]["decisions_inserted"] == 0  # the resume wrote no decision again
    assert_no_duplicates(snapshot(engine, resources.lake(), DAY, resumed.run_key))
    assert store.verify_audit_log(engine).ok
    assert resumed_with_import["seconds"] < 120
