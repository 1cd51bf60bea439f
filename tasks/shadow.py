"""Shadow runs: a candidate pack's decisions beside the live pack's, compared per policy (nothing enforced)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modsweep.tasks.approval import markdown_text
from modsweep.tasks.sample import score_bands

KEY = ["item_id", "policy_id"]


def diff_decisions(live: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """One row per item × policy acted on by either pack: live and candidate action, score, and the change
    (`new`, `dropped`, `changed` or `same`)."""
    cols = [*KEY, "action", "score", "automated", "region"]
    merged = live[cols].merge(candidate[cols], on=KEY, how="outer", suffixes=("_live", "_candidate"))
    merged["change"] = np.select(
        [
            merged["action_live"].isna(),
            merged["action_candidate"].isna(),
            merged["action_live"] != merged["action_candidate"],
        ],
        ["new", "dropped", "changed"],
        default="same",
    )
    merged["region"] = merged["region_candidate"].fillna(merged["region_live"])
    return merged.drop(columns=["region_live", "region_candidate"])


def band_precision(reviewed: pd.DataFrame) -> pd.DataFrame:
    """Share of reviewed items found violating per policy × score band, from past review outcomes."""
    if reviewed.empty:
        return pd.DataFrame(columns=["policy_id", "band", "precision", "n"])
    r = reviewed.assign(
        band=score_bands(reviewed["score"].to_numpy(dtype=np.float64)),
        violating=(reviewed["label"] == "violating").astype(float),
    )
    return r.groupby(["policy_id", "band"]).agg(precision=("violating", "mean"), n=("violating", "size")).reset_index()


def summarise_diff(diff: pd.DataFrame, precision: pd.DataFrame, examples: int = 5) -> pd.DataFrame:
    """Per policy: new, dropped and changed actions, examples, and the expected precision of the candidate's
    automated actions (past reviews' precision in each score band, weighted by the candidate's actions)."""
    rows = []
    for policy, g in diff.groupby("policy_id"):
        auto = g[g["automated_candidate"].fillna(False).astype(bool)]
        expected, n_reviewed = float("nan"), 0
        if len(auto) and len(precision):
            bands = pd.Series(score_bands(auto["score_candidate"].to_numpy(dtype=np.float64)), index=auto.index)
            p = precision[precision["policy_id"] == policy].set_index("band")
            known = bands.map(p["precision"]).dropna()
            if len(known):
                expected, n_reviewed = float(known.mean()), int(p["n"].sum())
        changes = g["change"].value_counts()
        rows.append(
            {
                "policy_id": policy,
                "live_actions": int(g["action_live"].notna().sum()),
                "candidate_actions": int(g["action_candidate"].notna().sum()),
                "new": int(changes.get("new", 0)),
                "dropped": int(changes.get("dropped", 0)),
                "changed": int(changes.get("changed", 0)),
                "expected_precision": expected,
                "reviews_behind_estimate": n_reviewed,
                "examples": "; ".join(
                    f"{r.item_id}: {r.action_live or '-'} → {r.action_candidate or '-'}"
                    for r in g[g["change"] != "same"].head(examples).itertuples()
                ),
            }
        )
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (for Prefect artifacts)."""
    if frame.empty:
        return "_no rows_"
    head = "| " + " | ".join(map(markdown_text, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join("" if pd.isna(v) else markdown_text(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def with_automation(
    summary: pd.DataFrame, candidate: pd.DataFrame, decided_paused: list[str], paused_now: list[str]
) -> pd.DataFrame:
    """Per policy: the circuit-breaker state both packs were compared under, the state now, and how many of the
    candidate's automated actions would go to human review instead if it went live today (paused now)."""
    automated = candidate[candidate["automated"].astype(bool)]["policy_id"].value_counts()
    out = summary.copy()
    out["automation_compared"] = ["paused" if p in decided_paused else "on" for p in out["policy_id"]]
    out["automation_now"] = ["paused" if p in paused_now else "on" for p in out["policy_id"]]
    out["to_review_if_live_now"] = [int(automated.get(p, 0)) if p in paused_now else 0 for p in out["policy_id"]]
    return out


def automation_notes(summary: pd.DataFrame, decided_paused: list[str], paused_now: list[str]) -> list[str]:
    """Sentences that keep changes from the candidate pack apart from the circuit breaker's effects."""
    then = ", ".join(sorted(decided_paused)) or "none"
    notes = [
        f"Both packs are compared under the live run's circuit-breaker state (automation paused then: {then}), "
        "so every new, dropped or changed action above comes from the candidate pack."
    ]
    for r in summary.itertuples():
        if r.policy_id in paused_now and r.policy_id not in decided_paused:
            notes.append(
                f"{r.policy_id}: automation is paused now (circuit breaker); if the candidate went live today, "
                f"its {r.to_review_if_live_now:,} automated actions of this policy would go to human review "
                "instead (not counted as changes)."
            )
        elif r.policy_id in decided_paused and r.policy_id not in paused_now:
            notes.append(
                f"{r.policy_id}: automation was paused when the live run decided and is on now; both packs "
                "are compared with it paused, so its actions show as escalations to review."
            )
    return notes


@dataclass
class ShadowComparison:
    """A shadow run against its live run: the item-level diff, the per-policy summary and what to report."""

    diff: pd.DataFrame
    summary: pd.DataFrame
    table: str
    notes: list[str]
    outputs: dict[str, Any]


def compare_runs(
    live: pd.DataFrame,
    candidate: pd.DataFrame,
    reviewed: pd.DataFrame,
    decided_paused: list[str],
    paused_now: list[str],
) -> ShadowComparison:
    """Live vs candidate decisions, with expected precision from past reviews (`reviewed`: decided tasks) and the
    circuit breaker's effects (`decided_paused`: the live run's paused policies; `paused_now`) reported apart."""
    diff = diff_decisions(live, candidate)
    summary = summarise_diff(diff, band_precision(reviewed[reviewed["replica"] == 0]))
    if len(summary):
        summary = with_automation(summary, candidate, decided_paused, paused_now)
    notes = automation_notes(summary, decided_paused, paused_now) if len(summary) else []
    table = markdown_table(summary.drop(columns="examples").round(3)) if len(summary) else "no decisions"
    actions = {p: {a: int(n) for a, n in g["action"].value_counts().items()} for p, g in candidate.groupby("policy_id")}
    records = summary.drop(columns="examples")
    records = records.astype(object).where(records.notna(), None).to_dict("records")  # NaN is not JSON
    outputs = {
        "policies": records,
        "candidate_actions": actions,
        "automation": {"compared_paused": decided_paused, "paused_now": paused_now},
        "notes": notes,
    }
    return ShadowComparison(
        diff.astype({"score_live": "float64", "score_candidate": "float64"}), summary, table, notes, outputs
    )
