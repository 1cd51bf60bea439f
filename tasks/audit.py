"""Quality audits: stratified estimates with 95% confidence intervals from reviewed samples (DESIGN §6)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from modsweep.schemas import METRICS

Z95 = 1.959963984540054


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (n may be an effective sample size)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def stratified_proportion(strata: pd.DataFrame) -> tuple[float, float, float, int]:
    """Estimate, CI low, CI high and n from rows (population N, sampled n, positives k) per stratum.

    p̂ = Σ W_h p̂_h with W_h = N_h / N; Var = Σ W_h² (1 − n_h/N_h) p̂_h (1 − p̂_h) / (n_h − 1).
    The CI is Wilson's at the effective sample size p̂(1 − p̂) / Var (Kish), which stays inside [0, 1].
    """
    s = strata[strata["n"] > 0]
    if s.empty:
        return (float("nan"), float("nan"), float("nan"), 0)
    w = s["N"] / s["N"].sum()
    p_h = s["k"] / s["n"]
    p = float((w * p_h).sum())
    fpc = 1 - s["n"] / s["N"].clip(lower=1)
    var = float((w**2 * fpc * p_h * (1 - p_h) / (s["n"] - 1).clip(lower=1)).sum())
    n_total = int(s["n"].sum())
    n_eff = p * (1 - p) / var if var > 0 else n_total
    lo, hi = wilson_interval(p * n_eff, n_eff)
    return (p, lo, hi, n_total)


def _strata_table(labelled: pd.DataFrame, populations: pd.DataFrame, region: str | None) -> pd.DataFrame:
    pop = populations if region is None else populations[populations["region"] == region]
    lab = labelled if region is None else labelled[labelled["region"] == region]
    N = pop.groupby("stratum")["population"].sum()
    agg = lab.groupby("stratum").agg(n=("violating", "size"), k=("violating", "sum"))
    out = pd.DataFrame({"N": N}).join(agg, how="left").fillna({"n": 0, "k": 0})
    out["actioned"] = out.index.str.endswith("|actioned")
    return out


def quality_metrics(
    qa_outcomes: pd.DataFrame, populations: pd.DataFrame, *, day: date, run_id: str, min_n: int = 10
) -> pd.DataFrame:
    """Precision of automated actions, automated recall and prevalence per policy × region (and 'ALL'), with CIs.

    Automated recall is the share of violating items that an automated action caught; items escalated to
    human review count as not (yet) actioned, so policies that never automate report 0.

    `qa_outcomes`: decided QA tasks (replica 0) with stratum, policy_id, region and label.
    `populations`: stratum × region population counts of the whole window.
    Regions with fewer than `min_n` labelled tasks are reported only within 'ALL'.
    """
    qa = qa_outcomes.assign(violating=(qa_outcomes["label"] == "violating").astype(int))
    pops = populations.assign(policy_id=populations["stratum"].str.split("|").str[0])
    rows = []
    for policy, pol_pop in pops.groupby("policy_id"):
        pol_qa = qa[qa["policy_id"] == policy]
        regions = [None, *sorted(r for r, n in pol_qa["region"].value_counts().items() if n >= min_n)]
        for region in regions:
            t = _strata_table(pol_qa, pol_pop, region)
            name = region or "ALL"
            act, unact = t[t["actioned"]], t[~t["actioned"]]
            if act["n"].sum() > 0:
                rows.append((policy, name, "automated_precision", *stratified_proportion(act)))
            # Totals of violating items in each part, with their variances (for recall and prevalence).
            tp, var_tp = _total(act)
            fn, var_fn = _total(unact)
            total_n = int(t["n"].sum())
            if tp + fn > 0:
                recall = tp / (tp + fn)
                se = np.sqrt(fn**2 * var_tp + tp**2 * var_fn) / (tp + fn) ** 2
                rows.append((policy, name, "automated_recall", recall, max(0.0, recall - Z95 * se),
                             min(1.0, recall + Z95 * se), total_n))  # fmt: skip
            N = t["N"].sum()
            if N > 0 and total_n > 0:
                prev = (tp + fn) / N
                se = np.sqrt(var_tp + var_fn) / N
                rows.append((policy, name, "prevalence", prev, max(0.0, prev - Z95 * se), min(1.0, prev + Z95 * se), total_n))
            rows.append((policy, name, "qa_sample_size", float(total_n), None, None, total_n))
    out = pd.DataFrame(rows, columns=["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"])
    out.insert(0, "day", day)
    out["run_id"] = run_id
    return out[list(METRICS.names)]


def violative_view_rate(
    prevalence: pd.DataFrame, views_by_region: pd.Series, *, day: date, run_id: str, min_n: int = 10
) -> pd.DataFrame:
    """Violative view rate per policy × region (and 'ALL') from the views-proportional Poisson sample.

    Horvitz–Thompson: VVR = Σ_s y_i v_i / π_i ÷ V, with variance estimate Σ_s (1 − π_i) (y_i v_i / π_i)² ÷ V²
    (Poisson sampling), where y_i = 1 when reviewers found the item violating, v_i its views, V the views of
    every item in the domain.
    """
    rows = []
    for policy, g in prevalence.groupby("policy_id"):
        domains = [("ALL", g, float(views_by_region.sum()))]
        domains += [(r, d, float(views_by_region.get(r, 0))) for r, d in g.groupby("region") if len(d) >= min_n]
        for region, d, total in domains:
            if total <= 0:
                continue
            y = (d["label"] == "violating").to_numpy(dtype=np.float64) * d["views"].to_numpy(dtype=np.float64)
            pi = d["inclusion_prob"].to_numpy(dtype=np.float64)
            estimate = float((y / pi).sum() / total)
            se = float(np.sqrt(((1 - pi) * (y / pi) ** 2).sum()) / total)
            rows.append((policy, region, "violative_view_rate", estimate, max(0.0, estimate - Z95 * se),
                         min(1.0, estimate + Z95 * se), len(d)))  # fmt: skip
    out = pd.DataFrame(rows, columns=["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"])
    out.insert(0, "day", day)
    out["run_id"] = run_id
    return out[list(METRICS.names)]


def _total(strata: pd.DataFrame) -> tuple[float, float]:
    """Estimated count of violating items in these strata and its variance."""
    s = strata[strata["n"] > 0]
    p = s["k"] / s["n"]
    total = float((s["N"] * p).sum())
    fpc = 1 - s["n"] / s["N"].clip(lower=1)
    var = float((s["N"] ** 2 * fpc * p * (1 - p) / (s["n"] - 1).clip(lower=1)).sum())
    return total, var


def review_metrics(tasks: pd.DataFrame, *, day: date, run_id: str) -> pd.DataFrame:
    """Escalation confirm rate, reviewer agreement (Cohen's κ on double-reviewed tasks) and time to decision."""
    rows = []
    decided = tasks[tasks["status"] == "decided"]
    esc = decided[decided["reason"] == "review_band"]
    for policy, g in esc.groupby("policy_id"):
        k, n = int((g["label"] == "violating").sum()), len(g)
        rows.append((policy, "ALL", "escalation_confirm_rate", k / n, *wilson_interval(k, n), n))
    pairs = decided[decided["reason"].str.startswith("qa_")].pivot_table(
        index=["item_id", "policy_id", "reason"], columns="replica", values="label", aggfunc="first"
    )
    if {0, 1} <= set(pairs.columns):
        both = pairs.dropna(subset=[0, 1]).reset_index()
        for policy, g in [("ALL", both), *both.groupby("policy_id")]:
            if len(g) >= 2:
                rows.append((policy, "ALL", "reviewer_kappa", *cohens_kappa(g[0].to_numpy(), g[1].to_numpy()), len(g)))
    if len(decided):
        hours = (pd.to_datetime(decided["decided_at"], utc=True) - pd.to_datetime(decided["created_at"], utc=True))
        hours = hours.dt.total_seconds() / 3600
        for policy, g in [("ALL", hours), *hours.groupby(decided["policy_id"])]:
            rows.append((policy, "ALL", "hours_to_decision_median", float(g.median()), None, None, len(g)))
            rows.append((policy, "ALL", "hours_to_decision_p90", float(g.quantile(0.9)), None, None, len(g)))
        breached = pd.to_datetime(decided["decided_at"], utc=True) > pd.to_datetime(decided["due_by"], utc=True)
        rows.append(("ALL", "ALL", "sla_breach_rate", float(breached.mean()), *wilson_interval(breached.sum(), len(breached)),
                     len(breached)))  # fmt: skip
    out = pd.DataFrame(rows, columns=["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"])
    out.insert(0, "day", day)
    out["run_id"] = run_id
    return out[list(METRICS.names)]


def cohens_kappa(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """κ with a normal-approximation 95% CI (Fleiss, Cohen & Everitt's large-sample SE for κ = 0 is not used)."""
    a, b = np.asarray(a), np.asarray(b)
    n = len(a)
    labels = np.union1d(a, b)
    po = float((a == b).mean())
    pe = float(sum((a == lab).mean() * (b == lab).mean() for lab in labels))
    if pe >= 1:
        return (1.0, 1.0, 1.0) if po == 1 else (0.0, 0.0, 0.0)
    kappa = (po - pe) / (1 - pe)
    se = np.sqrt(po * (1 - po) / (n * (1 - pe) ** 2))
    return (kappa, max(-1.0, kappa - Z95 * se), min(1.0, kappa + Z95 * se))


def proactive_rate(decisions: pd.DataFrame, *, day: date, run_id: str) -> pd.DataFrame:
    """Share of automated actions taken before any user report, per policy (a census of the run, with a
    Wilson interval for the underlying rate)."""
    acted = decisions[decisions["automated"].astype(bool)]
    rows = []
    for policy, g in [("ALL", acted), *acted.groupby("policy_id")]:
        if len(g):
            k = int((g["user_reports"] == 0).sum())
            rows.append((policy, "ALL", "proactive_rate", k / len(g), *wilson_interval(k, len(g)), len(g)))
    return _metric_frame(rows, day, run_id)


def population_stability_index(current: np.ndarray, baseline: np.ndarray, eps: float = 1e-4) -> float:
    """PSI = Σ (p − q) ln(p / q) over bins; < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant shift."""
    p = current / max(current.sum(), 1)
    q = baseline / max(baseline.sum(), 1)
    p, q = np.clip(p, eps, None), np.clip(q, eps, None)
    return float(((p - q) * np.log(p / q)).sum())


def score_drift(populations: pd.DataFrame, baseline: pd.DataFrame, *, day: date, run_id: str) -> pd.DataFrame:
    """PSI of each policy's score-band distribution against the baseline window's (stratum populations)."""
    if baseline.empty:
        return _metric_frame([], day, run_id)

    def bands(frame: pd.DataFrame) -> pd.DataFrame:
        parts = frame["stratum"].str.split("|", expand=True)
        return frame.assign(policy_id=parts[0], band=parts[1]).groupby(["policy_id", "band"])["population"].sum()

    now, base = bands(populations), bands(baseline)
    rows = []
    for policy in now.index.get_level_values(0).unique():
        joined = pd.concat([now.loc[policy], base.loc[policy] if policy in base.index.get_level_values(0) else None],
                           axis=1, keys=["now", "base"]).fillna(0)  # fmt: skip
        if joined["base"].sum() == 0:
            continue
        psi = population_stability_index(joined["now"].to_numpy(float), joined["base"].to_numpy(float))
        rows.append((policy, "ALL", "score_psi", psi, None, None, int(joined["now"].sum())))
    return _metric_frame(rows, day, run_id)


def volume_anomaly(processed: int, baseline: list[int], *, day: date, run_id: str) -> pd.DataFrame:
    """How unusual today's volume is: z-score against the baseline runs (needs ≥ 3 of them)."""
    if len(baseline) < 3:
        return _metric_frame([], day, run_id)
    mean, std = float(np.mean(baseline)), float(np.std(baseline, ddof=1))
    z = (processed - mean) / std if std > 0 else 0.0
    return _metric_frame([("ALL", "ALL", "volume_zscore", z, None, None, len(baseline))], day, run_id)


def findings(metrics: pd.DataFrame, floors: dict[str, float], *, min_n: int = 20) -> list[dict[str, object]]:
    """Policies whose automated precision is below the pack's floor with 95% confidence (CI upper bound
    below the floor, at least `min_n` reviewed actions), plus drift and volume warnings."""
    out: list[dict[str, object]] = []
    m = metrics[metrics["region"] == "ALL"]
    for r in m[m["metric"] == "automated_precision"].itertuples():
        floor = floors.get(r.policy_id)
        if floor is not None and r.n >= min_n and pd.notna(r.ci_high) and r.ci_high < floor:
            out.append({"policy_id": r.policy_id, "severity": "critical", "kind": "precision_below_floor",
                        "value": round(float(r.value), 4), "ci_high": round(float(r.ci_high), 4), "floor": floor,
                        "n": int(r.n)})  # fmt: skip
    for r in m[(m["metric"] == "score_psi") & (m["value"] > 0.25)].itertuples():
        out.append({"policy_id": r.policy_id, "severity": "warning", "kind": "score_drift", "value": round(float(r.value), 4)})
    for r in m[(m["metric"] == "volume_zscore") & (m["value"].abs() > 3)].itertuples():
        out.append({"policy_id": "ALL", "severity": "warning", "kind": "volume_anomaly", "value": round(float(r.value), 2)})
    return out


def golden_accuracy(golden_tasks: pd.DataFrame, golden: pd.DataFrame, *, day: date, run_id: str) -> pd.DataFrame:
    """Reviewer accuracy on golden tasks (agreement with the known label), per policy and overall."""
    joined = golden_tasks.merge(golden.rename(columns={"label": "known"}), on=["item_id", "policy_id"], how="inner")
    rows = []
    for policy, g in [("ALL", joined), *joined.groupby("policy_id")]:
        if len(g):
            k = int((g["label"] == g["known"]).sum())
            rows.append((policy, "ALL", "golden_accuracy", k / len(g), *wilson_interval(k, len(g)), len(g)))
    return _metric_frame(rows, day, run_id)


def _metric_frame(rows: list[tuple], day: date, run_id: str) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"])
    out.insert(0, "day", day)
    out["run_id"] = run_id
    return out[list(METRICS.names)]
