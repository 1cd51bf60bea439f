"""Data-quality gates: every suite passes a known-good frame and stops a known-bad one, naming expectation and column."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modsweep import schemas
from modsweep.tasks import gates
from modsweep.tasks.gates import DataQualityError, GateResult, SuiteError, check_gate, load_suite, validate_frame

N = 200
SUITES = ("items.ingested", "detections.scored", "decisions.made", "review.sampled", "metrics.audited")
T0 = pd.Timestamp("2026-11-23", tz="UTC")


def _frame(schema: pa.Schema, columns: dict[str, object]) -> pd.DataFrame:
    """A frame with exactly the dtypes the lake hands to a gate (pyarrow schema → pandas)."""
    return pa.Table.from_pydict(columns, schema=schema).to_pandas()


def _ids(prefix: str, n: int = N) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(n)]


def _times(rng: np.random.Generator, n: int = N) -> pd.DatetimeIndex:
    return T0 + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")


def make_items(n: int = N, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _frame(
        schemas.ITEMS,
        {
            "item_id": _ids("it", n),
            "source": ["synthetic"] * n,
            "item_type": rng.choice(schemas.ITEM_TYPES, n),
            "author_id": [f"au-{i % 37}" for i in range(n)],
            "created_at": _times(rng, n),
            "region": rng.choice(["DE", "FR", "US", "BR", "IN"], n),
            "language": rng.choice(schemas.LANGUAGES, n),
            "text": ["a caption"] * n,
            "transcript": [None] * n,
            "ocr_text": [None] * n,
            "hashtags": [["#a", "#b"]] * n,
            "media_hash": [None] * n,
            "ai_disclosed": rng.random(n) < 0.1,
            "ai_provenance": [None] * n,
            "author_account_age_days": rng.integers(0, 3000, n),
            "author_followers": rng.integers(0, 10**6, n),
            "views": rng.integers(0, 10**6, n),
            "user_reports": rng.integers(0, 5, n),
            "report_reasons": [[]] * n,
        },
    )


def make_detections(n: int = N, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _frame(
        schemas.DETECTIONS,
        {
            "item_id": _ids("it", n),
            "policy_id": rng.choice(schemas.POLICY_IDS, n),
            "detector_id": ["lexicon"] * n,
            "detector_version": ["lexicon-1"] * n,
            "score": rng.uniform(0.05, 1.0, n),
            "evidence": ['{"terms": ["x"]}'] * n,
            "run_id": ["run-1"] * n,
        },
    )


def make_decisions(n: int = N, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    action = rng.choice(schemas.ACTIONS, n)
    automated = action != "escalate"
    visibility = {
        "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
        "reduce_reach": "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "age_restrict": "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "label": "DECISION_VISIBILITY_CONTENT_LABELLED",
        "escalate": "DECISION_VISIBILITY_OTHER",
    }
    return _frame(
        schemas.DECISIONS,
        {
            "decision_id": _ids("dec", n),
            "item_id": _ids("it", n),
            "policy_id": rng.choice(schemas.POLICY_IDS, n),
            "policy_version": ["2026.11"] * n,
            "action": action,
            "automated": automated,
            "score": rng.uniform(0.5, 1, n),
            "threshold": [0.5] * n,
            "region": rng.choice(["DE", "FR", "US"], n),
            "language": ["en"] * n,
            "item_type": ["video"] * n,
            "views": rng.integers(0, 1000, n),
            "user_reports": rng.integers(0, 3, n),
            "created_at": _times(rng, n),
            "run_id": ["run-1"] * n,
            "run_key": ["key-1"] * n,
            "decided_at": _times(rng, n),
            "decision_visibility": [visibility[a] for a in action],
            "category": ["STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"] * n,
            "category_specification": [["KEYWORD_HATE_SPEECH"]] * n,
            "automated_detection": [True] * n,
            "automated_decision": np.where(automated, "AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_NOT_AUTOMATED"),
            "territorial_scope": [["DE"]] * n,
        },
    )


def make_review_tasks(n: int = N, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _frame(
        schemas.REVIEW_TASKS,
        {
            "task_id": _ids("task", n),
            "item_id": _ids("it", n),
            "policy_id": rng.choice(schemas.POLICY_IDS, n),
            "queue": ["hate.speech|en|DE"] * n,
            "reason": rng.choice(schemas.TASK_REASONS, n),
            "stratum": ["hate.speech|remove"] * n,
            "inclusion_prob": np.r_[1.0, rng.uniform(0.001, 1.0, n - 1)],
            "replica": rng.integers(0, 2, n),
            "priority": rng.uniform(0, 100, n),
            "score": rng.uniform(0, 1, n),
            "action": [None] * n,
            "region": ["DE"] * n,
            "language": ["en"] * n,
            "views": rng.integers(0, 1000, n),
            "due_by": _times(rng, n) + pd.Timedelta(days=1),
            "status": rng.choice(["open", "claimed", "decided", "expired", "carried_over"], n),
            "created_at": _times(rng, n),
            "run_id": ["run-1"] * n,
            "run_key": ["key-1"] * n,
        },
    )


def make_metrics(seed: int = 5) -> pd.DataFrame:
    rows = [  # metric names as tasks/audit.py writes them; value ∈ [ci_low, ci_high] where both exist
        ("hate.speech", "ALL", "automated_precision", 0.93, 0.90, 0.96, 400),
        ("hate.speech", "DE", "automated_recall", 0.71, 0.60, 0.80, 380),
        ("hate.speech", "ALL", "prevalence", 0.002, 0.001, 0.004, 1000),
        ("hate.speech", "ALL", "qa_sample_size", 400.0, None, None, 400),
        ("ALL", "ALL", "reviewer_kappa", -0.2, -0.5, 0.1, 40),
        ("ALL", "ALL", "hours_to_decision_p90", 30.5, None, None, 120),  # not a rate: > 1 is fine
        ("ALL", "ALL", "sla_breach_rate", 0.05, 0.02, 0.09, 120),
        ("self_harm", "ALL", "escalation_confirm_rate", 1.0, 0.8, 1.0, 12),
        ("self_harm", "FR", "automated_recall", None, None, None, 0),
    ]
    cols = ["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"]
    data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    return _frame(schemas.METRICS, {"day": [date(2026, 11, 23)] * len(rows), **data, "run_id": ["run-1"] * len(rows)})


GOOD: dict[str, Callable[[], pd.DataFrame]] = {
    "items.ingested": make_items,
    "detections.scored": make_detections,
    "decisions.made": make_decisions,
    "review.sampled": make_review_tasks,
    "metrics.audited": make_metrics,
}


@pytest.fixture(scope="module")
def good() -> dict[str, pd.DataFrame]:
    """One known-good frame per suite, built once (and the GX context warmed once) for the module."""
    return {suite: make() for suite, make in GOOD.items()}


def _set(df: pd.DataFrame, column: str, rows: list[int], value: object) -> pd.DataFrame:
    out = df.copy()
    out.loc[out.index[rows], column] = value
    return out


# --------------------------------------------------------------------------- suite files


def test_every_boundary_has_a_suite_file() -> None:
    assert set(SUITES) <= set(gates.list_suites())


@pytest.mark.parametrize("suite", SUITES)
def test_suite_file_loads_with_known_expectations_and_severities(suite: str) -> None:
    spec = load_suite(suite)
    assert spec.name == suite
    assert {e.severity for e in spec.expectations} <= {"critical", "warning"}
    assert all(gates.expectation_class(e.type) is not None for e in spec.expectations)


def _kwargs(suite: str, type_: str, column: str) -> dict[str, object]:
    (exp,) = [e for e in load_suite(suite).expectations if e.type == type_ and e.kwargs.get("column") == column]
    return exp.kwargs


@pytest.mark.parametrize(
    ("suite", "schema"),
    [
        ("items.ingested", schemas.ITEMS),
        ("detections.scored", schemas.DETECTIONS),
        ("decisions.made", schemas.DECISIONS),
        ("review.sampled", schemas.REVIEW_TASKS),
        ("metrics.audited", schemas.METRICS),
    ],
)
def test_suite_column_sets_match_schemas(suite: str, schema: pa.Schema) -> None:
    (exp,) = [e for e in load_suite(suite).expectations if e.type == "expect_table_columns_to_match_set"]
    assert sorted(exp.kwargs["column_set"]) == sorted(schema.names)
    assert exp.kwargs["exact_match"] is True


def test_suite_value_sets_match_schemas() -> None:
    in_set = "expect_column_values_to_be_in_set"
    assert _kwargs("items.ingested", in_set, "item_type")["value_set"] == list(schemas.ITEM_TYPES)
    assert _kwargs("items.ingested", in_set, "language")["value_set"] == list(schemas.LANGUAGES)
    for suite in ("detections.scored", "decisions.made", "review.sampled"):
        assert _kwargs(suite, in_set, "policy_id")["value_set"] == list(schemas.POLICY_IDS)
    assert _kwargs("decisions.made", in_set, "action")["value_set"] == list(schemas.ACTIONS)
    assert _kwargs("review.sampled", in_set, "reason")["value_set"] == list(schemas.TASK_REASONS)
    statuses = _kwargs("review.sampled", in_set, "status")["value_set"]
    assert len(statuses) == len(set(statuses)) and set(statuses) == {*schemas.TASK_STATUSES, "carried_over"}


def test_suite_category_regex_accepts_every_dsa_category() -> None:
    import re

    from modsweep.policy import DSA_CATEGORIES

    regex = _kwargs("decisions.made", "expect_column_values_to_match_regex", "category")["regex"]
    assert all(re.match(regex, c) for c in DSA_CATEGORIES)


def test_suite_accepts_every_visibility_decide_writes() -> None:
    from modsweep.tasks.decide import ACTION_VISIBILITY

    allowed = _kwargs("decisions.made", "expect_column_values_to_be_in_set", "decision_visibility")["value_set"]
    assert set(ACTION_VISIBILITY) == set(schemas.ACTIONS)
    assert set(ACTION_VISIBILITY.values()) <= set(allowed)


def test_unknown_expectation_type_names_file_and_type(tmp_path: Path) -> None:
    (tmp_path / "items.bogus.json").write_text(
        json.dumps(
            {
                "name": "items.bogus",
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "item_id"},
                        "severity": "critical",
                    },
                    {
                        "type": "expect_column_values_to_be_purple",
                        "kwargs": {"column": "item_id"},
                        "severity": "critical",
                    },
                ],
            }
        )
    )
    with pytest.raises(SuiteError) as info:
        load_suite("items.bogus", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "items.bogus.json") in message
    assert "expectations[1]" in message and "expect_column_values_to_be_purple" in message
    assert "ExpectColumnValuesToBePurple" in message


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        (
            {
                "name": "items.bad",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "views", "min_vlaue": 0},
                        "severity": "critical",
                    }
                ],
            },
            "min_vlaue",
        ),
        (
            {
                "name": "items.bad",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}, "severity": "fatal"}
                ],
            },
            "severity",
        ),
        (
            {
                "name": "items.other",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}, "severity": "critical"}
                ],
            },
            "expected 'items.bad'",
        ),
    ],
    ids=["misspelt-kwarg", "unknown-severity", "name-differs-from-file"],
)
def test_invalid_suite_files_error_clearly(tmp_path: Path, document: dict[str, object], needle: str) -> None:
    (tmp_path / "items.bad.json").write_text(json.dumps(document))
    with pytest.raises(SuiteError, match=r"items\.bad\.json") as info:
        load_suite("items.bad", root=tmp_path)
    assert needle in str(info.value)


def test_missing_suite_lists_the_known_ones() -> None:
    with pytest.raises(SuiteError, match=r"no suite 'items\.nowhere'.*items\.ingested"):
        load_suite("items.nowhere")


# --------------------------------------------------------------------------- known-good frames


@pytest.mark.parametrize("suite", SUITES)
def test_known_good_frame_passes(suite: str, good: dict[str, pd.DataFrame]) -> None:
    result = check_gate(good[suite], suite, partition="p-0000")
    assert result.failures == [], result.summary()
    assert (result.severity, result.success, result.rows) == ("ok", True, len(good[suite]))
    assert result.evaluated_expectations == len(load_suite(suite).expectations)


def test_empty_detections_are_valid(good: dict[str, pd.DataFrame]) -> None:
    """A partition where no detector fired is normal; only items warn on an empty frame."""
    assert validate_frame(good["detections.scored"].iloc[:0], "detections.scored").severity == "ok"
    empty_items = validate_frame(good["items.ingested"].iloc[:0], "items.ingested")
    assert (empty_items.severity, [f.expectation_type for f in empty_items.failures]) == (
        "warning",
        ["expect_table_row_count_to_be_between"],
    )


def test_pyarrow_table_is_accepted(good: dict[str, pd.DataFrame]) -> None:
    table = pa.Table.from_pandas(good["items.ingested"], schema=schemas.ITEMS, preserve_index=False)
    assert validate_frame(table, "items.ingested").severity == "ok"


def test_failures_in_a_pyarrow_table_carry_counts_and_examples(good: dict[str, pd.DataFrame]) -> None:
    """Tables are checked first without unexpected-row lookups; a failure is re-checked for its details, and the
    columns no expectation reads (here the list columns, kept Arrow-backed) are still part of the frame."""
    bad = _set(_set(good["items.ingested"], "language", [1, 2], "xx"), "views", [3], -5)
    table = pa.Table.from_pandas(bad, schema=schemas.ITEMS, preserve_index=False)
    result = validate_frame(table, "items.ingested", partition="part-00003")
    by_column = {f.columns[0]: f for f in result.failures}
    assert (result.severity, set(by_column)) == ("critical", {"language", "views"})
    assert (by_column["language"].unexpected_count, by_column["language"].partial_unexpected) == (2, ["xx", "xx"])
    assert (by_column["views"].unexpected_count, by_column["views"].partial_unexpected) == (1, ["-5"])
    assert validate_frame(table.drop_columns(["hashtags"]), "items.ingested").failures[0].observed == (
        "missing: ['hashtags']"
    )


# --------------------------------------------------------------------------- known-bad frames

BAD = [  # suite, column to break, rows, value, expected expectation type (a duplicate makes 2 unexpected rows)
    ("items.ingested", "item_id", [3, 9], None, "expect_column_values_to_not_be_null"),
    ("items.ingested", "item_id", [4], "it-00000", "expect_column_values_to_be_unique"),
    ("items.ingested", "item_type", [5], "podcast", "expect_column_values_to_be_in_set"),
    ("items.ingested", "region", [6], "deu", "expect_column_values_to_match_regex"),
    ("items.ingested", "views", [7], -1, "expect_column_values_to_be_between"),
    ("items.ingested", "created_at", [8], pd.NaT, "expect_column_values_to_not_be_null"),
    ("detections.scored", "score", [1], 1.5, "expect_column_values_to_be_between"),
    ("detections.scored", "policy_id", [2], "spam", "expect_column_values_to_be_in_set"),
    ("detections.scored", "evidence", [3], None, "expect_column_values_to_not_be_null"),
    ("decisions.made", "action", [1], "ban", "expect_column_values_to_be_in_set"),
    ("decisions.made", "decision_id", [2], "dec-00000", "expect_column_values_to_be_unique"),
    ("decisions.made", "threshold", [3], -0.1, "expect_column_values_to_be_between"),
    ("decisions.made", "automated_decision", [4], "AUTOMATED_DECISION_MAYBE", "expect_column_values_to_be_in_set"),
    ("decisions.made", "decision_visibility", [5], "DECISION_VISIBILITY_HIDDEN", "expect_column_values_to_be_in_set"),
    ("decisions.made", "category", [6], "hate", "expect_column_values_to_match_regex"),
    ("review.sampled", "inclusion_prob", [1], 0.0, "expect_column_values_to_be_between"),
    ("review.sampled", "status", [2], "lost", "expect_column_values_to_be_in_set"),
    ("review.sampled", "replica", [3], 2, "expect_column_values_to_be_in_set"),
    ("review.sampled", "priority", [4], -5.0, "expect_column_values_to_be_between"),
    ("review.sampled", "task_id", [5], "task-00000", "expect_column_values_to_be_unique"),
    ("metrics.audited", "n", [0], -1, "expect_column_values_to_be_between"),
    ("metrics.audited", "metric", [1], None, "expect_column_values_to_not_be_null"),
]


@pytest.mark.parametrize(
    ("suite", "column", "rows", "value", "expected"),
    BAD,
    ids=[f"{b[0]}:{b[1]}:{b[4].removeprefix('expect_column_values_to_')}" for b in BAD],
)
def test_known_bad_frame_fails_naming_expectation_and_column(
    suite: str, column: str, rows: list[int], value: object, expected: str, good: dict[str, pd.DataFrame]
) -> None:
    bad = _set(good[suite], column, rows, value)
    with pytest.raises(DataQualityError) as info:
        check_gate(bad, suite, partition="p-0007")
    message = str(info.value)
    assert message.startswith(f"gate {suite} [p-0007] failed: ")
    count = 2 * len(rows) if expected == "expect_column_values_to_be_unique" else len(rows)
    assert f"{expected}({column}): {count} unexpected" in message
    result = info.value.result
    assert (result.severity, result.success) == ("critical", False)
    (failure,) = [f for f in result.critical_failures if f.expectation_type == expected and f.columns == [column]]
    assert failure.unexpected_count == count


def test_error_message_reports_count_and_share(good: dict[str, pd.DataFrame]) -> None:
    bad = _set(good["items.ingested"], "item_id", list(range(12)), None)
    with pytest.raises(
        DataQualityError, match=r"expect_column_values_to_not_be_null\(item_id\): 12 unexpected \(6\.0%\)"
    ):
        check_gate(bad, "items.ingested")


def test_compound_uniqueness_names_all_its_columns(good: dict[str, pd.DataFrame]) -> None:
    bad = pd.concat([good["detections.scored"], good["detections.scored"].iloc[:3]], ignore_index=True)
    with pytest.raises(DataQualityError) as info:
        check_gate(bad, "detections.scored")
    assert "expect_compound_columns_to_be_unique(item_id, policy_id, detector_id): 6 unexpected" in str(info.value)


def test_inverted_ci_is_critical(good: dict[str, pd.DataFrame]) -> None:
    bad = _set(good["metrics.audited"], "ci_high", [0], 0.5)  # ci_low 0.90 > ci_high 0.5, and value 0.93 > ci_high
    with pytest.raises(DataQualityError) as info:
        check_gate(bad, "metrics.audited")
    assert (
        "expect_column_pair_values_a_to_be_greater_than_b(ci_high, ci_low): 1 unexpected (16.7%), e.g. ['(0.5, 0.9)']"
        in str(info.value)
    )  # 16.7%: of the 6 rows where both bounds exist
    warned = [f.columns for f in info.value.result.warning_failures]
    assert warned == [["ci_high", "value"]]


def test_estimate_a_hair_outside_its_wilson_ci_only_warns(good: dict[str, pd.DataFrame]) -> None:
    """tasks/audit.wilson_interval(10, 10) gives ci_high = 1 - 1.1e-16 < 1.0: float noise must not stop a run."""
    from modsweep.tasks.audit import wilson_interval

    low, high = wilson_interval(10, 10)
    df = good["metrics.audited"]
    row = df.index[df["metric"] == "escalation_confirm_rate"][0]
    noisy = df.copy()
    noisy.loc[row, ["value", "ci_low", "ci_high"]] = [1.0, low, high]
    result = check_gate(noisy, "metrics.audited")
    assert [(f.columns, f.severity) for f in result.failures] == (
        [(["ci_high", "value"], "warning")] if high < 1 else []
    )


def test_non_bool_automated_column_fails_the_type_check(good: dict[str, pd.DataFrame]) -> None:
    """Pins the GX type name the suite uses: a pandas bool column is "bool"; strings are not."""
    bad = good["decisions.made"].assign(automated=good["decisions.made"]["automated"].map({True: "yes", False: "no"}))
    with pytest.raises(DataQualityError, match=r"expect_column_values_to_be_of_type\(automated\)"):
        check_gate(bad, "decisions.made")


def test_missing_column_is_critical_and_named(good: dict[str, pd.DataFrame]) -> None:
    result = validate_frame(good["items.ingested"].drop(columns=["views"]), "items.ingested")
    assert not result.success
    by_type = {f.expectation_type: f for f in result.failures}
    assert by_type["expect_table_columns_to_match_set"].observed == "missing: ['views']"
    assert "views" in (by_type["expect_column_values_to_be_between"].error or "")


# --------------------------------------------------------------------------- warnings


def test_warning_only_failures_do_not_raise_but_are_recorded(good: dict[str, pd.DataFrame]) -> None:
    bad = _set(good["items.ingested"], "language", [1, 2, 3], "xx")
    result = check_gate(bad, "items.ingested", partition="p-0001")
    assert (result.severity, result.success) == ("warning", True)
    (failure,) = result.failures
    assert (failure.expectation_type, failure.columns, failure.severity) == (
        "expect_column_values_to_be_in_set",
        ["language"],
        "warning",
    )
    assert failure.unexpected_count == 3 and failure.partial_unexpected == ["xx", "xx", "xx"]
    assert result.to_dict()["failures"][0]["severity"] == "warning"


def test_duplicate_item_policy_decision_is_a_warning(good: dict[str, pd.DataFrame]) -> None:
    df = good["decisions.made"]
    bad = _set(df, "item_id", [1], df["item_id"].iloc[0])
    bad = _set(bad, "policy_id", [1], df["policy_id"].iloc[0])
    result = check_gate(bad, "decisions.made")
    assert [(f.expectation_type, f.columns, f.severity) for f in result.failures] == [
        ("expect_compound_columns_to_be_unique", ["item_id", "policy_id"], "warning")
    ]


def test_rate_out_of_range_warns_only_for_rate_metrics(good: dict[str, pd.DataFrame]) -> None:
    """The row_condition limits [0, 1] to rates: 30.5 hours is fine, a precision of 1.2 is not."""
    bad = _set(good["metrics.audited"], "value", [0], 1.2)
    bad = _set(bad, "ci_high", [0], 1.3)
    result = check_gate(bad, "metrics.audited")
    assert [(f.expectation_type, f.columns, f.severity, f.unexpected_count) for f in result.failures] == [
        ("expect_column_values_to_be_between", ["value"], "warning", 1)
    ]


# --------------------------------------------------------------------------- results and runtime


def test_result_is_json_serialisable_and_round_trips(good: dict[str, pd.DataFrame]) -> None:
    bad = _set(_set(good["items.ingested"], "language", [1], "xx"), "views", [2], -3)
    result = validate_frame(bad, "items.ingested", partition="p-0002")
    restored = GateResult.model_validate(json.loads(json.dumps(result.to_dict())))
    assert restored == result
    assert {f.severity for f in restored.failures} == {"critical", "warning"}
    assert restored.seconds > 0 and restored.evaluated_expectations > 0


def test_validation_writes_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good: dict[str, pd.DataFrame]
) -> None:
    monkeypatch.chdir(tmp_path)
    for suite in SUITES:
        validate_frame(good[suite], suite)
    validate_frame(_set(good["items.ingested"], "views", [1], -1), "items.ingested")
    assert list(tmp_path.iterdir()) == []
    assert not (Path(__file__).parents[1] / "gx").exists()


def test_validation_keeps_no_reference_to_the_frame(good: dict[str, pd.DataFrame]) -> None:
    import gc
    import weakref

    frame = good["items.ingested"].copy()
    ref = weakref.ref(frame)
    validate_frame(frame, "items.ingested")
    del frame
    gc.collect()
    assert ref() is None


def test_concurrent_validations_do_not_mix_frames(good: dict[str, pd.DataFrame]) -> None:
    bad = _set(good["items.ingested"], "views", [1, 2], -1)
    outcomes: list[tuple[str, int]] = []

    def run(df: pd.DataFrame, tag: str) -> None:
        for _ in range(5):
            r = validate_frame(df, "items.ingested")
            outcomes.append((tag, sum(f.unexpected_count or 0 for f in r.failures)))

    threads = [
        threading.Thread(target=run, args=(df, tag)) for df, tag in [(good["items.ingested"], "good"), (bad, "bad")]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(outcomes)) == [("bad", 2), ("good", 0)]


def test_importing_gates_loads_neither_great_expectations_nor_prefect() -> None:
    code = "import sys, modsweep.tasks.gates; print(sorted(m for m in ('great_expectations', 'prefect') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_gx_batch_fingerprinting_stays_switched_off(good: dict[str, pd.DataFrame]) -> None:
    """GX md5s a pickle of every frame holding list columns (≈ 15 s per 10^6 items) unless HASH_THRESHOLD is 0.

    Pins the workaround in gates._datasource against a GX upgrade that renames the constant.
    """
    import inspect

    from great_expectations.execution_engine import pandas_execution_engine

    validate_frame(good["items.ingested"], "items.ingested")
    assert pandas_execution_engine.HASH_THRESHOLD == 0
    assert "HASH_THRESHOLD" in inspect.getsource(
        pandas_execution_engine.PandasExecutionEngine.get_batch_data_and_markers
    )


def test_data_quality_error_survives_the_trip_from_a_worker_process():
    import pickle

    from modsweep.tasks.gates import DataQualityError, check_gate

    bad = pd.DataFrame({"item_id": ["a", "a"]})
    try:
        check_gate(bad, "items.ingested", partition="part-00007")
    except DataQualityError as exc:
        again = pickle.loads(pickle.dumps(exc))
        assert isinstance(again, DataQualityError) and str(again) == str(exc)
        assert again.result.partition == "part-00007" and again.result.critical_failures
    else:
        raise AssertionError("the gate should have failed")


def _decisions_lake(tmp_path: Path, frames: dict[str, pd.DataFrame]):
    from modsweep.catalog import RunCatalog, to_table

    cat = RunCatalog(str(tmp_path / "lake"), date(2026, 11, 23), "k")
    for part, frame in frames.items():
        cat.save("detections", part, to_table(frame, schemas.DETECTIONS))
    return cat


def _detections(ids: list[str], score: float = 0.5) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "item_id": ids,
            "policy_id": "hate.speech",
            "detector_id": "lex",
            "detector_version": "1",
            "score": np.full(n, score, dtype=np.float32),
            "evidence": "{}",
            "run_id": "r",
        }
    )


def test_stage_gate_batches_partitions_and_names_the_failing_one(tmp_path: Path):
    from modsweep.tasks.gates import _batches, gate_lake_partitions

    assert _batches(["a", "b", "c", "d"], {"a": 4, "b": 4, "c": 9, "d": 1}, 8) == [["a", "b"], ["c"], ["d"]]
    assert _batches(["a", "b"], {"a": 4, "b": 4}, 0) == [["a"], ["b"]]
    frames = {f"part-{i:05d}": _detections([f"i{i}-{k}" for k in range(50)]) for i in range(4)}
    ctx = _decisions_lake(tmp_path, frames)
    results = gate_lake_partitions(ctx, "detections.scored", "detections", list(frames), batch_rows=100)
    assert [r["partition"] for r in results] == ["part-00000..part-00001", "part-00002..part-00003"]
    assert all(r["rows"] == 100 and r["success"] for r in results)

    frames["part-00002"] = _detections([f"j{k}" for k in range(50)], score=7.0)  # scores above 1: critical
    ctx = _decisions_lake(tmp_path / "bad", frames)
    with pytest.raises(DataQualityError) as caught:
        gate_lake_partitions(ctx, "detections.scored", "detections", list(frames), batch_rows=1_000)
    assert caught.value.result.partition == "part-00002"
    assert "score" in str(caught.value)


def test_a_row_condition_suite_gets_every_column_as_values(good: dict[str, pd.DataFrame]) -> None:
    """Columns are kept Arrow-backed only when no expectation can read them; a row_condition may read any."""
    from modsweep.tasks.gates import referenced_columns

    metrics = load_suite("metrics.audited")
    assert any("row_condition" in e.kwargs for e in metrics.expectations)
    cols = list(good["metrics.audited"].columns)
    assert referenced_columns(metrics, cols) == set(cols)
    items = load_suite("items.ingested")
    assert "hashtags" not in referenced_columns(items, list(schemas.ITEMS.names))
    bad = _set(_set(good["metrics.audited"], "value", [0], 1.2), "ci_high", [0], 1.3)
    result = validate_frame(pa.Table.from_pandas(bad, preserve_index=False), "metrics.audited")
    assert [(f.columns, f.unexpected_count) for f in result.failures] == [(["value"], 1)]
