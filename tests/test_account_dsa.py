"""Account statements of reasons validate against the DSA rules of tasks/dsa.py plus the account fields' own."""

from __future__ import annotations

import pandas as pd
import pytest

from modsweep.tasks import account_dsa, strikes
from modsweep.tasks.dsa import Statement

ROW = {
    "account_decision_id": "acct-1",
    "action": "suspend",
    "features": None,
    "active_weight": 10.0,
    "threshold": 10.0,
    "policy_id": "hate.speech",
    "end_date": pd.Timestamp("2026-12-01", tz="UTC"),
    "decided_at": pd.Timestamp("2026-11-24", tz="UTC"),
    "decision_provision": strikes.DECISION_PROVISION["suspend"],
    "decision_account": strikes.DECISION_ACCOUNT["suspend"],
    "account_type": "ACCOUNT_TYPE_PRIVATE",
    "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "territorial_scope": ["DE"],
    "automated": True,
    "status": "active",
}


def test_a_suspension_statement_validates_with_its_end_date() -> None:
    got = account_dsa.validate_account_statement(account_dsa.build_account_statement(ROW, "Hate speech", "pack 1"))
    assert isinstance(got, account_dsa.AccountStatement) and isinstance(got, Statement)
    body = got.to_api()
    assert body["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert body["decision_provision"] == "DECISION_PROVISION_TOTAL_SUSPENSION"
    assert body["end_date_account_restriction"] == "2026-12-01" and "decision_visibility" not in body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {
                "action": "terminate",
                "decision_account": "DECISION_ACCOUNT_TERMINATED",
                "decision_provision": "DECISION_PROVISION_TOTAL_TERMINATION",
            },
            "end_date_account_restriction",
        ),
        ({"decision_provision": "DECISION_PROVISION_SOMETIMES"}, "decision_provision"),
        ({"account_type": "ACCOUNT_TYPE_ROBOT"}, "account_type"),
        ({"end_date": pd.Timestamp("2026-11-01", tz="UTC")}, "end_date_account_restriction"),
        ({"decision_account": None, "decision_provision": None, "end_date": None}, "statement"),
    ],
)
def test_account_statements_that_break_a_rule_are_refused(change: dict[str, object], field: str) -> None:
    got = account_dsa.validate_account_statement(account_dsa.build_account_statement(ROW | change, "Hate", "pack"))
    assert isinstance(got, list) and {p.field for p in got} == {field}


def test_only_eea_restrictions_that_took_effect_get_statements() -> None:
    day = pd.DataFrame(
        [
            ROW,
            ROW | {"account_decision_id": "acct-2", "action": "warn"},
            ROW | {"account_decision_id": "acct-3", "status": "pending_review"},
            ROW | {"account_decision_id": "acct-4", "territorial_scope": ["US"]},
        ]
    )
    statements, problems = account_dsa.account_statements(day, {}, "pack", ("DE", "FR"))
    assert [s.puid for s in statements] == ["modsweep-acct-1"] and problems == []


def test_a_reversed_decision_supersedes_its_statement() -> None:
    enforced = pd.DataFrame({"decision_id": ["d1", "d2"]})
    reversals = pd.DataFrame(
        {
            "decision_id": ["d2"],
            "reversed_at": [pd.Timestamp("2026-11-25", tz="UTC")],
            "cause": ["appeal"],
            "reason": ["appeal overturned"],
        }
    )
    got = account_dsa.superseded(enforced, reversals)
    assert got.to_dict("records") == [
        {
            "puid": "modsweep-d2",
            "decision_id": "d2",
            "superseded_at": "2026-11-25T00:00:00Z",
            "cause": "appeal",
            "reason": "appeal overturned",
        }
    ]
