"""Coverage of the audit's 95% intervals (issue 14): many seeds of a small synthetic day, reviewed by perfect
reviewers and sampled the way tasks/sample.py samples, compared with the truth of the generated population.

Hard cases on purpose: a rare policy (0.5% prevalence) with tiny actioned strata, a policy whose automated
actions are all right (all-agree strata), a region with three times the violations of the others (so pooling
across regions must not hide it), and small regions with few sampled units per stratum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest

from modsweep.tasks.audit import (
    cohens_kappa,
    golden_accuracy,
    interval_method,
    proactive_rate,
    quality_metrics,
    review_metrics,
    violative_view_rate,
)
from modsweep.tasks.sample import draw_qa_sample, partition_strata, prevalence_candidates, qa_sample_sizes

DAY = date(2026, 11, 23)
REGIONS = ("DE", "FR", "US", "BE")
REGION_WEIGHTS = (0.45, 0.25, 0.22, 0.08)
RATE_BOOST = {"BE": 3.0}  # BE has three times every policy's base rate
# policy → (base violation rate, share of violations the detector misses, benign items scored above 0.9)
POLICIES = {"rare.policy": (0.005, 0.3, 0.002), "common.policy": (0.04, 0.4, 0.01), "exact.policy": (0.02, 0.2, 0.0)}
SEEDS = 30
MIN_COVERAGE = 0.93
DRAWS = 1000  # fewer posterior draws than a run's 2000: the test measures coverage, not Monte Carlo error


@dataclass(frozen=True)
class Day:
    items: pd.DataFrame  # item_id, region, views, user_reports
    truth: pd.DataFrame  # item_id, policy_id of every violation
    scores: pd.DataFrame  # one column per policy
    decisions: pd.DataFrame  # automated actions: item_id, policy_id, automated, action


def synthetic_day(seed: int, n_items: int = 6_000) -> Day:
    """A small day: regions, heavy-tailed views, per-policy violations and detector scores, automated removals
    of scores above 0.9 (a missed violation scores like a benign item)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{seed}-{i}" for i in range(n_items)], dtype=object)
    region = rng.choice(np.array(REGIONS, dtype=object), n_items, p=REGION_WEIGHTS)
    boost = np.array([RATE_BOOST.get(r, 1.0) for r in region])
    views = np.floor(rng.lognormal(3, 2, n_items)).astype(np.int64)
    scores, truth, acted = {}, [], []
    for policy, (rate, missed, false_alarms) in POLICIES.items():
        violating = rng.random(n_items) < rate * boost
        caught = violating & (rng.random(n_items) >= missed)
        score = rng.beta(1, 12, n_items)
        score[caught] = rng.beta(6, 1.5, int(caught.sum()))
        alarm = ~violating & (rng.random(n_items) < false_alarms)
        score[alarm] = rng.uniform(0.9, 1.0, int(alarm.sum()))
        scores[policy] = score
        truth.append(pd.DataFrame({"item_id": ids[violating], "policy_id": policy}))
        acted.append(
            pd.DataFrame({"item_id": ids[score > 0.9], "policy_id": policy, "automated": True, "action": "remove"})
        )
    reports = rng.poisson(0.3, n_items) * (rng.random(n_items) < 0.5)
    items = pd.DataFrame({"item_id": ids, "region": region, "views": views, "user_reports": reports})
    return Day(items, pd.concat(truth, ignore_index=True), pd.DataFrame(scores), pd.concat(acted, ignore_index=True))


def perfect_labels(sample: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """What a reviewer who never errs says about each sampled (item, policy)."""
    key = sample["item_id"] + "|" + sample["policy_id"]
    return pd.Series(
        np.where(key.isin(set(truth["item_id"] + "|" + truth["policy_id"])), "violating", "benign"), index=sample.index
    )


def qa_sample(day: Day, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratum populations and the reviewed stratified QA sample, drawn as the sweep draws it (small sizes)."""
    pops, candidates = partition_strata(
        day.items["item_id"], day.items["region"], day.scores, day.decisions, seed=f"run-{seed}", keep_per_stratum=40
    )
    sizes = qa_sample_sizes(pops.groupby("stratum")["population"].sum(), half_width=0.2, floor=5, cap=40)
    qa = draw_qa_sample(pops, candidates, sizes).merge(day.items[["item_id", "region"]], on="item_id")
    return pops, qa.assign(label=perfect_labels(qa, day.truth))


def true_quality(day: Day) -> pd.DataFrame:
    """Precision of automated actions, automated recall and prevalence per policy × region and 'ALL'."""
    rows = []
    violations = set(day.truth["item_id"] + "|" + day.truth["policy_id"])
    acted = set(day.decisions["item_id"] + "|" + day.decisions["policy_id"])
    for policy in POLICIES:
        key = day.items["item_id"] + "|" + policy
        v, a = key.isin(violations).to_numpy(), key.isin(acted).to_numpy()
        for region in ("ALL", *REGIONS):
            m = np.ones(len(key), bool) if region == "ALL" else (day.items["region"] == region).to_numpy()
            if (a & m).any():
                rows.append((policy, region, "automated_precision", (v & a & m).sum() / (a & m).sum()))
            if (v & m).any():
                rows.append((policy, region, "automated_recall", (v & a & m).sum() / (v & m).sum()))
            rows.append((policy, region, "prevalence", (v & m).sum() / m.sum()))
    return pd.DataFrame(rows, columns=["policy_id", "region", "metric", "truth"])


def census_domains(pops: pd.DataFrame, qa: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(policy, region, metric) whose value is exact: every relevant stratum × region cell fully reviewed."""
    reviewed = qa.assign(k=qa["label"] == "violating").groupby(["stratum", "region"])["k"].agg(["size", "sum"])
    cells = pops.set_index(["stratum", "region"])[["population"]].join(reviewed).fillna(0).reset_index()
    cells = cells.rename(columns={"size": "n", "sum": "k"})
    cells["full"] = cells["n"] >= cells["population"]
    cells["policy_id"] = cells["stratum"].str.split("|").str[0]
    cells["actioned"] = cells["stratum"].str.endswith("|actioned")
    out = set()
    for region in ("ALL", *REGIONS):
        c = cells if region == "ALL" else cells[cells["region"] == region]
        for policy, g in c.groupby("policy_id"):
            act = g[g["actioned"]]
            if g["full"].all():
                out |= {(policy, region, "automated_recall"), (policy, region, "prevalence")}
            if act["full"].all():
                out.add((policy, region, "automated_precision"))
                if act["k"].sum() == 0:  # every automated action reviewed and none right: recall is exactly 0
                    out.add((policy, region, "automated_recall"))
    return out


def _check(cells: pd.DataFrame, census: set[tuple[str, str, str, int]]) -> pd.Series:
    """Coverage per metric; fails on a zero-width interval that is not a census (policy, region, metric, seed)."""
    zero = cells[(cells["ci_high"] - cells["ci_low"]) <= 1e-12]
    keys = zip(zero["policy_id"], zero["region"], zero["metric"], zero["seed"], strict=True)
    not_census = [k for k in keys if k not in census]
    assert not not_census, f"zero-width intervals without a census: {not_census[:5]}"
    covered = (cells["ci_low"] <= cells["truth"] + 1e-12) & (cells["truth"] <= cells["ci_high"] + 1e-12)
    return covered.groupby(cells["metric"]).mean()


@pytest.fixture(scope="module")
def days() -> list[Day]:
    return [synthetic_day(seed) for seed in range(SEEDS)]


@pytest.fixture(scope="module")
def quality(days: list[Day]) -> tuple[pd.DataFrame, set[tuple[str, str, str, int]]]:
    """Every seed's quality metrics beside the truth, and the (policy, region, metric, seed) that are censuses."""
    frames, census = [], set()
    for seed, day in enumerate(days):
        pops, qa = qa_sample(day, seed)
        m = quality_metrics(qa, pops, day=DAY, run_id="r", seed=seed, draws=DRAWS)
        m = m[m["metric"] != "qa_sample_size"].merge(true_quality(day), on=["policy_id", "region", "metric"])
        frames.append(m.assign(seed=seed))
        census |= {(p, r, k, seed) for p, r, k in census_domains(pops, qa)}
    return pd.concat(frames, ignore_index=True), census


def test_stratified_quality_intervals_cover_the_truth(quality: tuple[pd.DataFrame, set[tuple[str, str, str, int]]]):
    cells, census = quality
    coverage = _check(cells, census)
    counts = cells.groupby("metric").size()
    assert counts.min() >= 300, counts  # every metric measured over enough cells
    assert set(cells["region"]) == {"ALL", *REGIONS}  # small regions are measured too
    for metric, share in coverage.items():
        assert share >= MIN_COVERAGE, f"{metric}: {share:.3f} of {counts[metric]} cells covered"


def test_rare_policy_recall_and_prevalence_cover_in_every_region(
    quality: tuple[pd.DataFrame, set[tuple[str, str, str, int]]],
):
    """The hardest cells alone: 0.5% prevalence (1.5% in BE), tiny actioned strata, mostly all-benign samples."""
    cells, census = quality
    cells = cells[cells["policy_id"] == "rare.policy"]
    covered = (cells["ci_low"] <= cells["truth"] + 1e-12) & (cells["truth"] <= cells["ci_high"] + 1e-12)
    for (metric, region), share in covered.groupby([cells["metric"], cells["region"]]).mean().items():
        assert share >= 0.9, f"rare.policy {metric} in {region}: {share:.3f}"
    exact = np.array(
        [k in census for k in zip(cells["policy_id"], cells["region"], cells["metric"], cells["seed"], strict=True)]
    )
    assert ((cells["ci_high"] > cells["ci_low"]).to_numpy() | exact).all()


def test_violative_view_rate_intervals_cover_the_truth(days: list[Day]):
    frames = []
    for seed, day in enumerate(days):
        views = day.items.groupby("region")["views"].sum()
        sample = prevalence_candidates(
            day.items, day.scores, seed=f"run-{seed}", n_per_policy=150, total_views=float(views.sum())
        )
        sample = sample.merge(day.items[["item_id", "region", "views"]], on="item_id")
        sample["label"] = perfect_labels(sample, day.truth)
        m = violative_view_rate(sample, views, day=DAY, run_id="r")
        key = day.items["item_id"]
        truth = []
        for policy in POLICIES:
            bad = key.isin(set(day.truth.loc[day.truth["policy_id"] == policy, "item_id"]))
            viol_views = day.items["views"].where(bad, 0)
            truth.append((policy, "ALL", viol_views.sum() / views.sum()))
            truth += [(policy, r, v / views[r]) for r, v in viol_views.groupby(day.items["region"]).sum().items()]
        truth = pd.DataFrame(truth, columns=["policy_id", "region", "truth"])
        frames.append(m.merge(truth, on=["policy_id", "region"]).assign(seed=seed))
    cells = pd.concat(frames, ignore_index=True)
    assert len(cells) >= 300
    coverage = _check(cells, census=set())
    assert coverage["violative_view_rate"] >= MIN_COVERAGE, coverage


def test_confirm_rate_kappa_golden_and_proactive_with_perfect_reviewers(days: list[Day]):
    """Escalations half decided, double reviews and golden tasks all labelled by perfect reviewers."""
    frames = []
    for seed, day in enumerate(days):
        rng = np.random.default_rng(10_000 + seed)
        esc = [
            pd.DataFrame({"item_id": day.items["item_id"][(s > 0.6) & (s <= 0.9)], "policy_id": p})
            for p, s in day.scores.items()
        ]
        esc = pd.concat(esc, ignore_index=True)
        esc["label"] = perfect_labels(esc, day.truth)
        esc["status"] = np.where(rng.random(len(esc)) < 0.5, "decided", "open")
        tasks = esc.assign(
            reason="review_band",
            replica=0,
            created_at=pd.Timestamp("2026-11-23", tz="UTC"),
            decided_at=pd.Timestamp("2026-11-23 05:00", tz="UTC"),
            due_by=pd.Timestamp("2026-11-24", tz="UTC"),
        )
        m = review_metrics(tasks, day=DAY, run_id="r", seed=seed, draws=DRAWS)
        truth = esc.groupby("policy_id")["label"].apply(lambda s: (s == "violating").mean()).rename("truth")
        confirm = m[m["metric"] == "escalation_confirm_rate"].merge(truth, left_on="policy_id", right_index=True)
        frames.append(confirm.assign(seed=seed))
        golden = day.truth.sample(min(40, len(day.truth)), random_state=seed).assign(label="violating")
        frames.append(golden_accuracy(golden, golden, day=DAY, run_id="r").assign(truth=1.0, seed=seed))
        decisions = day.decisions.merge(day.items[["item_id", "user_reports"]], on="item_id")
        pr = proactive_rate(decisions, day=DAY, run_id="r")
        share = decisions.groupby("policy_id")["user_reports"].apply(lambda s: (s == 0).mean())
        share["ALL"] = (decisions["user_reports"] == 0).mean()
        frames.append(pr.merge(share.rename("truth"), left_on="policy_id", right_index=True).assign(seed=seed))
    cells = pd.concat(frames, ignore_index=True)
    coverage = _check(cells, census=set())
    for metric in ("escalation_confirm_rate", "golden_accuracy", "proactive_rate"):
        assert coverage[metric] >= MIN_COVERAGE, coverage


def test_kappa_interval_covers_the_reviewer_process_kappa():
    """Two imperfect reviewers (recall 0.9, false positives 5%) on items 30% violating: the κ of that process is
    known exactly, and the Jeffreys-Dirichlet interval covers it; perfect reviewers give κ = 1 inside [lo, 1]."""
    rng = np.random.default_rng(7)
    prevalence, recall, fpr = 0.3, 0.9, 0.05
    p_v = np.array([prevalence * recall + (1 - prevalence) * fpr])  # P(a reviewer says violating)
    both_v = prevalence * recall**2 + (1 - prevalence) * fpr**2
    both_b = prevalence * (1 - recall) ** 2 + (1 - prevalence) * (1 - fpr) ** 2
    pe = p_v**2 + (1 - p_v) ** 2
    true_kappa = float(((both_v + both_b - pe) / (1 - pe))[0])
    covered, widths = 0, []
    reps = 600
    for rep in range(reps):
        n = int(rng.integers(20, 120))
        y = rng.random(n) < prevalence
        a = np.where(rng.random(n) < np.where(y, recall, fpr), "violating", "benign")
        b = np.where(rng.random(n) < np.where(y, recall, fpr), "violating", "benign")
        kappa, lo, hi = cohens_kappa(a, b, rng=np.random.default_rng(rep), draws=DRAWS)
        covered += lo <= true_kappa <= hi
        widths.append(hi - lo)
    assert covered / reps >= MIN_COVERAGE, covered / reps
    same = np.array(["violating", "benign", "benign"] * 5)
    kappa, lo, hi = cohens_kappa(same, same, rng=np.random.default_rng(0), draws=DRAWS)
    assert kappa == 1.0 and hi == 1.0 and lo < 1.0
    kappa, lo, hi = cohens_kappa(same[same == "benign"], same[same == "benign"], rng=np.random.default_rng(0))
    assert kappa == 1.0 and lo < hi == 1.0  # one label only: κ is 0/0, reported as 1 with a real interval


def test_zero_width_means_census_and_is_named_so():
    """A fully reviewed population has exact estimates and says so; one unreviewed unit gives a real interval."""
    pops = pd.DataFrame(
        {"stratum": ["p|0.90-1.00|actioned", "p|0.00-0.10|unactioned"], "region": "DE", "population": [6, 12]}
    )
    qa = pd.DataFrame(
        {
            "policy_id": "p",
            "region": "DE",
            "stratum": ["p|0.90-1.00|actioned"] * 6 + ["p|0.00-0.10|unactioned"] * 12,
            "label": ["violating"] * 6 + ["benign"] * 11 + ["violating"],
        }
    )
    m = quality_metrics(qa, pops, day=DAY, run_id="r", min_n=1).set_index(["region", "metric"])
    for metric, value in (("automated_precision", 1.0), ("automated_recall", 6 / 7), ("prevalence", 7 / 18)):
        row = m.loc[("DE", metric)]
        assert row["value"] == pytest.approx(value) and row["ci_low"] == row["ci_high"] == pytest.approx(value)
        assert interval_method(metric, row["ci_low"], row["ci_high"]) == "census"
    m = quality_metrics(qa.iloc[1:], pops, day=DAY, run_id="r", min_n=1).set_index(["region", "metric"])
    precision = m.loc[("ALL", "automated_precision")]
    assert precision["value"] == 1.0 and precision["ci_low"] < 1.0 == precision["ci_high"]
    assert interval_method("automated_precision", precision["ci_low"], precision["ci_high"]).startswith("stratified")


def test_recall_without_automated_actions_is_exact_zero_without_an_interval():
    """A domain where nothing was automated reports recall 0 with no interval, named 'exact', not a [0, 0] CI."""
    pops = pd.DataFrame(
        {"stratum": ["p|0.50-0.90|unactioned", "p|0.00-0.10|unactioned"], "region": "DE", "population": [40, 400]}
    )
    qa = pd.DataFrame(
        {
            "policy_id": "p",
            "region": "DE",
            "stratum": ["p|0.50-0.90|unactioned"] * 12 + ["p|0.00-0.10|unactioned"] * 12,
            "label": ["violating"] * 5 + ["benign"] * 19,
        }
    )
    m = quality_metrics(qa, pops, day=DAY, run_id="r", min_n=1).set_index(["region", "metric"])
    for region in ("ALL", "DE"):
        recall = m.loc[(region, "automated_recall")]
        assert recall["value"] == 0.0 and pd.isna(recall["ci_low"]) and pd.isna(recall["ci_high"])
        assert interval_method("automated_recall", recall["ci_low"], recall["ci_high"], recall["value"]).startswith(
            "exact"
        )
        prevalence = m.loc[(region, "prevalence")]
        assert prevalence["ci_low"] < prevalence["value"] < prevalence["ci_high"]
    assert ("ALL", "automated_precision") not in m.index
