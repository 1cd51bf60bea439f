"""Quality audits: estimates with honest 95% intervals from reviewed samples (DESIGN §6, docs/statistics.md).

Proportions from the stratified QA sample are post-stratified point estimates with bounds from a
finite-population (Pólya) posterior simulation over strata, one-sided priors as in Clopper–Pearson: every
unreviewed unit of a stratum gets a draw, so a stratum whose few sampled units all agree still contributes
uncertainty, and only a census (every unit reviewed) has an interval of zero width.
"""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from modsweep.schemas import METRICS

Z95 = 1.959963984540054
DRAWS = 2000  # posterior draws per domain: Monte Carlo error of a 2.5% quantile ≈ ±0.35 percentile points
JEFFREYS = 0.5

# How each metric's interval is computed (docs/statistics.md); a zero-width interval always means "census".
INTERVAL_METHODS: dict[str, str] = {
    "automated_precision": "stratified Pólya posterior bounds",
    "automated_recall": "stratified Pólya posterior bounds (caught and missed violations both drawn)",
    "prevalence": "stratified Pólya posterior bounds",
    "violative_view_rate": "Horvitz–Thompson with an exact Poisson (Garwood) interval",
    "escalation_confirm_rate": "Pólya posterior bounds over the policy's escalations",
    "reviewer_kappa": "Jeffreys-Dirichlet posterior of the label-pair table",
    "golden_accuracy": "Clopper–Pearson",
    "proactive_rate": "Clopper–Pearson (census value, interval for the underlying rate)",
    "sla_breach_rate": "Wilson",
    # Appeals (tasks/appeals.py): binomial rates over the enforced decisions / decided appeals of a run.
    **{f"{m}{s}": "Wilson" for m in ("appeal_rate", "overturn_rate") for s in ("", ".automated", ".human")},
    "appeal_sla_breach_rate": "Wilson",
}


EXACT_NO_AUTOMATION = "exact: no automated actions in this domain"


def interval_method(metric: str, ci_low: float | None, ci_high: float | None, value: float | None = None) -> str:
    """The method behind a metric row's interval, 'census' when it has zero width, '' without one (automated
    recall without an interval is exactly 0: nothing was automated, so nothing was caught)."""
    if ci_low is None or ci_high is None or pd.isna(ci_low) or pd.isna(ci_high):
        return EXACT_NO_AUTOMATION if metric == "automated_recall" and value == 0 else ""
    method = INTERVAL_METHODS.get(metric) or INTERVAL_METHODS.get(metric.split(".detector:", 1)[0], "")
    return "census" if ci_high - ci_low <= 1e-12 else method


def domain_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded from the run's seed and the domain's names: the same draws on every re-audit."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (n may be an effective sample size)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def clopper_pearson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval: Beta(k, n − k + 1) and Beta(k + 1, n − k) quantiles (never below nominal)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    a = (1 - level) / 2
    lo = 0.0 if successes <= 0 else float(stats.beta.ppf(a, successes, n - successes + 1))
    hi = 1.0 if successes >= n else float(stats.beta.ppf(1 - a, successes + 1, n - successes))
    return (lo, hi)


# Priors of the two one-sided posteriors (Clopper–Pearson's construction): Beta(0, 1) for the lower bound
# (never more positives than the data show), Beta(1, 0) for the upper one (never fewer).
LOWER, UPPER = (0.0, 1.0), (1.0, 0.0)


def beta_draws(
    a: np.ndarray | float, b: np.ndarray | float, rng: np.random.Generator, shape: tuple[int, int]
) -> np.ndarray:
    """Beta(a, b) draws with the improper limits allowed: a = 0 gives 0, b = 0 gives 1."""
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    p = rng.beta(np.maximum(a, 1e-300), np.maximum(b, 1e-300))
    return np.where(a <= 0, 0.0, np.where(b <= 0, 1.0, p))


def posterior_totals(
    N: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    a: np.ndarray | float,
    b: np.ndarray | float,
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> np.ndarray:
    """Draws (draws × cells) of each cell's count of positives, T = k + U, from the Pólya posterior.

    p ~ Beta(a + k, b + n − k) with prior Beta(a, b) (arrays broadcast to draws × cells), and the N − n
    unreviewed units U | p ~ Binomial(N − n, p). A census (n = N) has T = k exactly. Otherwise each draw of U
    is spread uniformly over [U − 1/2, U + 1/2] ∩ [0, N − n] (mid-p): a discrete posterior with most of its
    mass on one count would otherwise give a zero-width interval although units were never reviewed.
    """
    N, n, k = (np.asarray(x, dtype=np.float64) for x in (N, n, k))
    shape = (draws, len(N))
    p = beta_draws(a + k, b + n - k, rng, shape)
    unreviewed = np.maximum(N - n, 0)
    u = rng.binomial(unreviewed.astype(np.int64), p) + rng.uniform(-0.5, 0.5, shape) * (unreviewed > 0)
    return k + np.clip(u, 0, unreviewed)


def mean_centred_prior(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beta(a, b) with this mean and Jeffreys' shape on its rarer side: min(a, b) = 1/2.

    The prior of a region's rate within a stratum, centred on the other regions' rate: a rare rate μ gets
    Beta(1/2, (1 − μ) / 2μ), whose 97.5% quantile is about 5μ, so a region may differ several-fold.
    """
    m = np.clip(mean, 1e-12, 1 - 1e-12)
    return JEFFREYS * np.maximum(1.0, m / (1 - m)), JEFFREYS * np.maximum(1.0, (1 - m) / m)


def one_sided_bounds(
    low_draws: np.ndarray, high_draws: np.ndarray, value: float, level: float = 0.95
) -> tuple[float, float]:
    """The (1 − level)/2 quantile of the lower-bound draws and the (1 + level)/2 quantile of the upper-bound
    draws, widened if needed to contain the point estimate."""
    low, high = low_draws[np.isfinite(low_draws)], high_draws[np.isfinite(high_draws)]
    if low.size == 0 or high.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = float(np.quantile(low, (1 - level) / 2)), float(np.quantile(high, (1 + level) / 2))
    return (min(lo, value), max(hi, value))


def stratified_proportion(
    strata: pd.DataFrame, *, rng: np.random.Generator | None = None, draws: int = DRAWS
) -> tuple[float, float, float, int]:
    """Estimate, CI low, CI high and n from rows (population N, sampled n, positives k) per stratum.

    p̂ = Σ N_h p̂_h / Σ N_h with p̂_h = k_h / n_h (an unsampled stratum takes the pooled k / n). The bounds are
    quantiles of Σ T_h / Σ N_h over Pólya posterior draws of each stratum's total T_h (`posterior_totals`),
    with prior Beta(0, 1) for the lower bound and Beta(1, 0) for the upper: for one stratum of an infinite
    population this is Clopper–Pearson. Zero width only when every stratum is a census.
    """
    s = strata[strata["N"] > 0]
    n_total = int(s["n"].sum())
    if s.empty or n_total == 0:
        return (float("nan"), float("nan"), float("nan"), 0)
    N, n, k = (s[c].to_numpy(dtype=np.float64) for c in ("N", "n", "k"))
    p = float((N * _cell_rates(n, k, k.sum() / n.sum())).sum() / N.sum())
    rng = rng or domain_rng(0, "stratified")
    low, high = (posterior_totals(N, n, k, *prior, rng, draws).sum(axis=1) / N.sum() for prior in (LOWER, UPPER))
    return (p, *one_sided_bounds(low, high, p), n_total)


def _cell_rates(n: np.ndarray, k: np.ndarray, fallback: np.ndarray | float) -> np.ndarray:
    """k / n per cell; cells with no sampled unit take `fallback` (their stratum's or the pooled rate)."""
    return np.where(n > 0, k / np.maximum(n, 1), fallback)


def _cells(labelled: pd.DataFrame, populations: pd.DataFrame) -> pd.DataFrame:
    """Stratum × region cells of every policy: population N, labelled n, violating k, actioned or not."""
    N = populations.groupby(["stratum", "region"], sort=True)["population"].sum()
    grouped = labelled.groupby(["stratum", "region"])["violating"]
    out = pd.DataFrame({"N": N, "n": grouped.size(), "k": grouped.sum()}).loc[N.index].fillna(0).reset_index()
    out["n"] = np.minimum(out["n"], out["N"])  # a task stored twice never makes a sample larger than its stratum
    out["k"] = np.minimum(out["k"], out["n"])
    out["policy_id"] = out["stratum"].str.split("|").str[0]
    out["actioned"] = out["stratum"].str.endswith("|actioned")
    return out[out["N"] > 0]


def _domain_metrics(
    N: np.ndarray, n: np.ndarray, rate: np.ndarray, low: np.ndarray, high: np.ndarray, actioned: np.ndarray
) -> list[tuple[str, float, float | None, float | None, int]]:
    """Precision, recall and prevalence (point estimate, interval, reviews behind it) of one domain's cells.

    `rate` holds the cells' point-estimate rates; `low` and `high` posterior draws of their violating counts
    under the lower- and upper-bound priors. Recall's lower bound takes few caught and many missed violations
    (low draws of actioned cells with high draws of unactioned ones), its upper bound the reverse.
    """
    out = []
    tp_hat, fn_hat = float((N * rate)[actioned].sum()), float((N * rate)[~actioned].sum())
    tp_low, tp_high = low[:, actioned].sum(axis=1), high[:, actioned].sum(axis=1)
    fn_low, fn_high = low[:, ~actioned].sum(axis=1), high[:, ~actioned].sum(axis=1)
    n_act, N_act = n[actioned].sum(), N[actioned].sum()
    if n_act > 0 and N_act > 0:
        value = tp_hat / N_act
        out.append(
            ("automated_precision", value, *one_sided_bounds(tp_low / N_act, tp_high / N_act, value), int(n_act))
        )
    if tp_hat + fn_hat > 0 and N_act == 0:  # nothing automated: recall is exactly 0, not an estimate
        out.append(("automated_recall", 0.0, None, None, int(n.sum())))
    elif tp_hat + fn_hat > 0:
        value = tp_hat / (tp_hat + fn_hat)
        with np.errstate(invalid="ignore", divide="ignore"):
            bounds = one_sided_bounds(tp_low / (tp_low + fn_high), tp_high / (tp_high + fn_low), value)
        out.append(("automated_recall", value, *bounds, int(n.sum())))
    if N.sum() > 0 and n.sum() > 0:
        value = (tp_hat + fn_hat) / N.sum()
        out.append(
            (
                "prevalence",
                value,
                *one_sided_bounds((tp_low + fn_low) / N.sum(), (tp_high + fn_high) / N.sum(), value),
                int(n.sum()),
            )
        )
    return out


def quality_metrics(
    qa_outcomes: pd.DataFrame,
    populations: pd.DataFrame,
    *,
    day: date,
    run_id: str,
    min_n: int = 10,
    seed: int = 0,
    draws: int = DRAWS,
) -> pd.DataFrame:
    """Precision of automated actions, automated recall and prevalence per policy × region (and 'ALL'), with CIs.

    Automated recall is the share of violating items that an automated action caught; items escalated to
    human review count as not (yet) actioned, so policies that never automate report 0.

    `qa_outcomes`: decided QA tasks (replica 0) with stratum, policy_id, region and label.
    `populations`: stratum × region population counts of the whole window.
    Regions with fewer than `min_n` labelled tasks are reported only within 'ALL'.

    'ALL': each stratum's total is drawn from its Pólya posterior (`stratified_proportion`'s bounds). A
    region: each stratum × region cell's rate has a prior centred on the stratum's rate in the *other*
    regions (itself a posterior draw, `mean_centred_prior`), updated by the cell's own reviews; a cell with
    no review still contributes its uncertainty. Recall draws numerator and denominator together, so the
    uncertainty of the violations among the unactioned is in its interval. Point estimates: post-stratified
    k/n per cell (an unsampled cell takes its stratum's rate in the other regions).
    """
    qa = qa_outcomes.assign(violating=(qa_outcomes["label"] == "violating").astype(int))
    all_cells = _cells(qa, populations)
    labelled_by_region = qa.groupby(["policy_id", "region"]).size()
    rows = []
    for policy, cells in all_cells.groupby("policy_id", sort=True):
        stratum_code, strata = pd.factorize(cells["stratum"], sort=True)
        N, n, k = (cells[c].to_numpy(dtype=np.float64) for c in ("N", "n", "k"))
        N_h, n_h, k_h = (np.bincount(stratum_code, weights=x, minlength=len(strata)) for x in (N, n, k))
        actioned_h = np.array([s.endswith("|actioned") for s in strata], dtype=bool)
        pooled = k_h.sum() / n_h.sum() if n_h.sum() > 0 else 0.5
        rng = domain_rng(seed, str(policy), "ALL")
        low, high = (posterior_totals(N_h, n_h, k_h, *prior, rng, draws) for prior in (LOWER, UPPER))
        for metric, value, lo, hi, used in _domain_metrics(
            N_h, n_h, _cell_rates(n_h, k_h, pooled), low, high, actioned_h
        ):
            rows.append((policy, "ALL", metric, value, lo, hi, used))
        rows.append((policy, "ALL", "qa_sample_size", float(n_h.sum()), None, None, int(n_h.sum())))
        regions = labelled_by_region.loc[policy] if policy in labelled_by_region.index.get_level_values(0) else {}
        region_of = cells["region"].to_numpy()
        for region in sorted(r for r, c in regions.items() if c >= min_n):
            mine = region_of == region
            h = stratum_code[mine]
            # The stratum's rate elsewhere (a posterior draw from the other regions' reviews of it) centres the
            # prior of this region's rate; each bound shifts both by its one-sided prior.
            n_else, k_else = n_h[h] - n[mine], k_h[h] - k[mine]
            rng = domain_rng(seed, str(policy), str(region))
            bounds = []
            for a0, b0 in (LOWER, UPPER):
                mu = beta_draws(k_else + a0, n_else - k_else + b0, rng, (draws, len(h)))
                a, b = mean_centred_prior(mu)
                bounds.append(posterior_totals(N[mine], n[mine], k[mine], a + a0, b + b0, rng, draws))
            rate = _cell_rates(n[mine], k[mine], np.where(n_else > 0, k_else / np.maximum(n_else, 1), pooled))
            for metric, value, lo, hi, used in _domain_metrics(N[mine], n[mine], rate, *bounds, actioned_h[h]):
                rows.append((policy, region, metric, value, lo, hi, used))
            rows.append((policy, region, "qa_sample_size", float(n[mine].sum()), None, None, int(n[mine].sum())))
    return _metric_frame(rows, day, run_id)


def violative_view_rate(
    prevalence: pd.DataFrame, views_by_region: pd.Series, *, day: date, run_id: str, min_n: int = 10
) -> pd.DataFrame:
    """Violative view rate per policy × region (and 'ALL') from the views-proportional Poisson sample.

    Horvitz–Thompson: VVR = Σ_s y_i v_i / π_i ÷ V, where y_i = 1 when reviewers found the item violating,
    v_i its views and V the views of every item in the domain. Items with π_i = 1 are a census; every other
    sampled item has v_i / π_i = c (the same for all: π_i = n v_i / V_day), so their part is c·k with k the
    violating ones among them, a Poisson count. The interval is Garwood's exact one for that count:
    [C + c·χ²(0.025; 2k)/2, C + c·χ²(0.975; 2k + 2)/2] ÷ V with C the census items' violating views. Zero
    width only when the census items hold all the domain's views.
    """
    rows = []
    for policy, g in prevalence.groupby("policy_id"):
        domains = [("ALL", g, float(views_by_region.sum()))]
        domains += [(r, d, float(views_by_region.get(r, 0))) for r, d in g.groupby("region") if len(d) >= min_n]
        for region, d, total in domains:
            if total <= 0:
                continue
            rows.append((policy, region, "violative_view_rate", *pps_view_rate(d, total), len(d)))
    return _metric_frame(rows, day, run_id)


def pps_view_rate(sample: pd.DataFrame, total_views: float, level: float = 0.95) -> tuple[float, float, float]:
    """Horvitz–Thompson view rate of one domain with its exact Poisson interval (see `violative_view_rate`)."""
    y = (sample["label"] == "violating").to_numpy(dtype=bool)
    v = sample["views"].to_numpy(dtype=np.float64)
    pi = sample["inclusion_prob"].to_numpy(dtype=np.float64)
    certain = pi >= 1.0
    census_views = float(v[y & certain].sum())
    weights = v[~certain] / pi[~certain]
    if certain.all() and float(v.sum()) >= total_views:
        value = census_views / total_views
        return (value, value, value)
    # The weight c = V_day / n every non-certainty item carries; when none was sampled, its upper bound: an
    # item is certain exactly when v_i ≥ c, so c ≤ the fewest views of a certainty item.
    c = float(np.median(weights)) if weights.size else float(v[certain].min())
    k = int((y & ~certain).sum())
    estimate = (census_views + float((v[y & ~certain] / pi[y & ~certain]).sum())) / total_views
    a = (1 - level) / 2
    lam_lo = 0.0 if k == 0 else float(stats.chi2.ppf(a, 2 * k) / 2)
    lam_hi = float(stats.chi2.ppf(1 - a, 2 * k + 2) / 2)
    lo = (census_views + c * lam_lo) / total_views
    hi = min(1.0, (census_views + c * lam_hi) / total_views)
    return (estimate, min(lo, estimate), max(hi, estimate))


def review_metrics(tasks: pd.DataFrame, *, day: date, run_id: str, seed: int = 0, draws: int = DRAWS) -> pd.DataFrame:
    """Escalation confirm rate, reviewer agreement (Cohen's κ on double-reviewed tasks) and time to decision.

    The confirm rate's population is every escalation of the policy in the run (any status); the decided
    ones are taken as a simple random sample of it (Pólya posterior bounds for the rest, as in
    `stratified_proportion`), so it is a census once every escalation is decided.
    """
    rows = []
    tasks = tasks[~tasks["reason"].isin(["appeal", "account_review"])]  # their work is measured by appeal_metrics
    decided = tasks[tasks["status"] == "decided"]
    esc = decided[decided["reason"] == "review_band"]
    escalated = tasks[tasks["reason"] == "review_band"].groupby("policy_id").size()
    for policy, g in esc.groupby("policy_id"):
        k, n = int((g["label"] == "violating").sum()), len(g)
        N = max(int(escalated.get(policy, n)), n)
        rng = domain_rng(seed, str(policy), "escalation_confirm_rate")
        low, high = (
            posterior_totals(np.array([N]), np.array([n]), np.array([k]), *prior, rng, draws)[:, 0] / N
            for prior in (LOWER, UPPER)
        )
        rows.append((policy, "ALL", "escalation_confirm_rate", k / n, *one_sided_bounds(low, high, k / n), n))
    pairs = decided[decided["reason"].str.startswith("qa_")].pivot_table(
        index=["item_id", "policy_id", "reason"], columns="replica", values="label", aggfunc="first"
    )
    if {0, 1} <= set(pairs.columns):
        both = pairs.dropna(subset=[0, 1]).reset_index()
        for policy, g in [("ALL", both), *both.groupby("policy_id")]:
            if len(g) >= 2:
                rng = domain_rng(seed, str(policy), "reviewer_kappa")
                kappa = cohens_kappa(g[0].to_numpy(), g[1].to_numpy(), rng=rng, draws=draws)
                rows.append((policy, "ALL", "reviewer_kappa", *kappa, len(g)))
    if len(decided):
        hours = pd.to_datetime(decided["decided_at"], utc=True) - pd.to_datetime(decided["created_at"], utc=True)
        hours = hours.dt.total_seconds() / 3600
        for policy, g in [("ALL", hours), *hours.groupby(decided["policy_id"])]:
            rows.append((policy, "ALL", "hours_to_decision_median", float(g.median()), None, None, len(g)))
            rows.append((policy, "ALL", "hours_to_decision_p90", float(g.quantile(0.9)), None, None, len(g)))
        breached = pd.to_datetime(decided["decided_at"], utc=True) > pd.to_datetime(decided["due_by"], utc=True)
        rows.append(
            (
                "ALL",
                "ALL",
                "sla_breach_rate",
                float(breached.mean()),
                *wilson_interval(breached.sum(), len(breached)),
                len(breached),
            )
        )
    return _metric_frame(rows, day, run_id)


def cohens_kappa(
    a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator | None = None, draws: int = DRAWS
) -> tuple[float, float, float]:
    """κ = (p_o − p_e) / (1 − p_e) with a 95% interval from a Jeffreys-Dirichlet posterior of the label-pair table.

    The K × K table of (first, second) labels gets Dirichlet(counts + 1/2); κ of each draw gives the
    interval, widened to contain the estimate. When both reviewers gave one label to everything, κ is 0/0
    and is reported as 1 (perfect observed agreement), its interval still from the posterior.
    """
    a, b = np.asarray(a).astype(str), np.asarray(b).astype(str)
    labels = np.union1d(a, b)
    if len(labels) < 2:  # a label nobody gave keeps prior mass: disagreement is not ruled out by 0 cases
        labels = np.union1d(labels, ["<another label>"])
    K = len(labels)
    counts = np.zeros((K, K))
    np.add.at(counts, (np.searchsorted(labels, a), np.searchsorted(labels, b)), 1)
    po, pe = _agreement(counts[None] / counts.sum())
    kappa = 1.0 if pe[0] >= 1 else float((po[0] - pe[0]) / (1 - pe[0]))
    table = (rng or domain_rng(0, "kappa")).dirichlet(counts.ravel() + JEFFREYS, size=draws).reshape(draws, K, K)
    po_d, pe_d = _agreement(table)
    draws_kappa = (po_d - pe_d) / (1 - pe_d)
    lo, hi = one_sided_bounds(draws_kappa, draws_kappa, kappa)
    return (kappa, max(-1.0, lo), min(1.0, hi))


def _agreement(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed (trace) and chance (Σ row × column margins) agreement of stacked K × K probability tables."""
    po = np.trace(tables, axis1=1, axis2=2)
    pe = (tables.sum(axis=2) * tables.sum(axis=1)).sum(axis=1)
    return po, pe


def proactive_rate(decisions: pd.DataFrame, *, day: date, run_id: str) -> pd.DataFrame:
    """Share of automated actions taken before any user report, per policy: the value is a census of the run;
    the interval (Clopper–Pearson) is for the underlying rate, the run being one draw of the process."""
    acted = decisions[decisions["automated"].astype(bool)]
    rows = []
    for policy, g in [("ALL", acted), *acted.groupby("policy_id")]:
        if len(g):
            k = int((g["user_reports"] == 0).sum())
            rows.append((policy, "ALL", "proactive_rate", k / len(g), *clopper_pearson_interval(k, len(g)), len(g)))
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
        joined = pd.concat(
            [now.loc[policy], base.loc[policy] if policy in base.index.get_level_values(0) else None],
            axis=1,
            keys=["now", "base"],
        ).fillna(0)
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
            out.append(
                {
                    "policy_id": r.policy_id,
                    "severity": "critical",
                    "kind": "precision_below_floor",
                    "value": round(float(r.value), 4),
                    "ci_high": round(float(r.ci_high), 4),
                    "floor": floor,
                    "n": int(r.n),
                }
            )
    for r in m[(m["metric"] == "score_psi") & (m["value"] > 0.25)].itertuples():
        out.append(
            {"policy_id": r.policy_id, "severity": "warning", "kind": "score_drift", "value": round(float(r.value), 4)}
        )
    for r in m[(m["metric"] == "volume_zscore") & (m["value"].abs() > 3)].itertuples():
        out.append(
            {"policy_id": "ALL", "severity": "warning", "kind": "volume_anomaly", "value": round(float(r.value), 2)}
        )
    return out


def golden_accuracy(golden_tasks: pd.DataFrame, golden: pd.DataFrame, *, day: date, run_id: str) -> pd.DataFrame:
    """Reviewer accuracy on golden tasks (agreement with the known label), per policy and overall, with a
    Clopper–Pearson interval (reviewers' accuracy is a rate of the process, not of a finite population)."""
    joined = golden_tasks.merge(golden.rename(columns={"label": "known"}), on=["item_id", "policy_id"], how="inner")
    rows = []
    for policy, g in [("ALL", joined), *joined.groupby("policy_id")]:
        if len(g):
            k = int((g["label"] == g["known"]).sum())
            rows.append((policy, "ALL", "golden_accuracy", k / len(g), *clopper_pearson_interval(k, len(g)), len(g)))
    return _metric_frame(rows, day, run_id)


def _metric_frame(rows: list[tuple], day: date, run_id: str) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"])
    out.insert(0, "day", day)
    out["run_id"] = run_id
    return out[list(METRICS.names)]


def run_metrics(
    tasks: pd.DataFrame,
    populations: pd.DataFrame,
    baseline: list[pd.DataFrame],
    views: pd.DataFrame,
    n_items: int,
    decisions: pd.DataFrame,
    golden: pd.DataFrame | None,
    volumes: list[int],
    *,
    day: date,
    run_id: str,
) -> pd.DataFrame:
    """Every audit metric of a run: from its stored review tasks (`tasks`), its strata populations (and earlier
    runs' as the drift `baseline`), views per region (`views`: region, views_sum), its decisions, the golden set
    and earlier runs' item volumes."""
    decided = tasks[(tasks["status"] == "decided") & (tasks["replica"] == 0)]
    qa = decided[decided["reason"].str.startswith("qa_")]
    by_region = (
        views.groupby("region")["views_sum"].sum().rename("views")
        if len(views)
        else pd.Series(dtype=np.int64, name="views")
    )
    base = pd.concat(baseline or [pd.DataFrame(columns=populations.columns)])
    known = golden if golden is not None else pd.DataFrame(columns=["item_id", "policy_id", "label"])
    kw = {"day": day, "run_id": run_id}
    return pd.concat(
        [
            quality_metrics(qa, populations, **kw),
            violative_view_rate(decided[decided["reason"] == "prevalence"], by_region, **kw),
            review_metrics(tasks, **kw),
            proactive_rate(decisions, **kw),
            score_drift(populations, base, **kw),
            golden_accuracy(decided[decided["reason"] == "golden"], known, **kw),
            volume_anomaly(n_items, volumes, **kw),
        ],
        ignore_index=True,
    )
