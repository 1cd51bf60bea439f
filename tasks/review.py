"""Simulated reviewers for the demo and tests: they label tasks against the generator's ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modsweep.tasks.sample import uniform_keys

SIMULATED_REVIEWER_PREFIX = "sim-reviewer-"  # how reports tell simulated outcomes from people's


def simulate_outcomes(
    tasks: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    accuracy: float,
    false_positive_rate: float,
    seed: str,
    reviewers: int = 12,
    not_after: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One outcome per task: violating items are recognised with probability `accuracy`; benign items are
    wrongly labelled violating with probability `false_positive_rate` (reviewers rarely flag plainly benign posts).

    Reviewer ids, claim and decision times are derived from the task id and seed, so a replay is identical;
    `not_after` caps the times (to the moment of simulation: an import rejects verdicts from the future).
    """
    if tasks.empty:
        return pd.DataFrame(columns=["task_id", "reviewer_id", "label", "final_action", "claimed_at", "decided_at"])
    key = tasks["item_id"].astype(str) + "|" + tasks["policy_id"].astype(str)
    truth_keys = set((truth["item_id"].astype(str) + "|" + truth["policy_id"].astype(str)).tolist())
    violating = key.isin(truth_keys).to_numpy()
    ids = tasks["task_id"].to_numpy(dtype=object)
    u = uniform_keys(ids, seed, "accuracy")
    label_violating = np.where(violating, u < accuracy, u < false_positive_rate)
    # Replicas of one item are reviewed by different people.
    reviewer = (uniform_keys(ids, seed, "reviewer") * reviewers).astype(int)
    minutes_to_claim = -np.log1p(-uniform_keys(ids, seed, "claim")) * 90
    minutes_to_decide = 1 + -np.log1p(-uniform_keys(ids, seed, "decide")) * 4
    created = pd.to_datetime(tasks["created_at"], utc=True)
    claimed = created + pd.to_timedelta(minutes_to_claim, unit="m")
    decided = claimed + pd.to_timedelta(minutes_to_decide, unit="m")
    if not_after is not None:  # a simulated verdict is never in the future (imports reject those)
        limit = (
            pd.Timestamp(not_after).tz_convert("UTC")
            if pd.Timestamp(not_after).tzinfo
            else pd.Timestamp(not_after, tz="UTC")
        )
        decided = decided.where(decided <= limit, limit)
        claimed = claimed.where(claimed <= decided, decided)
    final_action = np.where(label_violating, np.where(tasks["action"].notna(), tasks["action"], "remove"), "none")
    return pd.DataFrame(
        {
            "task_id": ids,
            "reviewer_id": [f"{SIMULATED_REVIEWER_PREFIX}{r:02d}" for r in reviewer],
            "label": np.where(label_violating, "violating", "benign"),
            "final_action": final_action,
            "claimed_at": claimed.to_numpy(),
            "decided_at": decided.to_numpy(),
        }
    )
