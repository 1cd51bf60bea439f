"""The Parquet lake: date-partitioned datasets on a local path or any fsspec URL, committed atomically."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

DATASETS: tuple[str, ...] = (
    "items",
    "item_ids",
    "quarantine",
    "detections",
    "signatures",
    "coordination",
    "decisions",
    "candidates",
    "strata",
    "review_tasks",
    "metrics",
    "samples",
    "actor_weights",
    "actor_risk",
    "trend_aggregates",
    "trends",
)  # declared in modsweep/catalog.py


def commit_file(fs: Any, staging: str, final: str, write: Callable[[Any], object], fsync: bool = False) -> None:
    """The one atomic writer: `write(file)` fills `staging` (on filesystem `fs`), which then replaces `final`; on
    failure the staged file is removed, so a crash never leaves a half-written `final` visible."""
    try:
        fs.makedirs(PurePosixPath(staging).parent.as_posix(), exist_ok=True)
        with fs.open(staging, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        fs.mv(staging, final)
    finally:
        if fs.exists(staging):
            fs.rm(staging)


def write_file_atomically(path: Path, data: bytes) -> None:
    """`data` to a local file through a flushed sibling staging file, renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.{uuid.uuid4().hex}.partial"
    commit_file(fsspec.filesystem("file"), str(staging), str(path), lambda fh: fh.write(data), fsync=True)


class LakeError(RuntimeError):
    """The lake could not be written or read (path, permissions, space)."""


@dataclass(frozen=True)
class PartRef:
    """A committed partition file: what tasks pass to each other instead of data."""

    dataset: str
    day: date
    run_key: str
    part: str
    path: str
    rows: int


class Lake:
    """Reads and writes `<root>/<dataset>/date=YYYY-MM-DD/run_key=K/<part>.parquet`.

    Writes go to `<root>/_staging/` first and are moved into place, so a crash never
    leaves a half-written partition visible; a partition that exists is committed.
    """

    def __init__(self, root: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(root)
        self.url = root

    def _dir(self, dataset: str, day: date, run_key: str) -> str:
        if dataset not in DATASETS:
            raise ValueError(f"unknown lake dataset {dataset!r}")
        return f"{self.root}/{dataset}/date={day.isoformat()}/run_key={run_key}"

    def part_path(self, dataset: str, day: date, run_key: str, part: str) -> str:
        return f"{self._dir(dataset, day, run_key)}/{part}.parquet"

    def ref(self, dataset: str, day: date, run_key: str, part: str) -> PartRef | None:
        """The committed partition, or None if it was never committed."""
        path = self.part_path(dataset, day, run_key, part)
        if not self.fs.exists(path):
            return None
        rows = pq.ParquetFile(path, filesystem=self.fs).metadata.num_rows
        return PartRef(dataset, day, run_key, part, path, rows)

    def write(self, table: pa.Table, dataset: str, day: date, run_key: str, part: str) -> PartRef:
        """Write one partition atomically (staged file, then rename)."""
        final = self.part_path(dataset, day, run_key, part)
        try:
            self.fs.makedirs(self._dir(dataset, day, run_key), exist_ok=True)
            self.commit(final, lambda fh: pq.write_table(table, fh, compression="zstd"))
        except OSError as exc:
            raise LakeError(f"cannot write {dataset} partition {part} under {self.url}: {exc}") from exc
        return PartRef(dataset, day, run_key, part, final, table.num_rows)

    def commit(self, final: str, write: Callable[[Any], object]) -> None:
        """Write a lake file through `write` into `_staging/`, then move it to `final` (never half-written)."""
        staging = f"{self.root}/_staging/{uuid.uuid4().hex}{PurePosixPath(final).suffix}"
        commit_file(self.fs, staging, final, write)

    def read(self, ref: PartRef | str, columns: list[str] | None = None) -> pa.Table:
        path = ref.path if isinstance(ref, PartRef) else ref
        return pq.read_table(path, columns=columns, filesystem=self.fs)

    def days(self, dataset: str) -> list[date]:
        """The days a dataset has partitions for (`date=` directories), oldest first."""
        if dataset not in DATASETS:
            raise ValueError(f"unknown lake dataset {dataset!r}")
        days = set()
        for path in self.fs.glob(f"{self.root}/{dataset}/date=*"):
            try:
                days.add(date.fromisoformat(str(path).rstrip("/").rsplit("date=", 1)[1]))
            except ValueError:  # not a partition directory of this layout
                continue
        return sorted(days)

    def run_keys(self, dataset: str, day: date) -> list[str]:
        """The run keys with partitions of a dataset on a day (`run_key=` directories), in name order."""
        found = self.fs.glob(self._dir(dataset, day, "*"))
        return sorted(str(p).rstrip("/").rsplit("run_key=", 1)[1] for p in found)

    def parts(self, dataset: str, day: date, run_key: str) -> list[str]:
        """Committed partition paths of one dataset, day and run key, in name order."""
        directory = self._dir(dataset, day, run_key)
        if not self.fs.exists(directory):
            return []
        return sorted(p for p in self.fs.ls(directory, detail=False) if p.endswith(".parquet"))

    def read_all(self, dataset: str, day: date, run_key: str, columns: list[str] | None = None) -> pa.Table:
        """All committed partitions of one dataset, day and run key as one table."""
        tables = [self.read(p, columns) for p in self.parts(dataset, day, run_key)]
        if not tables:
            raise LakeError(f"no {dataset} partitions for {day} / {run_key} under {self.url}")
        return pa.concat_tables(tables, promote_options="default")
