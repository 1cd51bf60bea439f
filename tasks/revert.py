"""Mass revert (`modsweep revert`): which automated actions a filter matches, the dry-run plan, the revert's id.
Pure functions over frames, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd

CHUNK_DECISIONS = 5_000  # decisions reversed per transaction: a stopped revert resumes from the next chunk


def revert_id_for(filter: dict[str, Any]) -> str:
    """Deterministic per filter (the same revert run again is the same event, and resumes it)."""
    text = json.dumps(filter, sort_keys=True, separators=(",", ":"), default=str)
    return "rvt-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def by_detector(decisions: pd.DataFrame, detections: pd.DataFrame, detector_id: str) -> pd.DataFrame:
    """Decisions the detector could have taken alone: it fired on the item × policy with a weighted score at or
    above the decision's threshold. ``detections``: run_key, item_id, policy_id, detector_id, score."""
    fired = detections[detections["detector_id"] == detector_id][["run_key", "item_id", "policy_id", "score"]]
    fired = fired.groupby(["run_key", "item_id", "policy_id"], as_index=False)["score"].max()
    merged = decisions.merge(fired.rename(columns={"score": "_detector_score"}), on=["run_key", "item_id", "policy_id"])
    return merged[merged["_detector_score"] >= merged["threshold"]].drop(columns="_detector_score")


def revert_plan(matched: pd.DataFrame, examples: int = 5) -> dict[str, Any]:
    """What a revert would do: counts by action and region of the decisions still in force, how many were
    already reversed, and a few examples."""
    todo = matched[matched["status"] != "reversed"]
    counts = todo.groupby(["action", "region"]).size()
    return {
        "matched": len(matched),
        "already_reversed": int((matched["status"] == "reversed").sum()),
        "to_reverse": len(todo),
        "by_action": {str(a): int(n) for a, n in todo["action"].value_counts().sort_index().items()},
        "by_action_region": {f"{a}/{r}": int(n) for (a, r), n in counts.items()},
        "examples": todo.head(examples)[["decision_id", "item_id", "action", "region", "score", "decided_at"]]
        .astype(str)
        .to_dict("records"),
    }


def chunks(decisions: pd.DataFrame, size: int = CHUNK_DECISIONS) -> list[pd.DataFrame]:
    """The decisions to reverse in commit-sized chunks (in decision order, so a resumed revert continues)."""
    todo = decisions[decisions["status"] != "reversed"].sort_values("decision_id", kind="stable")
    return [todo.iloc[i : i + size] for i in range(0, len(todo), size)]


FEED_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "item_id",
    "policy_id",
    "action",
    "automated",
    "region",
    "decided_at",
    "status",
    "visibility",
    "reversed_at",
    "reversal_cause",
    "reversal_reason",
)


def action_feed(decisions: pd.DataFrame, reversals: pd.DataFrame) -> pd.DataFrame:
    """Each enforcement decision (escalations are not actions) with its current state: ``visibility`` is
    `restricted` while in force and `restored` once reversed (the reversal's time, cause and reason beside it)."""
    acted = decisions[decisions["action"] != "escalate"]
    rev = reversals.rename(columns={"cause": "reversal_cause", "reason": "reversal_reason"})
    rows = acted.merge(
        rev[["decision_id", "reversed_at", "reversal_cause", "reversal_reason"]], on="decision_id", how="left"
    )
    reversed_ = rows["reversed_at"].notna() | (rows["status"] == "reversed")
    rows["status"] = pd.Series(["reversed" if r else "active" for r in reversed_], index=rows.index, dtype=object)
    rows["visibility"] = pd.Series(
        ["restored" if r else "restricted" for r in reversed_], index=rows.index, dtype=object
    )
    out = rows[list(FEED_COLUMNS)].sort_values(["item_id", "policy_id", "decision_id"], kind="stable")
    return out.astype(object).where(out.notna(), None).reset_index(drop=True)
