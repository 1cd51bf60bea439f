"""Shadow runs: a candidate pack's decisions beside the live pack's, compared per policy (nothing enforced)."""

from __future__ import annotations

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
        [merged["action_live"].isna(), merged["action_candidate"].isna(),
         merged["action_live"] != merged["action_candidate"]],
        ["new", "dropped", "changed"], default="same",
    )  # fmt: skip
    merged["region"] = merged["region_candidate"].fillna(merged["region_live"])
    return merged.drop(columns=["region_live", "region_candidate"])


def band_precision(reviewed: pd.DataFrame) -> pd.DataFrame:
    """Share of reviewed items found violating per policy × score band, from past review outcomes."""
    if reviewed.empty:
        return pd.DataFrame(columns=["policy_id", "band", "precision", "n"])
    r = reviewed.assign(band=score_bands(reviewed["score"].to_numpy(dtype=np.float64)),
                        violating=(reviewed["label"] == "violating").astype(float))  # fmt: skip
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
        rows.append({
            "policy_id": policy, "live_actions": int(g["action_live"].notna().sum()),
            "candidate_actions": int(g["action_candidate"].notna().sum()), "new": int(changes.get("new", 0)),
            "dropped": int(changes.get("dropped", 0)), "changed": int(changes.get("changed", 0)),
            "expected_precision": expected, "reviews_behind_estimate": n_reviewed,
            "examples": "; ".join(f"{r.item_id}: {r.action_live or '-'} → {r.action_candidate or '-'}"
                                  for r in g[g["change"] != "same"].head(examples).itertuples()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (for Prefect artifacts)."""
    if frame.empty:
        return "_no rows_"
    head = "| " + " | ".join(map(markdown_text, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join("" if pd.isna(v) else markdown_text(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]  # fmt: skip
    return "\n".join([head, rule, *body])
