"""Decide: per item × policy, combine detector scores and apply the region's and profile's action bands."""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
import pandas as pd

from modsweep.policy import PolicyPack, PolicySpec
from modsweep.schemas import DECISIONS, EEA_REGIONS

ACTION_VISIBILITY: dict[str, str] = {
    "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "reduce_reach": "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "age_restrict": "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "label": "DECISION_VISIBILITY_CONTENT_LABELLED",
    "escalate": "DECISION_VISIBILITY_OTHER",  # pending human review: nothing is applied yet
}
ITEM_COLUMNS_FOR_DECISIONS = ["item_id", "region", "language", "item_type", "views", "user_reports", "created_at"]


ENFORCE = "|enforce"  # suffix of a policy's column of scores from detectors that may act alone
MACHINE_TEXT_SUFFIX = ":machine-text"  # aigc detectors' text-only signal (tasks/detect.score_aigc)


def non_enforcing_detectors(pack: PolicyPack) -> frozenset[tuple[str, str]]:
    """(policy, detector) pairs whose scores may route to review but never act alone: detectors the pack marks
    `enforce: false`, user reports by default, and every machine-written-text signal (text alone never
    proves undisclosed AI content)."""
    out = set()
    for policy in pack.policies():
        for det in policy.detectors:
            if not det.enforces:
                out.add((policy.id, det.id))
            if det.kind == "aigc":
                out.add((policy.id, det.id + MACHINE_TEXT_SUFFIX))
    return frozenset(out)


def policy_scores(
    item_ids: pd.Series,
    detections: pd.DataFrame,
    policy_ids: list[str],
    non_enforcing: frozenset[tuple[str, str]] = frozenset(),
) -> pd.DataFrame:
    """Dense item × policy score matrix: the maximum of the policy's (already weighted) detector scores, and
    (columns `<policy>|enforce`) the maximum over the detectors that may act alone.

    The rule is deliberately simple and auditable: every detector's score is multiplied by its pack
    weight at detection time; a policy's score is the largest of them (0 when none fired) and picks the
    band; an automated band also needs an enforcing detector to reach it on its own (tasks/decide.py).
    """
    columns = [*policy_ids, *(p + ENFORCE for p in policy_ids)]
    wide = pd.DataFrame(0.0, index=pd.Index(item_ids, name="item_id"), columns=columns, dtype=np.float32)
    if not len(detections):
        return wide
    best = detections.groupby(["item_id", "policy_id"], sort=False)["score"].max().unstack("policy_id")
    best = best.reindex(index=wide.index, columns=policy_ids).fillna(0.0).astype(np.float32)
    enforcing = detections
    if non_enforcing:
        pairs = pd.MultiIndex.from_arrays([detections["policy_id"], detections["detector_id"]])
        enforcing = detections[~pairs.isin(list(non_enforcing))]
    strong = enforcing.groupby(["item_id", "policy_id"], sort=False)["score"].max().unstack("policy_id")
    strong = strong.reindex(index=wide.index, columns=policy_ids).fillna(0.0).astype(np.float32)
    strong.columns = [p + ENFORCE for p in policy_ids]
    return pd.concat([best, strong], axis=1)


def _bands_by_region(
    policy: PolicySpec, region_names: np.ndarray, region_of_row: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the band thresholds and actions in force for its region (padded with inf / ''). Regions come as
    their distinct names and each row's index into them (computed once per partition, not once per policy)."""
    band_sets = [policy.bands_for(r) for r in region_names]
    width = max((len(b) for b in band_sets), default=0)
    thr = np.full((len(region_names), width), np.inf, dtype=np.float64)
    act = np.full((len(region_names), width), "", dtype=object)
    for i, bands in enumerate(band_sets):
        thr[i, : len(bands)] = [b.min_score for b in bands]
        act[i, : len(bands)] = [b.action for b in bands]
    return thr[region_of_row], act[region_of_row]


def lower_escalate_bands(thr: np.ndarray, act: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per row, the `escalate` bands' min_score plus the row's offset (≤ 0: a repeat offender's item), never below
    the band under it nor to 0; automated bands keep theirs (weaker evidence only ever reaches a person)."""
    lowered = np.where(act == "escalate", thr + offsets[:, None], thr)
    floor = np.concatenate([np.full((len(thr), 1), np.finfo(np.float32).tiny), thr[:, :-1]], axis=1)
    return np.maximum(lowered, floor)


def decision_ids(run_key: str, item_ids: np.ndarray, policy_id: str) -> list[str]:
    """Deterministic ids: the same run key, item and policy always give the same decision id."""
    prefix = f"{run_key}|{policy_id}|".encode()
    return [hashlib.sha256(prefix + str(i).encode()).hexdigest()[:32] for i in item_ids]


def _visibility(action: np.ndarray) -> np.ndarray:
    """Each action's DSA decision visibility (one lookup per distinct action)."""
    names, which = np.unique(action, return_inverse=True)
    return np.array([ACTION_VISIBILITY[a] for a in names.tolist()], dtype=object)[which]


def decide_partition(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    pack: PolicyPack,
    *,
    run_key: str,
    run_id: str,
    decided_at: datetime,
    automation_paused: frozenset[str] = frozenset(),
    escalate_offsets: np.ndarray | None = None,
) -> pd.DataFrame:
    """Decisions (DECISIONS schema) for every item × policy whose score reaches a band.

    Policies marked `never_automate`, or whose automation is paused by the circuit breaker,
    escalate to human review instead of acting. ``escalate_offsets`` (per item, ≤ 0): repeat offenders'
    lower escalation thresholds (`lower_escalate_bands`; the decision's threshold is the lowered one).
    """
    frames = []
    region_names, region_of_row = np.unique(items["region"].to_numpy(dtype=str), return_inverse=True)
    scope_of_region = np.empty(len(region_names), dtype=object)  # DSA territorial scope, one list per region
    scope_of_region[:] = [[r] if r in EEA_REGIONS else [] for r in region_names.tolist()]
    lowering = escalate_offsets is not None and bool((escalate_offsets < 0).any())
    for policy in pack.policies():
        s = scores[policy.id].to_numpy(dtype=np.float64)
        thr, act = _bands_by_region(policy, region_names, region_of_row)
        if lowering:
            thr = lower_escalate_bands(thr, act, escalate_offsets)  # type: ignore[arg-type]
        reached = (s[:, None] >= thr).sum(axis=1)
        rows = np.flatnonzero(reached > 0)
        if not len(rows):
            continue
        level = reached[rows] - 1
        action = act[rows, level]
        threshold = thr[rows, level]
        # An automated band must be reached by enforcing evidence alone (a classifier, a lexicon phrase, a
        # claim, a hash, provenance): a band reached only with reports or machine-text scores escalates.
        column = policy.id + ENFORCE
        if column in scores.columns:
            strong = scores[column].to_numpy(dtype=np.float64)[rows]
            strong_level = (strong[:, None] >= thr[rows]).sum(axis=1) - 1
            action = np.where((action != "escalate") & (strong_level < level), "escalate", action)
        if policy.never_automate or policy.id in automation_paused:
            action = np.where(action != "escalate", "escalate", action)
        automated = action != "escalate"
        sub = items.iloc[rows]
        region = sub["region"].to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "decision_id": decision_ids(run_key, sub["item_id"].to_numpy(), policy.id),
                    "item_id": sub["item_id"].to_numpy(),
                    "policy_id": policy.id,
                    "policy_version": pack.version,
                    "action": action,
                    "automated": automated,
                    "score": s[rows].astype(np.float32),
                    "threshold": threshold.astype(np.float32),
                    "region": region,
                    "language": sub["language"].to_numpy(),
                    "item_type": sub["item_type"].to_numpy(),
                    "views": sub["views"].to_numpy(),
                    "user_reports": sub["user_reports"].to_numpy(),
                    "created_at": sub["created_at"].to_numpy(),
                    "run_id": run_id,
                    "run_key": run_key,
                    "decided_at": pd.Timestamp(decided_at).tz_convert("UTC"),
                    "decision_visibility": _visibility(action),
                    "category": policy.dsa.category,
                    "category_specification": [list(policy.dsa.category_specification)] * len(rows),
                    "automated_detection": True,
                    "automated_decision": np.where(
                        automated, "AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_NOT_AUTOMATED"
                    ),
                    "territorial_scope": scope_of_region[region_of_row[rows]],
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISIONS.names})
    out = pd.concat(frames, ignore_index=True)
    out["created_at"] = pd.to_datetime(out["created_at"], utc=True)
    return out[list(DECISIONS.names)]
