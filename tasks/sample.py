"""Human-review sampling: routing escalations into queues and stratified QA samples auditors can re-derive."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import numpy as np
import pandas as pd

from modsweep.policy import PolicyPack
from modsweep.schemas import REVIEW_TASKS
from modsweep.tasks import decide
from modsweep.tasks.text import splitmix64

SCORE_BAND_EDGES: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
Z95 = 1.959963984540054


def score_bands(scores: np.ndarray) -> np.ndarray:
    """Band labels like '0.50-0.70' (the last band includes 1.0)."""
    edges = np.asarray(SCORE_BAND_EDGES)
    idx = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, len(edges) - 2)
    labels = np.array([f"{edges[i]:.2f}-{edges[i + 1]:.2f}" for i in range(len(edges) - 1)], dtype=object)
    return labels[idx]


def id_hashes(item_ids: np.ndarray, seed: str) -> np.ndarray:
    """A 64-bit keyed hash per id for the run's seed: hashed once per partition, mixed per salt."""
    key = hashlib.sha256(seed.encode()).hexdigest()[:16]
    return pd.util.hash_array(np.asarray(item_ids, dtype=object), hash_key=key, categorize=False)


def uniform_keys(item_ids: np.ndarray, seed: str, salt: str, hashed: np.ndarray | None = None) -> np.ndarray:
    """A reproducible uniform [0, 1) number per item from the run's seed: sampling without any RNG state.

    u = SplitMix64(id_hash(seed) XOR salt_hash) / 2^64, so one id hash serves every salt (`hashed`
    passes it in).
    """
    h = id_hashes(item_ids, seed) if hashed is None else hashed
    salt_hash = np.uint64(int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "little"))
    return (splitmix64(h ^ salt_hash) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def partition_strata(
    item_ids: pd.Series,
    regions: pd.Series,
    scores: pd.DataFrame,
    decisions: pd.DataFrame,
    *,
    seed: str,
    keep_per_stratum: int,
    hashed: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per partition: stratum populations and the `keep_per_stratum` smallest-key candidates of each stratum.

    Strata are policy × score band × actioned (an automated action) or not. Because each partition keeps
    its smallest keys, merging partitions and keeping the smallest keys again gives the exact
    simple random sample of every stratum over the whole day. Vectorised: strata are integer codes until
    the few candidate rows are labelled.
    """
    ids = item_ids.to_numpy(dtype=object)
    region_code, region_names = pd.factorize(regions.to_numpy(dtype=object))
    n_regions = max(len(region_names), 1)
    automated = decisions.loc[decisions["automated"].to_numpy(dtype=bool), ["item_id", "policy_id", "action"]]
    positions = pd.Index(ids).get_indexer(automated["item_id"])
    edges = np.asarray(SCORE_BAND_EDGES)
    band_labels = [f"{edges[i]:.2f}-{edges[i + 1]:.2f}" for i in range(len(edges) - 1)]
    n_codes = len(band_labels) * 2
    hashed = id_hashes(ids, seed) if hashed is None else hashed  # the caller may share one hash per partition
    counts, candidates = [], []
    for policy in scores.columns:
        s = scores[policy].to_numpy(dtype=np.float64)
        mine = (automated["policy_id"] == policy).to_numpy(dtype=bool)
        action = np.full(len(ids), None, dtype=object)
        action[positions[mine]] = automated["action"].to_numpy(dtype=object)[mine]
        band = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(band_labels) - 1)
        code = band * 2 + np.not_equal(action, None)  # even: unactioned, odd: actioned
        labels = np.array(
            [f"{policy}|{band_labels[c // 2]}|{'actioned' if c % 2 else 'unactioned'}" for c in range(n_codes)],
            dtype=object,
        )
        population = np.bincount(code * n_regions + region_code, minlength=n_codes * n_regions)
        present = np.flatnonzero(population)
        population_frame = pd.DataFrame(
            {
                "stratum": labels[present // n_regions],
                "region": np.asarray(region_names, dtype=object)[present % n_regions],
                "population": population[present].astype(np.int64),
            }
        )
        counts.append(population_frame.sort_values(["stratum", "region"], ignore_index=True))
        u = uniform_keys(ids, seed, policy, hashed)
        order = _by_stratum_then_key(code, u)
        first = np.searchsorted(code[order], code[order], side="left")
        chosen = order[np.arange(len(order)) - first < keep_per_stratum]
        chosen = chosen[np.lexsort((chosen, u[chosen]))]  # the day-wide merge reads them in key order
        candidates.append(
            pd.DataFrame(
                {
                    "item_id": ids[chosen],
                    "policy_id": policy,
                    "stratum": labels[code[chosen]],
                    "u": u[chosen],
                    "score": s[chosen],
                    "action": action[chosen],
                }
            )
        )
    return pd.concat(counts, ignore_index=True), pd.concat(candidates, ignore_index=True)


def _by_stratum_then_key(code: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row order by stratum code, then key u, then row: `np.lexsort((rows, u, code))`, as one sort of a 64-bit key
    (the code, below 2^11: bands × 2, above u's 53 bits; u = k / 2^53 exactly), several times faster; a stable
    sort only on a tie."""
    key = (code.astype(np.uint64) << np.uint64(53)) | (u * float(1 << 53)).astype(np.uint64)
    order = np.argsort(key)
    ranked = key[order]
    if (ranked[1:] == ranked[:-1]).any():  # equal keys: the row decides, as lexsort's last key
        order = np.argsort(key, kind="stable")
    return order


def prevalence_candidates(
    items: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    seed: str,
    n_per_policy: int,
    total_views: float,
    hashed: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per policy, a Poisson sample with probability proportional to views: π_i = min(1, n · v_i / V).

    Drawn partition by partition with the day's total views V, it is the same sample as one drawn over the
    whole day; Horvitz–Thompson weights 1/π_i then estimate the violative view rate (DESIGN §6).
    """
    views = items["views"].to_numpy(dtype=np.float64)
    pi = np.minimum(1.0, n_per_policy * views / max(total_views, 1.0))
    ids = items["item_id"].to_numpy(dtype=object)
    hashed = id_hashes(ids, seed) if hashed is None else hashed
    frames = []
    for policy in scores.columns:
        chosen = np.flatnonzero(uniform_keys(ids, seed, f"prevalence|{policy}", hashed) < pi)
        frames.append(
            pd.DataFrame(
                {
                    "item_id": ids[chosen],
                    "policy_id": policy,
                    "stratum": f"{policy}|prevalence",
                    "inclusion_prob": pi[chosen],
                    "score": scores[policy].to_numpy()[chosen],
                    "action": None,
                    "reason": "prevalence",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def qa_sample_sizes(
    population: pd.Series, *, half_width: float, floor: int, cap: int, multiplier: float = 1.0
) -> pd.Series:
    """Per-stratum sizes for a 95% CI half-width (worst case p = 0.5) with finite-population correction."""
    n0 = Z95**2 * 0.25 / half_width**2 * multiplier
    n = n0 / (1 + (n0 - 1) / population.clip(lower=1))
    sized = np.ceil(n).clip(lower=floor, upper=int(cap * multiplier))
    return np.minimum(sized, population).astype(np.int64)


def smallest_keys(candidates: pd.DataFrame, keep_per_stratum: int) -> pd.DataFrame:
    """Each stratum's `keep_per_stratum` smallest-key candidates (equal keys: earlier rows first).

    Folding partitions in with this as they are read keeps strata × keep rows in memory, not the day's
    candidates, and leaves `draw_qa_sample` the same rows to draw from (every sample size is at most keep).
    """
    ranked = candidates.sort_values(["stratum", "u"], kind="stable")
    return ranked[ranked.groupby("stratum").cumcount().to_numpy() < keep_per_stratum].reset_index(drop=True)


def draw_qa_sample(counts: pd.DataFrame, candidates: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    """Merge partition candidates and keep each stratum's n smallest keys; inclusion_prob = n / N."""
    pop = counts.groupby("stratum")["population"].sum()
    n = sizes.reindex(pop.index).fillna(0).astype(np.int64)
    ranked = candidates.sort_values(["stratum", "u"], kind="stable")
    ranked["rank"] = ranked.groupby("stratum").cumcount()
    chosen = ranked[ranked["rank"] < ranked["stratum"].map(n)].drop(columns="rank")
    chosen["inclusion_prob"] = chosen["stratum"].map(n / pop).astype(np.float64)
    chosen["reason"] = np.where(chosen["stratum"].str.endswith("|actioned"), "qa_actioned", "qa_unactioned")
    return chosen.reset_index(drop=True)


def task_ids(
    item_ids: np.ndarray, policy_ids: np.ndarray, reasons: np.ndarray, replicas: np.ndarray, key: bytes
) -> list[str]:
    """Deterministic task ids: one task per item × policy × reason × replica, whichever run creates it.

    Keyed (HMAC), so reviewers who see an id cannot work out whether it is a QA, golden or prevalence task.
    """
    return [
        hmac.new(key, f"{i}|{p}|{r}|{k}".encode(), hashlib.sha256).hexdigest()[:32]
        for i, p, r, k in zip(item_ids, policy_ids, reasons, replicas, strict=True)
    ]


def priority(severity: np.ndarray, views: np.ndarray, reports: np.ndarray, multiplier: np.ndarray) -> np.ndarray:
    """Severity × reach × report boost (× the profile's multiplier)."""
    return severity * np.log10(np.asarray(views, dtype=np.float64) + 10) * (1 + np.log1p(reports)) * multiplier


def build_review_tasks(
    escalations: pd.DataFrame,
    qa: pd.DataFrame,
    items: pd.DataFrame,
    pack: PolicyPack,
    *,
    double_review_share: float,
    seed: str,
    id_key: bytes,
    run_id: str,
    run_key: str,
    now: datetime,
) -> pd.DataFrame:
    """Review tasks (REVIEW_TASKS schema): routed escalations, then the QA and prevalence samples.

    A share of QA tasks (chosen by key, so reproducible) gets a second replica for reviewer agreement.
    `qa` holds every sampled row: stratified QA and prevalence samples alike.
    """
    policies = {p.id: p for p in pack.policies()}
    prof = pack.profile_spec
    esc = escalations.assign(
        reason="review_band", stratum=lambda d: d["policy_id"] + "|review_band", inclusion_prob=1.0
    )
    cols = ["item_id", "policy_id", "reason", "stratum", "inclusion_prob", "score", "action"]
    esc = esc[cols].assign(action=None)
    tasks = pd.concat([esc, qa[cols]], ignore_index=True)
    tasks = tasks.merge(items[["item_id", "region", "language", "views", "user_reports"]], on="item_id", how="left")
    tasks["replica"] = 0
    qa_mask = tasks["reason"].str.startswith("qa_")
    second = tasks[qa_mask & (uniform_keys(tasks["item_id"].to_numpy(), seed, "double") < double_review_share)]
    tasks = pd.concat([tasks, second.assign(replica=1)], ignore_index=True)

    severity = tasks["policy_id"].map(lambda p: policies[p].severity).to_numpy(dtype=np.float64)
    mult = tasks["policy_id"].map(lambda p: prof.priority_multiplier.get(p, 1.0)).to_numpy(dtype=np.float64)
    tasks["priority"] = priority(severity, tasks["views"].to_numpy(), tasks["user_reports"].to_numpy(), mult)
    if "actor_risk" in escalations.columns:  # repeat offenders, young accounts, bursts, coordination (DESIGN §10)
        risk = escalations.drop_duplicates("item_id").set_index("item_id")["actor_risk"]
        is_esc = (tasks["reason"] == "review_band").to_numpy()
        tasks.loc[is_esc, "priority"] *= tasks.loc[is_esc, "item_id"].map(risk).fillna(1.0).to_numpy()
    sla = pd.to_timedelta(tasks["policy_id"].map(lambda p: policies[p].sla_hours), unit="h")
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    tasks["due_by"] = now_ts + sla
    tasks["queue"] = tasks["policy_id"] + ":" + tasks["language"] + ":" + tasks["region"]
    tasks["status"] = "open"
    tasks["task_id"] = task_ids(
        tasks["item_id"].to_numpy(),
        tasks["policy_id"].to_numpy(),
        tasks["reason"].to_numpy(),
        tasks["replica"].to_numpy(),
        id_key,
    )
    tasks["created_at"] = now_ts
    tasks["run_id"] = run_id
    tasks["run_key"] = run_key
    tasks["replica"] = tasks["replica"].astype(np.int8)
    tasks["score"] = tasks["score"].astype(np.float32)
    return tasks.drop_duplicates("task_id")[list(REVIEW_TASKS.names)].reset_index(drop=True)


def apply_queue_capacity(
    tasks: pd.DataFrame, carried: pd.DataFrame, capacity_per_queue: int, run_key: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Fill each queue's daily capacity with escalations by priority, new and carried over alike.

    Returns the new tasks with escalations beyond capacity marked `carried_over` (never dropped), and the
    ids of earlier carried-over tasks that now fit and should be opened. QA and prevalence samples are
    outside queue capacity: a sample cut short would no longer be the sample its probabilities describe.
    Carried-over tasks stored by `run_key` itself (a resumed run) do not compete: they are this sample's own.
    """
    tasks = tasks.copy()
    if run_key is not None:
        carried = carried[carried["run_key"] != run_key]
    is_esc = (tasks["reason"] == "review_band").to_numpy()
    pool = pd.concat(
        [
            tasks.loc[is_esc, ["task_id", "queue", "priority"]].assign(new=True),
            carried[["task_id", "queue", "priority"]].assign(new=False),
        ],
        ignore_index=True,
    ).drop_duplicates("task_id")
    pool = pool.sort_values(["queue", "priority", "task_id"], ascending=[True, False, True], kind="stable")
    fits = pool.groupby("queue").cumcount() < capacity_per_queue
    over_new = set(pool.loc[~fits & pool["new"], "task_id"])
    tasks.loc[tasks["task_id"].isin(over_new), "status"] = "carried_over"
    reopen = pool.loc[fits & ~pool["new"], "task_id"].tolist()
    return tasks, reopen


def with_carry_over_reasons(tasks: pd.DataFrame, capacity_per_queue: int) -> pd.DataFrame:
    """The sample's tasks with the reason a carried-over task waits (`carry_over_reason`; None for the others)."""
    carried = tasks["status"] == "carried_over"
    reason = np.where(carried, f"queue capacity {capacity_per_queue}/day reached", None)
    return tasks.assign(carry_over_reason=reason)


def golden_tasks(golden: pd.DataFrame, item_ids: pd.Series, n: int, *, seed: str) -> pd.DataFrame:
    """Up to `n` known-label pairs whose items are in this run, chosen by key (reproducible), as sample rows.

    Reviewers cannot tell them apart; their known labels measure reviewer accuracy.
    """
    pool = golden[golden["item_id"].isin(set(item_ids))].drop_duplicates(["item_id", "policy_id"])
    if pool.empty or n <= 0:
        return pd.DataFrame(columns=["item_id", "policy_id", "stratum", "inclusion_prob", "score", "action", "reason"])
    keys = uniform_keys((pool["item_id"] + "|" + pool["policy_id"]).to_numpy(dtype=object), seed, "golden")
    chosen = pool.assign(u=keys).nsmallest(min(n, len(pool)), "u")
    return pd.DataFrame(
        {
            "item_id": chosen["item_id"].to_numpy(),
            "policy_id": chosen["policy_id"].to_numpy(),
            "stratum": chosen["policy_id"].to_numpy() + "|golden",
            "inclusion_prob": len(chosen) / len(pool),
            "score": 0.0,
            "action": None,
            "reason": "golden",
        }
    )


def decide_and_stratify(
    items: pd.DataFrame,
    found: pd.DataFrame,
    pack: PolicyPack,
    *,
    run_key: str,
    run_id: str,
    seed: str,
    decided_at: datetime,
    automation_paused: frozenset[str],
    keep_per_stratum: int,
    total_views: int,
    n_prevalence: int,
    decided: pd.DataFrame | None = None,
    escalate_offsets: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One part's decisions, its QA strata populations, QA candidates and prevalence candidates.

    `found` holds the part's detector scores (coordination included); `decided`: decisions already committed
    for the part (a resumed run keeps them, and samples from them); `escalate_offsets`: repeat offenders' lower
    escalation thresholds per item (`decide.decide_partition`).
    """
    policy_ids = [pol.id for pol in pack.policies()]
    scores = decide.policy_scores(items["item_id"], found, policy_ids, decide.non_enforcing_detectors(pack))
    decisions = (
        decided
        if decided is not None
        else decide.decide_partition(
            items,
            scores,
            pack,
            run_key=run_key,
            run_id=run_id,
            decided_at=decided_at,
            automation_paused=automation_paused,
            escalate_offsets=escalate_offsets,
        )
    )
    hashed = id_hashes(items["item_id"].to_numpy(dtype=object), seed)  # one hash for both samples' keys
    scores = scores[policy_ids]  # sampling strata by policy score (not the enforce columns)
    populations, candidates = partition_strata(
        items["item_id"],
        items["region"],
        scores,
        decisions,
        seed=seed,
        keep_per_stratum=keep_per_stratum,
        hashed=hashed,
    )
    prevalence = prevalence_candidates(
        items, scores, seed=seed, n_per_policy=n_prevalence, total_views=total_views, hashed=hashed
    )
    return decisions, populations, candidates, prevalence


def review_sample(
    populations: pd.DataFrame,
    qa_candidates: pd.DataFrame,
    prevalence: pd.DataFrame,
    escalations: pd.DataFrame,
    golden: pd.DataFrame | None,
    golden_items: pd.DataFrame | None,
    pack: PolicyPack,
    *,
    half_width: float,
    floor: int,
    cap: int,
    golden_rate: float,
    double_review_share: float,
    seed: str,
    id_key: bytes,
    run_id: str,
    run_key: str,
    now: datetime,
) -> pd.DataFrame:
    """The run's review tasks: escalations routed to queues, the stratified QA sample, the prevalence sample
    and golden tasks (`golden`: known-label pairs; `golden_items`: their items in this run)."""
    sizes = qa_sample_sizes(
        populations.groupby("stratum")["population"].sum(),
        half_width=half_width,
        floor=floor,
        cap=cap,
        multiplier=pack.profile_spec.qa_multiplier,
    )
    qa = draw_qa_sample(populations, qa_candidates, sizes)
    sampled = pd.concat([qa, prevalence], ignore_index=True)
    if golden is not None and golden_items is not None:
        n_golden = int(np.ceil(golden_rate * len(sampled)))
        known = golden_tasks(golden, golden_items["item_id"], n_golden, seed=seed)
        sampled = pd.concat([sampled, known.merge(golden_items, on="item_id", how="left")], ignore_index=True)
    attr_cols = ["item_id", "region", "language", "views", "user_reports"]
    attrs = pd.concat([escalations[attr_cols], sampled[attr_cols]]).drop_duplicates("item_id")
    return build_review_tasks(
        escalations,
        sampled.drop(columns=attr_cols[1:]),
        attrs,
        pack,
        double_review_share=double_review_share,
        seed=seed,
        id_key=id_key,
        run_id=run_id,
        run_key=run_key,
        now=now,
    )
