"""The run catalog: each dataset read at most once per stage that needs it (an instrumented catalog counts the
reads of a whole sweep), metadata beside the data, and `exists` as the resume check."""

from __future__ import annotations

from collections import Counter
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from helpers.sweeps import isolated_home, run_daily, write_small_day

from modsweep.catalog import COORDINATION_PART, DATASETS, RunCatalog, to_table
from modsweep.ledger import RunRecorder
from modsweep.schemas import ITEMS

DAY = date(2026, 11, 23)


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_sweep_reads_items_decisions_and_coordination_at_most_once_per_stage_and_part(
    tmp_path: Path, synthetic_day: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: Counter[tuple[str, str, str]] = Counter()
    # The ledger stage a read belongs to: tasks run in copies of the context they were submitted in, so a task
    # started in one stage and still running in the next (the store insert beside the sample) counts in its own.
    current: ContextVar[str] = ContextVar("stage", default="start")
    enter, load, load_all = RunRecorder.enter, RunCatalog.load, RunCatalog.load_all

    def entering(self: RunRecorder, stage: str) -> None:
        current.set(stage)
        enter(self, stage)

    def counted_load(self: RunCatalog, name: str, part: str, *args: Any, **kw: Any) -> pa.Table:
        reads[(current.get(), name, part)] += 1
        return load(self, name, part, *args, **kw)

    def counted_load_all(
        self: RunCatalog, name: str, columns: list[str] | None = None, parts: list[str] | None = None
    ) -> pa.Table:
        for part in self.parts(name) if parts is None else parts:
            reads[(current.get(), name, part)] += 1
        return load_all(self, name, columns, parts)

    monkeypatch.setattr(RunRecorder, "enter", entering)
    monkeypatch.setattr(RunCatalog, "load", counted_load)
    monkeypatch.setattr(RunCatalog, "load_all", counted_load_all)
    source = write_small_day(tmp_path / "source", DAY, 2_000, 1_000, seed=5)
    with isolated_home(tmp_path, synthetic_day["models"]):  # type: ignore[arg-type]
        summary = run_daily(source)
    assert summary.state == "completed" and summary.items_processed > 0

    watched = {"items", "decisions", "coordination"}
    twice = {k: n for k, n in reads.items() if k[1] in watched and n > 1}
    assert not twice, f"read more than once in a stage: {twice}"
    by_stage = {(stage, name) for stage, name, _ in reads if name in watched}
    # Each stage that needs a dataset reads every part of it once; the ones that do not, never.
    assert ("detect", "items") in by_stage and ("decide", "items") in by_stage
    assert ("decide", "coordination") in by_stage and ("decide", "decisions") not in by_stage
    assert ("store:decisions", "decisions") in by_stage and ("sample", "decisions") in by_stage
    assert not any(
        stage == "decide" and name == "detections" and part == COORDINATION_PART for stage, name, part in reads
    )


def test_save_commits_data_then_metadata_and_exists_needs_both(tmp_path: Path) -> None:
    cat = RunCatalog(str(tmp_path / "lake"), DAY, "k")
    assert not cat.exists("items", "part-00000") and cat.parts("items") == []
    rows = cat.save("items", "part-00000", ITEMS.empty_table(), meta={"counts": {"read": 3, "processed": 0}})
    assert rows == 0 and cat.exists("items", "part-00000") and cat.parts("items") == ["part-00000"]
    assert cat.meta("items", "part-00000") == {"rows": 0, "counts": {"read": 3, "processed": 0}}
    Path(cat.path("items", "part-00000").removesuffix(".parquet") + ".meta.json").unlink()
    assert not cat.exists("items", "part-00000")  # data without its metadata is not committed: a re-run redoes it
    assert cat.reads == Counter()
    cat.load("items", "part-00000")
    assert cat.reads == Counter({"items": 1})


def test_every_dataset_is_declared_once_with_a_known_suite() -> None:
    suites = {p.stem for p in (Path(__file__).parents[1] / "expectations").glob("*.json")}
    assert {d.suite for d in DATASETS.values() if d.suite} <= suites
    assert all(name == d.name for name, d in DATASETS.items())
    with pytest.raises(ValueError, match="unknown dataset"):
        RunCatalog("/nonexistent", DAY, "k").path("nope", "p")


def test_to_table_orders_and_casts_to_the_schema() -> None:
    frame = pd.DataFrame({"b": [1.5], "a": ["x"]})
    schema = pa.schema([pa.field("a", pa.string()), pa.field("b", pa.float32())])
    table = to_table(frame, schema)
    assert table.schema.equals(schema) and table.column("b").to_pylist() == [1.5]
