"""Enforcement approval: a surge of automated removals in one policy × region waits for a person.

When a run would apply more automated removals in one policy × region than the configured ceiling, the
flow pauses (Prefect's pause with `wait_for_input`) showing the counts and examples. Approved removals
stand; rejected or unanswered ones (timeout) become review tasks instead.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, Field

from modsweep.schemas import DECISIONS


class ApprovalRequired(RuntimeError):
    """Removals over the ceiling were held and nobody can answer a pause (ephemeral API): the run stops before
    enforcing anything, and `modsweep approve RUN` answers it and completes the run."""


def held_removals_line(over: pd.DataFrame, ceiling: int, shown: int = 5) -> str:
    """One line naming what is held: the pairs over the ceiling with their counts."""
    pairs = sorted(over.itertuples(), key=lambda r: -int(r.removals))
    text = ", ".join(f"{r.policy_id}/{r.region} {int(r.removals):,}" for r in pairs[:shown])
    more = f" and {len(pairs) - shown} more pairs" if len(pairs) > shown else ""
    return (
        f"{int(over['removals'].sum()):,} automated removals in {len(pairs)} policy × region pair(s) exceed "
        f"MODSWEEP_REMOVAL_CEILING={ceiling:,} ({text}{more})"
    )


class RemovalApproval(BaseModel):
    """The form a person fills in (Prefect UI, or `prefect flow-run resume`) to answer the pause."""

    approve: bool = Field(description="Apply these automated removals (otherwise they go to human review)")
    approver: str = Field(description="Who decided (recorded in the ledger and the audit log)", min_length=1)
    note: str = Field(default="", description="Why")


def removals_over_ceiling(decisions: pd.DataFrame, ceiling: int) -> pd.DataFrame:
    """Policy × region pairs whose automated removals exceed the ceiling, with their counts."""
    removals = decisions[(decisions["action"] == "remove") & decisions["automated"]]
    counts = removals.groupby(["policy_id", "region"]).size().rename("removals").reset_index()
    return counts[counts["removals"] > ceiling].reset_index(drop=True)


_MARKDOWN_LITERAL = {c: f"&#{ord(c)};" for c in "&<>\"'`|[]()*_~\\!#"}


def markdown_text(value: object) -> str:
    """A value from the data as literal Markdown text: no HTML, and no backtick, pipe, bracket, emphasis or line
    break that could open a code span, a table cell, a link or markup (each becomes a character reference)."""
    return "".join(_MARKDOWN_LITERAL.get(c, c) for c in " ".join(str(value).split()))


def approval_request_markdown(over: pd.DataFrame, decisions: pd.DataFrame, ceiling: int, examples: int = 5) -> str:
    """What the approver sees: counts per policy × region and the highest-scoring examples of each."""
    lines = [
        f"## Automated removals above the ceiling ({ceiling:,} per policy × region)",
        "",
        "| policy | region | removals |",
        "|---|---|---|",
    ]
    lines += [f"| {r.policy_id} | {r.region} | {r.removals:,} |" for r in over.itertuples()]
    for r in over.itertuples():
        top = decisions[
            (decisions["policy_id"] == r.policy_id)
            & (decisions["region"] == r.region)
            & (decisions["action"] == "remove")
        ].nlargest(examples, "score")
        lines += [
            "",
            f"Examples for {r.policy_id} / {r.region}: "
            + ", ".join(f"{markdown_text(i)} ({s:.3f})" for i, s in zip(top["item_id"], top["score"], strict=True)),
        ]
    lines += ["", "Resume the flow run with `approve: true` to apply them, or `false` to send them to review."]
    return "\n".join(lines)


def route_removals_to_review(decisions: pd.DataFrame, over: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Turn the held automated removals into escalations (human review); returns the frame and how many."""
    key = decisions["policy_id"] + "|" + decisions["region"]
    held = key.isin(set(over["policy_id"] + "|" + over["region"])) & (decisions["action"] == "remove")
    out = decisions.copy()
    out.loc[held, "action"] = "escalate"
    out.loc[held, "automated"] = False
    out.loc[held, "decision_visibility"] = "DECISION_VISIBILITY_OTHER"
    out.loc[held, "automated_decision"] = "AUTOMATED_DECISION_NOT_AUTOMATED"
    return out[list(DECISIONS.names)], int(held.sum())
