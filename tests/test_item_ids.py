"""Item ids travel byte for byte: source → lake → decisions store → review export (none is stripped or merged)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from modsweep import resources, store

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

SUFFIXES = ["", " ", "\u2029", "\t", "\u00a0", "  "]


def _source_with_whitespace_ids(synthetic_day: dict, folder: Path) -> list[str]:
    """One synthetic partition whose ids end in whitespace (cycling), plus `dup`/`dup ` as two distinct ids."""
    first = sorted(Path(synthetic_day["items"]).rglob("*.parquet"))[0]
    table = pq.read_table(first)
    ids = [f"{v}{SUFFIXES[k % len(SUFFIXES)]}" for k, v in enumerate(table.column("item_id").to_pylist())]
    ids[0], ids[1] = "dup", "dup "
    table = table.set_column(table.schema.get_field_index("item_id"), "item_id", pa.array(ids, pa.string()))
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return ids


def test_ids_ending_in_whitespace_reach_lake_store_and_exports_unchanged(sweep_home, synthetic_day, tmp_path):
    from modsweep.flows.daily_sweep import daily_sweep

    ids = _source_with_whitespace_ids(synthetic_day, tmp_path / "src")
    summary = daily_sweep(
        day=synthetic_day["day"], source=str(tmp_path / "src"), trigger="manual", requested_by="pytest"
    )
    source_ids = set(ids)
    lake = resources.lake()
    items = lake.read_all("items", synthetic_day["day"], summary.run_key, columns=["item_id"]).column("item_id")
    kept = set(items.to_pylist())
    assert kept <= source_ids and {"dup", "dup "} <= kept
    quarantined = lake.read_all("quarantine", synthetic_day["day"], summary.run_key, columns=["reason"])
    assert "duplicate_item_id" not in set(quarantined.column("reason").to_pylist())
    assert summary.items_processed == len(kept) and pc.count_distinct(items).as_py() == len(kept)

    decisions = store.fetch_decisions(resources.store_engine(), run_key=summary.run_key)
    assert len(decisions) and set(decisions["item_id"]) <= kept
    assert {i[-1] for i in decisions["item_id"] if i[-1].isspace()}, "some decided ids end in whitespace"

    out = tmp_path / "export"
    result = CliRunner().invoke(
        __import__("modsweep.cli", fromlist=["app"]).app, ["reviews", "export", "--out", str(out), "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    exported = [json.loads(line)["item_id"] for f in out.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert exported and set(exported) <= kept
