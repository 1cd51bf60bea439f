"""The run catalog (DESIGN §9): every lake dataset of a sweep declared once, and bound to one run.

A `Dataset` names its pyarrow schema (None: the stage defines the columns), how it is partitioned, its key
columns and the gate suite that guards it. A `RunCatalog` binds the declarations to a run's day, run key and
lake root: `load`, `save`, `exists` (the only resume check) and `parts`. Counts a stage reports about a
partition (e.g. ingest's read/processed/quarantined) are saved with it as catalog metadata (a JSON sidecar
committed after the partition), never hidden in Parquet footers; tasks pass partition ids, not data.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from modsweep.lake import Lake, LakeError
from modsweep.runs import RunContext
from modsweep.schemas import (
    ACTOR_SIGNALS,
    DECISIONS,
    DETECTIONS,
    ITEMS,
    METRICS,
    QUARANTINE,
    REVIEW_TASKS,
    TREND_AGGREGATES,
    TRENDS,
)

BY_SOURCE_FILE = "one part per source file (part-00000, part-00001, …)"
WHOLE_RUN = "one part for the whole run"
BY_PART_AND_KIND = "two parts per items part (qa-<part>, prevalence-<part>)"
RADAR_DAY = "one part `day` for the run's whole day (read across run keys: tasks/trends_io.py)"


@dataclass(frozen=True)
class Dataset:
    """One lake dataset: its contract and where its quality check sits (the suite beside the data)."""

    name: str
    schema: pa.Schema | None
    partitioning: str
    keys: tuple[str, ...] = ()
    suite: str | None = None
    doc: str = ""


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("items", ITEMS, BY_SOURCE_FILE, ("item_id",), "items.ingested", "canonical items (DESIGN §3)"),
        Dataset(
            "item_ids",
            None,
            BY_SOURCE_FILE,
            ("item_id",),
            None,
            "the ids of one items part, for the day-wide duplicate search (without reading the items)",
        ),
        Dataset(
            "quarantine",
            QUARANTINE,
            BY_SOURCE_FILE,
            ("source_file", "row_number", "reason"),
            None,
            "rows that failed row-level checks, with the reason",
        ),
        Dataset(
            "detections",
            DETECTIONS,
            BY_SOURCE_FILE,
            ("item_id", "policy_id", "detector_id"),
            "detections.scored",
            "per-item detector scores of one items part; part `coordination`: the day-wide coordination clustering",
        ),
        Dataset(
            "signatures",
            None,
            BY_SOURCE_FILE,
            ("item_id",),
            None,
            "near-duplicate signatures of one items part, for the day-wide coordination clustering",
        ),
        Dataset(
            "coordination",
            DETECTIONS,
            BY_SOURCE_FILE,
            ("item_id", "policy_id", "detector_id"),
            None,
            "one items part's share of the day-wide coordination detections (read by its decide; gated whole as "
            "`detections/coordination`)",
        ),
        Dataset("decisions", DECISIONS, BY_SOURCE_FILE, ("decision_id",), "decisions.made", "DESIGN §5"),
        Dataset(
            "candidates",
            None,
            BY_PART_AND_KIND,
            ("item_id", "policy_id"),
            None,
            "QA and prevalence sample candidates of one decided part",
        ),
        Dataset(
            "strata", None, BY_SOURCE_FILE, ("stratum", "region"), None, "QA strata populations of one decided part"
        ),
        Dataset("review_tasks", REVIEW_TASKS, WHOLE_RUN, ("task_id",), "review.sampled", "the run's review sample"),
        Dataset(
            "metrics",
            METRICS,
            WHOLE_RUN,
            ("policy_id", "region", "metric"),
            "metrics.audited",
            "audit metrics with their intervals",
        ),
        Dataset("samples", None, WHOLE_RUN, (), None, "day-wide strata populations (`populations`), shadow diffs"),
        Dataset(
            "actor_weights",
            None,
            WHOLE_RUN,
            ("author_id",),
            None,
            "authors' active strike weight before the run's day (part `weights`), read by decide (DESIGN §10)",
        ),
        Dataset(
            "actor_risk",
            ACTOR_SIGNALS,
            BY_SOURCE_FILE,
            ("item_id",),
            None,
            "one decided part's actor signals (active weight, priority multiplier, escalation offset; DESIGN §10)",
        ),
        Dataset(
            "trend_aggregates",
            TREND_AGGREGATES,
            RADAR_DAY,
            ("region", "language", "kind", "signal"),
            None,
            "the radar's compact daily signal counts and exposure; later days read these as their baseline",
        ),
        Dataset(
            "trends",
            TRENDS,
            RADAR_DAY,
            ("region", "language", "kind", "signal"),
            None,
            "emerging-risk signals of the run's day (DESIGN §11), also in the SQL `trends` table",
        ),
    )
}
# The day-wide coordination detections, kept as the `coordination` part of `detections` (gated whole); a decide
# partition, and policy diff's re-decision of it, reads only its own items' share from `coordination`.
COORDINATION_PART = "coordination"


def part_name(index: int) -> str:
    """The part id of the index-th source file."""
    return f"part-{index:05d}"


def to_table(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """The one DataFrame → Arrow conversion: the schema's columns in order (unsafe casts allowed: float32 scores)."""
    if schema is None:
        return pa.Table.from_pandas(frame, preserve_index=False)
    return pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False, safe=False)


def catalog_of(ctx: RunContext) -> RunCatalog:
    """The catalog bound to a run context."""
    return RunCatalog(ctx.lake_root, ctx.day, ctx.run_key)


class RunCatalog:
    """The datasets of one run (day, run key, lake root). `reads` counts every `load` by dataset."""

    def __init__(self, lake_root: str, day: date, run_key: str) -> None:
        self.lake = Lake(lake_root)
        self.day = day
        self.run_key = run_key
        self.reads: Counter[str] = Counter()

    def dataset(self, name: str) -> Dataset:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; the catalog declares {', '.join(DATASETS)}")
        return DATASETS[name]

    def path(self, name: str, part: str) -> str:
        self.dataset(name)
        return self.lake.part_path(name, self.day, self.run_key, part)

    def _meta_path(self, name: str, part: str) -> str:
        return self.path(name, part).removesuffix(".parquet") + ".meta.json"

    def exists(self, name: str, part: str) -> bool:
        """Whether the partition is committed for this run (with its metadata): the only resume check."""
        fs = self.lake.fs
        return fs.exists(self.path(name, part)) and fs.exists(self._meta_path(name, part))

    def parts(self, name: str) -> list[str]:
        """Committed part ids of a dataset, in name order."""
        self.dataset(name)
        paths = self.lake.parts(name, self.day, self.run_key)
        return [p.rsplit("/", 1)[-1].removesuffix(".parquet") for p in paths]

    def load(self, name: str, part: str, columns: list[str] | None = None, filters: Any = None) -> pa.Table:
        """One committed partition (optionally some columns, or rows matching pyarrow `filters`)."""
        self.reads[name] += 1
        return self._read(self.path(name, part), columns, filters)

    def _read(self, path: str, columns: list[str] | None, filters: Any) -> pa.Table:
        return pq.read_table(path, columns=columns, filters=filters, filesystem=self.lake.fs)

    def load_all(self, name: str, columns: list[str] | None = None, parts: list[str] | None = None) -> pa.Table:
        """Several committed partitions (default: all) as one table; counts as one read of the dataset."""
        self.reads[name] += 1
        names = self.parts(name) if parts is None else parts
        tables = [self._read(self.path(name, p), columns, None) for p in names]
        if not tables:
            raise LakeError(f"no {name} partitions for {self.day} / {self.run_key} under {self.lake.url}")
        return pa.concat_tables(tables, promote_options="default")

    def save(self, name: str, part: str, table: pa.Table, meta: dict[str, Any] | None = None) -> int:
        """Commit one partition atomically, then its metadata (rows, plus `meta`); returns the rows written."""
        declared = self.dataset(name).schema
        if declared is not None and not table.schema.remove_metadata().equals(declared, check_metadata=False):
            table = table.select(declared.names).cast(declared)
        self.lake.write(table, name, self.day, self.run_key, part)
        self._write_meta(name, part, {"rows": table.num_rows, **(meta or {})})
        return table.num_rows

    def meta(self, name: str, part: str) -> dict[str, Any]:
        """The metadata a committed partition was saved with (`rows` and the stage's counts)."""
        with self.lake.fs.open(self._meta_path(name, part), "rb") as fh:
            return json.loads(fh.read())

    def _write_meta(self, name: str, part: str, meta: dict[str, Any]) -> None:
        data = json.dumps(meta, sort_keys=True).encode()
        try:
            self.lake.commit(self._meta_path(name, part), lambda fh: fh.write(data))
        except OSError as exc:
            raise LakeError(f"cannot write {name} metadata of {part} under {self.lake.url}: {exc}") from exc
