"""Prefect tasks of the sweep: thin wrappers that read and write the lake and store around the pure stages.

Tasks pass small references (partition names, counts) rather than data. Every task that writes checks
first whether its output is already committed for the run key, so a re-run resumes instead of redoing.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import itertools
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NONE as NO_CACHE
from prefect.tasks import exponential_backoff

from modsweep import resources, store
from modsweep.config import get_settings
from modsweep.runs import RunContext, run_day
from modsweep.schemas import DECISIONS, DETECTIONS, ITEMS, METRICS, REVIEW_TASKS
from modsweep.tasks import approval, audit, decide, detect, findings, ingest, review, sample

IO_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": exponential_backoff(1), "retry_jitter_factor": 0.5}
COORDINATION_PART = "coordination"
T = TypeVar("T")


@dataclass
class PartitionOutcome:
    part: str
    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    reused: bool = False


def _table(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pandas(df[list(schema.names)], schema=schema, preserve_index=False, safe=False)


def part_name(index: int) -> str:
    return f"part-{index:05d}"


# --- worker processes ---------------------------------------------------------------------------


_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _cpu_pool() -> ProcessPoolExecutor | None:
    """One pool of scoring processes per process (None: score in the calling thread).

    Ingest, detection and decisions are CPU-bound Python and NumPy; threads would share one interpreter
    lock, so their partitions are processed in worker processes (started with `spawn`: safe beside Prefect's threads) to keep every core busy.
    """
    global _POOL
    n = get_settings().detect_processes or os.cpu_count() or 1
    if n <= 1 or multiprocessing.current_process().daemon:  # a daemonic process (a Dask worker) may not fork
        return None
    with _POOL_LOCK:
        if _POOL is None:
            # Every worker starts now and imports the stage bodies (≈ 2 s) while the first stage runs: a spawn pool
            # would start them one per busy submit, and a worker first used late (a one-file day's second
            # detection slice) would make its stage wait for that start-up.
            _POOL = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=importlib.import_module, initargs=(__name__,))  # fmt: skip
            for _ in range(n):
                _POOL.submit(int)
        return _POOL


def release_freed_memory() -> None:
    """Hand memory freed by a partition back to the system: Arrow's pool and glibc's malloc keep freed pages for
    reuse, so without this a worker's resident size creeps up partition after partition (≈ 200 MiB each)."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc() if sys.platform.startswith("linux") else None


def _body_then_release(fn: Callable[..., T], *args: Any) -> T:
    """A stage body in a worker process, then its freed memory back to the system (a module-level function:
    what a spawn pool sends must be picklable, a wrapped closure is not)."""
    return releasing_memory(fn)(*args)


def releasing_memory(fn: Callable[..., T]) -> Callable[..., T]:
    """A task body that reads a whole stage in the flow's process: its freed memory goes back to the system when it
    returns, so the next stage's peak does not stack on what the allocator kept."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            release_freed_memory()

    return run


def on_cpu(fn: Callable[..., T], *args: Any) -> T:
    """Run a CPU-bound stage body in the pool of worker processes, or here when there is none."""
    global _POOL
    pool = _cpu_pool()
    if pool is None:
        return fn(*args)
    try:
        return pool.submit(_body_then_release, fn, *args).result()
    except BrokenProcessPool:  # a worker died (killed, out of memory): the next attempt gets a fresh pool
        with _POOL_LOCK:
            if _POOL is pool:
                _POOL = None
        raise


# --- ingest ------------------------------------------------------------------------------------------


COUNTS_KEY = b"modsweep.ingest_counts"


@task(name="ingest-partition", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_partition(ctx: RunContext, source_file: str, index: int, valid_start: datetime | None,
                     valid_end: datetime | None) -> PartitionOutcome:  # fmt: skip
    """Read one source file, keep valid in-scope rows as canonical items and quarantine the rest with reasons.

    Rows outside the file's day (its `date=` folder; None: unknown) are quarantined as misfiled; valid rows
    outside the run's window or regions are counted as out of scope. The counts travel in the items partition's metadata, so a resumed run
    reports the same numbers without reading the source again.
    """
    return on_cpu(ingest_source_file, ctx, source_file, index, valid_start, valid_end, get_settings().max_item_chars)


def ingest_source_file(ctx: RunContext, source_file: str, index: int, valid_start: datetime | None,
                       valid_end: datetime | None, max_item_chars: int) -> PartitionOutcome:  # fmt: skip
    """The body of `ingest_partition` (runs in a worker process when there is a pool)."""
    lake = resources.lake(ctx.lake_root)
    part = part_name(index)
    done = lake.ref("items", ctx.day, ctx.run_key, part)
    if done is not None:
        counts = json.loads(pq.read_schema(done.path, filesystem=lake.fs).metadata[COUNTS_KEY])
        return PartitionOutcome(part, done.rows, counts, reused=True)
    items = pd.DataFrame({c: pd.Series(dtype=object) for c in ITEMS.names})
    try:
        raw = ingest.read_source_file(Path(source_file))
    except (ingest.UnreadableFileError, ingest.SourceSchemaError) as exc:  # quarantined whole, with the reason
        # (an OSError while reading propagates: the task's retries give flaky storage another chance)
        quarantined = ingest.unreadable_file_quarantine(source_file, f"{type(exc).__name__}: {exc}", ctx.run_id)
        counts = {"read": 0, "processed": 0, "quarantined": 0, "unreadable_files": 1}
    else:
        try:
            result = ingest.normalise_rows(raw, source_file=source_file, source_name=Path(source_file).parent.name,
                                           run_id=ctx.run_id, window=(valid_start, valid_end),
                                           max_item_chars=max_item_chars)  # fmt: skip
            items, quarantined, counts = result.items, result.quarantine, result.counts
        except ingest.SourceSchemaError as exc:  # every row kept, quarantined with the schema problem named
            reasons = np.full(len(raw), "schema_mismatch", dtype=object)
            details = np.full(len(raw), str(exc)[:2000], dtype=object)
            quarantined = ingest.quarantine_frame(raw, source_file, reasons, details, ctx.run_id)
            counts = {"read": len(raw), "processed": 0, "quarantined": len(raw), "quarantined.schema_mismatch": len(raw)}
        items, out_of_scope = ingest.select_scope(items, ctx.window, ctx.regions)
        counts.update(processed=counts["processed"] - out_of_scope, out_of_scope=out_of_scope)
    counts["views"] = int(items["views"].sum()) if len(items) else 0
    lake.write(ingest.quarantine_table(quarantined), "quarantine", ctx.day, ctx.run_key, part)
    table = ingest.items_table(items) if len(items) else ITEMS.empty_table()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), COUNTS_KEY: json.dumps(counts).encode()})
    ref = lake.write(table, "items", ctx.day, ctx.run_key, part)
    return PartitionOutcome(part, ref.rows, counts)


@task(name="quarantine-cross-partition-duplicates", cache_policy=NO_CACHE, **IO_RETRIES)
@releasing_memory
def quarantine_cross_partition_duplicates(ctx: RunContext, parts: list[str],
                                          source_files: list[str] | None = None) -> list[dict[str, int]]:  # fmt: skip
    """Move items whose id already appeared in an earlier partition to quarantine (partition order wins).

    Quarantined rows name the source file of their partition (`source_files`, one per part; the items
    partition when not given) and their row in the items partition. Returns every partition's final ingest
    counts (kept in the partition's metadata, so they stay right when a resumed run finds the duplicates
    already moved).
    """
    lake = resources.lake(ctx.lake_root)
    paths = [lake.part_path("items", ctx.day, ctx.run_key, p) for p in parts]
    sources = source_files if source_files is not None else paths
    def ids_of(k: int) -> pa.ChunkedArray:
        return lake.read(paths[k], columns=["item_id"]).column(0)

    repeats = ingest.cross_partition_repeats([ingest.partition_id_hashes(ids_of(k)) for k in range(len(paths))], ids_of)
    moves = [(part, path, source, rows) for part, path, source, rows
             in zip(parts, paths, sources, repeats, strict=True) if len(rows)]  # fmt: skip
    # Parquet reads and writes release the GIL: partitions are rewritten side by side.
    with ThreadPoolExecutor(max_workers=get_settings().max_workers, thread_name_prefix="dedupe") as pool:
        list(pool.map(lambda m: _move_duplicates_to_quarantine(ctx, *m), moves))
    return [json.loads(pq.read_schema(p, filesystem=lake.fs).metadata[COUNTS_KEY]) for p in paths]


def _move_duplicates_to_quarantine(ctx: RunContext, part: str, path: str, source: str, rows: np.ndarray) -> None:
    """Rows `rows` of one committed items partition move to its quarantine partition (counts updated)."""
    lake = resources.lake(ctx.lake_root)
    table = lake.read(path)
    counts = json.loads(table.schema.metadata[COUNTS_KEY])
    dup = table.take(pa.array(rows)).to_pandas()
    q_path = lake.part_path("quarantine", ctx.day, ctx.run_key, part)
    # row_number -2-k: the k-th row of the ingested items partition (its source row is not kept with items)
    where = np.array([f"item_id seen in an earlier partition (row {k} of items {part})" for k in rows], dtype=object)
    extra = ingest.quarantine_frame(dup.set_index(pd.Index(-2 - np.asarray(rows))), source,
                                    np.full(len(rows), "duplicate_item_id", dtype=object), where, ctx.run_id)  # fmt: skip
    quarantine = pd.concat([lake.read(q_path).to_pandas(), extra], ignore_index=True)
    counts.update(processed=counts["processed"] - len(rows), quarantined=counts["quarantined"] + len(rows),
                  views=counts["views"] - int(dup["views"].sum()))  # fmt: skip
    counts["quarantined.duplicate_item_id"] = counts.get("quarantined.duplicate_item_id", 0) + len(rows)
    # Quarantine first: a crash in between leaves the duplicate in both places, and the re-run moves it again.
    lake.write(ingest.quarantine_table(quarantine), "quarantine", ctx.day, ctx.run_key, part)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows] = False
    kept = table.filter(pa.array(keep))
    lake.write(kept.replace_schema_metadata({**table.schema.metadata, COUNTS_KEY: json.dumps(counts).encode()}),
               "items", ctx.day, ctx.run_key, part)  # fmt: skip


# --- gates -------------------------------------------------------------------------------------------


@task(name="gate", cache_policy=NO_CACHE)
def gate_partition(ctx: RunContext, suite: str, dataset: str, part: str) -> dict[str, Any]:
    """Validate one committed partition against a suite; a critical failure raises DataQualityError."""
    return gate_lake_partitions(ctx, suite, dataset, [part], batch_rows=0)[0]


@task(name="gate-partitions", cache_policy=NO_CACHE)
@releasing_memory
def gate_partitions(ctx: RunContext, suite: str, dataset: str, parts: list[str], batch_rows: int) -> list[dict[str, Any]]:
    """Validate a stage's committed partitions, several per Great Expectations call; a critical failure raises
    DataQualityError naming the partition it is in."""
    return gate_lake_partitions(ctx, suite, dataset, parts, batch_rows)


def gate_lake_partitions(ctx: RunContext, suite: str, dataset: str, parts: list[str],
                         batch_rows: int) -> list[dict[str, Any]]:  # fmt: skip
    """Validate partitions in batches of up to `batch_rows` rows (0: one partition per batch).

    A GX validation costs about 15 ms per expectation whatever the row count, so a 20-expectation suite
    over ten 100k-row partitions costs several seconds in overhead alone when called per partition; batching
    keeps that to one call per batch while memory stays bounded by `batch_rows`. When a batch fails, its
    partitions are checked one by one so the error names the partition (and a failure that only shows
    across partitions, e.g. a duplicate id, names the batch).
    """
    from modsweep.tasks.gates import DataQualityError, check_gate, validate_frame

    lake = resources.lake(ctx.lake_root)
    paths = {part: lake.part_path(dataset, ctx.day, ctx.run_key, part) for part in parts}
    rows = {part: pq.ParquetFile(path, filesystem=lake.fs).metadata.num_rows for part, path in paths.items()}
    results = []
    for batch in _batches(parts, rows, batch_rows):
        label = batch[0] if len(batch) == 1 else f"{batch[0]}..{batch[-1]}"
        tables = [lake.read(paths[part]) for part in batch]
        if len(tables) > 1 and any(not t.schema.equals(tables[0].schema) for t in tables[1:]):
            results += [check_gate(t, suite, partition=part).to_dict() for t, part in zip(tables, batch, strict=True)]
            continue
        result = validate_frame(pa.concat_tables(tables), suite, partition=label)
        if not result.success and len(batch) > 1:
            for table, part in zip(tables, batch, strict=True):
                check_gate(table, suite, partition=part)  # raises for the partition at fault
        if not result.success:
            raise DataQualityError(result)
        results.append(result.to_dict())
    return results


def _batches(parts: list[str], rows: dict[str, int], batch_rows: int) -> list[list[str]]:
    """Consecutive partitions grouped up to `batch_rows` rows (a larger partition is a batch of its own)."""
    batches: list[list[str]] = []
    size = 0
    for part in parts:
        if batches and batch_rows and size + rows[part] <= batch_rows:
            batches[-1].append(part)
            size += rows[part]
        else:
            batches.append([part])
            size = rows[part]
    return batches


@task(name="gate-frame", cache_policy=NO_CACHE)
def gate_frame(frame: pd.DataFrame, suite: str, partition: str | None = None) -> dict[str, Any]:
    """Validate an in-memory frame (cross-partition outputs: review tasks, metrics)."""
    from modsweep.tasks.gates import check_gate

    return check_gate(frame, suite, partition=partition).to_dict()


# --- detection ---------------------------------------------------------------------------------------


def score_partition_files(ctx: RunContext, part: str, max_chars: int, chunk_rows: int = 0) -> PartitionOutcome:
    """Score one committed items partition and commit its detections and coordination signatures (runs in a
    worker process); what a resumed run finds committed is kept."""
    lake = resources.lake(ctx.lake_root)
    done = lake.ref("detections", ctx.day, ctx.run_key, part)
    signed = lake.ref("signatures", ctx.day, ctx.run_key, part) is not None
    if done is not None and signed:
        return PartitionOutcome(part, done.rows, {}, reused=True)
    found, signatures = score_rows(ctx, part, 0, None, max_chars, chunk_rows, signatures_only=done is not None)
    if not signed:
        _commit_signatures(ctx, part, signatures)
    if done is not None:
        return PartitionOutcome(part, done.rows, {}, reused=True)
    return _commit_detections(ctx, part, found)


def score_rows(ctx: RunContext, part: str, start: int, stop: int | None, max_chars: int, chunk_rows: int,
               signatures_only: bool = False) -> tuple[pd.DataFrame | None, pd.DataFrame]:  # fmt: skip
    """Detections and coordination signatures of rows [start, stop) of a committed items partition (a worker's
    share of it); every detector looks at one item at a time, so slices add up to the whole partition."""
    lake = resources.lake(ctx.lake_root)
    bank = resources.bank_for(ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version, ctx.policy_sha256)
    table = lake.read(lake.part_path("items", ctx.day, ctx.run_key, part))
    items = table.slice(start, None if stop is None else stop - start).to_pandas()
    max_age = max((int(p.get("max_account_age_days", 30)) for _, _, p, _ in bank.coordination), default=-1)
    signatures = detect.coordination_signatures(items, max_age) if bank.coordination else pd.DataFrame()
    if signatures_only:
        return None, signatures
    return detect.detect_in_chunks(items, bank, ctx.run_id, max_chars=max_chars, chunk_rows=chunk_rows), signatures


def _commit_signatures(ctx: RunContext, part: str, signatures: pd.DataFrame) -> None:
    """A partition's coordination signatures go to the lake (read back by the day-wide clustering), not through
    the flow, which keeps every task's result until the run ends."""
    table = pa.Table.from_pandas(signatures, preserve_index=False) if len(signatures.columns) else pa.table({})
    resources.lake(ctx.lake_root).write(table, "signatures", ctx.day, ctx.run_key, part)


def _commit_detections(ctx: RunContext, part: str, found: pd.DataFrame) -> PartitionOutcome:
    ref = resources.lake(ctx.lake_root).write(_table(found, DETECTIONS), "detections", ctx.day, ctx.run_key, part)
    counts = {f"detections.{k}": int(v) for k, v in found["detector_id"].value_counts().items()}
    return PartitionOutcome(part, ref.rows, counts)


def detect_slices(partitions: int) -> int:
    """Slices each partition is scored in: 1, unless a day has fewer partitions than worker processes (a one-file
    day would otherwise keep one core busy)."""
    processes = get_settings().detect_processes or os.cpu_count() or 1
    return max(1, processes // max(partitions, 1))


@task(name="detect-partition", cache_policy=NO_CACHE)
def detect_partition(ctx: RunContext, part: str, slices: int = 1) -> PartitionOutcome:
    """Run every per-item detector on one partition and commit its detections and coordination signatures.
    With `slices` > 1 its rows are scored side by side in that many worker processes, then committed whole."""
    settings = get_settings()
    lake = resources.lake(ctx.lake_root)
    committed = [lake.ref(d, ctx.day, ctx.run_key, part) is not None for d in ("detections", "signatures")]
    if slices <= 1 or _cpu_pool() is None or any(committed):
        return on_cpu(score_partition_files, ctx, part, settings.max_scoring_chars, settings.detect_chunk_rows)
    rows = lake.ref("items", ctx.day, ctx.run_key, part).rows  # type: ignore[union-attr]
    edges = np.linspace(0, rows, slices + 1).astype(int)
    with ThreadPoolExecutor(max_workers=slices, thread_name_prefix="detect-slice") as pool:
        scored = list(pool.map(lambda b: on_cpu(score_rows, ctx, part, int(b[0]), int(b[1]), settings.max_scoring_chars,
                                                settings.detect_chunk_rows), itertools.pairwise(edges)))  # fmt: skip
    _commit_signatures(ctx, part, pd.concat([sig for _, sig in scored], ignore_index=True))
    return _commit_detections(ctx, part, pd.concat([f for f, _ in scored], ignore_index=True))


@task(name="cluster-coordinated-behaviour", cache_policy=NO_CACHE)
@releasing_memory
def cluster_coordinated_behaviour(ctx: RunContext, parts: list[str]) -> PartitionOutcome:
    """Cross-partition near-duplicate bursts → detections of the coordination policies (from the partitions'
    committed signatures)."""
    lake = resources.lake(ctx.lake_root)
    done = lake.ref("detections", ctx.day, ctx.run_key, COORDINATION_PART)
    if done is not None:
        return PartitionOutcome(COORDINATION_PART, done.rows, {}, reused=True)
    bank = resources.bank_for(ctx.pack, ctx.profile, ctx.models_dir, ctx.model_version, ctx.policy_sha256)
    signatures = (lake.read(lake.part_path("signatures", ctx.day, ctx.run_key, p)) for p in parts)
    sigs = [s.to_pandas() for s in signatures if s.num_rows]
    found = detect.cluster_coordination(pd.concat(sigs, ignore_index=True) if sigs else pd.DataFrame(), bank, ctx.run_id)
    ref = lake.write(_table(found, DETECTIONS), "detections", ctx.day, ctx.run_key, COORDINATION_PART)
    clusters = found["evidence"].str.extract(r'"cluster_id": "([^"]+)"')[0].nunique() if len(found) else 0
    return PartitionOutcome(COORDINATION_PART, ref.rows, {"coordinated_items": ref.rows, "clusters": int(clusters)})


# --- decisions and sampling --------------------------------------------------------------------------


@dataclass
class DecideOutcome:
    """A decided partition: counts and its QA strata populations (its sample candidates are in the lake)."""

    outcome: PartitionOutcome
    populations: pd.DataFrame


def qa_keep_per_stratum(ctx: RunContext) -> int:
    """QA candidates kept per stratum and partition: the largest per-stratum sample the profile can ask for."""
    return int(get_settings().qa_cap * resources.pack(ctx.pack, ctx.profile, ctx.model_version).profile_spec.qa_multiplier)


@task(name="decide-partition", cache_policy=NO_CACHE)
def decide_partition(ctx: RunContext, part: str, automation_paused: list[str], keep_per_stratum: int,
                     total_views: int) -> DecideOutcome:  # fmt: skip
    """Combine detector scores into decisions and collect this partition's QA-sampling strata."""
    n_prevalence = int(get_settings().prevalence_sample_size * resources.pack(ctx.pack, ctx.profile, ctx.model_version).profile_spec.qa_multiplier)
    return on_cpu(decide_partition_files, ctx, part, automation_paused, keep_per_stratum, total_views, n_prevalence)


def decide_partition_files(ctx: RunContext, part: str, automation_paused: list[str], keep_per_stratum: int,
                           total_views: int, n_prevalence: int) -> DecideOutcome:  # fmt: skip
    """The body of `decide_partition` (runs in a worker process when there is a pool)."""
    lake = resources.lake(ctx.lake_root)
    p = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    items = lake.read(lake.part_path("items", ctx.day, ctx.run_key, part), columns=decide.ITEM_COLUMNS_FOR_DECISIONS).to_pandas()
    found = lake.read(lake.part_path("detections", ctx.day, ctx.run_key, part), columns=["item_id", "policy_id", "detector_id", "score"]).to_pandas()
    coord_path = lake.part_path("detections", ctx.day, ctx.run_key, COORDINATION_PART)
    coordinated = lake.read(coord_path, columns=["item_id", "policy_id", "detector_id", "score"])
    ids = coordinated.column("item_id")
    mine = pc.is_in(ids, value_set=pa.array(items["item_id"].to_numpy(dtype=object), type=ids.type))
    found = pd.concat([found, coordinated.filter(mine).to_pandas()], ignore_index=True)
    scores = decide.policy_scores(items["item_id"], found, [pol.id for pol in p.policies()],
                                  decide.non_enforcing_detectors(p))  # fmt: skip
    done = lake.ref("decisions", ctx.day, ctx.run_key, part)
    if done is not None:
        decisions = lake.read(done).to_pandas()
        reused = True
    else:
        decisions = decide.decide_partition(items, scores, p, run_key=ctx.run_key, run_id=ctx.run_id,
                                            decided_at=datetime.now(UTC), automation_paused=frozenset(automation_paused))  # fmt: skip
        lake.write(_table(decisions, DECISIONS), "decisions", ctx.day, ctx.run_key, part)
        reused = False
    hashed = sample.id_hashes(items["item_id"].to_numpy(dtype=object), ctx.seed)  # one hash for both samples' keys
    scores = scores[[pol.id for pol in p.policies()]]  # sampling strata by policy score (not the enforce columns)
    populations, candidates = sample.partition_strata(items["item_id"], items["region"], scores, decisions,
                                                      seed=ctx.seed, keep_per_stratum=keep_per_stratum, hashed=hashed)  # fmt: skip
    prevalence = sample.prevalence_candidates(items, scores, seed=ctx.seed, n_per_policy=n_prevalence,
                                              total_views=total_views, hashed=hashed)  # fmt: skip
    attrs = items[["item_id", "region", "language", "views", "user_reports"]]
    # Sample candidates go to the lake, not back to the flow (which keeps every task's result until it ends);
    # a resumed run keeps the committed ones (they are the same: the keys depend on the run key only).
    for name, frame in ((f"qa-{part}", candidates), (f"prevalence-{part}", prevalence)):
        if lake.ref("candidates", ctx.day, ctx.run_key, name) is None:
            table = pa.Table.from_pandas(frame.merge(attrs, on="item_id", how="left"), preserve_index=False)
            lake.write(table, "candidates", ctx.day, ctx.run_key, name)
    counts = {f"actions.{a}": int(n) for a, n in decisions["action"].value_counts().items()}
    return DecideOutcome(PartitionOutcome(part, len(decisions), counts, reused=reused), populations)


@task(name="find-removals-over-ceiling", cache_policy=NO_CACHE, **IO_RETRIES)
def find_removals_over_ceiling(ctx: RunContext) -> tuple[pd.DataFrame, str]:
    """Policy × region pairs above the removal ceiling, and the markdown an approver will see."""
    lake = resources.lake(ctx.lake_root)
    decisions = lake.read_all("decisions", ctx.day, ctx.run_key,
                              columns=["item_id", "policy_id", "region", "action", "automated", "score"]).to_pandas()  # fmt: skip
    ceiling = get_settings().removal_ceiling
    over = approval.removals_over_ceiling(decisions, ceiling)
    return over, approval.approval_request_markdown(over, decisions, ceiling) if len(over) else ""


APPROVAL_ANSWER_EVENT = "removals.approval.answer"


@task(name="read-approval-answer", cache_policy=NO_CACHE, **IO_RETRIES)
def recorded_approval(ctx: RunContext) -> dict[str, Any] | None:
    """The answer `modsweep approve` recorded for this run key (audit log), if any: approve, approver, note."""
    entry = store.latest_audit_entry(resources.store_engine(), event=APPROVAL_ANSWER_EVENT, subject=ctx.run_key)
    if entry is None:
        return None
    return {"approve": bool(entry["payload"].get("approve")), "approver": entry["actor"],
            "note": str(entry["payload"].get("note") or "")}  # fmt: skip


@task(name="route-held-removals-to-review", cache_policy=NO_CACHE, **IO_RETRIES)
def route_held_removals_to_review(ctx: RunContext, over: pd.DataFrame) -> int:
    """Rewrite the decision partitions so the held removals become escalations (idempotent)."""
    lake = resources.lake(ctx.lake_root)
    changed = 0
    for path in lake.parts("decisions", ctx.day, ctx.run_key):
        decisions = lake.read(path).to_pandas()
        rewritten, n = approval.route_removals_to_review(decisions, over)
        if n:
            lake.write(_table(rewritten, DECISIONS), "decisions", ctx.day, ctx.run_key, Path(path).stem)
            changed += n
    return changed


@task(name="read-paused-policies", cache_policy=NO_CACHE, **IO_RETRIES)
def read_paused_policies() -> list[str]:
    """Policies whose automation the circuit breaker has paused (their actions go to review)."""
    return store.paused_policies(resources.store_engine())


@task(name="persist-decisions", cache_policy=NO_CACHE, **IO_RETRIES)
@releasing_memory
def persist_decisions(ctx: RunContext) -> dict[str, int]:
    """Write the run's decisions to the store, partition by partition in one transaction (memory bounded by a
    partition); the unique decision id makes this idempotent."""
    lake = resources.lake(ctx.lake_root)
    parts = lake.parts("decisions", ctx.day, ctx.run_key)
    frames = (lake.read(p).to_pandas().assign(day=ctx.day) for p in parts)
    rows, inserted = store.insert_decision_frames(resources.store_engine(), frames)
    return {"decisions": rows, "decisions_inserted": inserted}


@task(name="draw-review-sample", cache_policy=NO_CACHE, **IO_RETRIES)
@releasing_memory
def draw_review_sample(ctx: RunContext, decided: list[DecideOutcome]) -> dict[str, Any]:
    """Route escalations into queues, draw the stratified QA sample, store the tasks (idempotent)."""
    settings = get_settings()
    populations = pd.concat([d.populations for d in decided], ignore_index=True)
    populations = populations.groupby(["stratum", "region"], as_index=False)["population"].sum()
    lake = resources.lake(ctx.lake_root)
    parts = [d.outcome.part for d in decided]
    keep = qa_keep_per_stratum(ctx)
    candidates: pd.DataFrame | None = None
    for part in parts:  # folded in a partition at a time: memory is strata × keep rows, not the day's candidates
        found = lake.read(lake.part_path("candidates", ctx.day, ctx.run_key, f"qa-{part}")).to_pandas()
        both = found if candidates is None else pd.concat([candidates, found], ignore_index=True)
        candidates = sample.smallest_keys(both, keep)
    p = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    decisions = lake.read_all("decisions", ctx.day, ctx.run_key, columns=["item_id", "policy_id", "score", "action", "region",
                                                                          "language", "views", "user_reports"])  # fmt: skip
    escalations = decisions.filter(pc.equal(decisions["action"], "escalate")).to_pandas()
    sizes = sample.qa_sample_sizes(populations.groupby("stratum")["population"].sum(), half_width=settings.qa_half_width,
                                   floor=settings.qa_floor, cap=settings.qa_cap, multiplier=p.profile_spec.qa_multiplier)  # fmt: skip
    qa = sample.draw_qa_sample(populations, candidates, sizes)
    prevalence = pd.concat([lake.read(lake.part_path("candidates", ctx.day, ctx.run_key, f"prevalence-{part}")).to_pandas()
                            for part in parts], ignore_index=True)  # fmt: skip
    sampled = pd.concat([qa, prevalence], ignore_index=True)
    if ctx.golden_dir:
        n_golden = int(np.ceil(settings.golden_rate * len(sampled)))
        known = read_golden_set(ctx.golden_dir)
        items = _items_among(lake, ctx, known["item_id"], ["item_id", "region", "language", "views", "user_reports"])
        golden = sample.golden_tasks(known, items["item_id"], n_golden, seed=ctx.seed)
        sampled = pd.concat([sampled, golden.merge(items, on="item_id", how="left")], ignore_index=True)
    attr_cols = ["item_id", "region", "language", "views", "user_reports"]
    attrs = pd.concat([escalations[attr_cols], sampled[attr_cols]]).drop_duplicates("item_id")
    tasks = sample.build_review_tasks(escalations, sampled.drop(columns=attr_cols[1:]), attrs, p,
                                      double_review_share=settings.double_review_share, seed=ctx.seed,
                                      id_key=settings.hmac_key.get_secret_value().encode(),
                                      run_id=ctx.run_id, run_key=ctx.run_key, now=datetime.now(UTC))  # fmt: skip
    engine = resources.store_engine()
    done = lake.ref("review_tasks", ctx.day, ctx.run_key, "tasks")
    if done is None:
        carried = store.fetch_review_tasks(engine, status="carried_over")
        carried = carried[carried["run_key"] != ctx.run_key]
        tasks, reopen = sample.apply_queue_capacity(tasks, carried, settings.review_capacity_per_queue)
        reopened = store.reopen_carried_over(engine, reopen)
        lake.write(_table(tasks, REVIEW_TASKS), "review_tasks", ctx.day, ctx.run_key, "tasks")
    else:  # resumed: the committed sample is the one of record
        tasks = lake.read(done).to_pandas()
        reopened = 0
    rows = tasks.assign(day=ctx.day, carry_over_reason=np.where(tasks["status"] == "carried_over",
                        f"queue capacity {settings.review_capacity_per_queue}/day reached", None))  # fmt: skip
    inserted = store.insert_review_tasks(engine, rows)
    lake.write(pa.Table.from_pandas(populations, preserve_index=False), "samples", ctx.day, ctx.run_key, "populations")
    by_reason = tasks.groupby(["reason", "status"]).size()
    return {"review_tasks": len(tasks), "review_tasks_inserted": inserted, "carried_over_reopened": reopened,
            **{f"tasks.{r}.{s}": int(n) for (r, s), n in by_reason.items()}}  # fmt: skip


def _items_among(lake: Any, ctx: RunContext, item_ids: pd.Series, columns: list[str]) -> pd.DataFrame:
    """The run's items whose id is in `item_ids`, read a partition at a time (not the whole day's ids)."""
    wanted = pa.array(item_ids.dropna().astype(str).unique(), type=pa.string())
    tables = []
    for path in lake.parts("items", ctx.day, ctx.run_key):
        table = lake.read(path, columns=columns)
        tables.append(table.filter(pc.is_in(table["item_id"], value_set=wanted.cast(table.schema.field("item_id").type))))
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


def sampled_tasks(ctx: RunContext, engine: Any) -> pd.DataFrame:
    """The run's committed review sample as stored now (status, labels, reviewers).

    A task id is item × policy × reason × replica, so a task of this sample may have been stored first by
    another run (a surge after the daily sweep of the same day): it keeps that run's key in the store, but
    belongs to this sample too, with this run's stratum and inclusion probability (what its estimates need).
    """
    own = store.fetch_review_tasks(engine, run_key=ctx.run_key)
    ref = resources.lake(ctx.lake_root).ref("review_tasks", ctx.day, ctx.run_key, "tasks")
    if ref is None:
        return own
    design = resources.lake(ctx.lake_root).read(ref, columns=["task_id", "stratum", "inclusion_prob"]).to_pandas()
    elsewhere = design[~design["task_id"].isin(own["task_id"])]
    if elsewhere.empty:
        return own
    shared = store.fetch_review_tasks(engine, task_ids=elsewhere["task_id"].tolist())
    shared = shared.drop(columns=["stratum", "inclusion_prob"]).merge(elsewhere, on="task_id", how="left")
    return pd.concat([own, shared[own.columns]], ignore_index=True)


@task(name="simulate-reviews", cache_policy=NO_CACHE, **IO_RETRIES)
def simulate_reviews(ctx: RunContext, truth_dir: str) -> dict[str, int]:
    """Play simulated reviewers against ground truth and import their outcomes like a real export would be."""
    settings = get_settings()
    engine = resources.store_engine()
    tasks = sampled_tasks(ctx, engine)
    tasks = tasks[tasks["status"] == "open"]
    truth_files = sorted(Path(truth_dir).rglob("*.parquet"))
    truth = pd.concat([pd.read_parquet(f, columns=["item_id", "policy_id"]) for f in truth_files], ignore_index=True) \
        if truth_files else pd.DataFrame(columns=["item_id", "policy_id"])  # fmt: skip
    outcomes = review.simulate_outcomes(tasks, truth, accuracy=settings.reviewer_accuracy,
                                        false_positive_rate=settings.reviewer_false_positive_rate, seed=ctx.seed)
    result = store.apply_review_outcomes(engine, outcomes)
    return {"reviews_applied": result.applied, "reviews_unchanged": result.unchanged, "reviews_rejected": result.rejected}


@task(name="audit-quality", cache_policy=NO_CACHE, **IO_RETRIES)
@releasing_memory
def audit_quality(ctx: RunContext, baseline_days: int = 7) -> pd.DataFrame:
    """Quality metrics with CIs from the run's decided review tasks, plus drift and volume against the
    completed runs of the same flow in the previous `baseline_days` days."""
    lake = resources.lake(ctx.lake_root)
    engine = resources.store_engine()
    populations = lake.read(lake.part_path("samples", ctx.day, ctx.run_key, "populations")).to_pandas()
    tasks = sampled_tasks(ctx, engine)
    decided = tasks[(tasks["status"] == "decided") & (tasks["replica"] == 0)]
    qa = decided[decided["reason"].str.startswith("qa_")]
    views, n_items = _views_by_region(lake, ctx)
    decisions = lake.read_all("decisions", ctx.day, ctx.run_key, columns=["policy_id", "automated", "user_reports"]).to_pandas()
    since = datetime.combine(ctx.day - timedelta(days=baseline_days), datetime.min.time(), tzinfo=UTC)
    earlier = [r for r in store.list_runs(engine, flow=ctx.flow, state="completed", since=since, limit=200)
               if r["run_key"] != ctx.run_key and run_day(r) is not None and run_day(r) < ctx.day]  # fmt: skip
    baseline_pops = [_populations_of(lake, r) for r in earlier]
    baseline = pd.concat([b for b in baseline_pops if b is not None] or [pd.DataFrame(columns=populations.columns)])
    volumes = [int(r["stage_counts"].get("ingest", {}).get("processed", 0)) for r in earlier]
    kw = {"day": ctx.day, "run_id": ctx.run_id}
    golden = read_golden_set(ctx.golden_dir) if ctx.golden_dir else pd.DataFrame(columns=["item_id", "policy_id", "label"])
    return pd.concat([
        audit.quality_metrics(qa, populations, **kw),
        audit.violative_view_rate(decided[decided["reason"] == "prevalence"], views, **kw),
        audit.review_metrics(tasks, **kw),
        audit.proactive_rate(decisions, **kw),
        audit.score_drift(populations, baseline, **kw),
        audit.golden_accuracy(decided[decided["reason"] == "golden"], golden, **kw),
        audit.volume_anomaly(n_items, volumes, **kw),
    ], ignore_index=True)  # fmt: skip


def _views_by_region(lake: Any, ctx: RunContext) -> tuple[pd.Series, int]:
    """Views per region and the item count of the run's items, a partition at a time (memory: one partition)."""
    sums, n = [], 0
    for path in lake.parts("items", ctx.day, ctx.run_key):
        table = lake.read(path, columns=["region", "views"])
        sums.append(table.group_by("region").aggregate([("views", "sum")]).to_pandas())
        n += table.num_rows
    if not sums:
        return pd.Series(dtype=np.int64, name="views"), 0
    views = pd.concat(sums).groupby("region")["views_sum"].sum().rename("views")
    return views, n


def _populations_of(lake: Any, run: dict[str, Any]) -> pd.DataFrame | None:
    day = run_day(run)
    if day is None:
        return None
    ref = lake.ref("samples", day, run["run_key"], "populations")
    return lake.read(ref).to_pandas() if ref is not None else None


@task(name="apply-findings", cache_policy=NO_CACHE, **IO_RETRIES)
def apply_findings(ctx: RunContext, metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """Findings against the pack's floors; a precision finding trips the policy's circuit breaker."""
    p = resources.pack(ctx.pack, ctx.profile, ctx.model_version)
    found = audit.findings(metrics, {pol.id: pol.precision_floor for pol in p.policies()})
    engine = resources.store_engine()
    for f in found:
        if f["kind"] == "precision_below_floor":
            reason = (f"audited automated precision {f['value']:.3f} (95% CI upper {f['ci_high']:.3f}, n={f['n']}) "
                      f"below the floor {f['floor']:.2f} in run {ctx.run_id}")  # fmt: skip
            f["circuit_breaker_tripped"] = store.set_policy_automation(
                engine, str(f["policy_id"]), state="paused", reason=reason, changed_by="circuit-breaker", run_id=ctx.run_id)
    found = findings.with_text(findings.annotate(found, metrics))  # one sentence each, the same in every view
    if found:
        store.append_audit(engine, actor="system", event="audit.findings", subject=ctx.run_id,
                           payload={"run_key": ctx.run_key, "findings": findings.sentences(found),
                                    "circuit_breaker_tripped": [f["policy_id"] for f in found
                                                                if f.get("circuit_breaker_tripped")]})  # fmt: skip
    return found


@task(name="persist-metrics", cache_policy=NO_CACHE, **IO_RETRIES)
def persist_metrics(ctx: RunContext, metrics: pd.DataFrame) -> int:
    lake = resources.lake(ctx.lake_root)
    lake.write(pa.Table.from_pandas(metrics[list(METRICS.names)], schema=METRICS, preserve_index=False),
               "metrics", ctx.day, ctx.run_key, "metrics")  # fmt: skip
    return store.insert_metrics(resources.store_engine(), metrics.assign(run_key=ctx.run_key))


@task(name="summarise-outputs", cache_policy=NO_CACHE, **IO_RETRIES)
def summarise_outputs(ctx: RunContext) -> dict[str, Any]:
    """Actions by policy (from the lake) and review tasks by reason and status (from the store)."""
    lake = resources.lake(ctx.lake_root)
    decisions = lake.read_all("decisions", ctx.day, ctx.run_key, columns=["policy_id", "action"]).to_pandas()
    actions = {p: {a: int(n) for a, n in g["action"].value_counts().items()} for p, g in decisions.groupby("policy_id")}
    tasks = store.fetch_review_tasks(resources.store_engine(), run_key=ctx.run_key)
    by_state = {f"{r}.{s}": int(n) for (r, s), n in tasks.groupby(["reason", "status"]).size().items()} if len(tasks) else {}
    return {"actions": actions, "review_tasks": by_state}


@task(name="read-live-run-automation", cache_policy=NO_CACHE, **IO_RETRIES)
def paused_during_live_run(live_run_key: str) -> list[str]:
    """Policies whose automation was paused when the live run of this key decided (a shadow decides the same
    way); the current state when there is no completed live run (the comparison then says so)."""
    engine = resources.store_engine()
    live = store.last_completed_run(engine, live_run_key)
    if live is None:
        return store.paused_policies(engine)
    return sorted(((live.get("stage_counts") or {}).get("audit") or {}).get("automation_paused_during_run") or [])


@task(name="compare-with-live", cache_policy=NO_CACHE, **IO_RETRIES)
def compare_with_live(ctx: RunContext, live_run_key: str, decided_paused: list[str]) -> dict[str, Any]:
    """Diff this (shadow) run's decisions against the live run's, with expected precision from past reviews;
    the circuit breaker's effects (`decided_paused`: the live run's paused policies) are reported apart."""
    from prefect.artifacts import create_markdown_artifact

    from modsweep.tasks import shadow

    lake = resources.lake(ctx.lake_root)
    cols = ["item_id", "policy_id", "action", "score", "automated", "region"]
    candidate = lake.read_all("decisions", ctx.day, ctx.run_key, columns=cols).to_pandas()
    live_parts = lake.parts("decisions", ctx.day, live_run_key)
    if not live_parts:
        raise FileNotFoundError(f"no live decisions for {ctx.day} (run key {live_run_key}): run the daily sweep first")
    live = lake.read_all("decisions", ctx.day, live_run_key, columns=cols).to_pandas()
    diff = shadow.diff_decisions(live, candidate)
    engine = resources.store_engine()
    reviewed = store.fetch_review_tasks(engine, status="decided")
    summary = shadow.summarise_diff(diff, shadow.band_precision(reviewed[reviewed["replica"] == 0]))
    paused_now = store.paused_policies(engine)
    if len(summary):
        summary = shadow.with_automation(summary, candidate, decided_paused, paused_now)
    notes = shadow.automation_notes(summary, decided_paused, paused_now) if len(summary) else []
    out_dir = get_settings().reports_dir / ctx.day.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"shadow-{ctx.run_key}.csv"
    summary.to_csv(path, index=False)
    lake.write(pa.Table.from_pandas(diff.astype({"score_live": "float64", "score_candidate": "float64"}), preserve_index=False),
               "samples", ctx.day, ctx.run_key, "shadow-diff")  # fmt: skip
    table = shadow.markdown_table(summary.drop(columns="examples").round(3)) if len(summary) else "no decisions"
    notes_md = "".join(f"\n- {approval.markdown_text(n)}" for n in notes)
    create_markdown_artifact(key=f"shadow-{ctx.run_key}", markdown=f"# Shadow run vs live ({live_run_key})\n\n{table}\n{notes_md}",
                             description="Candidate pack vs live pack")  # fmt: skip
    actions = {p: {a: int(n) for a, n in g["action"].value_counts().items()} for p, g in candidate.groupby("policy_id")}
    records = summary.drop(columns="examples")
    records = records.astype(object).where(records.notna(), None).to_dict("records")  # NaN is not JSON
    return {"report": str(path), "live_run_key": live_run_key, "policies": records, "candidate_actions": actions,
            "automation": {"compared_paused": decided_paused, "paused_now": paused_now}, "notes": notes}
