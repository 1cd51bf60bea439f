"""Partition bodies of the sweep: load → pure stage function → save, through the run catalog.

They run in worker processes (modsweep/workers.py imports this module when a worker starts) or in the task's
thread, so this module imports no Prefect. Each body resumes from what the catalog says is committed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from modsweep import resources, store
from modsweep.catalog import COORDINATION_PART, RunCatalog, catalog_of, part_name, to_table
from modsweep.config import get_settings
from modsweep.runs import RunContext, run_day
from modsweep.schemas import ACTOR_SIGNALS, DECISIONS, DETECTIONS
from modsweep.tasks import banks, decide, detect, ingest, lifecycle_io, sample, strikes

SCORE_COLUMNS = ["item_id", "policy_id", "detector_id", "score"]
SAMPLE_ATTRS = ["item_id", "region", "language", "views", "user_reports"]


@dataclass
class PartitionOutcome:
    """What a partition's task tells the flow: its id, rows and counts (never its data)."""

    part: str
    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    reused: bool = False


# --- ingest -------------------------------------------------------------------------------------------------


def ingest_file(
    ctx: RunContext,
    source_file: str,
    index: int,
    file_window: tuple[datetime, datetime] | tuple[None, None],
    max_item_chars: int,
) -> PartitionOutcome:
    """One source file → its items, quarantine and ids parts; the counts are saved as the items part's metadata."""
    cat, part = catalog_of(ctx), part_name(index)
    if cat.exists("items", part):
        meta = cat.meta("items", part)
        return PartitionOutcome(part, meta["rows"], meta["counts"], reused=True)
    try:
        raw, error = ingest.read_source(Path(source_file)), None
    except (ingest.UnreadableFileError, ingest.SourceSchemaError) as exc:  # quarantined whole, with the reason
        # (an OSError while reading propagates: the task's retries give flaky storage another chance)
        raw, error = None, f"{type(exc).__name__}: {exc}"
    result = ingest.ingest_rows(
        raw,
        error,
        source_file=source_file,
        run_id=ctx.run_id,
        file_window=file_window,
        run_window=ctx.window,
        regions=ctx.regions,
        max_item_chars=max_item_chars,
    )
    table = result.table
    # What a killed run committed of this part is the same again (the same file): kept, not written twice.
    if not cat.exists("quarantine", part):
        cat.save("quarantine", part, ingest.quarantine_table(result.quarantine))
    if not cat.exists("item_ids", part):
        cat.save("item_ids", part, table.select(["item_id"]))
    rows = cat.save("items", part, table, meta={"counts": result.counts})
    return PartitionOutcome(part, rows, result.counts)


def find_repeats(ctx: RunContext, parts: list[str]) -> list[np.ndarray]:
    """Row positions, per part, of items whose id appeared in an earlier part (part order wins). The day's ids are
    held as hashes (8 bytes an item, read a part at a time); a part's ids are read again only if it holds a
    candidate (an id hash seen in two places)."""
    cat = catalog_of(ctx)
    hashes = [ingest.partition_id_hashes(cat.load("item_ids", p).column(0)) for p in parts]
    return ingest.cross_partition_repeats(hashes, lambda k: cat.load("item_ids", parts[k]).column(0))


def move_repeats(ctx: RunContext, part: str, source: str, rows: np.ndarray) -> None:
    """Rows `rows` of an items part move to its quarantine, naming `source` (a worker's body)."""
    _move_repeats(catalog_of(ctx), ctx.run_id, part, source, rows)


def _move_repeats(cat: RunCatalog, run_id: str, part: str, source: str, rows: np.ndarray) -> None:
    items = cat.load("items", part)
    quarantine = cat.load("quarantine", part).to_pandas()
    kept, moved, counts = ingest.move_repeats_to_quarantine(
        items, quarantine, rows, part=part, source_file=source, run_id=run_id, counts=cat.meta("items", part)["counts"]
    )
    # Quarantine first: a crash in between leaves the duplicate in both places, and the re-run moves it again.
    cat.save("quarantine", part, ingest.quarantine_table(moved))
    cat.save("item_ids", part, kept.select(["item_id"]))
    cat.save("items", part, kept, meta={"counts": counts})


# --- detection ----------------------------------------------------------------------------------------------


def score_rows(
    ctx: RunContext, part: str, start: int, stop: int | None, max_chars: int, chunk_rows: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Detections and coordination signatures of rows [start, stop) of an items part (a worker's share of it);
    every detector looks at one item at a time, so slices add up to the whole part."""
    bank = banks.bank_for(ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version, ctx.policy_sha256)
    table = catalog_of(ctx).load("items", part)
    items = table.slice(start, None if stop is None else stop - start).to_pandas()
    max_age = max((int(p.get("max_account_age_days", 30)) for _, _, p, _ in bank.coordination), default=-1)
    signatures = detect.coordination_signatures(items, max_age) if bank.coordination else pd.DataFrame()
    return detect.detect_in_chunks(items, bank, ctx.run_id, max_chars=max_chars, chunk_rows=chunk_rows), signatures


def save_scores(ctx: RunContext, part: str, found: pd.DataFrame, signatures: pd.DataFrame) -> PartitionOutcome:
    """Commit a part's signatures, then its detections (the resume check is on detections)."""
    cat = catalog_of(ctx)
    if not cat.exists("signatures", part):  # committed by a run killed before its detections: kept
        cat.save("signatures", part, to_table(signatures) if len(signatures.columns) else pa.table({}))
    rows = cat.save("detections", part, to_table(found, DETECTIONS))
    return PartitionOutcome(
        part, rows, {f"detections.{k}": int(v) for k, v in found["detector_id"].value_counts().items()}
    )


def score_part(ctx: RunContext, part: str, max_chars: int, chunk_rows: int) -> PartitionOutcome:
    """Score a whole items part and commit its detections and signatures (a worker's body)."""
    found, signatures = score_rows(ctx, part, 0, None, max_chars, chunk_rows)
    return save_scores(ctx, part, found, signatures)


def slice_edges(rows: int, slices: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of `slices` nearly equal slices of a part."""
    edges = np.linspace(0, rows, slices + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def cluster_coordination(ctx: RunContext, parts: list[str]) -> PartitionOutcome:
    """Day-wide near-duplicate bursts → coordination detections, kept whole and split by the items part they
    belong to (each decide part reads only its own items' share)."""
    cat = catalog_of(ctx)
    bank = banks.bank_for(ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version, ctx.policy_sha256)
    loaded = {p: cat.load("signatures", p).to_pandas() for p in parts}
    sigs = [s.assign(_part=p) for p, s in loaded.items() if len(s)]
    signatures = pd.concat(sigs, ignore_index=True) if sigs else pd.DataFrame()
    found = detect.cluster_coordination(signatures.drop(columns="_part", errors="ignore"), bank, ctx.run_id)
    owner = signatures.drop_duplicates("item_id").set_index("item_id")["_part"] if len(signatures) else pd.Series()
    where = found["item_id"].map(owner) if len(found) else pd.Series(dtype=object)
    for part in (p for p in parts if not cat.exists("coordination", p)):
        cat.save("coordination", part, to_table(found[where.to_numpy() == part], DETECTIONS))
    rows = cat.save("detections", COORDINATION_PART, to_table(found, DETECTIONS))
    clusters = found["evidence"].str.extract(r'"cluster_id": "([^"]+)"')[0].nunique() if len(found) else 0
    return PartitionOutcome(COORDINATION_PART, rows, {"coordinated_items": rows, "clusters": int(clusters)})


# --- decisions ----------------------------------------------------------------------------------------------


def decide_part(
    ctx: RunContext, part: str, automation_paused: list[str], keep_per_stratum: int, total_views: int, n_prevalence: int
) -> PartitionOutcome:
    """One part's decisions, QA strata populations and sample candidates (a worker's body)."""
    cat = catalog_of(ctx)
    p = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    columns = dict.fromkeys([*decide.ITEM_COLUMNS_FOR_DECISIONS, *lifecycle_io.ACTOR_ITEM_COLUMNS])
    read = cat.load("items", part, columns=list(columns)).to_pandas()  # once: decide and actor risk (DESIGN §10)
    items = read[decide.ITEM_COLUMNS_FOR_DECISIONS]
    coordination = cat.load("coordination", part, columns=SCORE_COLUMNS).to_pandas()
    found = pd.concat(
        [cat.load("detections", part, columns=SCORE_COLUMNS).to_pandas(), coordination], ignore_index=True
    )
    reused = cat.exists("decisions", part)
    key = get_settings().hmac_key.get_secret_value()
    actor = lifecycle_io.actor_signals_part(cat, p, key, read, coordination["item_id"])
    decisions, populations, qa, prevalence = sample.decide_and_stratify(
        items,
        found,
        p,
        run_key=ctx.run_key,
        run_id=ctx.run_id,
        seed=ctx.seed,
        decided_at=datetime.now(UTC),
        automation_paused=frozenset(automation_paused),
        keep_per_stratum=keep_per_stratum,
        total_views=total_views,
        n_prevalence=n_prevalence,
        decided=cat.load("decisions", part).to_pandas() if reused else None,
        escalate_offsets=None if actor is None else strikes.escalate_offsets_for(items["item_id"], actor),
    )
    if actor is not None and not cat.exists("actor_risk", part):  # before decisions: their resume check is last
        cat.save("actor_risk", part, to_table(actor, ACTOR_SIGNALS))
    if not reused:
        cat.save("decisions", part, to_table(decisions, DECISIONS))
    # Candidates go to the lake, not back to the flow (which keeps every task's result until it ends); a resumed
    # run keeps the committed ones (they are the same: the keys depend on the run key only).
    row_of = pd.Index(items["item_id"])  # a part's ids are unique (ingest quarantines repeats)
    for name, frame in ((f"qa-{part}", qa), (f"prevalence-{part}", prevalence)):
        if not cat.exists("candidates", name):
            rows = row_of.get_indexer(frame["item_id"])  # every candidate is one of the part's items
            attrs = items[SAMPLE_ATTRS[1:]].iloc[rows].reset_index(drop=True)
            cat.save("candidates", name, to_table(pd.concat([frame.reset_index(drop=True), attrs], axis=1)))
    if not cat.exists("strata", part):
        cat.save("strata", part, to_table(populations))
    counts = {f"actions.{a}": int(n) for a, n in decisions["action"].value_counts().items()}
    return PartitionOutcome(part, len(decisions), counts, reused=reused)


def items_among(cat: RunCatalog, item_ids: pd.Series, columns: list[str]) -> pd.DataFrame:
    """The run's items whose id is in `item_ids`, read a part at a time (only matching rows kept)."""
    wanted = pa.array(item_ids.dropna().astype(str).unique(), type=pa.string())
    tables = []
    for part in cat.parts("items"):
        table = cat.load("items", part, columns=columns)
        tables.append(
            table.filter(pc.is_in(table["item_id"], value_set=wanted.cast(table.schema.field("item_id").type)))
        )
    return pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame(columns=columns)


def read_golden_set(path: str) -> pd.DataFrame:
    """Known-label pairs (item_id, policy_id, label) from a Parquet/CSV file or a folder of them."""
    root = Path(path)
    files = [root] if root.is_file() else sorted([*root.rglob("*.parquet"), *root.rglob("*.csv")])
    frames = [pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f, dtype=str) for f in files]
    if not frames:
        raise FileNotFoundError(f"no golden-set files under {path}")
    golden = pd.concat(frames, ignore_index=True)
    missing = {"item_id", "policy_id", "label"} - set(golden.columns)
    if missing:
        raise ValueError(f"golden set {path} lacks column(s) {sorted(missing)}")
    return golden[["item_id", "policy_id", "label"]].astype(str)


def store_decisions(ctx: RunContext) -> dict[str, int]:
    """The run's decisions into the store, a part at a time in one transaction (memory: one part)."""
    cat = catalog_of(ctx)
    frames = (cat.load("decisions", p).to_pandas().assign(day=ctx.day) for p in cat.parts("decisions"))
    rows, inserted = store.insert_decision_frames(resources.store_engine(), frames)
    return {"decisions": rows, "decisions_inserted": inserted}


def draw_sample(ctx: RunContext, parts: list[str], keep_per_stratum: int) -> pd.DataFrame:
    """The run's review sample as drawn, before each queue's capacity is applied (a worker's body)."""
    return sample.review_sample(**sample_inputs(ctx, parts, keep_per_stratum), **sample_design(ctx))


def sample_design(ctx: RunContext) -> dict[str, Any]:
    """How the review sample is drawn: the pack, the QA sample's precision (half width, floor, cap), the golden
    rate and double-review share from the settings, and the run's seed, ids and time."""
    settings = get_settings()
    return {
        "pack": resources.pack(ctx.pack, ctx.profile, ctx.model_version),
        "half_width": settings.qa_half_width,
        "floor": settings.qa_floor,
        "cap": settings.qa_cap,
        "golden_rate": settings.golden_rate,
        "double_review_share": settings.double_review_share,
        "seed": ctx.seed,
        "run_id": ctx.run_id,
        "run_key": ctx.run_key,
        "id_key": settings.hmac_key.get_secret_value().encode(),
        "now": datetime.now(UTC),
    }


def sample_inputs(ctx: RunContext, parts: list[str], keep_per_stratum: int) -> dict[str, Any]:
    """What the review sample is drawn from: the day's strata populations (committed as `samples/populations`),
    QA candidates (folded a part at a time: memory is strata × keep rows), prevalence candidates, escalations,
    and the golden set with its items in this run."""
    cat = catalog_of(ctx)
    populations = pd.concat([cat.load("strata", p).to_pandas() for p in parts], ignore_index=True)
    populations = populations.groupby(["stratum", "region"], as_index=False)["population"].sum()
    if not cat.exists("samples", "populations"):
        cat.save("samples", "populations", to_table(populations))
    candidates: pd.DataFrame | None = None
    for part in parts:
        found = cat.load("candidates", f"qa-{part}").to_pandas()
        both = found if candidates is None else pd.concat([candidates, found])
        candidates = sample.smallest_keys(both, keep_per_stratum)
    prevalence = pd.concat([cat.load("candidates", f"prevalence-{p}").to_pandas() for p in parts], ignore_index=True)
    decisions = cat.load_all("decisions", columns=["item_id", "policy_id", "score", "action", *SAMPLE_ATTRS[1:]])
    escalations = decisions.filter(pc.equal(decisions["action"], "escalate")).to_pandas()
    actor = [cat.load("actor_risk", p, columns=["item_id", "actor_risk"]) for p in parts if cat.exists("actor_risk", p)]
    if actor:  # actor risk (DESIGN §10): the escalation's review-priority multiplier, before queue capacity
        risk = pa.concat_tables(actor, promote_options="permissive").to_pandas().drop_duplicates("item_id")
        escalations = escalations.merge(risk, on="item_id", how="left").fillna({"actor_risk": 1.0})
    golden = read_golden_set(ctx.golden_dir) if ctx.golden_dir else None
    return {
        "populations": populations,
        "qa_candidates": candidates,
        "prevalence": prevalence,
        "escalations": escalations,
        "golden": golden,
        "golden_items": items_among(cat, golden["item_id"], SAMPLE_ATTRS) if golden is not None else None,
    }


def record_strikes(ctx: RunContext) -> dict[str, int]:
    """The first half of the run's strike-ledger update: expiries, then every decisions part's strikes
    (`lifecycle_io.record_run_strikes`)."""
    pack = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    return lifecycle_io.record_run_strikes(resources.store_engine(), catalog_of(ctx), _ledger_context(ctx), pack)


def struck_author_pages(ctx: RunContext) -> list[list[str]]:
    """The run's struck authors, a page at a time (the second half's units of work)."""
    return lifecycle_io.struck_author_pages(resources.store_engine(), _ledger_context(ctx))


def evaluate_authors(ctx: RunContext, authors: list[str]) -> tuple[int, int]:
    """One page of struck authors' account actions re-evaluated (a worker's body); (new, lifted)."""
    pack = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    return lifecycle_io.evaluate_author_page(resources.store_engine(), _ledger_context(ctx), pack, authors)


def _ledger_context(ctx: RunContext) -> lifecycle_io.LedgerContext:
    return lifecycle_io.LedgerContext(
        day=ctx.day,
        run_key=ctx.run_key,
        run_id=ctx.run_id,
        as_of=ctx.window_end,
        hmac_key=get_settings().hmac_key.get_secret_value(),
    )


# --- audit --------------------------------------------------------------------------------------------------


def sampled_tasks(ctx: RunContext, engine: Any) -> pd.DataFrame:
    """The run's committed review sample as stored now (status, labels, reviewers).

    A task id is item × policy × reason × replica, so a task of this sample may have been stored first by
    another run (a surge after the daily sweep of the same day): it keeps that run's key in the store, but
    belongs to this sample too, with this run's stratum and inclusion probability (what its estimates need).
    """
    own = store.fetch_review_tasks(engine, run_key=ctx.run_key)
    cat = catalog_of(ctx)
    if not cat.exists("review_tasks", "tasks"):
        return own
    design = cat.load("review_tasks", "tasks", columns=["task_id", "stratum", "inclusion_prob"])
    stored_here = pc.is_in(design["task_id"], value_set=pa.array(own["task_id"], type=pa.string()))
    elsewhere = design.filter(pc.invert(stored_here)).to_pandas()
    if elsewhere.empty:
        return own
    shared = store.fetch_review_tasks(engine, task_ids=elsewhere["task_id"].tolist())
    shared = shared.drop(columns=["stratum", "inclusion_prob"]).merge(elsewhere, on="task_id", how="left")
    return pd.concat([own, shared[own.columns]], ignore_index=True)


def audit_inputs(ctx: RunContext, engine: Any, baseline_days: int) -> dict[str, Any]:
    """What a run's audit metrics are computed from: its sampled tasks as stored now, strata populations, views
    and decisions, the golden set, and as baseline the completed runs of the same flow on the `baseline_days`
    days before (their populations for drift, their processed counts for volume)."""
    cat = catalog_of(ctx)
    since = datetime.combine(ctx.day - timedelta(days=baseline_days), datetime.min.time(), tzinfo=UTC)
    earlier = [
        r
        for r in store.list_runs(engine, flow=ctx.flow, state="completed", since=since, limit=200)
        if r["run_key"] != ctx.run_key and run_day(r) is not None and run_day(r) < ctx.day
    ]
    baselines = [RunCatalog(ctx.lake_root, run_day(r), r["run_key"]) for r in earlier]  # type: ignore[arg-type]
    items = cat.load_all("items", columns=["region", "views"])
    return {
        "tasks": sampled_tasks(ctx, engine),
        "populations": cat.load("samples", "populations").to_pandas(),
        "baseline": [
            b.load("samples", "populations").to_pandas() for b in baselines if b.exists("samples", "populations")
        ],
        "views": items.group_by("region").aggregate([("views", "sum")]).to_pandas(),
        "n_items": items.num_rows,
        "decisions": cat.load_all("decisions", columns=["policy_id", "automated", "user_reports"]).to_pandas(),
        "golden": read_golden_set(ctx.golden_dir) if ctx.golden_dir else None,
        "volumes": [int(r["stage_counts"].get("ingest", {}).get("processed", 0)) for r in earlier],
    }
