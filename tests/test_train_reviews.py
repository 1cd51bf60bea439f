"""`train --with-reviews`: reviewer decisions on live items (store + lake) become training rows, recorded in the card."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_train import _tiny_corpus
from typer.testing import CliRunner

from modsweep import resources, store
from modsweep.schemas import ITEMS
from modsweep.tasks.train import ReviewedRows, reviewed_training_rows, train_from_manifest

DAY = date(2026, 11, 23)
RUN_KEY = "rk-train-reviews"
CREATED = datetime(2026, 11, 23, 6, tzinfo=UTC)
# A phrase the tiny corpus never labels: only the reviewers say it is medical misinformation.
NEW_CLAIM = "garlic water stops the infection"


def _decided(item_id: str, policy: str, label: str | None, replica: int = 0, status: str = "decided") -> dict:
    return {"item_id": item_id, "policy_id": policy, "label": label, "replica": replica, "status": status}


def test_reviewed_rows_take_the_majority_and_drop_ties_and_missing_text():
    tasks = pd.DataFrame(
        [
            _decided("a", "misinfo.medical", "violating"),
            _decided("a", "misinfo.medical", "violating", 1),
            _decided("a", "misinfo.medical", "benign", 2),  # outvoted
            _decided("b", "misinfo.medical", "violating"),
            _decided("b", "misinfo.medical", "benign", 1),  # a tie: dropped
            _decided("c", "deceptive.spam", "benign"),
            _decided("d", "deceptive.spam", "violating"),  # its item has no text in the lake
            _decided("e", "deceptive.spam", None, status="open"),  # not decided: ignored
        ]
    )
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "e"],
            "text": ["caption", "x", None, "y"],
            "transcript": [None, None, "spoken words", None],
            "ocr_text": [None, None, None, None],
        }
    )
    got = reviewed_training_rows(tasks, items, source="test")
    rows = got.rows.set_index("item_id")
    assert list(rows.index) == ["a", "c"]
    assert rows.loc["a", "violating"] and not rows.loc["c", "violating"]
    # the text detection scores: caption, transcript and OCR text joined
    assert rows.loc["a", "text"].strip() == "caption" and rows.loc["c", "text"].strip() == "spoken words"
    assert got.counts == {
        "tasks": 8,
        "decided_with_label": 7,
        "pairs": 4,
        "dropped_reviewers_disagree": 1,
        "dropped_no_text_in_lake": 1,
        "rows": 2,
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-reviews")
    return root, _tiny_corpus(root)


def _reviewed(n: int = 40) -> ReviewedRows:
    texts = [f"{NEW_CLAIM} {k}" for k in range(n)] + [f"lovely walk by the river {k}" for k in range(n)]
    frame = pd.DataFrame(
        {
            "item_id": [f"r{k}" for k in range(2 * n)],
            "text": texts,
            "policy_id": ["misinfo.medical"] * (2 * n) + [],
            "violating": [True] * n + [False] * n,
        }
    )
    extra = pd.DataFrame(
        {
            "item_id": ["m1"],
            "text": ["a post for a policy without a label"],
            "policy_id": ["minor_safety"],
            "violating": [True],
        }
    )
    return ReviewedRows(pd.concat([frame, extra], ignore_index=True), {"rows": 2 * n + 1}, "test reviews")


def test_reviewed_items_are_trained_on_and_recorded_in_the_card(corpus):
    root, manifest = corpus
    plain = train_from_manifest(manifest, root, c_grid=(4.0,), folds=3)
    with_reviews = train_from_manifest(manifest, root, c_grid=(4.0,), folds=3, reviewed=_reviewed())
    assert with_reviews.version != plain.version
    reviews = with_reviews.card["training_data"]["reviews"]
    assert plain.card["training_data"]["reviews"] is None
    assert reviews["source"] == "test reviews" and reviews["no_model_label"] == 1
    assert reviews["by_label"] == {"misinfo.medical": {"policy": "misinfo.medical", "rows": 80, "violating": 40}}
    assert "reviews:misinfo.medical" in with_reviews.card["label_training"]["misinfo.medical"]["datasets"]
    assert with_reviews.card["training_data"]["rows"] == plain.card["training_data"]["rows"] + 80
    # the validation stream is the manifest's alone, so the two cards' figures stay comparable
    assert with_reviews.card["stream"]["rows"] == plain.card["stream"]["rows"]
    probe = pd.Series([f"{NEW_CLAIM} today"])
    before = float(plain.model.score_texts(probe)["misinfo.medical"][0])
    after = float(with_reviews.model.score_texts(probe)["misinfo.medical"][0])
    assert after > 0.5 > before


def _items(rows: list[dict]) -> pa.Table:
    base = {
        "source": "test",
        "item_type": "post",
        "created_at": CREATED,
        "region": "IE",
        "language": "en",
        "author_id": "a",
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


def _task(k: int, item_id: str, run_id: str, label: str | None) -> dict:
    return {
        "task_id": f"t{k}",
        "item_id": item_id,
        "policy_id": "misinfo.medical",
        "queue": "misinfo.medical:en:IE",
        "reason": "qa_actioned",
        "stratum": "s",
        "inclusion_prob": 0.5,
        "replica": 0,
        "priority": 1.0,
        "score": 0.7,
        "action": None,
        "region": "IE",
        "language": "en",
        "views": 100,
        "due_by": CREATED + timedelta(hours=24),
        "status": "open",
        "created_at": CREATED,
        "run_id": run_id,
        "run_key": RUN_KEY,
        "day": DAY,
        "carry_over_reason": None,
        "label_": label,
    }


def test_train_with_reviews_reads_the_store_and_the_lake(corpus, modsweep_home, store_backend):
    from modsweep.cli import app

    root, manifest = corpus
    runner = CliRunner()
    args = ["train", "--manifest", str(manifest), "--data-root", str(root), "--with-reviews"]
    empty = runner.invoke(app, args)  # nothing reviewed yet: one line, exit 2, no model
    assert empty.exit_code == 2 and "no decided review tasks" in empty.output, empty.output
    engine = resources.store_engine()
    n = 30
    texts = [f"{NEW_CLAIM} {k}" for k in range(n)] + [f"lovely walk by the river {k}" for k in range(n)]
    resources.lake().write(
        _items([{"item_id": f"i{k}", "text": t} for k, t in enumerate(texts)]), "items", DAY, RUN_KEY, "part-00000"
    )
    run_id = store.start_run(
        engine,
        run_key=RUN_KEY,
        flow="daily-sweep",
        trigger="manual",
        requested_by="pytest",
        parameters={"day": DAY.isoformat()},
        policy_pack="community-guidelines",
        policy_version="test",
        policy_sha256="0" * 64,
        code_version="test",
    )
    tasks = pd.DataFrame([_task(k, f"i{k}", run_id, None) for k in range(2 * n)]).drop(columns="label_")
    store.insert_review_tasks(engine, tasks)
    outcomes = pd.DataFrame(
        {
            "task_id": [f"t{k}" for k in range(2 * n)],
            "reviewer_id": "rev-1",
            "label": np.where(np.arange(2 * n) < n, "violating", "benign"),
            "decided_at": CREATED + timedelta(hours=2),
        }
    )
    assert store.apply_review_outcomes(engine, outcomes).applied == 2 * n
    later = runner.invoke(app, [*args, "--reviews-since", (DAY + timedelta(days=1)).isoformat()])
    assert later.exit_code == 2 and "on or after 2026-11-24" in later.output, later.output
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "reviews: 60 reviewed items from 60 decided tasks" in done.output
    (card_path,) = (modsweep_home / "models").glob("*/*/card.json")
    reviews = json.loads(card_path.read_text())["training_data"]["reviews"]
    assert reviews["by_label"]["misinfo.medical"] == {"policy": "misinfo.medical", "rows": 60, "violating": 30}
    assert reviews["tasks"] == 60 and reviews["rows"] == 60
    version = json.loads(card_path.read_text())["version"]
    entry = store.latest_audit_entry(engine, event="model.trained_with_reviews", subject=f"text-policy@{version}")
    assert entry is not None and store.verify_audit_log(engine).ok
