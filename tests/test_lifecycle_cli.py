"""The lifecycle commands at the edge: one-line errors with exit 2, rejects with exit 1, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_appeals import T0, _seeded, appeal, write_appeals
from typer.testing import CliRunner

from modsweep import resources
from modsweep.cli import app
from modsweep.store import lifecycle as ls


@pytest.fixture
def home(modsweep_home: Path) -> Path:
    """The seeded store of test_appeals in this home (four enforced decisions and their strikes)."""
    _seeded(resources.store_engine())
    return modsweep_home


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_appeals_import_rejects_beside_the_file_and_a_bad_file_is_one_line(home: Path, tmp_path: Path) -> None:
    path = write_appeals(tmp_path / "a.csv", [appeal("d1"), appeal("nope")])
    got = run("appeals", "import", str(path))
    assert got.exit_code == 1 and "appeal tasks created" in got.output
    assert pd.read_csv(tmp_path / "a.rejected.csv")["rejection"].tolist() == ["unknown_decision"]
    (tmp_path / "b.csv").write_text("decision_id,statement\nd2,hi\n")
    bad = run("appeals", "import", str(tmp_path / "b.csv"))
    assert (
        bad.exit_code == 2 and "missing required column(s) received_at" in bad.output and "Traceback" not in bad.output
    )
    assert run("appeals", "import", str(tmp_path / "none.csv")).exit_code == 2
    listed = json.loads(run("appeals", "list", "--json").output)
    assert [a["decision_id"] for a in listed] == ["d1"] and listed[0]["status"] == "open"


def test_accounts_show_json_and_unknown_author(home: Path) -> None:
    author = ls.strikes_of(resources.store_engine())["author_id"].iloc[0]
    doc = json.loads(run("accounts", "show", author, "--json").output)
    assert doc["author_id"] == author and len(doc["strikes"]) >= 1
    assert json.loads(run("explain", "--author", author, "--json").output)["author_id"] == author
    unknown = run("accounts", "show", "nobody")
    assert unknown.exit_code == 2 and "no strikes or account decisions" in unknown.output
    top = json.loads(run("accounts", "top", "--day", T0.date().isoformat(), "--json").output)
    assert top[0]["active_weight"] >= top[-1]["active_weight"]


def test_revert_dry_run_json_changes_nothing_and_bad_arguments_exit_2(home: Path) -> None:
    since, until = (T0 - pd.Timedelta(days=1)).isoformat(), (T0 + pd.Timedelta(days=1)).isoformat()
    args = ["revert", "--policy", "hate.speech", "--since", since, "--until", until, "--reason", "bad rule"]
    plan = json.loads(run(*args, "--dry-run", "--json").output)
    assert plan["to_reverse"] == 4 and plan["dry_run"] is True
    assert ls.reversals(resources.store_engine()).empty and ls.revert_events(resources.store_engine()).empty
    done = json.loads(run(*args, "--json").output)
    assert done["reversed_now"] == 4 and done["reversed_total"] == 4
    assert json.loads(run(*args, "--json").output)["reversed_now"] == 0
    feed = home / "feed.jsonl"
    assert run("export", "actions", "--day", T0.date().isoformat(), "--out", str(feed)).exit_code == 0
    rows = [json.loads(line) for line in feed.read_text().splitlines()]
    assert {r["decision_id"]: r["visibility"] for r in rows} == dict.fromkeys(["d1", "d2", "d3", "d4"], "restored")
    assert {r["reversal_cause"] for r in rows} == {"revert"}  # the escalation d5 is not an action: not in the feed
    assert run("revert", "--policy", "nope", "--since", since, "--until", until, "--reason", "x").exit_code == 2
    assert run("revert", "--policy", "hate.speech", "--since", until, "--until", since, "--reason", "x").exit_code == 2
    assert run(*args, "--detector", "no-such-detector").exit_code == 2


def test_a_confirmed_escalation_earns_a_strike_through_reviews_import(home: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    from modsweep.catalog import RunCatalog
    from modsweep.config import get_settings
    from modsweep.store import lifecycle as ls

    engine = resources.store_engine()
    cat = RunCatalog(get_settings().lake_root, T0.date(), "rk")
    items = pd.DataFrame({"item_id": ["i5"], "author_id": ["carol"]})
    cat.lake.write(pa.Table.from_pandas(items, preserve_index=False), "items", T0.date(), "rk", "part-00000")
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
    from modsweep import store

    store.insert_review_tasks(engine, task)
    verdicts = tmp_path / "v.csv"
    verdicts.write_text(
        f"task_id,reviewer_id,label,final_action,decided_at\nt-esc,rev-1,violating,remove,{T0.isoformat()}\n"
    )
    assert run("reviews", "import", str(verdicts)).exit_code == 0
    struck = ls.strikes_of(engine, decision_ids=["d5"])
    assert struck["weight"].tolist() == [3.0] and struck["status"].tolist() == ["active"]
    assert run("reviews", "import", str(verdicts)).exit_code == 0  # importing again adds no second strike
    assert len(ls.strikes_of(engine, decision_ids=["d5"])) == 1
