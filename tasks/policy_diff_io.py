"""The I/O edge of `policy diff`: packs and model from the registry, past days' items from the lake, reviews from
the store; the comparison itself is tasks/policy_diff.py (pure) over the sweep's own detect and decide steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from modsweep import resources
from modsweep.config import get_settings
from modsweep.lake import Lake
from modsweep.policy import PolicyPack
from modsweep.tasks import banks, decide, detect, policy_diff, strikes
from modsweep.tasks.reviews_io import pseudonymise

ITEM_COLUMNS = [
    "item_id",
    "author_id",
    "region",
    "language",
    "item_type",
    "text",
    "transcript",
    "ocr_text",
    "hashtags",
    "media_hash",
    "ai_disclosed",
    "ai_provenance",
    "author_account_age_days",
    "author_followers",
    "views",
    "user_reports",
    "report_reasons",
    "created_at",
]


class NoSweptDayError(LookupError):
    """A day in the range has no ingested items in the lake (nothing was swept)."""


def swept_run_key(lake: Lake, day: date) -> str:
    """The run key of the newest completed run that swept the whole of `day` (its lake items are the day); only
    when there is none, the newest surge (some regions and hours of it). Shadow runs never count."""
    from modsweep import store

    keys = lake.run_keys("items", day)
    engine = resources.store_engine()
    best: tuple[bool, datetime, str] | None = None
    for key in keys:
        run = store.last_completed_run(engine, key)
        if run is not None and run.get("trigger") != "shadow":
            rank = (run.get("trigger") != "surge", run.get("ended_at") or run.get("started_at"), key)
            if best is None or rank[:2] > best[:2]:
                best = rank
    if best is None:
        raise NoSweptDayError(
            f"no completed sweep of {day} in the lake at {lake.url}: run `modsweep sweep --day {day}` first"
        )
    return best[2]


def day_range(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"--days {first}..{last}: the end is before the start")
    if (last - first).days > 31:
        raise ValueError("--days spans more than 31 days: brief a month at most")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _resolved(pack_name: str, profile: str) -> tuple[PolicyPack, Any]:
    """A pack with its auto@ bands resolved from the active model's card, and its detector bank (once per brief)."""
    version = resources.model_version_for(pack_name, profile)
    pack = resources.pack(pack_name, profile, version)
    return pack, banks.bank_for(pack_name, profile, str(get_settings().models_dir.resolve()), version, pack.sha256)


def _decisions(
    items: pd.DataFrame, coordinated: pd.DataFrame, pack: PolicyPack, bank: Any, run_key: str, actor: pd.DataFrame
) -> pd.DataFrame:
    """A pack's decisions on items, computed exactly as a sweep decides (nothing is stored); ``actor``: the live
    run's actor signals of these items, so the pack's own repeat-offender setting lowers its escalate bands."""
    found = detect.detect_in_chunks(items, bank, run_id="policy-diff")
    found = pd.concat([found[["item_id", "policy_id", "detector_id", "score"]], coordinated], ignore_index=True)
    policy_ids = [p.id for p in pack.policies()]
    scores = decide.policy_scores(items["item_id"], found, policy_ids, decide.non_enforcing_detectors(pack))
    return decide.decide_partition(
        items,
        scores,
        pack,
        run_key=run_key,
        run_id="policy-diff",
        decided_at=datetime.now(UTC),
        escalate_offsets=strikes.escalate_offsets_under(items["item_id"], actor, pack.spec.enforcement),
    )


def build_brief(old: str, new: str, profile: str, days: list[date], examples: int = 3) -> policy_diff.Brief:
    """The change brief of OLD → NEW; with days, their past traffic re-decided by both packs."""
    from modsweep import store

    (old_pack, old_bank), (new_pack, new_bank) = _resolved(old, profile), _resolved(new, profile)
    brief = policy_diff.Brief(
        old=f"{old_pack.name} {old_pack.version} ({Path(old_pack.path).name})",
        new=f"{new_pack.name} {new_pack.version} ({Path(new_pack.path).name})",
        changes=policy_diff.pack_changes(old_pack, new_pack),
        days=days,
    )
    if not days:
        return brief
    lake = resources.lake()
    key = get_settings().hmac_key.get_secret_value()
    changes, samples, without_actor = [], [], 0
    for day in days:
        run_key = swept_run_key(lake, day)
        for path in lake.parts("items", day, run_key):
            table = lake.read(path)
            items = table.select([c for c in ITEM_COLUMNS if c in table.column_names]).to_pandas()
            part = path.rsplit("/", 1)[-1].removesuffix(".parquet")
            coord, actor = _coordinated(lake, day, run_key, part), _actor_signals(lake, day, run_key, part)
            without_actor += actor is None
            actor = pd.DataFrame(columns=["item_id", "active_weight"]) if actor is None else actor
            before = _decisions(items, coord, old_pack, old_bank, run_key, actor)
            after = _decisions(items, coord, new_pack, new_bank, run_key, actor)
            ch = policy_diff.day_changes(before, after, day)
            if len(ch):
                changes.append(ch)
                shown = items[items["item_id"].isin(ch["item_id"])]
                samples.append(shown.assign(author=pseudonymise(shown["author_id"], key).to_numpy()))
    changed = (
        pd.concat(changes, ignore_index=True)
        if changes
        else policy_diff.classify_outcomes(
            pd.DataFrame(
                columns=[
                    "item_id",
                    "policy_id",
                    "action_live",
                    "action_candidate",
                    "score_live",
                    "score_candidate",
                    "automated_live",
                    "automated_candidate",
                    "region",
                    "change",
                ]
            )
        )
    )
    reviewed = store.fetch_review_tasks(resources.store_engine(), status="decided")
    if "replica" in reviewed.columns:
        reviewed = reviewed[reviewed["replica"] == 0]
    brief.impact = policy_diff.impact_table(changed, reviewed)
    shown = (
        pd.concat(samples, ignore_index=True)
        if samples
        else pd.DataFrame(columns=["item_id", "text", "language", "author"])
    )
    brief.examples = policy_diff.pick_examples(
        changed, shown[["item_id", "text", "language"]], shown["author"], examples
    )
    brief.notes = [
        "Both packs re-decide each day's ingested items with the sweep's own detection and decision steps; "
        "coordinated-behaviour scores are the live run's (clusters span partitions and are not re-computed), and "
        "the circuit breaker is ignored (both packs as written).",
        "Violating shares come from past human reviews of the changed items only (first review of each item and "
        "policy, weighted by 1/inclusion probability); a figure over few reviews is wide, and reviews simulated "
        "with `reviews simulate` are simulated reviewers, not people.",
        "Repeat offenders: each pack's own `enforcement.repeat_offenders` setting lowers its escalate bands from the "
        "authors' active strike weights the live run read before deciding (its `actor_risk` parts)"
        + (
            f"; {without_actor} of the items parts had none, as their run did not read strikes: there no offset applies."
            if without_actor
            else "."
        ),
    ]
    return brief


def _actor_signals(lake: Lake, day: date, run_key: str, part: str) -> pd.DataFrame | None:
    """The live run's actor signals of one items part (item_id, active_weight), or None when it read no strikes."""
    ref = lake.ref("actor_risk", day, run_key, part)
    return None if ref is None else lake.read(ref, columns=["item_id", "active_weight"]).to_pandas()


def _coordinated(lake: Lake, day: date, run_key: str, part: str) -> pd.DataFrame:
    """The live run's coordination detections of one items part: its share in the `coordination` dataset, which
    is what the sweep's decide of that part reads."""
    cols = ["item_id", "policy_id", "detector_id", "score"]
    ref = lake.ref("coordination", day, run_key, part)
    return pd.DataFrame(columns=cols) if ref is None else lake.read(ref, columns=cols).to_pandas()
