"""Thresholds re-estimated from reviewed QA samples (`modsweep calibrate`): learning from reviewers.

The QA sample is stratified by policy × score band × actioned, and every task stores its inclusion
probability π. Weighting each reviewed task by 1/π makes the sample stand for the whole day's population,
so "precision of items scoring ≥ t" is a design-weighted (Hájek) ratio: Σ w·violating / Σ w over reviewed
items with score ≥ t. Its conservative bound is a Wilson lower bound on Kish's effective sample size
n_eff = (Σw)² / Σw². For each action, the new threshold is the lowest score whose bound reaches the
policy's precision target (the same rule as auto@P bands on the model card's stream).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modsweep.policy import WILSON_Z_ONE_SIDED_90, PolicyPack, PolicySpec, threshold_for_precision, wilson_lower

QA_REASONS = ("qa_actioned", "qa_unactioned")  # the probability samples (review_band tasks are not)


@dataclass(frozen=True)
class CalibratedBand:
    policy_id: str
    action: str
    target: float
    old: float
    new: float | None  # None: no threshold reaches the target on the reviewed sample
    reviewed: int
    precision_at_new: float | None
    effective_n_at_new: float | None


def weighted_precision_curve(
    score: np.ndarray,
    violating: np.ndarray,
    inclusion_prob: np.ndarray,
    step: float = 0.005,
    z: float = WILSON_Z_ONE_SIDED_90,
) -> dict[str, Any]:
    """Design-weighted precision of `score >= t` on a reviewed sample, with a Wilson bound on Kish's n_eff."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(violating, dtype=bool)
    w = 1.0 / np.clip(np.asarray(inclusion_prob, dtype=np.float64), 1e-12, 1.0)
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    grid = np.round(np.arange(1.0, 0.0, -step), 6)
    k = np.searchsorted(-s, -grid, side="right")
    cw = np.concatenate([[0.0], np.cumsum(w)])[k]
    cw2 = np.concatenate([[0.0], np.cumsum(w * w)])[k]
    cwy = np.concatenate([[0.0], np.cumsum(w * y)])[k]
    keep = k > 0
    p = np.divide(cwy, cw, out=np.zeros_like(cw), where=cw > 0)
    n_eff = np.divide(cw * cw, cw2, out=np.zeros_like(cw), where=cw2 > 0)
    lower = wilson_lower(p, n_eff, z)
    return {
        "thresholds": grid[keep].tolist(),
        "precision": p[keep].tolist(),
        "precision_lower": lower[keep].tolist(),
        "effective_n": n_eff[keep].tolist(),
        "reviewed": k[keep].tolist(),
    }


def reviewed_sample(tasks: pd.DataFrame) -> pd.DataFrame:
    """Decided first-replica QA tasks with a label: policy_id, score, violating, inclusion_prob."""
    t = tasks[tasks["reason"].isin(QA_REASONS) & tasks["label"].notna()]
    if "replica" in t:
        t = t[t["replica"] == 0]
    return pd.DataFrame(
        {
            "policy_id": t["policy_id"].to_numpy(),
            "score": t["score"].to_numpy(dtype=np.float64),
            "violating": (t["label"] == "violating").to_numpy(),
            "inclusion_prob": t["inclusion_prob"].to_numpy(dtype=np.float64),
        }
    )


def calibrate_policy(policy: PolicySpec, sample: pd.DataFrame, min_reviewed: int = 30) -> list[CalibratedBand]:
    """New thresholds for each action of a (resolved) policy's default bands from its reviewed sample."""
    mine = sample[sample["policy_id"] == policy.id]
    out = []
    curve = None
    if len(mine) >= min_reviewed:
        curve = weighted_precision_curve(
            mine["score"].to_numpy(), mine["violating"].to_numpy(), mine["inclusion_prob"].to_numpy()
        )
    for band in policy.bands:
        # an auto@P band states its own target; a numeric one takes the policy's target for its action
        target = band.auto_precision or policy.precision_target(band.action)
        new = threshold_for_precision(curve, target) if curve else None
        at = curve["thresholds"].index(new) if curve and new is not None else None
        out.append(
            CalibratedBand(
                policy.id,
                band.action,
                target,
                float(band.min_score),
                new,
                len(mine),
                None if at is None else round(curve["precision"][at], 4),  # type: ignore[index]
                None if at is None else round(curve["effective_n"][at], 1),  # type: ignore[index]
            )
        )
    return out


def calibrated_bands(pack: PolicyPack, tasks: pd.DataFrame, min_reviewed: int = 30) -> list[CalibratedBand]:
    """Every policy of a resolved pack, re-estimated from stored review tasks."""
    sample = reviewed_sample(tasks)
    return [b for p in pack.spec.policies for b in calibrate_policy(p, sample, min_reviewed)]


def apply_to_raw(
    raw: dict[str, Any], pack: PolicyPack, bands: list[CalibratedBand], version_suffix: str
) -> dict[str, Any]:
    """The pack's YAML (as parsed) with numeric bands: calibrated where reviews allow, else the resolved ones.

    A band whose target the reviews cannot reach keeps its current threshold (noted in the diff); every
    region's ladder gets the same per-action change as the default ladder (the shift, old → new).
    """
    by_key = {(b.policy_id, b.action): b for b in bands}
    resolved = {p.id: p for p in pack.spec.policies}
    out = dict(raw)
    out["version"] = f"{raw.get('version', '')}{version_suffix}"
    policies = []
    for entry in raw.get("policies", []):
        entry = dict(entry)
        spec = resolved.get(entry.get("id"))
        if spec is not None:
            entry["bands"] = _shifted_ladder(spec.id, spec.bands, by_key)
            if spec.regions:
                entry["regions"] = {
                    k: {"bands": _shifted_ladder(spec.id, r.bands, by_key)} for k, r in spec.regions.items()
                }
        policies.append(entry)
    out["policies"] = policies
    return out


def _shifted_ladder(
    policy_id: str, bands: list[Any], by_key: dict[tuple[str, str], CalibratedBand]
) -> list[dict[str, Any]]:
    rows = []
    for b in bands:
        cal = by_key.get((policy_id, b.action))
        shift = 0.0 if cal is None or cal.new is None else cal.new - cal.old
        rows.append({"min_score": round(min(1.0, max(0.0, float(b.min_score) + shift)), 4), "action": b.action})
    seen: dict[float, dict[str, Any]] = {}
    for r in rows:  # two actions landing on one score: the stricter (later) one stays
        seen[r["min_score"]] = r
    return sorted(seen.values(), key=lambda r: r["min_score"])


def diff_lines(bands: list[CalibratedBand]) -> list[str]:
    """One line per policy × action: old → new threshold, with what the reviews showed."""
    lines = []
    for b in bands:
        if b.new is None:
            lines.append(
                f"{b.policy_id} {b.action}: {b.old:.3f} kept (reviews: {b.reviewed}; no threshold reaches "
                f"precision {b.target:g} on them)"
            )
        else:
            arrow = "unchanged" if abs(b.new - b.old) < 1e-9 else f"→ {b.new:.3f}"
            lines.append(
                f"{b.policy_id} {b.action}: {b.old:.3f} {arrow} (target precision {b.target:g}; weighted "
                f"precision {b.precision_at_new:.3f} on n_eff {b.effective_n_at_new:g} of {b.reviewed} reviews)"
            )
    return lines
