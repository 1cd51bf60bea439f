"""Everything modsweep knows about one item, as one JSON-friendly document (``modsweep explain ITEM``).

Pure: the command line gathers the frames (store rows filtered on the item, lake partitions read with a filter on
``item_id``) and this module puts them together: the item's attributes, every detection of every run that saw it,
the decisions with the band that applied and the bands in force, review tasks with their outcomes, and the runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

from modsweep.policy import PolicyPack, UnresolvedThresholdError

# author_id and the texts stay out: an explanation is shown to many people.
ITEM_FIELDS: tuple[str, ...] = (
    "item_type",
    "source",
    "created_at",
    "region",
    "language",
    "views",
    "user_reports",
    "report_reasons",
    "hashtags",
    "ai_disclosed",
    "ai_provenance",
    "author_account_age_days",
)
DETECTION_FIELDS: tuple[str, ...] = ("policy_id", "detector_id", "detector_version", "score", "evidence", "run_id")
DECISION_FIELDS: tuple[str, ...] = (
    "decision_id",
    "policy_id",
    "policy_version",
    "action",
    "automated",
    "score",
    "threshold",
    "region",
    "language",
    "item_type",
    "day",
    "created_at",
    "decided_at",
    "run_id",
    "run_key",
    "decision_visibility",
    "category",
    "category_specification",
    "automated_detection",
    "automated_decision",
    "territorial_scope",
)
TASK_FIELDS: tuple[str, ...] = (
    "task_id",
    "policy_id",
    "queue",
    "reason",
    "stratum",
    "replica",
    "status",
    "priority",
    "score",
    "action",
    "inclusion_prob",
    "created_at",
    "due_by",
    "claimed_at",
    "decided_at",
    "reviewer_id",
    "label",
    "final_action",
    "carry_over_reason",
    "run_id",
    "run_key",
    "day",
)
RUN_FIELDS: tuple[str, ...] = (
    "run_id",
    "run_key",
    "flow",
    "trigger",
    "state",
    "requested_by",
    "policy_pack",
    "policy_version",
    "policy_sha256",
    "code_version",
    "input_fingerprint",
    "prefect_flow_run_id",
    "started_at",
    "ended_at",
)


def plain(value: Any) -> Any:
    """A JSON-friendly value: timestamps as ISO text, numpy scalars as Python, NaN/NA as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy scalars and arrays
        return plain(value.tolist())
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _records(frame: pd.DataFrame | None, fields: Iterable[str]) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    cols = [c for c in fields if c in frame.columns]
    return [{k: plain(v) for k, v in row.items()} for row in frame[cols].to_dict("records")]


def parse_evidence(evidence: Any) -> Any:
    """Detections keep evidence as a JSON string; show it as data (the raw text if it is not JSON)."""
    if not isinstance(evidence, str):
        return plain(evidence)
    try:
        return json.loads(evidence)
    except ValueError:
        return evidence


def bands_in_force(pack: PolicyPack | None, policy_id: str, region: str) -> list[dict[str, Any]] | None:
    """The band ladder (min_score → action) of a policy for a region under a pack with its profile applied."""
    if pack is None:
        return None
    try:
        policy = pack.policy(policy_id)
    except KeyError:
        return None
    try:
        bands = policy.bands_for(region)
    except UnresolvedThresholdError:  # the run's model card is gone: show the ladder as written
        bands = policy._ladder_for(region)
    return [{"min_score": b.min_score, "action": b.action, "auto_precision": b.auto_precision} for b in bands]


def explain_item(
    item_id: str,
    *,
    decisions: pd.DataFrame,
    tasks: pd.DataFrame,
    detections: pd.DataFrame,
    items: pd.DataFrame,
    runs: Iterable[Mapping[str, Any]],
    packs: Mapping[str, PolicyPack | None] | None = None,
    actor: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The explanation document. ``detections`` and ``items`` carry ``day`` and ``run_key`` (where they were read);
    ``packs`` maps run id → the pack that run used (None when it can no longer be loaded); ``actor``: the item's
    actor signals of each run (lake `actor_risk`, with ``day`` and ``run_key``): a decision whose escalation band
    was lowered for a repeat offender says so in ``band_applied``."""
    packs = packs or {}
    signals = {}
    if actor is not None and len(actor):
        signals = {(str(r["day"]), str(r["run_key"])): r for r in actor.to_dict("records")}
    run_list = sorted((dict(r) for r in runs), key=lambda r: (str(r.get("started_at")), str(r.get("run_id"))))
    by_run = {str(r["run_id"]): r for r in run_list}

    decision_docs = []
    for row in _records(_sorted(decisions, ["decided_at", "policy_id", "decision_id"]), DECISION_FIELDS):
        run = by_run.get(str(row["run_id"]), {})
        pack = packs.get(str(row["run_id"]))
        row["band_applied"] = {"action": row["action"], "min_score": row["threshold"]}
        row["bands_in_force"] = bands_in_force(pack, str(row["policy_id"]), str(row["region"]))
        signal = signals.get((str(row["day"]), str(row["run_key"])))
        if signal is not None:
            row["actor"] = {k: plain(signal[k]) for k in ("active_weight", "actor_risk", "escalate_offset")}
            usual = _escalate_min_score(row["bands_in_force"])
            if (
                row["action"] == "escalate"
                and signal["escalate_offset"] < 0
                and usual is not None
                and row["score"] < usual
            ):
                row["band_applied"]["repeat_offender"] = (
                    f"escalated by the repeat-offender rule: score {row['score']:.3f} is under the escalate band "
                    f"{usual:.3f}, lowered by {-signal['escalate_offset']:g} because the author's active strike weight "
                    f"{signal['active_weight']:g} before the day reached the pack's threshold"
                )
        row["bands_from_run_pack"] = None if pack is None else pack.sha256 == run.get("policy_sha256")
        row["profile"] = (run.get("parameters") or {}).get("profile")
        decision_docs.append(row)

    detection_docs = []
    sort_cols = ["day", "run_key", "policy_id", "score", "detector_id"]
    det = _sorted(detections, sort_cols, ascending=[True, True, True, False, True])
    for row in _records(det, (*DETECTION_FIELDS, "day", "run_key")):
        row["evidence"] = parse_evidence(row.get("evidence"))
        detection_docs.append(row)

    item_doc = None
    if items is not None and not items.empty:
        first = _sorted(items, ["day", "run_key"]).iloc[0]
        item_doc = {k: plain(first[k]) for k in ITEM_FIELDS if k in first.index}
        item_doc["seen_in"] = [
            {"day": plain(d), "run_key": k}
            for d, k in items[["day", "run_key"]].drop_duplicates().itertuples(index=False)
        ]

    run_docs = []
    for r in run_list:
        doc = {k: plain(r.get(k)) for k in RUN_FIELDS}
        params = r.get("parameters") or {}
        doc["pack"] = params.get("pack")
        doc["profile"] = params.get("profile")
        run_docs.append(doc)

    task_docs = _records(_sorted(tasks, ["created_at", "task_id"]), TASK_FIELDS)
    return {
        "item_id": item_id,
        "item": item_doc,
        "summary": summarise(decision_docs, task_docs, detection_docs),
        "decisions": decision_docs,
        "review_tasks": task_docs,
        "detections": detection_docs,
        "runs": run_docs,
    }


def _escalate_min_score(bands: list[dict[str, Any]] | None) -> float | None:
    """The escalate band's min_score in a ladder from `bands_in_force` (None without one)."""
    found = [b["min_score"] for b in bands or [] if b["action"] == "escalate" and b["min_score"] is not None]
    return float(found[0]) if found else None


def summarise(
    decisions: list[dict[str, Any]], tasks: list[dict[str, Any]], detections: list[dict[str, Any]]
) -> dict[str, Any]:
    """Counts at a glance, and per policy the final outcome (reviewer's final action over the automated one)."""
    outcome: dict[str, str] = {}
    for d in decisions:
        outcome[str(d["policy_id"])] = str(d["action"])
    for t in tasks:
        if t.get("reason") == "review_band" and t.get("status") == "decided":
            label, final = t.get("label"), t.get("final_action")
            outcome[str(t["policy_id"])] = f"reviewed: {label}" + (f" → {final}" if final else "")
    return {
        "decisions": len(decisions),
        "review_tasks": len(tasks),
        "detections": len(detections),
        "runs": len({d.get("run_id") for d in decisions} | {t.get("run_id") for t in tasks}),
        "outcome_by_policy": dict(sorted(outcome.items())),
    }


def is_unknown(doc: Mapping[str, Any]) -> bool:
    """Nothing anywhere: no decision, task, detection or item row."""
    return not (doc["decisions"] or doc["review_tasks"] or doc["detections"] or doc["item"])


def _sorted(frame: pd.DataFrame | None, cols: list[str], ascending: list[bool] | bool = True) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    present = [c for c in cols if c in frame.columns]
    if isinstance(ascending, list):
        ascending = [a for c, a in zip(cols, ascending, strict=True) if c in frame.columns]
    return frame.sort_values(present, ascending=ascending, kind="mergesort") if present else frame
