"""DSA statements of reasons: field names and values of the Transparency Database API, on hand-built frames."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
import pytest

from modsweep.policy import load_pack
from modsweep.schemas import AUTOMATED_ACTIONS
from modsweep.tasks import dsa
from modsweep.tasks.decide import ACTION_VISIBILITY

T0 = pd.Timestamp("2026-11-23 08:00", tz="UTC")
HATE = dsa.PolicyInfo(
    policy_id="hate.speech",
    title="Hate speech and harassment",
    pack="community-guidelines 2026.11.1",
    detector_kinds={"hate-lexicon": "lexicon", "hate-classifier": "classifier", "hate-reports": "reports"},
)
EXTREMISM = dsa.PolicyInfo(
    policy_id="violent_extremism",
    title="Violent extremism and terrorist content",
    pack="community-guidelines 2026.11.1",
    decision_ground=dsa.DECISION_GROUND_ILLEGAL,
    illegal_content_legal_ground=dsa.DEFAULT_LEGAL_GROUNDS["violent_extremism"],
    detector_kinds={"extremism-lexicon": "lexicon", "extremism-reports": "reports"},
)
POLICIES = {"run-1": {"hate.speech": HATE, "violent_extremism": EXTREMISM}, "run-2": {"hate.speech": HATE}}


def decision(**kw: Any) -> dict[str, Any]:
    row = {
        "decision_id": "d" * 32,
        "item_id": "it-1",
        "policy_id": "hate.speech",
        "policy_version": "2026.11.1",
        "action": "remove",
        "automated": True,
        "score": 0.96,
        "threshold": 0.92,
        "region": "DE",
        "language": "de",
        "item_type": "comment",
        "views": 120,
        "user_reports": 0,
        "created_at": T0 - pd.Timedelta(hours=5),
        "run_id": "run-1",
        "run_key": "key-1",
        "decided_at": T0,
        "decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED",
        "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "category_specification": ["KEYWORD_HATE_SPEECH"],
        "automated_detection": True,
        "automated_decision": "AUTOMATED_DECISION_FULLY",
        "territorial_scope": ["DE"],
        "day": date(2026, 11, 23),
    }
    row.update(kw)
    if "action" in kw and "decision_visibility" not in kw:
        row["decision_visibility"] = ACTION_VISIBILITY[kw["action"]]
    return row


def detection(
    detector_id: str,
    score: float,
    evidence: dict[str, Any],
    *,
    item_id: str = "it-1",
    policy_id: str = "hate.speech",
    version: str = "lexicon-1",
    run_key: str = "key-1",
) -> dict[str, Any]:
    return {
        "run_key": run_key,
        "item_id": item_id,
        "policy_id": policy_id,
        "detector_id": detector_id,
        "detector_version": version,
        "score": score,
        "evidence": json.dumps(evidence),
        "run_id": "run-1",
    }


def review(item_id: str = "it-1", policy_id: str = "hate.speech", **kw: Any) -> dict[str, Any]:
    row = {
        "task_id": f"t-{item_id}-{policy_id}",
        "item_id": item_id,
        "policy_id": policy_id,
        "reason": "review_band",
        "status": "decided",
        "label": "violating",
        "final_action": "remove",
        "run_key": "key-1",
        "decided_at": T0 + pd.Timedelta(hours=3),
        "reviewer_id": "rv-0a1b2c",
    }
    row.update(kw)
    return row


def build(
    decisions: list[dict[str, Any]],
    detections: list[dict[str, Any]] = (),
    tasks: list[dict[str, Any]] = (),
    authors: dict[str, str] | None = None,
) -> dsa.StatementBatch:
    enforced = dsa.enforced_decisions(pd.DataFrame(decisions), pd.DataFrame(list(tasks)))
    return dsa.build_statements(enforced, pd.DataFrame(list(detections)), POLICIES, author_ids=authors)


def only(batch: dsa.StatementBatch) -> dict[str, Any]:
    assert not batch.problems, [p.describe() for p in batch.problems]
    assert len(batch.statements) == 1
    return batch.statements[0].to_api()


@pytest.mark.parametrize("action", AUTOMATED_ACTIONS)
def test_every_automated_action_maps_to_its_decision_visibility(action):
    s = only(build([decision(action=action)]))
    assert s["decision_visibility"] == [ACTION_VISIBILITY[action]]
    assert s["decision_visibility"][0] in dsa.DECISION_VISIBILITIES
    assert "decision_visibility_other" not in s
    assert s["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert {
        "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
        "reduce_reach": "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "age_restrict": "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "label": "DECISION_VISIBILITY_CONTENT_LABELLED",
    }[action] == s["decision_visibility"][0]


def test_statement_has_the_api_field_names_and_formats():
    s = only(build([decision()], [detection("hate-lexicon", 0.9, {"terms": ["slur"]})]))
    assert list(s) == [
        "puid",
        "decision_visibility",
        "decision_ground",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "category",
        "category_specification",
        "content_type",
        "content_language",
        "content_date",
        "territorial_scope",
        "application_date",
        "decision_facts",
        "source_type",
        "automated_detection",
        "automated_decision",
    ]
    assert s["puid"] == "modsweep-" + "d" * 32
    assert s["content_language"] == "DE" and s["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert (s["content_date"], s["application_date"]) == ("2026-11-23", "2026-11-23")
    assert s["territorial_scope"] == ["DE"] and s["category_specification"] == ["KEYWORD_HATE_SPEECH"]
    assert (s["automated_detection"], s["source_type"]) == ("Yes", "SOURCE_VOLUNTARY")
    assert "hate-lexicon (lexicon-1, 0.90): terms=[slur]" in s["decision_facts"]


def test_puid_is_deterministic_and_matches_the_api_pattern():
    rows = [decision(decision_id=f"{i:032x}", item_id=f"it-{i}") for i in range(5)]
    first = [dsa.to_json_line(s) for s in build(rows).statements]
    second = [dsa.to_json_line(s) for s in build(rows).statements]
    assert first == second and len(first) == 5
    for line in first:
        puid = json.loads(line)["puid"]
        assert dsa.PUID_RE.match(puid) and len(puid) <= 500
    bad = dsa.validate_statement({**json.loads(first[0]), "puid": "item 1/policy.x"})
    assert isinstance(bad, list) and bad[0].field == "puid"


def test_non_eu_decisions_get_no_statement():
    batch = build(
        [
            decision(item_id="it-us", region="US", territorial_scope=[]),
            decision(decision_id="e" * 32, item_id="it-in", region="IN", territorial_scope=None),
            decision(decision_id="f" * 32, item_id="it-no", region="NO", territorial_scope=["NO"]),
        ]
    )
    assert [s.territorial_scope for s in batch.statements] == [["NO"]]


def test_facts_are_capped_at_5000_characters_and_never_carry_the_author_id():
    evidence = {
        "terms": [f"term{i}-{'x' * 60}" for i in range(400)],
        "author_id": "au-secret-7",
        "note": "by au-secret-7",
    }
    detections = [detection(f"hate-lexicon-{i}", 0.5 + i / 100, evidence) for i in range(12)]
    s = only(build([decision()], detections, authors={"it-1": "au-secret-7"}))
    assert 0 < len(s["decision_facts"]) <= 5_000
    assert "au-secret-7" not in json.dumps(s)
    assert "author_id" not in s["decision_facts"] and "[redacted]" in s["decision_facts"]


def test_illegal_ground_fills_legal_ground_and_explanation_and_a_notice_is_article_16():
    row = decision(
        policy_id="violent_extremism",
        category="STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        category_specification=["KEYWORD_TERRORIST_CONTENT"],
        user_reports=4,
    )
    found = [detection("extremism-reports", 0.6, {"reports": 4}, policy_id="violent_extremism", version="reports-1")]
    s = only(build([row], found))
    assert s["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert s["illegal_content_legal_ground"].startswith("Regulation (EU) 2021/784")
    assert 0 < len(s["illegal_content_explanation"]) <= 2_000
    assert "incompatible_content_ground" not in s and "incompatible_content_explanation" not in s
    assert s["source_type"] == "SOURCE_ARTICLE_16"
    assert s["automated_detection"] == "No"  # only the user-report detector fired


def test_incompatible_ground_and_a_notice_is_an_other_notification():
    found = [
        detection("hate-reports", 0.6, {"reports": 3}, version="reports-1"),
        detection("hate-classifier", 0.97, {"p": 0.97}, version="v3"),
    ]
    s = only(build([decision(user_reports=3)], found))
    assert s["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert "hate.speech" in s["incompatible_content_ground"] and len(s["incompatible_content_ground"]) <= 500
    assert "illegal_content_legal_ground" not in s
    assert (s["source_type"], s["automated_detection"]) == ("SOURCE_TYPE_OTHER_NOTIFICATION", "Yes")


def test_reports_detector_without_user_reports_stays_voluntary():
    found = [detection("hate-reports", 0.6, {"reports": 0}, version="reports-1")]
    assert only(build([decision(user_reports=0)], found))["source_type"] == "SOURCE_VOLUNTARY"


def test_illegal_ground_without_a_legal_ground_is_rejected_naming_the_field():
    bare = dsa.PolicyInfo(
        policy_id="minor_safety",
        title="Child and minor safety",
        pack="p 1",
        decision_ground=dsa.DECISION_GROUND_ILLEGAL,
    )
    enforced = dsa.enforced_decisions(pd.DataFrame([decision(policy_id="minor_safety")]), pd.DataFrame())
    batch = dsa.build_statements(enforced, pd.DataFrame(), {"run-1": {"minor_safety": bare}})
    assert not batch.statements
    assert [p.field for p in batch.problems] == ["illegal_content_legal_ground"]


def test_escalations_count_only_when_a_reviewer_confirmed_them_with_an_action():
    esc = [
        decision(
            decision_id=f"{i:032x}",
            item_id=f"it-{i}",
            action="escalate",
            automated=False,
            threshold=0.45,
            automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
        )
        for i in range(5)
    ]
    tasks = [
        review("it-0"),  # confirmed: removed
        review("it-1", label="benign", final_action="none"),
        review("it-2", final_action="none"),  # violating, but left up
        review("it-3", status="open", label=None, final_action=None, decided_at=None),
        review("it-4", reason="qa_unactioned"),  # a QA task is not the escalation's review
    ]
    batch = build(esc, tasks=tasks)
    assert len(batch.statements) == 1
    s = batch.statements[0].to_api()
    assert s["puid"] == "modsweep-" + f"{0:032x}"
    assert s["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert s["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert s["application_date"] == "2026-11-23" and "reviewer confirmed" in s["decision_facts"]
    assert "rv-0a1b2c" not in json.dumps(s)


def test_content_types_follow_item_type_and_undisclosed_ai():
    rows = [
        decision(item_id="it-ad", item_type="ad"),
        decision(decision_id="1" * 32, item_id="it-live", item_type="live"),
        decision(
            decision_id="2" * 32,
            item_id="it-img",
            item_type="image",
            policy_id="aigc.undisclosed",
            action="label",
            category="STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
            category_specification=["KEYWORD_OTHER"],
        ),
        decision(decision_id="3" * 32, item_id="it-img", item_type="image"),
    ]
    got = {(s.puid[-1], tuple(s.content_type), s.content_type_other) for s in build(rows).statements}
    assert got == {
        ("d", ("CONTENT_TYPE_OTHER",), "Advertisement"),
        ("1", ("CONTENT_TYPE_VIDEO",), None),
        ("2", ("CONTENT_TYPE_IMAGE", "CONTENT_TYPE_SYNTHETIC_MEDIA"), None),
        ("3", ("CONTENT_TYPE_IMAGE", "CONTENT_TYPE_SYNTHETIC_MEDIA"), None),
    }


def test_pre_2025_categories_and_keywords_are_sent_as_their_v2_values():
    rows = [
        decision(category="STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE", category_specification=["KEYWORD_OTHER"]),
        decision(
            decision_id="9" * 32,
            item_id="it-2",
            category="STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
            category_specification=["KEYWORD_MISINFORMATION", "KEYWORD_DISINFORMATION"],
        ),
    ]
    a, b = (s.to_api() for s in build(rows).statements)
    assert (a["category"], a["category_specification"]) == ("STATEMENT_CATEGORY_OTHER_VIOLATION_TC", ["KEYWORD_OTHER"])
    assert a["category_specification_other"] == "Hate speech and harassment"
    assert b["category_specification"] == ["KEYWORD_MISINFORMATION_DISINFORMATION"]
    unknown = dsa.validate_statement({**a, "category": "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"})
    assert [p.field for p in unknown] == ["category"]


def test_the_strongest_action_of_a_day_gives_the_one_statement_and_shadow_runs_none():
    rows = [
        decision(decision_id="a" * 32, action="reduce_reach", run_id="run-2", run_key="key-2"),
        decision(decision_id="b" * 32, action="remove"),
        decision(decision_id="c" * 32, item_id="it-shadow", run_id="run-shadow", run_key="key-s"),
    ]
    enforced = dsa.enforced_decisions(pd.DataFrame(rows), pd.DataFrame(), skip_run_ids={"run-shadow"})
    assert list(enforced["decision_id"]) == ["b" * 32]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision_visibility": ["DECISION_VISIBILITY_CONTENT_HIDDEN"]}, "decision_visibility"),
        ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
        ({"content_language": "de"}, "content_language"),
        ({"territorial_scope": ["US"]}, "territorial_scope"),
        ({"territorial_scope": []}, "territorial_scope"),
        ({"decision_facts": "x" * 5_001}, "decision_facts"),
        ({"content_date": "23/11/2026"}, "content_date"),
        ({"application_date": "2019-12-31"}, "application_date"),
        ({"automated_detection": "yes"}, "automated_detection"),
        ({"automated_decision": "Yes"}, "automated_decision"),
        ({"source_type": "SOURCE_USER_REPORT"}, "source_type"),
        ({"category_specification": ["KEYWORD_SPAM"]}, "category_specification"),
        ({"illegal_content_legal_ground": "law"}, "illegal_content_legal_ground"),
        ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other"),
    ],
)
def test_an_invalid_field_is_named(change, field):
    good = only(build([decision()]))
    problems = dsa.validate_statement({**good, **change}, "d" * 32)
    assert isinstance(problems, list) and field in [p.field for p in problems]


def test_gate_passes_valid_statements_and_stops_a_repeated_puid():
    from modsweep.tasks.gates import DataQualityError, check_gate

    rows = [
        decision(decision_id=f"{i:032x}", item_id=f"it-{i}", action=a, item_type=t, region=r, territorial_scope=[r])
        for i, (a, t, r) in enumerate(
            [("remove", "video", "DE"), ("label", "ad", "FR"), ("age_restrict", "image", "IS")]
        )
    ]
    rows.append(decision(decision_id="e" * 32, item_id="it-x", policy_id="violent_extremism"))
    statements = build(rows).statements
    assert len(statements) == 4
    assert check_gate(dsa.statements_frame(statements), "dsa.statements").success
    assert check_gate(dsa.statements_frame([]), "dsa.statements").success  # a day without statements
    with pytest.raises(DataQualityError, match=r"expect_column_values_to_be_unique\(puid\)"):
        check_gate(dsa.statements_frame([*statements, statements[0]]), "dsa.statements")
    broken = [{**statements[1].to_api(), "content_type_other": None}]
    with pytest.raises(DataQualityError, match=r"content_type_other"):
        check_gate(dsa.statements_frame(broken), "dsa.statements")


def test_gate_suite_values_are_the_api_values():
    from modsweep.tasks.gates import load_suite

    suite = load_suite("dsa.statements")
    sets = {
        e.kwargs["column"]: set(e.kwargs["value_set"])
        for e in suite.expectations
        if e.type == "expect_column_values_to_be_in_set"
    }
    assert sets["category"] == set(dsa.CATEGORIES)
    assert sets["source_type"] == set(dsa.SOURCE_TYPES)
    assert sets["automated_decision"] == set(dsa.AUTOMATED_DECISIONS)
    assert sets["content_language"] == set(dsa.ISO_639_1)
    regexes = {
        e.kwargs["column"]: e.kwargs["regex"]
        for e in suite.expectations
        if e.type == "expect_column_values_to_match_regex"
    }
    assert all(v in regexes["decision_visibility"] for v in dsa.DECISION_VISIBILITIES)
    assert all(k in regexes["category_specification"] for k in dsa.KEYWORDS)
    assert all(c in regexes["territorial_scope"] for c in dsa.TERRITORIAL_SCOPE_CODES)
    assert set(suite.expectations[0].kwargs["column_set"]) == set(dsa.FLAT_COLUMNS)


def test_api_batches_hold_at_most_100_statements():
    rows = [decision(decision_id=f"{i:032x}", item_id=f"it-{i:04d}") for i in range(205)]
    statements = build(rows).statements
    bodies = dsa.api_batches(statements)
    assert [len(b["statements"]) for b in bodies] == [100, 100, 5]
    assert bodies[0]["statements"][0] == statements[0].to_api()
    with pytest.raises(ValueError):
        dsa.api_batches(statements, size=101)


def test_transparency_summary_counts_on_hand_built_decisions():
    rows = [
        decision(decision_id="1" * 32, item_id="a", action="remove", created_at=T0 - pd.Timedelta(hours=2)),
        decision(
            decision_id="2" * 32,
            item_id="b",
            action="label",
            region="FR",
            territorial_scope=["FR"],
            created_at=T0 - pd.Timedelta(hours=4),
            category="STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
        ),
        decision(
            decision_id="3" * 32,
            item_id="c",
            action="remove",
            region="US",
            territorial_scope=[],
            created_at=T0 - pd.Timedelta(hours=6),
        ),
        decision(decision_id="4" * 32, item_id="d", action="escalate", created_at=T0 - pd.Timedelta(hours=1)),
        decision(decision_id="5" * 32, item_id="e", action="escalate"),  # never confirmed: not an action
    ]
    tasks = [review("d", final_action="age_restrict", decided_at=T0 + pd.Timedelta(hours=9))]
    enforced = dsa.enforced_decisions(pd.DataFrame(rows), pd.DataFrame(tasks))
    got = dsa.transparency_summary(enforced, date(2026, 11, 23), date(2026, 11, 23))
    assert got["actions"] == 4 and (got["automated"], got["reviewed"]) == (3, 1)
    assert got["automated_share"] == 0.75
    assert got["median_hours_to_action"] == 5.0  # hours: 2, 4, 6, 10
    assert got["by_action"] == {"age_restrict": 1, "label": 1, "remove": 2}
    assert got["by_category"] == {
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": 3,
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": 1,
    }
    assert got["by_category_and_action"]["STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"] == {
        "age_restrict": 1,
        "remove": 2,
    }
    assert got["by_territorial_scope"] == {"DE": 2, "FR": 1} and got["outside_eea"] == 1
    empty = dsa.transparency_summary(enforced.iloc[0:0], date(2026, 11, 1), date(2026, 11, 2))
    assert empty["actions"] == 0 and empty["automated_share"] is None


def test_shipped_pack_gives_valid_statements_for_every_policy():
    pack = load_pack("community-guidelines")
    infos = dsa.policy_infos(pack)
    rows = [
        decision(
            decision_id=f"{i:032x}",
            item_id=f"it-{i}",
            policy_id=p.id,
            category=p.dsa.category,
            category_specification=list(p.dsa.category_specification),
        )
        for i, p in enumerate(pack.policies())
    ]
    enforced = dsa.enforced_decisions(pd.DataFrame(rows), pd.DataFrame())
    batch = dsa.build_statements(enforced, pd.DataFrame(), {"run-1": infos})
    assert not batch.problems, [p.describe() for p in batch.problems]
    assert len(batch.statements) == len(pack.policies())


def test_pack_names_only_current_transparency_database_values():
    from modsweep.policy import DSA_CATEGORIES

    pack = load_pack("community-guidelines")
    stale = [
        (p.id, v)
        for p in pack.policies()
        for v in [p.dsa.category, *p.dsa.category_specification]
        if v not in dsa.CATEGORIES and v not in dsa.KEYWORDS
    ]
    assert not stale, stale
    assert set(DSA_CATEGORIES) == set(dsa.CATEGORIES)


def test_pack_names_the_legal_ground_of_every_illegal_content_policy():
    pack = load_pack("community-guidelines")
    missing = [
        p.id
        for p in pack.policies()
        if p.dsa.decision_ground == dsa.DECISION_GROUND_ILLEGAL
        and not getattr(p.dsa, "illegal_content_legal_ground", None)
    ]
    assert not missing, missing
