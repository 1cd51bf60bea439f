"""Strikes and account actions (DESIGN §10): pure functions over one partition's tables, no I/O.

A strike is one enforced violation by an author (``strike_id`` = the decision id, so a re-run never adds one
twice), weighted by the policy's `strikes:` (else its severity's) and counting until ``expires_at`` (the item's
creation time + the TTL). An author's active weight, compared with the pack's account thresholds, gives the
account action; only a rise up the ladder is a new account decision, and a decision stops counting once the strike
that triggered it is no longer active, so an author whose strikes expired starts again from the bottom.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from modsweep.lifecycle import ACCOUNT_ACTION_ORDER, EnforcementSpec, StrikeSpec

STRIKE_COLUMNS: tuple[str, ...] = (
    "strike_id",
    "decision_id",
    "author_id",
    "policy_id",
    "item_id",
    "weight",
    "created_at",
    "expires_at",
    "status",
    "run_key",
    "day",
)
ACCOUNT_DECISION_COLUMNS: tuple[str, ...] = (
    "account_decision_id",
    "author_id",
    "action",
    "status",
    "automated",
    "active_weight",
    "threshold",
    "features",
    "end_date",
    "policy_id",
    "decision_id",
    "region",
    "category",
    "territorial_scope",
    "decision_account",
    "decision_provision",
    "account_type",
    "decided_at",
    "day",
    "run_key",
    "reason",
)
# DSA Transparency Database values for each account action (a warning restricts nothing: no statement).
DECISION_ACCOUNT: dict[str, str | None] = {
    "warn": None,
    "feature_restrict": None,
    "suspend": "DECISION_ACCOUNT_SUSPENDED",
    "terminate": "DECISION_ACCOUNT_TERMINATED",
}
DECISION_PROVISION: dict[str, str | None] = {
    "warn": None,
    "feature_restrict": "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "suspend": "DECISION_PROVISION_TOTAL_SUSPENSION",
    "terminate": "DECISION_PROVISION_TOTAL_TERMINATION",
}


def strike_specs(policies: Mapping[str, tuple[int, StrikeSpec | None]], enforcement: EnforcementSpec) -> pd.DataFrame:
    """Per policy id (severity, own strike spec or None): its strike ``weight`` and ``ttl_days``."""
    rows = [(pid, *_spec(enforcement.strike_for(sev, own))) for pid, (sev, own) in policies.items()]
    return pd.DataFrame(rows, columns=["policy_id", "weight", "ttl_days"])


def _spec(spec: StrikeSpec) -> tuple[float, int]:
    return spec.weight, spec.ttl_days


def strikes_from_decisions(
    decisions: pd.DataFrame, authors: pd.DataFrame, specs: pd.DataFrame, strike_actions: list[str], *, day: object
) -> pd.DataFrame:
    """One strike per decision whose action earns one (``strike_actions``), for the item's author.

    ``decisions``: decision_id, item_id, policy_id, action, created_at, run_key (one partition);
    ``authors``: item_id, author_id (pseudonymous); ``specs``: `strike_specs`. Decisions of items without an
    author, or of policies without a spec, earn no strike.
    """
    earning = decisions[decisions["action"].isin(strike_actions)]
    if earning.empty:
        return pd.DataFrame(columns=list(STRIKE_COLUMNS))
    rows = earning[["decision_id", "item_id", "policy_id", "created_at", "run_key"]].merge(
        authors[["item_id", "author_id"]].drop_duplicates("item_id"), on="item_id", how="inner"
    )
    rows = rows.merge(specs, on="policy_id", how="inner")
    created = pd.to_datetime(rows["created_at"], utc=True)
    out = rows.assign(
        strike_id=rows["decision_id"],
        created_at=created,
        expires_at=created + pd.to_timedelta(rows["ttl_days"].astype("int64"), unit="D"),
        status="active",
        day=day,
    )
    return out[list(STRIKE_COLUMNS)].reset_index(drop=True)


def target_actions(weights: pd.Series, enforcement: EnforcementSpec, *, automated_only: bool = False) -> pd.DataFrame:
    """Per author (index), the highest account threshold its active weight reaches: action, threshold, rank
    (0 and no action below the lowest threshold); ``automated_only``: among the pack's automated actions."""
    thresholds = [  # ascending
        t
        for t in enforcement.account_thresholds
        if not automated_only or t.action in enforcement.automate_account_actions
    ]
    cut = np.array([t.min_weight for t in thresholds])
    reached = np.searchsorted(cut, weights.to_numpy(dtype=np.float64), side="right")  # how many thresholds met
    actions = np.array([None, *(t.action for t in thresholds)], dtype=object)
    levels = np.array([0.0, *cut])
    ranks = np.array([0, *(ACCOUNT_ACTION_ORDER[t.action] for t in thresholds)])
    return pd.DataFrame(
        {"action": actions[reached], "threshold": levels[reached], "rank": ranks[reached]}, index=weights.index
    )


def account_decision_id(author_id: str, action: str, decision_id: str) -> str:
    """Deterministic: the author, the action and the strike (decision) that triggered it."""
    return "acct-" + hashlib.sha256(f"{author_id}|{action}|{decision_id}".encode()).hexdigest()[:40]


def new_account_decisions(
    state: pd.DataFrame,
    standing: pd.DataFrame,
    enforcement: EnforcementSpec,
    *,
    as_of: datetime,
    run_key: str,
    day: object,
    scope: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Account decisions for authors whose active weight reached a higher rung than they stand on.

    ``state``: one row per author: author_id, active_weight, and the latest active strike's decision_id,
    policy_id (and region, category, territorial_scope, or ``scope`` adds them to the rising authors only). ``standing``: the author's account decisions that still
    count (author_id, action; status active, pending_review or ended, triggering strike still active).
    Actions the pack does not automate (`automate_account_actions`) wait for a person (``pending_review``);
    meanwhile the highest automated rung the weight reaches applies too, so a reviewer's rejection of the pending
    action leaves the author on that rung, not unrestricted.
    """
    if state.empty:
        return pd.DataFrame(columns=list(ACCOUNT_DECISION_COLUMNS))
    weights = state.set_index("author_id")["active_weight"]
    target = target_actions(weights, enforcement)
    interim = target_actions(weights, enforcement, automated_only=True)
    held = standing.assign(rank=standing["action"].map(ACCOUNT_ACTION_ORDER)).groupby("author_id")["rank"].max()
    current = held.reindex(target.index).fillna(0).astype(int)
    rising = pd.concat(
        [
            target[(target["rank"] > current) & target["action"].notna()],
            interim[(interim["rank"] > current) & interim["action"].notna() & (interim["rank"] < target["rank"])],
        ]
    )
    if rising.empty:
        return pd.DataFrame(columns=list(ACCOUNT_DECISION_COLUMNS))
    rows = state.set_index("author_id").loc[rising.index].reset_index()
    if scope is not None:  # region, category, territorial scope of the triggering decisions (a store read)
        rows = scope(rows)
    rows["action"] = rising["action"].to_numpy()
    rows["threshold"] = rising["threshold"].to_numpy()
    by_action = {t.action: t for t in enforcement.account_thresholds}
    days = rows["action"].map(lambda a: by_action[a].days)
    rows["end_date"] = [None if pd.isna(d) else as_of + timedelta(days=int(d)) for d in days]
    rows["features"] = rows["action"].map(lambda a: list(by_action[a].features) or None)
    automated = rows["action"].isin(list(enforcement.automate_account_actions))
    rows["automated"] = automated.to_numpy()
    rows["status"] = np.where(automated, "active", "pending_review")
    rows["decision_account"] = rows["action"].map(DECISION_ACCOUNT)
    rows["decision_provision"] = rows["action"].map(DECISION_PROVISION)
    rows["account_type"] = enforcement.account_type
    rows["account_decision_id"] = [
        account_decision_id(a, b, c)
        for a, b, c in zip(rows["author_id"], rows["action"], rows["decision_id"], strict=True)
    ]
    rows["decided_at"] = as_of
    rows["day"] = day
    rows["run_key"] = run_key
    rows["reason"] = [
        f"active strike weight {w:g} reached the {a} threshold {t:g}"
        for w, a, t in zip(rows["active_weight"], rows["action"], rows["threshold"], strict=True)
    ]
    return rows[list(ACCOUNT_DECISION_COLUMNS)].reset_index(drop=True)


def decisions_to_lift(standing: pd.DataFrame, weights: pd.Series) -> pd.DataFrame:
    """Account decisions (active or pending) whose author's active weight fell below their threshold (a strike
    removed by a reversal, or expired): the ones to lift. ``standing`` needs author_id, threshold, status."""
    if standing.empty:
        return standing
    live = standing[standing["status"].isin(["active", "pending_review"])]
    weight = live["author_id"].map(weights).fillna(0.0)
    return live[weight < live["threshold"]]


def actor_risk(authors: pd.DataFrame, weights: pd.Series, enforcement: EnforcementSpec) -> pd.Series:
    """Review-priority multiplier per item: active strikes (toward the pack's `repeat_offenders` boost), young
    accounts, bursts (many items by one author in the partition) and coordination membership each raise it.

    ``authors``: item_id, author_id, author_account_age_days, coordinated (bool). ``weights``: active weight
    per author. 1.0 means no added risk; with `repeat_offenders` off (the default) strikes add nothing.
    """
    spec = enforcement.repeat_offenders
    w = authors["author_id"].map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    strikes = np.ones(len(authors))
    if spec.min_active_weight > 0:
        strikes = 1 + (spec.priority_boost - 1) * np.clip(w / spec.min_active_weight, 0, 1)
    young = np.where(authors["author_account_age_days"].to_numpy() < 7, 1.2, 1.0)
    per_author = authors.groupby("author_id")["item_id"].transform("size").to_numpy()
    burst = np.where(per_author >= 20, 1.2, 1.0)
    coordinated = np.where(authors["coordinated"].to_numpy(dtype=bool), 1.3, 1.0)
    return pd.Series(strikes * young * burst * coordinated, index=authors["item_id"].to_numpy(), name="actor_risk")


ACTOR_SIGNAL_COLUMNS: tuple[str, ...] = ("item_id", "active_weight", "actor_risk", "escalate_offset")


def actor_signals(authors: pd.DataFrame, weights: pd.Series, enforcement: EnforcementSpec) -> pd.DataFrame:
    """What actor risk changes for a part's items (DESIGN §10), for the items it changes something for.

    ``authors``: item_id, author_id (the pseudonym ``weights`` is keyed by), author_account_age_days, coordinated;
    ``weights``: active strike weight per author before the run's day. Per item: ``active_weight``; ``actor_risk``,
    the escalation's review-priority multiplier (`actor_risk`; 1.0 unless the pack's `raise_review_priority`);
    ``escalate_offset``, the pack's `escalate_offset` for a repeat offender's item (active weight at least
    `min_active_weight`), else 0."""
    spec = enforcement.repeat_offenders
    weight = authors["author_id"].map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    risk = actor_risk(authors, weights, enforcement).to_numpy() if spec.raise_review_priority else 1.0
    offender = (weight >= spec.min_active_weight) if spec.min_active_weight > 0 else np.zeros(len(weight), bool)
    out = pd.DataFrame(
        {
            "item_id": authors["item_id"].to_numpy(),
            "active_weight": weight,
            "actor_risk": risk,
            "escalate_offset": np.where(offender, spec.escalate_offset, 0.0),
        }
    )
    return out[(out["active_weight"] > 0) | (out["actor_risk"] > 1)].reset_index(drop=True)


def escalate_offsets_under(item_ids: pd.Series, signals: pd.DataFrame, enforcement: EnforcementSpec) -> np.ndarray:
    """Per item (in ``item_ids``' order), the escalation offset ``enforcement``'s repeat-offender setting gives it,
    from a run's stored actor signals (their ``active_weight``): how another pack would treat the same authors."""
    spec = enforcement.repeat_offenders
    if spec.min_active_weight <= 0 or spec.escalate_offset == 0 or signals.empty:
        return np.zeros(len(item_ids))
    weights = signals.drop_duplicates("item_id").set_index("item_id")["active_weight"]
    weight = item_ids.map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    return np.where(weight >= spec.min_active_weight, spec.escalate_offset, 0.0)


def escalate_offsets_for(item_ids: pd.Series, signals: pd.DataFrame) -> np.ndarray:
    """Per item (in ``item_ids``' order), its escalation-threshold offset from `actor_signals` (0 when none)."""
    offsets = signals.drop_duplicates("item_id").set_index("item_id")["escalate_offset"]
    return item_ids.map(offsets).fillna(0.0).to_numpy(dtype=np.float64)
