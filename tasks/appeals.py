"""Appeals (DESIGN §10): validating an appeals file, appeal review tasks, outcomes, planted demo appeals and
appeal/overturn metrics with 95% intervals. Pure functions over frames, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from modsweep.tasks.audit import wilson_interval
from modsweep.tasks.sample import uniform_keys

REQUIRED_COLUMNS: tuple[str, ...] = ("decision_id", "received_at", "statement")
OPTIONAL_COLUMNS: tuple[str, ...] = ("appellant", "channel")
CHANNELS: tuple[str, ...] = ("in_app", "web", "email", "out_of_court", "other")
LINE = "__line"
MALFORMED = "__malformed"
CLOCK_SKEW = timedelta(minutes=5)
MAX_STATEMENT = 5_000
REJECTION_DETAILS: dict[str, str] = {
    "malformed_row": "the row cannot be read",
    "missing_value": "decision_id, received_at and statement are required",
    "bad_timestamp": "received_at must be ISO-8601 with a zone, not in the future, not before the decision",
    "unknown_decision": "no stored decision has this decision_id",
    "not_enforced": "the decision restricted nothing (an unconfirmed escalation) or was already reversed",
    "outside_window": "received after the pack's appeal window closed",
    "duplicate_appeal": "this decision was already appealed (in the store or earlier in the file)",
    "invalid_channel": f"channel must be one of {', '.join(CHANNELS)}",
    "statement_too_long": f"statement is longer than {MAX_STATEMENT} characters",
}
# Context of each appealed decision (from the store): what `validate_appeals` checks against.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "decision_id",
    "item_id",
    "policy_id",
    "region",
    "language",
    "views",
    "score",
    "applied_action",
    "applied_at",
    "reviewed",
    "reviewer_id",
    "status",
    "run_key",
    "run_id",
    "day",
)
PLANTED_STATEMENTS: tuple[str, ...] = (
    "This post does not break any rule; please look again.",
    "I was quoting this to criticise it, not to spread it.",
    "This is satire and clearly labelled as such.",
    "The automated system got this wrong; it is my own original content.",
)


def _times(values: pd.Series) -> pd.Series:
    """ISO-8601 text with a zone as UTC timestamps; NaT where missing, unparsable or without a zone."""
    text = values.astype("string")
    zoned = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False)
    parsed = pd.to_datetime(text.where(zoned), utc=True, errors="coerce", format="ISO8601")
    return parsed.astype("datetime64[us, UTC]")


def validate_appeals(
    raw: pd.DataFrame,
    context: pd.DataFrame,
    already_appealed: set[str],
    *,
    window_days: int,
    now: datetime,
    appealed_by_this_file: set[str] | frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw appeal rows (text values, ``__line``, ``__malformed``) into valid appeals and rejections.

    Valid: decision_id, received_at (UTC), statement, appellant, channel, ``__line`` plus the decision's
    context columns. Rejected: ``__line``, ``rejection``, ``detail``. Checks, first failure wins: malformed
    row, missing value, timestamp, statement length, channel, unknown decision, not enforced (or reversed),
    received before the decision or after its appeal window, duplicate (stored, or an earlier line). A
    re-import: the first line of a decision ``appealed_by_this_file`` (the stored appeal came from this file) is
    in neither frame: it is unchanged (so unchanged rows = rows − valid − rejected).
    """
    rows = raw.copy()
    for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        if column not in rows.columns:
            rows[column] = None
    rows["channel"] = rows["channel"].fillna("in_app").astype("string").str.lower()
    rows["__no_time"] = rows["received_at"].isna()
    rows["received_at"] = _times(rows["received_at"])
    merged = rows.merge(context[list(CONTEXT_COLUMNS)], on="decision_id", how="left")
    applied = pd.to_datetime(merged["applied_at"], utc=True)
    latest = pd.Timestamp(now).tz_convert("UTC") + CLOCK_SKEW
    first_line = merged.groupby("decision_id")[LINE].transform("min")
    malformed = merged[MALFORMED].notna() if MALFORMED in merged.columns else pd.Series(False, index=merged.index)
    checks = [
        ("malformed_row", malformed),
        ("missing_value", merged["decision_id"].isna() | merged["statement"].isna() | merged["__no_time"]),
        ("bad_timestamp", merged["received_at"].isna() | (merged["received_at"] > latest)),
        ("statement_too_long", merged["statement"].astype("string").str.len().fillna(0) > MAX_STATEMENT),
        ("invalid_channel", ~merged["channel"].isin(CHANNELS)),
        ("unknown_decision", merged["item_id"].isna()),
        ("not_enforced", merged["applied_action"].isna() | (merged["status"] == "reversed")),
        ("bad_timestamp", merged["received_at"] < applied),
        ("outside_window", merged["received_at"] > applied + pd.Timedelta(days=window_days)),
        ("duplicate_appeal", merged["decision_id"].isin(list(already_appealed)) | (merged[LINE] != first_line)),
    ]
    reason = pd.Series(pd.NA, index=merged.index, dtype="string")
    for name, failed in checks:
        reason = reason.mask(reason.isna() & failed.fillna(False).astype(bool), name)
    unchanged = merged["decision_id"].isin(list(appealed_by_this_file)) & (merged[LINE] == first_line)
    bad = reason.notna() & ~unchanged
    rejected = pd.DataFrame({LINE: merged.loc[bad, LINE].to_numpy(), "rejection": reason[bad].to_numpy(dtype=object)})
    rejected["detail"] = rejected["rejection"].map(REJECTION_DETAILS)
    valid = (
        merged[~bad & ~unchanged]
        .drop(columns=[MALFORMED, "__no_time", "__raw"], errors="ignore")
        .reset_index(drop=True)
    )
    return valid, rejected.sort_values(LINE, kind="stable").reset_index(drop=True)


def appeal_id_for(decision_id: str) -> str:
    """One appeal per decision: its id derives from the decision id."""
    return "apl-" + hashlib.sha256(decision_id.encode()).hexdigest()[:40]


def appeal_task_id(appeal_id: str, key: bytes) -> str:
    """A keyed hash (reviewers cannot tell an appeal task's appeal or decision from its id)."""
    return "t-" + hmac.new(key, f"appeal|{appeal_id}".encode(), hashlib.sha256).hexdigest()[:32]


def appeal_rows(
    valid: pd.DataFrame, *, sla_hours: float, key: bytes, source_file: str, now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Appeals and their review tasks (reason `appeal`, queue `appeal:POLICY:REGION`, due by the SLA after
    receipt, priority by age and reach) for validated rows."""
    if valid.empty:
        return pd.DataFrame(), pd.DataFrame()
    ids = [appeal_id_for(d) for d in valid["decision_id"]]
    task_ids = [appeal_task_id(a, key) for a in ids]
    received = pd.to_datetime(valid["received_at"], utc=True)
    due = received + pd.Timedelta(hours=sla_hours)
    appeals = pd.DataFrame(
        {
            "appeal_id": ids,
            "decision_id": valid["decision_id"].to_numpy(),
            "item_id": valid["item_id"].to_numpy(),
            "policy_id": valid["policy_id"].to_numpy(),
            "region": valid["region"].to_numpy(),
            "automated": ~valid["reviewed"].astype(bool).to_numpy(),
            "appellant": valid["appellant"].to_numpy(dtype=object),
            "channel": valid["channel"].astype(str).to_numpy(),
            "statement": valid["statement"].astype(str).to_numpy(),
            "received_at": received.to_numpy(),
            "due_by": due.to_numpy(),
            "status": "open",
            "task_id": task_ids,
            "original_reviewer": valid["reviewer_id"].to_numpy(dtype=object),
            "source_file": source_file[-255:],
        }
    )
    views = valid["views"].fillna(0).astype("float64").to_numpy()
    tasks = pd.DataFrame(
        {
            "task_id": task_ids,
            "item_id": valid["item_id"].to_numpy(),
            "policy_id": valid["policy_id"].to_numpy(),
            "queue": ("appeal:" + valid["policy_id"].astype(str) + ":" + valid["region"].astype(str)).to_numpy(),
            "reason": "appeal",
            "stratum": "appeal",
            "inclusion_prob": 1.0,
            "replica": 0,
            "priority": np.log1p(views) + 1.0,
            "score": valid["score"].fillna(0).astype(float).to_numpy(),
            "action": valid["applied_action"].to_numpy(dtype=object),
            "region": valid["region"].to_numpy(),
            "language": valid["language"].fillna("und").to_numpy(),
            "views": views.astype("int64"),
            "due_by": due.to_numpy(),
            "status": "open",
            "created_at": received.to_numpy(),
            "run_id": valid["run_id"].to_numpy(),
            "run_key": valid["run_key"].to_numpy(),
            "day": valid["day"].to_numpy(),
        }
    )
    return appeals, tasks


def appeal_outcomes(decided: pd.DataFrame) -> pd.DataFrame:
    """Decided appeal tasks as outcomes: a `violating` verdict upholds the decision, `benign` overturns it."""
    return pd.DataFrame(
        {
            "appeal_id": decided["appeal_id"].to_numpy(),
            "decision_id": decided["decision_id"].to_numpy(),
            "status": np.where(decided["label"] == "violating", "upheld", "overturned"),
            "decided_at": pd.to_datetime(decided["task_decided_at"], utc=True).to_numpy(),
            "decided_by": decided["reviewer_id"].to_numpy(dtype=object),
        }
    )


def original_reviewer_rejections(outcomes: pd.DataFrame, appeal_tasks: pd.DataFrame) -> pd.Series:
    """True for outcome rows deciding an appeal task by the reviewer who made the original decision."""
    original = appeal_tasks.dropna(subset=["original_reviewer"]).set_index("task_id")["original_reviewer"]
    return (outcomes["task_id"].map(original) == outcomes["reviewer_id"]).fillna(False).astype(bool)


def plant_appeals(
    enforced: pd.DataFrame,
    violating: pd.Series,
    *,
    seed: str,
    now: datetime,
    share_violating: float = 0.05,
    share_benign: float = 0.4,
    max_delay_hours: float = 72,
) -> pd.DataFrame:
    """A reproducible appeals file for the demo: a share of enforced decisions is appealed, more of the false
    positives (``violating`` False: the generator's ground truth says the item breaks no rule of that policy).

    ``enforced``: decision_id, applied_at (optional appellant). Each appeal arrives between the action and
    ``now``, at most ``max_delay_hours`` after it. Returns decision_id, received_at (ISO text), statement,
    appellant, channel.
    """
    enforced = enforced[pd.to_datetime(enforced["applied_at"], utc=True) <= pd.Timestamp(now)]  # not yet applied
    violating = violating[enforced.index]
    ids = enforced["decision_id"].astype(str).to_numpy(dtype=object)
    u = uniform_keys(ids, seed, "appeal")
    chosen = u < np.where(violating.to_numpy(dtype=bool), share_violating, share_benign)
    picked = enforced[chosen]
    pid = ids[chosen]
    applied = pd.to_datetime(picked["applied_at"], utc=True)
    # Received within max_delay_hours of the action and never after `now` (an import rejects appeals from the future).
    room = ((pd.Timestamp(now) - applied).dt.total_seconds().clip(lower=0, upper=max_delay_hours * 3600)).to_numpy()
    received = (applied + pd.to_timedelta(uniform_keys(pid, seed, "delay") * room, unit="s")).dt.ceil("s")
    statements = np.array(PLANTED_STATEMENTS, dtype=object)[
        (uniform_keys(pid, seed, "text") * len(PLANTED_STATEMENTS)).astype(int)
    ]
    channels = np.array(CHANNELS[:3], dtype=object)[(uniform_keys(pid, seed, "channel") * 3).astype(int)]
    return pd.DataFrame(
        {
            "decision_id": pid,
            "received_at": received.dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "statement": statements,
            "appellant": picked["appellant"].to_numpy(dtype=object) if "appellant" in picked else None,
            "channel": channels,
        }
    )


def appeal_metrics(
    enforced: pd.DataFrame, appeals: pd.DataFrame, *, now: datetime, day: date, run_id: str
) -> pd.DataFrame:
    """Appeal and overturn rates per policy × region × automated/human (and ALL), each with a 95% Wilson interval;
    hours from appeal to decision (median, p90) and SLA breaches of appeals.

    ``enforced``: decision_id, policy_id, region, reviewed, optionally detector (one row per enforced decision of
    the run; with ``detector`` also per policy × detector, metric suffix ``.detector:<id>``);
    ``appeals``: stored appeals of those decisions. Rows: day, policy_id, region, metric, value, ci_low, ci_high,
    n, run_id (`metrics` table shape). The appeal rate's n is the enforced decisions, the overturn rate's the
    decided appeals.
    """
    cols = ["day", "policy_id", "region", "metric", "value", "ci_low", "ci_high", "n", "run_id"]
    if enforced.empty:
        return pd.DataFrame(columns=cols)
    e = enforced.assign(mode=np.where(enforced["reviewed"].astype(bool), "human", "automated"))
    a = appeals.merge(e[["decision_id", "mode"]], on="decision_id", how="inner")
    rows: list[tuple] = []

    def rates(frame: pd.DataFrame, appealed: pd.DataFrame, policy: str, region: str, suffix: str) -> None:
        k, n = len(appealed), len(frame)
        if n:
            rows.append((policy, region, f"appeal_rate{suffix}", k / n, *wilson_interval(k, n), n))
        decided = appealed[appealed["status"].isin(["upheld", "overturned"])]
        if len(decided):
            over = int((decided["status"] == "overturned").sum())
            rows.append(
                (
                    policy,
                    region,
                    f"overturn_rate{suffix}",
                    over / len(decided),
                    *wilson_interval(over, len(decided)),
                    len(decided),
                )
            )

    groups = [("ALL", "ALL", e, a)]
    groups += [(p, "ALL", g, a[a["policy_id"] == p]) for p, g in e.groupby("policy_id")]
    groups += [
        (p, r, g, a[(a["policy_id"] == p) & (a["region"] == r)]) for (p, r), g in e.groupby(["policy_id", "region"])
    ]
    for policy, region, frame, appealed in groups:
        rates(frame, appealed, policy, region, "")
        for mode in ("automated", "human"):
            sub = frame[frame["mode"] == mode]
            if len(sub):
                rates(sub, appealed[appealed["mode"] == mode], policy, region, f".{mode}")
    if "detector" in e.columns:  # per policy × the detector that carried the decision (its top weighted score)
        a = a.merge(e[["decision_id", "detector"]], on="decision_id", how="left")
        for (policy, detector), frame in e.dropna(subset=["detector"]).groupby(["policy_id", "detector"]):
            appealed = a[(a["policy_id"] == policy) & (a["detector"] == detector)]
            rates(frame, appealed, policy, "ALL", f".detector:{detector}")
    if len(a):
        done = a[a["decided_at"].notna()]
        for policy, g in [("ALL", done), *done.groupby("policy_id")]:
            if len(g):
                hours = pd.to_datetime(g["decided_at"], utc=True) - pd.to_datetime(g["received_at"], utc=True)
                hours = hours.dt.total_seconds() / 3600
                rows.append(
                    (policy, "ALL", "appeal_hours_to_decision_median", float(hours.median()), None, None, len(g))
                )
                rows.append(
                    (policy, "ALL", "appeal_hours_to_decision_p90", float(hours.quantile(0.9)), None, None, len(g))
                )
        due = pd.to_datetime(a["due_by"], utc=True)
        finished = pd.to_datetime(a["decided_at"], utc=True)
        breached = (finished > due) | (finished.isna() & (due < pd.Timestamp(now)))
        k = int(breached.sum())
        rows.append(("ALL", "ALL", "appeal_sla_breach_rate", k / len(a), *wilson_interval(k, len(a)), len(a)))
    out = pd.DataFrame(rows, columns=["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"])
    return out.assign(day=day, run_id=run_id)[cols]


def overturn_breaches(metrics: pd.DataFrame, ceilings: dict[str, float], min_appeals: int) -> pd.DataFrame:
    """Policies whose automated decisions' overturn rate is above the ceiling with 95% confidence (the interval's
    lower bound over it) on at least ``min_appeals`` decided appeals: the circuit breaker's trips."""
    m = metrics[
        (metrics["metric"] == "overturn_rate.automated")
        & (metrics["region"] == "ALL")
        & (metrics["policy_id"] != "ALL")
    ]
    if m.empty:
        return m.assign(ceiling=pd.Series(dtype=float))
    m = m.assign(ceiling=m["policy_id"].map(ceilings))
    return m[(m["n"] >= min_appeals) & m["ceiling"].notna() & (m["ci_low"] > m["ceiling"])].reset_index(drop=True)
