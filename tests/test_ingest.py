from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modsweep.schemas import ITEMS
from modsweep.tasks.ingest import (
    SourceSchemaError,
    cross_partition_repeats,
    items_table,
    normalise_rows,
    quarantine_table,
)


def find_cross_partition_duplicates(id_lists):
    """Row positions, per partition, of ids already present in an earlier partition (the sweep's search)."""
    from modsweep.tasks.ingest import cross_partition_repeats, partition_id_hashes

    return cross_partition_repeats([partition_id_hashes(ids) for ids in id_lists], lambda k: id_lists[k])


WINDOW = (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))


def raw_rows(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "source": "test",
            "item_type": "comment",
            "author_id": [f"a{k}" for k in range(n)],
            "created_at": "2026-11-23T10:00:00Z",
            "region": "DE",
            "language": "de",
            "text": "hallo welt",
            "transcript": None,
            "ocr_text": None,
            "hashtags": [["x"]] * n,
            "media_hash": None,
            "ai_disclosed": False,
            "ai_provenance": None,
            "author_account_age_days": 100,
            "author_followers": 10,
            "views": 5,
            "user_reports": 0,
            "report_reasons": [[]] * n,
        }
    )


def run(raw: pd.DataFrame, max_chars: int = 1_000):
    return normalise_rows(
        raw, source_file="f.parquet", source_name="test", run_id="r1", window=WINDOW, max_item_chars=max_chars
    )


def test_clean_rows_pass_and_match_the_item_schema():
    result = run(raw_rows())
    assert result.counts["processed"] == 6 and result.counts["quarantined"] == 0
    assert items_table(result.items).schema.equals(ITEMS)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("item_id", None, "null_item_id"),
        ("item_id", "  ", "null_item_id"),
        ("created_at", "not-a-date", "bad_timestamp"),
        ("created_at", "2026-11-23 10:00:00", "bad_timestamp"),  # no time zone
        ("created_at", "2026-11-25T10:00:00Z", "outside_window"),
        ("item_type", "podcast", "invalid_enum"),
        ("region", "XX", "invalid_enum"),
        ("region", "usa", "invalid_enum"),
        ("language", "english", "invalid_enum"),
        ("text", "broken \ufffd text", "undecodable_text"),
        ("text", "x" * 2_000, "oversize_text"),
        ("views", -3, "invalid_value"),
        ("author_id", None, "missing_value"),
    ],
)
def test_bad_rows_are_quarantined_with_a_reason_and_nothing_is_lost(column, value, reason):
    raw = raw_rows()
    raw[column] = raw[column].astype(object)
    raw.at[2, column] = value
    result = run(raw)
    assert result.counts["read"] == result.counts["processed"] + result.counts["quarantined"] == 6
    q = result.quarantine
    assert q["reason"].tolist() == [reason]
    assert q["row_number"].tolist() == [2]
    assert json.loads(q["raw"].iloc[0])["author_id"] == raw.at[2, "author_id"]  # the original row is kept
    quarantine_table(q)  # conforms to the quarantine schema


def test_duplicate_ids_keep_the_first_occurrence():
    raw = raw_rows()
    raw.at[4, "item_id"] = "i1"
    result = run(raw)
    assert result.quarantine["reason"].tolist() == ["duplicate_item_id"]
    assert result.quarantine["row_number"].tolist() == [4]
    assert result.items["item_id"].is_unique


def test_latin1_mojibake_is_repaired_not_quarantined():
    raw = raw_rows()
    raw.at[0, "text"] = "café à la crème".encode().decode("cp1252")
    result = run(raw)
    assert result.items.loc[result.items["item_id"] == "i0", "text"].iloc[0] == "café à la crème"
    assert result.counts["mojibake_repaired"] == 1


def test_lowercase_region_is_normalised():
    raw = raw_rows()
    raw.at[0, "region"] = "de"
    assert run(raw).items["region"].tolist() == ["DE"] * 6


def test_missing_required_column_names_file_and_column():
    with pytest.raises(SourceSchemaError, match=r"f\.parquet: missing required column\(s\) \['created_at'\]"):
        run(raw_rows().drop(columns="created_at"))


def test_extra_and_missing_optional_columns_are_tolerated():
    raw = raw_rows().drop(columns=["transcript", "views"]).assign(unexpected=1)
    result = run(raw)
    assert result.counts["processed"] == 6 and result.counts["extra_columns"] == 1
    assert (result.items["views"] == 0).all()


def test_cross_partition_duplicates_are_found_in_later_partitions_only():
    out = find_cross_partition_duplicates([pd.Series(["a", "b"]), pd.Series(["c", "a"]), pd.Series(["b", "d", "c"])])
    assert [o.tolist() for o in out] == [[], [1], [0, 2]]
    assert find_cross_partition_duplicates([pd.Series(np.array([], dtype=object))])[0].tolist() == []


def test_a_hash_collision_never_quarantines_a_distinct_id():
    """The day-wide search keeps only 64-bit hashes; equal hashes are checked on the ids themselves."""
    parts = [pa.array(["B", "x"]), pa.array(["A", "y"]), pa.array(["A", "B", "z"])]
    collided = [
        np.array([7, 1], dtype=np.uint64),
        np.array([7, 2], dtype=np.uint64),
        np.array([7, 7, 3], dtype=np.uint64),
    ]
    read = []
    out = cross_partition_repeats(collided, lambda k: read.append(k) or parts[k])
    assert [o.tolist() for o in out] == [[], [], [0, 1]]  # A repeats part 1's A (not part 0's B); B repeats part 0
    assert sorted(read) == [0, 1, 2]  # ids read only where hashes collided
    assert [o.tolist() for o in cross_partition_repeats([np.array([1], dtype=np.uint64)] * 1, parts.__getitem__)] == [
        []
    ]


def test_scope_keeps_the_window_and_regions_and_counts_the_rest():
    from modsweep.tasks.ingest import select_scope

    items = run(raw_rows()).items
    items.loc[0, "region"] = "US"
    items.loc[1, "created_at"] = pd.Timestamp("2026-11-23T20:00:00Z")
    kept, out = select_scope(
        items_table(items), (datetime(2026, 11, 23, 9, tzinfo=UTC), datetime(2026, 11, 23, 12, tzinfo=UTC)), ("DE",)
    )
    assert out == 2 and kept.num_rows == 4 and set(kept["region"].to_pylist()) == {"DE"}


def test_hostile_values_in_any_column_are_quarantined_or_kept_never_crash():
    raw = raw_rows(5)
    for col in ("item_id", "author_id", "text", "ai_provenance", "media_hash"):
        raw[col] = raw[col].astype(object)
    raw.at[0, "text"] = "\ud800 lone surrogate"
    raw.at[1, "author_id"] = "a\udfff"
    raw.at[2, "user_reports"] = 36_792_575_572_918_760
    raw.at[3, "ai_provenance"] = True
    raw.at[4, "media_hash"] = {"not": "a hash"}
    result = run(raw)
    assert result.counts["read"] == result.counts["processed"] + result.counts["quarantined"] == 5
    reasons = dict(zip(result.quarantine["row_number"], result.quarantine["reason"], strict=True))
    assert reasons[0] == "undecodable_text" and reasons[2] == "invalid_value"
    assert items_table(result.items).num_rows == result.counts["processed"]  # everything kept is storable
    quarantine_table(result.quarantine)


def test_item_ids_are_kept_byte_for_byte_and_blank_ones_quarantined():
    """Trailing (or leading) whitespace is part of an id: stripping it would name an item the platform does not
    have, or merge two distinct ids. An id of nothing but whitespace is empty."""
    raw = raw_rows(8)
    raw["item_id"] = ["abc\u2029", "abc", "x ", "x", " lead", "tab\t", "\u00a0", "\u2029 "]
    result = run(raw)
    assert result.items["item_id"].tolist() == ["abc\u2029", "abc", "x ", "x", " lead", "tab\t"]
    assert result.quarantine["reason"].tolist() == ["null_item_id", "null_item_id"]
    assert result.quarantine["item_id"].tolist() == ["\u00a0", "\u2029 "]
    assert items_table(result.items).column("item_id").to_pylist() == result.items["item_id"].tolist()
    assert all(len(r) == 0 for r in find_cross_partition_duplicates([pd.Series(["x"]), pd.Series(["x "])]))
