"""Appeals at the I/O edge: importing an appeals file, applying decided appeal tasks (reversals), appeal metrics
and the overturn-rate circuit breaker, and the demo's planted appeals file. Pure logic is in `appeals`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from modsweep import store
from modsweep.config import get_settings
from modsweep.lake import Lake, write_file_atomically
from modsweep.lifecycle import EnforcementSpec
from modsweep.policy import PolicyPack
from modsweep.store import lifecycle as ls
from modsweep.tasks import appeals as ap
from modsweep.tasks import lifecycle_io, reviews_io
from modsweep.tasks.dsa import enforced_decisions


class AppealsFileError(ValueError):
    """An appeals file that cannot be imported at all (unreadable, not the format, missing required columns)."""


@dataclass(frozen=True)
class AppealImport:
    """What one appeals import did (exit code 1 when rows were rejected)."""

    file: str
    sha256: str
    rows: int
    created: int
    unchanged: int
    rejected: int
    rejections: dict[str, int]
    report_path: str | None

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0


def decision_context(engine: Engine, decision_ids: list[str]) -> pd.DataFrame:
    """Each stored decision's appeal context: enforced action and time (automated, or a confirmed escalation's
    review), who reviewed it, its status and run."""
    stmt = select(ls.DECISIONS)
    decisions = ls._frame_in(engine, stmt, ls.DECISIONS.c.decision_id, decision_ids)
    if decisions.empty:
        return pd.DataFrame(columns=list(ap.CONTEXT_COLUMNS))
    escalated = decisions.loc[decisions["action"] == "escalate", "item_id"].unique().tolist()
    tasks = ls._frame_in(
        engine,
        select(ls.REVIEW_TASKS).where(ls.REVIEW_TASKS.c.reason == "review_band"),
        ls.REVIEW_TASKS.c.item_id,
        escalated,
    )
    enforced = enforced_decisions(decisions, tasks)
    reviewers = tasks.set_index("task_id")["reviewer_id"] if len(tasks) else pd.Series(dtype=object)
    out = decisions.merge(
        enforced[["decision_id", "applied_action", "applied_at", "reviewed", "review_task_id"]],
        on="decision_id",
        how="left",
    )
    out["reviewed"] = out["reviewed"].fillna(False).astype(bool)
    out["reviewer_id"] = out["review_task_id"].map(reviewers)
    return out[list(ap.CONTEXT_COLUMNS)]


def import_appeals_file(
    engine: Engine,
    path: Path,
    enforcement: EnforcementSpec,
    *,
    key: str,
    actor: str,
    fmt: str | None = None,
    now: datetime | None = None,
) -> AppealImport:
    """Validate every row; valid appeals become review tasks (reason `appeal`) in one transaction; rejected rows
    go to ``<name>.rejected.csv`` beside the file with reasons; the import goes to the audit log. Importing the
    same file again creates nothing (one appeal per decision)."""
    try:
        raw, _, digest = reviews_io.read_outcomes_file(path, fmt)
    except reviews_io.OutcomesFileError as exc:
        raise AppealsFileError(str(exc)) from exc
    missing = [c for c in ap.REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        present = [c for c in raw.columns if not c.startswith("__")]
        raise AppealsFileError(
            f"{path}: missing required column(s) {', '.join(missing)}; the file has "
            f"{', '.join(present) or 'no readable rows'}"
        )
    now = now or datetime.now(UTC)
    ids = raw["decision_id"].dropna().astype(str).unique().tolist()
    stored = ls.fetch_appeals(engine, decision_ids=ids)
    context = decision_context(engine, ids)
    valid, rejected = ap.validate_appeals(
        raw,
        context,
        set(stored["decision_id"]),
        window_days=enforcement.appeals.window_days,
        now=now,
        appealed_by_this_file=set(stored.loc[stored["source_file"] == str(path)[-255:], "decision_id"]),
    )
    unchanged = len(raw) - len(valid) - len(rejected)  # a re-import's rows of the appeals it stored
    appeals, tasks = ap.appeal_rows(
        valid, sla_hours=enforcement.appeals.sla_hours, key=key.encode(), source_file=str(path), now=now
    )
    created = ls.insert_appeals(engine, appeals, tasks)
    by_reason = {str(k): int(v) for k, v in sorted(rejected["rejection"].value_counts().items())}
    report_path = None
    if len(rejected):
        report_path = reviews_io.rejected_report_path(path)
        buffer = io.StringIO(newline="")
        reviews_io.rejection_report(raw, rejected).to_csv(buffer, index=False, lineterminator="\n")
        write_file_atomically(report_path, buffer.getvalue().encode("utf-8"))
    store.append_audit(
        engine,
        actor=actor,
        event="appeals.imported",
        subject=path.name[-255:],
        payload={
            "file": str(path),
            "sha256": digest,
            "rows": len(raw),
            "created": created,
            "unchanged": unchanged,
            "rejected": len(rejected),
            "rejections": by_reason,
            "appeal_ids": sorted(appeals["appeal_id"])[:1000] if len(appeals) else [],
        },
    )
    return AppealImport(
        str(path),
        digest,
        len(raw),
        created,
        unchanged,
        len(rejected),
        by_reason,
        str(report_path) if report_path else None,
    )


APPEAL_EXPORT_COLUMNS: tuple[str, ...] = (
    "appeal_statement",
    "appeal_channel",
    "appeal_received_at",
    "original_action",
    "original_automated",
    "original_score",
    "original_threshold",
    "original_decided_at",
    "original_evidence",
)


def with_appeal_context(engine: Engine, lake: Lake, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Appeal queues' export rows with the appeal (statement, channel, receipt) and the original decision's evidence
    (action, automated, score, threshold, time, and each detector's evidence from the lake); other queues as given."""
    appeal_queues = [q for q in frames if q.startswith("appeal:")]
    if not appeal_queues:
        return frames
    ids = pd.concat([frames[q]["task_id"] for q in appeal_queues]).astype(str).tolist()
    appeals = ls._frame_in(engine, select(ls.APPEALS), ls.APPEALS.c.task_id, ids)
    decisions = ls._frame_in(engine, select(ls.DECISIONS), ls.DECISIONS.c.decision_id, appeals["decision_id"].tolist())
    evidence = _detector_evidence(lake, decisions)
    ctx = appeals.merge(decisions, on="decision_id", how="left", suffixes=("_appeal", "")).assign(
        original_evidence=lambda f: f["decision_id"].map(evidence).fillna("")
    )
    ctx = pd.DataFrame(
        {
            "task_id": ctx["task_id"],
            "appeal_statement": ctx["statement"],
            "appeal_channel": ctx["channel"],
            "appeal_received_at": ctx["received_at"],
            "original_action": ctx["action"],
            "original_automated": ctx["automated_decision"] != "AUTOMATED_DECISION_NOT_AUTOMATED",
            "original_score": ctx["score"],
            "original_threshold": ctx["threshold"],
            "original_decided_at": ctx["decided_at"],
            "original_evidence": ctx["original_evidence"],
        }
    )
    out = dict(frames)
    for q in appeal_queues:
        out[q] = frames[q].merge(ctx, on="task_id", how="left")
    return out


def _detector_evidence(lake: Lake, decisions: pd.DataFrame) -> pd.Series:
    """Per decision id: 'detector (score): evidence' for every detection of its item × policy in its run."""
    from modsweep.tasks.dsa import evidence_summary

    columns = ["item_id", "policy_id", "detector_id", "score", "evidence"]
    dets = lifecycle_io.rows_of_items(lake.url, decisions, "detections", columns)
    dets = dets.merge(
        decisions[["decision_id", "item_id", "policy_id", "run_key"]], on=["run_key", "item_id", "policy_id"]
    )
    found = {
        str(decision_id): "; ".join(  # the appealed decisions of one export
            f"{r.detector_id} ({r.score:.2f}): {evidence_summary(r.evidence, 200)}" for r in rows.itertuples()
        )
        for decision_id, rows in dets.groupby("decision_id")
    }
    return pd.Series(found, dtype=object)


def appeal_tasks_of(engine: Engine, task_ids: list[str]) -> pd.DataFrame:
    """The appeals behind these task ids (task_id, appeal_id, original_reviewer)."""
    stmt = select(ls.APPEALS.c.task_id, ls.APPEALS.c.appeal_id, ls.APPEALS.c.original_reviewer)
    return ls._frame_in(engine, stmt, ls.APPEALS.c.task_id, task_ids)


def reject_original_reviewers(engine: Engine, valid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcome rows deciding an appeal by the reviewer who made the original decision are rejected
    (``original_reviewer``); returns (rows to apply, rejections with ``__line``, ``rejection``, ``detail``)."""
    if valid.empty:
        return valid, pd.DataFrame(columns=[ap.LINE, "rejection", "detail"])
    own = ap.original_reviewer_rejections(valid, appeal_tasks_of(engine, valid["task_id"].astype(str).tolist()))
    rejected = pd.DataFrame(
        {
            ap.LINE: valid.loc[own, ap.LINE].to_numpy(),
            "rejection": "original_reviewer",
            "detail": "an appeal is never decided by the reviewer who made the original decision",
        }
    )
    return valid[~own].reset_index(drop=True), rejected


def avoid_original_reviewers(engine: Engine, outcomes: pd.DataFrame, reviewers: int = 12) -> pd.DataFrame:
    """Simulated outcomes with any appeal given to its original reviewer handed to the next simulated reviewer."""
    if outcomes.empty:
        return outcomes
    own = ap.original_reviewer_rejections(outcomes, appeal_tasks_of(engine, outcomes["task_id"].astype(str).tolist()))
    if not own.any():
        return outcomes
    out = outcomes.copy()
    number = out.loc[own, "reviewer_id"].str.extract(r"(\d+)$")[0].astype(int)
    out.loc[own, "reviewer_id"] = [f"sim-reviewer-{(n + 1) % reviewers:02d}" for n in number]
    return out


def simulate_account_reviews(engine: Engine, outcomes: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Simulated verdicts on account reviews follow the generator's truth: an account action is confirmed when
    most of the author's strikes are true violations (the generic simulation knows items, not accounts)."""
    account = outcomes["task_id"].astype(str).str.startswith("acct-task-")
    if not account.any():
        return outcomes
    stmt = select(ls.ACCOUNT_DECISIONS.c.task_id, ls.STRIKES.c.item_id, ls.STRIKES.c.policy_id).join(
        ls.STRIKES, ls.STRIKES.c.author_id == ls.ACCOUNT_DECISIONS.c.author_id
    )
    strikes = ls._frame_in(engine, stmt, ls.ACCOUNT_DECISIONS.c.task_id, outcomes.loc[account, "task_id"].tolist())
    keys = set(truth["item_id"].astype(str) + "|" + truth["policy_id"].astype(str))
    strikes["true"] = (strikes["item_id"].astype(str) + "|" + strikes["policy_id"].astype(str)).isin(keys)
    confirmed = strikes.groupby("task_id")["true"].mean() >= 0.5
    out = outcomes.copy()
    out.loc[account, "label"] = np.where(
        out.loc[account, "task_id"].map(confirmed).fillna(False), "violating", "benign"
    )
    out.loc[account, "final_action"] = None
    return out


def resolve_decided_appeals(
    engine: Engine, enforcement: EnforcementSpec, *, actor: str, pack: PolicyPack | None = None
) -> dict[str, Any]:
    """Apply every decided appeal task: upheld or overturned (an overturn reverses the decision, removes its
    strike and re-evaluates the account), then refresh the appeal metrics of the runs concerned and check the
    overturn-rate breaker. Also applies decided account reviews and (given the ``pack``) records the strikes of
    escalations reviewers confirmed. Idempotent."""
    counts: dict[str, Any] = lifecycle_io.resolve_account_reviews(engine, actor=actor)
    if pack is not None:  # a reviewer's confirmed escalation is an enforcement: it earns a strike too
        counts |= lifecycle_io.record_reviewed_strikes(
            engine, get_settings().lake_root, pack, key=get_settings().hmac_key.get_secret_value(), actor=actor
        )
    decided = ls.decided_open_appeals(engine)
    if decided.empty:
        return counts | {"appeals_upheld": 0, "appeals_overturned": 0}
    outcomes = ap.appeal_outcomes(decided)
    ls.close_appeals(engine, outcomes)
    overturned = outcomes[outcomes["status"] == "overturned"]
    reversed_counts = {"reversed": 0, "strikes_removed": 0, "account_decisions_lifted": 0}
    for reviewer, group in overturned.groupby("decided_by", dropna=False):  # one reversal batch per reviewer
        got = lifecycle_io.reverse_and_reevaluate(
            engine, group, enforcement, by=str(reviewer), cause="appeal", reason="appeal overturned by review"
        )
        reversed_counts = {k: reversed_counts[k] + got[k] for k in reversed_counts}
    store.append_audit(
        engine,
        actor=actor,
        event="appeals.decided",
        subject=f"{len(outcomes)} appeals",
        payload={
            "upheld": int((outcomes["status"] == "upheld").sum()),
            "overturned": len(overturned),
            "appeal_ids": sorted(outcomes["appeal_id"])[:1000],
            **reversed_counts,
        },
    )
    run_keys = sorted(decided["run_key"].dropna().astype(str).unique())
    trips = refresh_appeal_metrics(engine, run_keys, enforcement, pack=pack)
    return counts | {
        "appeals_upheld": int((outcomes["status"] == "upheld").sum()),
        "appeals_overturned": len(overturned),
        **reversed_counts,
        "breaker_tripped": trips,
    }


def carrying_detectors(enforced: pd.DataFrame, pack: PolicyPack) -> pd.Series:
    """Per enforced decision id, the detector whose weighted score was highest for its item × policy (read from the
    run's lake detections a partition at a time, only those items)."""
    weights = {(p.id, d.id): d.weight for p in pack.spec.policies for d in p.detectors}
    columns = ["item_id", "policy_id", "detector_id", "score"]
    dets = lifecycle_io.rows_of_items(get_settings().lake_root, enforced, "detections", columns)
    dets = dets.merge(
        enforced[["decision_id", "item_id", "policy_id", "run_key"]], on=["run_key", "item_id", "policy_id"]
    )
    if dets.empty:
        return pd.Series(dtype=object)
    keys = list(zip(dets["policy_id"], dets["detector_id"], strict=True))
    dets["weighted"] = dets["score"].astype(float) * pd.Series([weights.get(k, 1.0) for k in keys], index=dets.index)
    top = dets.sort_values(["weighted", "detector_id"], ascending=[False, True]).drop_duplicates("decision_id")
    return top.set_index("decision_id")["detector_id"]


def refresh_appeal_metrics(
    engine: Engine,
    run_keys: list[str],
    enforcement: EnforcementSpec,
    now: datetime | None = None,
    pack: PolicyPack | None = None,
) -> list[str]:
    """Appeal metrics of each run key into the `metrics` table (the run's report shows them after `modsweep audit
    RUN`); trips the breaker for policies whose automated overturn rate is over the pack's ceiling. Returns the
    policies newly paused."""
    now = now or datetime.now(UTC)
    tripped: list[str] = []
    for run_key in run_keys:
        run = store.last_completed_run(engine, run_key)
        if run is None:
            continue
        decisions = store.fetch_decisions(engine, run_key=run_key)
        tasks = store.fetch_review_tasks(engine, run_key=run_key)
        enforced = enforced_decisions(decisions, tasks)
        if pack is not None:
            enforced = enforced.assign(detector=enforced["decision_id"].map(carrying_detectors(enforced, pack)))
        appeals = ls.fetch_appeals(engine, decision_ids=enforced["decision_id"].tolist())
        day = decisions["day"].iloc[0] if len(decisions) else now.date()
        metrics = ap.appeal_metrics(enforced, appeals, now=now, day=day, run_id=run["run_id"])
        store.insert_metrics(engine, metrics.assign(run_key=run_key))
        store.update_run(engine, run["run_id"], outputs={"lifecycle": lifecycle_summary(engine, decisions, appeals)})
        ceilings = {p: enforcement.appeals.overturn_ceiling for p in metrics["policy_id"].unique() if p != "ALL"}
        for trip in ap.overturn_breaches(metrics, ceilings, enforcement.appeals.min_appeals).itertuples():
            reason = (
                f"overturn rate of automated decisions on appeal {trip.value:.3f} (95% CI lower "
                f"{trip.ci_low:.3f}, n={int(trip.n)} decided appeals) above the ceiling {trip.ceiling:.2f} "
                f"in run {run['run_id']}"
            )
            if store.set_policy_automation(
                engine,
                str(trip.policy_id),
                state="paused",
                reason=reason,
                changed_by="circuit-breaker",
                run_id=run["run_id"],
            ):
                tripped.append(str(trip.policy_id))
                store.update_run(engine, run["run_id"], outputs={"appeal_findings": {str(trip.policy_id): reason}})
    return tripped


def lifecycle_summary(engine: Engine, decisions: pd.DataFrame, appeals: pd.DataFrame) -> dict[str, Any]:
    """A run's appeals, reversals (by cause, with revert ids) and strikes, for its ledger row and report."""
    ids = decisions["decision_id"].astype(str).tolist()
    rev = ls.reversals(engine, decision_ids=ids)
    strikes = ls.strikes_of(engine, decision_ids=ids)
    accounts = ls._frame_in(
        engine, select(ls.ACCOUNT_DECISIONS.c.account_decision_id), ls.ACCOUNT_DECISIONS.c.decision_id, ids
    )
    status = appeals["status"].value_counts() if len(appeals) else pd.Series(dtype=int)
    return {
        "appeals": len(appeals),
        "appeals_upheld": int(status.get("upheld", 0)),
        "appeals_overturned": int(status.get("overturned", 0)),
        "appeals_open": int(status.get("open", 0)),
        "reversed": {str(k): int(v) for k, v in rev["cause"].value_counts().items()},
        "reverts": sorted(rev["revert_id"].dropna().astype(str).unique().tolist()),
        "strikes": len(strikes),
        "strikes_removed": int((strikes["status"] == "removed").sum()),
        "account_decisions": len(accounts),
    }


def generate_appeals(
    engine: Engine,
    lake: Lake,
    run: dict[str, Any],
    truth: pd.DataFrame,
    out: Path,
    *,
    key: str,
    share_violating: float = 0.05,
    share_benign: float = 0.4,
) -> int:
    """Write a demo appeals file for a run: a share of its enforced decisions, more of the ones the generator's
    ground truth says were wrong. Returns the rows written."""
    decisions = store.fetch_decisions(engine, run_key=run["run_key"])
    enforced = enforced_decisions(decisions, store.fetch_review_tasks(engine, run_key=run["run_key"]))
    enforced = enforced[enforced["status"] != "reversed"] if "status" in enforced else enforced
    truth_keys = set(truth["item_id"].astype(str) + "|" + truth["policy_id"].astype(str))
    violating = (enforced["item_id"].astype(str) + "|" + enforced["policy_id"].astype(str)).isin(truth_keys)
    enforced = enforced.assign(appellant=lifecycle_io.author_pseudonyms(lake.url, enforced, key))
    planted = ap.plant_appeals(
        enforced,
        violating,
        seed=run["run_key"],
        now=datetime.now(UTC),
        share_violating=share_violating,
        share_benign=share_benign,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    planted.to_csv(out, index=False, lineterminator="\n")
    return len(planted)
