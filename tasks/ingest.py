"""Ingest: map a raw source partition onto the canonical item schema, quarantining bad rows with a reason."""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modsweep.catalog import to_table
from modsweep.schemas import ITEM_TYPES, ITEMS, QUARANTINE, TEXT_COLUMNS
from modsweep.tasks.sample import id_hashes

REQUIRED_COLUMNS: tuple[str, ...] = ("item_id", "item_type", "author_id", "created_at", "region", "language")
DEFAULTS: dict[str, object] = {
    "source": None,
    "text": None,
    "transcript": None,
    "ocr_text": None,
    "hashtags": None,
    "media_hash": None,
    "ai_disclosed": False,
    "ai_provenance": None,
    "author_account_age_days": 0,
    "author_followers": 0,
    "views": 0,
    "user_reports": 0,
    "report_reasons": None,
}
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
# ISO-3166-1 user-assigned codes are never real regions.
_USER_ASSIGNED = re.compile(r"^(AA|Q[M-Z]|X[A-Z]|ZZ)$")
DUPLICATE_SEARCH_KEY = "cross-partition-duplicates"  # any fixed key: equal ids hash alike, ids are then compared
# UTF-8 read as cp1252: a lead byte shown as Ã/Â/â followed by a continuation byte's cp1252 glyph (RE2 syntax).
_MOJIBAKE = r"[ÃÂâ][\x{80}-\x{ff}€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]"


class SourceSchemaError(ValueError):
    """A source partition lacks a required column or has one of an unusable type (the whole file is unusable)."""


class UnreadableFileError(ValueError):
    """A source file's bytes were read but cannot be parsed (corrupt, truncated, not the format its name says).

    Unlike an I/O error while reading (retried: the storage may answer next time), this will not change on retry:
    the file is quarantined whole with this reason.
    """


@dataclass
class IngestResult:
    """A source file's items (an ITEMS table: what the lake stores), its quarantined rows and its counts."""

    table: pa.Table
    quarantine: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def items(self) -> pd.DataFrame:
        """The items as a DataFrame (ITEMS dtypes)."""
        return self.table.to_pandas()


def read_source_file(path: Path) -> pd.DataFrame:
    """Read one raw partition (Parquet, CSV, TSV or JSON lines) without coercing types.

    I/O errors while reading the bytes propagate as they are (OSError: worth a retry); bytes that cannot be
    parsed raise UnreadableFileError naming the file. Undecodable UTF-8 in CSV/JSON text becomes U+FFFD, so
    the row is quarantined as undecodable rather than the whole file lost.
    """
    return _read(path, keep_arrow=False)  # type: ignore[return-value]


def read_source(path: Path) -> pa.Table | pd.DataFrame:
    """`read_source_file`, except that a Parquet file whose columns have the contract's types stays the Arrow
    table it was read as (`normalise_rows` then checks it in Arrow, without a round trip through pandas)."""
    return _read(path, keep_arrow=True)


def _read(path: Path, *, keep_arrow: bool) -> pa.Table | pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".tsv", ".jsonl", ".json"):
        raise SourceSchemaError(f"{path}: unsupported source format {suffix!r} (use parquet, csv, tsv or jsonl)")
    data = path.read_bytes()
    try:
        if suffix == ".parquet":
            table = pq.read_table(pa.BufferReader(data))
            return table if keep_arrow and has_contract_types(table) else table.to_pandas()
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(
                io.BytesIO(data),
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding_errors="replace",
            )
        return _read_json_lines(data)
    except UnreadableFileError as exc:
        raise UnreadableFileError(f"{path}: {exc}") from None
    except Exception as exc:  # the parser's own reason is kept in the message
        raise UnreadableFileError(f"{path}: cannot be read as {suffix[1:]}: {type(exc).__name__}: {exc}") from exc


def _read_json_lines(data: bytes) -> pd.DataFrame:
    """One object per line with Python's json (it keeps escaped lone surrogates, which are then quarantined as
    undecodable, and integers of any size, which are then range-checked), every column as objects."""
    records = []
    for number, line in enumerate(data.decode("utf-8", "replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableFileError(f"line {number} is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise UnreadableFileError(f"line {number} is a JSON {type(record).__name__}, not an object")
        records.append(record)
    return pd.DataFrame(records, dtype=object)


def _missing(v: object) -> bool:
    """None, NaN, pd.NA or NaT (a scalar check: lists and arrays are values, never missing)."""
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))


def _text(col: pd.Series) -> pd.Series:
    """A string column from any scalars (numbers, booleans); lists and mappings become their text."""
    if col.dtype == object:
        col = col.map(lambda v: v if isinstance(v, str) else None if _missing(v) else str(v))
    return col.astype("string")


def _without_lone_surrogates(raw: pd.DataFrame) -> pd.DataFrame:
    """Lone UTF-16 surrogates (invalid in UTF-8) become U+FFFD, so text with them is quarantined as
    undecodable and every other value can be stored; the raw row stays otherwise as it came."""

    def clean(v: object) -> object:
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        elif isinstance(v, list | tuple | np.ndarray):  # lists (hashtags, JSON arrays) carry strings too
            return [clean(x) for x in v]
        elif isinstance(v, dict):
            return {clean(k): clean(x) for k, x in v.items()}
        return v

    out = raw.copy()
    for col in out.columns:
        if out[col].dtype == object:
            try:  # Arrow encodes a whole column at once and refuses lone surrogates: then (or for mixed types) map
                pa.array(out[col].to_numpy(dtype=object), from_pandas=True)
                continue
            except (UnicodeEncodeError, OverflowError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                out[col] = out[col].map(clean)
    return out


def _repair_mojibake(s: str) -> str:
    """UTF-8 read as cp1252 ("cafÃ©") back to what was meant; unchanged when the round trip fails."""
    try:
        return s.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


def _parse_timestamps(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps and a mask of rows whose value is missing, unparseable or lacks a time zone."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        ts = col.dt.tz_convert("UTC")
        return ts, ts.isna().to_numpy()
    if pd.api.types.is_datetime64_dtype(col.dtype):  # naive timestamps: the zone is unknown
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[us, UTC]"), np.ones(len(col), dtype=bool)
    s = col.astype("string").str.strip()
    has_tz = s.str.contains(_TZ_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    ts = pd.to_datetime(s.where(has_tz), utc=True, errors="coerce", format="ISO8601")
    return ts, (ts.isna().to_numpy() | ~has_tz)


def _element(x: object) -> str | None:
    """One list element as text; a missing element stays missing (never the text "None" or "nan")."""
    return None if _missing(x) else str(x)


def _list_column(col: pd.Series) -> pd.Series:
    """Lists from arrays, JSON strings or '|'-separated strings (CSV sources)."""
    if col.dtype == object:
        try:  # the common case, a Parquet list column: Arrow converts it whole (each value must already be a string)
            arrow = pa.array(col.to_numpy(dtype=object), from_pandas=True)
        except (OverflowError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            arrow = None
        # Only lists of strings: a plain string ("#a|#b", '["#a"]') would otherwise become a list of its characters.
        if arrow is not None and pa.types.is_list(arrow.type) and arrow.type.value_type in (pa.string(), pa.null()):
            return pd.Series(arrow.cast(pa.list_(pa.string())).to_pandas(), index=col.index, dtype=object)

    def conv(v: object) -> list[str] | None:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, list | tuple | np.ndarray):
            return [_element(x) for x in v]
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                try:
                    parsed = json.loads(v)
                    return [_element(x) for x in parsed] if isinstance(parsed, list) else [str(parsed)]
                except json.JSONDecodeError:
                    pass
            return [x for x in v.split("|") if x] if v else []
        return [str(v)]

    return col.map(conv).astype(object)


FileDay = tuple[datetime, datetime] | tuple[None, None]  # the day a source file holds (None: unknown)


class RowReasons:
    """The first failing reason of every row of a partition, with its detail (empty while the row passes)."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, "", dtype=object)
        self.detail = np.full(n, "", dtype=object)

    def flag(self, mask: np.ndarray, why: str, what: str) -> None:
        """Give `why` to the rows of `mask` that have no reason yet (the first failing check wins)."""
        new = mask & (self.reason == "")
        self.reason[new] = why
        self.detail[new] = what

    def flag_misfiled(self, created_at: pd.Series, window: FileDay) -> None:
        """Rows created outside the day their file holds (`window`; unknown: nothing is misfiled)."""
        if window[0] is None or window[1] is None:
            return
        start, end = pd.Timestamp(window[0]).tz_convert("UTC"), pd.Timestamp(window[1]).tz_convert("UTC")
        outside = ((created_at < start) | (created_at >= end)).to_numpy(dtype=bool, na_value=False)
        self.flag(
            outside,
            "outside_window",
            f"created_at outside its partition's day [{start.isoformat()}, {end.isoformat()})",
        )

    def quarantined_counts(self) -> dict[str, int]:
        """How many rows are quarantined, in all and per reason."""
        bad = self.reason != ""
        by_reason = {f"quarantined.{r}": int((self.reason == r).sum()) for r in sorted(set(self.reason[bad]))}
        return {"quarantined": int(bad.sum()), **by_reason}


def normalise_rows(
    raw: pd.DataFrame | pa.Table,
    *,
    source_file: str,
    source_name: str,
    run_id: str,
    window: FileDay,
    max_item_chars: int,
) -> IngestResult:
    """Check every row; good rows become canonical items, the rest are quarantined with the first failing reason.

    `window` is the day the file holds (its `date=` folder): a row outside it is misfiled (`outside_window`);
    `(None, None)` when the file's day is unknown (the run's scope selection counts such rows as out of scope).
    An Arrow table with the contract's types (`has_contract_types`) is checked in Arrow, with the same outcome.
    """
    if isinstance(raw, pa.Table):
        if has_contract_types(raw):
            return _normalise_table(raw, source_file, source_name, run_id, window, max_item_chars)
        raw = raw.to_pandas()
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise SourceSchemaError(f"{source_file}: missing required column(s) {missing}; found {sorted(raw.columns)}")
    n = len(raw)
    raw = _without_lone_surrogates(raw.reset_index(drop=True))
    df = pd.DataFrame(index=raw.index)
    for col in ITEMS.names:
        df[col] = raw[col] if col in raw.columns else DEFAULTS[col]
    counts: dict[str, int] = {"read": n, "extra_columns": len(set(raw.columns) - set(ITEMS.names))}
    reasons = RowReasons(n)
    flag, reason, detail = reasons.flag, reasons.reason, reasons.detail

    # An id is kept byte for byte (a platform's id may end in a space or U+2029; stripping it would name an
    # item the platform does not have, or merge two ids); only an id of nothing but whitespace counts as empty.
    item_id = _text(df["item_id"])
    blank = (item_id.str.strip() == "").fillna(True).to_numpy(dtype=bool)
    flag(item_id.isna().to_numpy() | blank, "null_item_id", "item_id is empty or only whitespace")
    for col in ("author_id", "item_type", "region", "language"):
        v = _text(df[col]).str.strip()
        flag((v.isna() | (v == "")).to_numpy(dtype=bool, na_value=True), "missing_value", f"{col} is empty")
        df[col] = v
    created_at, bad_ts = _parse_timestamps(df["created_at"])
    flag(bad_ts, "bad_timestamp", "created_at is unparseable or has no time zone")
    reasons.flag_misfiled(created_at, window)

    df["item_type"] = df["item_type"].str.lower()
    flag(~df["item_type"].isin(ITEM_TYPES).to_numpy(dtype=bool), "invalid_enum", f"item_type not in {list(ITEM_TYPES)}")
    region = df["region"].str.upper()
    bad_region = ~region.str.fullmatch(r"[A-Z]{2}").fillna(False) | region.str.fullmatch(_USER_ASSIGNED.pattern).fillna(
        False
    )
    flag(bad_region.to_numpy(dtype=bool), "invalid_enum", "region is not an ISO-3166-1 alpha-2 code")
    df["region"] = region
    language = df["language"].str.lower()
    flag(
        ~language.str.fullmatch(r"[a-z]{2}").fillna(False).to_numpy(dtype=bool),
        "invalid_enum",
        "language is not ISO-639-1",
    )
    df["language"] = language

    for col in ("text", "transcript", "ocr_text"):
        s = _text(df[col])
        # Lone surrogates were replaced by U+FFFD already (Arrow-backed strings cannot hold them).
        undecodable = s.str.contains("\ufffd", regex=False)
        flag(undecodable.fillna(False).to_numpy(dtype=bool), "undecodable_text", f"{col} has undecodable characters")
        flag(
            (s.str.len() > max_item_chars).fillna(False).to_numpy(dtype=bool),
            "oversize_text",
            f"{col} over {max_item_chars} chars",
        )
        arrow = pa.chunked_array(pa.array(s.array))
        suspect = pc.match_substring_regex(arrow, _MOJIBAKE).to_numpy(zero_copy_only=False)
        suspect = np.asarray(pd.Series(suspect).fillna(False), dtype=bool) & (reason == "")
        if suspect.any():
            s = s.copy()
            s[suspect] = s[suspect].map(_repair_mojibake)
            counts["mojibake_repaired"] = counts.get("mojibake_repaired", 0) + int(suspect.sum())
        df[col] = s

    for col in ("author_account_age_days", "author_followers", "views", "user_reports"):
        v = pd.to_numeric(df[col], errors="coerce")
        limit = np.iinfo(np.int32 if col in ("author_account_age_days", "user_reports") else np.int64).max
        bad = (v.isna() | (v < 0) | (v > limit)).to_numpy(dtype=bool)
        flag(bad, "invalid_value", f"{col} is not a non-negative number within range")
        v = v.where(~bad, 0)
        df[col] = v.fillna(0).clip(lower=0)
    disclosed = df["ai_disclosed"]
    if not (pd.api.types.is_bool_dtype(disclosed.dtype) and not disclosed.isna().any()):  # else: text, numbers, nulls
        disclosed = disclosed.map(
            lambda v: v if isinstance(v, bool | np.bool_) else str(v).strip().lower() in ("true", "1", "yes")
        )
    df["ai_disclosed"] = disclosed.astype(bool)

    # Duplicates: the first valid occurrence wins; later ones are quarantined.
    valid_first = pd.Series(item_id).where(reason == "")
    dup = valid_first.duplicated(keep="first").to_numpy(dtype=bool) & valid_first.notna().to_numpy()
    flag(dup, "duplicate_item_id", "item_id seen earlier in this partition")

    bad = reason != ""
    df["item_id"] = item_id
    df["created_at"] = created_at
    df["source"] = _text(df["source"]).fillna(source_name)
    for col in ("ai_provenance", "media_hash"):
        df[col] = _text(df[col])
    for col in ("hashtags", "report_reasons"):
        df[col] = _list_column(df[col])
    good = df.loc[~bad].reset_index(drop=True)
    quarantine = quarantine_frame(raw.loc[bad], source_file, reason[bad], detail[bad], run_id)
    counts.update(
        processed=len(good),
        **reasons.quarantined_counts(),
    )
    return IngestResult(table=items_table(good), quarantine=quarantine, counts=counts)


_STRING_COLUMNS = frozenset(
    ("item_id", "source", "item_type", "author_id", "region", "language", "media_hash", "ai_provenance")
) | frozenset(TEXT_COLUMNS)
_LIST_COLUMNS = ("hashtags", "report_reasons")
_INT32_COLUMNS = ("author_account_age_days", "user_reports")
_NUMBER_COLUMNS = ("author_account_age_days", "author_followers", "views", "user_reports")


def has_contract_types(table: pa.Table) -> bool:
    """True when `_normalise_table` gives what the pandas checks give: unique column names, valid UTF-8, and
    each contract column of its own kind (strings, signed integers, booleans, lists of strings; `created_at` of
    any type: it is parsed as pandas reads it); other columns only of kinds pandas reads alike in any subset."""
    names = table.column_names
    if len(set(names)) != len(names):
        return False
    for name, typ in zip(names, table.schema.types, strict=True):
        if name == "created_at":
            continue
        string, listed = pa.types.is_string(typ), pa.types.is_list(typ) and pa.types.is_string(typ.value_type)
        signed = pa.types.is_signed_integer(typ)
        if name in _STRING_COLUMNS:
            ok = string
        elif name in _LIST_COLUMNS:
            ok = listed
        elif name in _NUMBER_COLUMNS:
            ok = signed
        elif name == "ai_disclosed":
            ok = pa.types.is_boolean(typ)
        else:
            ok = string or listed or signed or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
        if not ok:
            return False
    try:
        table.validate(full=True)  # invalid UTF-8 goes the pandas way (and its error)
    except pa.ArrowInvalid:
        return False
    return True


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as a NumPy mask (missing → False)."""
    return pc.fill_null(array, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


# The UTF-8 of the mojibake pattern's first characters (Ã, Â, â): C3 then 83, 82 or A2.
_MOJIBAKE_LEADS = (b"\x83", b"\x82", b"\xa2")


def _rows_holding(s: pa.StringArray, lead: int, tails: tuple[bytes, ...]) -> np.ndarray:
    """Rows of a string array whose UTF-8 holds byte `lead` followed by one of `tails` (missing rows: False).

    A byte scan: in valid UTF-8 a character's bytes never straddle two rows, so for a whole character (U+FFFD is
    EF BF BD) the result is exact; for a pattern it gives the rows worth matching."""
    n, out = len(s), np.zeros(len(s), dtype=bool)
    if not n or s.buffers()[2] is None:
        return out
    offsets = np.frombuffer(s.buffers()[1], dtype=np.int32)[s.offset : s.offset + n + 1]
    data = np.frombuffer(s.buffers()[2], dtype=np.uint8)
    at = np.flatnonzero(data[offsets[0] : offsets[-1]] == lead) + offsets[0]
    if not len(at):
        return out
    hit = np.zeros(len(at), dtype=bool)
    for tail in tails:
        ok = np.ones(len(at), dtype=bool)
        for k, byte in enumerate(tail, start=1):
            ok &= (at + k < offsets[-1]) & (data[np.minimum(at + k, len(data) - 1)] == byte)
        hit |= ok
    out[np.searchsorted(offsets, at[hit], side="right") - 1] = True
    return out & ~_mask(pc.is_null(s))


def _normalise_table(
    raw: pa.Table, source_file: str, source_name: str, run_id: str, window: FileDay, max_item_chars: int
) -> IngestResult:
    """`normalise_rows` for an Arrow table with the contract's types: the same checks, in the same order, with
    the kernels pandas' Arrow-backed strings call (strip, case, regex, length), so the outcome is the same."""
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.column_names]
    if missing:
        raise SourceSchemaError(
            f"{source_file}: missing required column(s) {missing}; found {sorted(raw.column_names)}"
        )
    n = raw.num_rows
    raw = raw.combine_chunks()

    def column(name: str, default: pa.Array) -> pa.Array:
        if name not in raw.column_names:
            return default
        read = raw.column(name)
        return read.chunk(0) if read.num_chunks else pa.array([], read.type)

    nulls = pa.nulls(n, pa.string())
    counts: dict[str, int] = {"read": n, "extra_columns": len(set(raw.column_names) - set(ITEMS.names))}
    reasons = RowReasons(n)
    flag, reason, detail = reasons.flag, reasons.reason, reasons.detail

    out: dict[str, Any] = {}
    item_id = column("item_id", nulls)
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(item_id), ""), True)
    flag(_mask(pc.or_(pc.is_null(item_id), empty)), "null_item_id", "item_id is empty or only whitespace")
    for col in ("author_id", "item_type", "region", "language"):
        v = pc.utf8_trim_whitespace(column(col, nulls))
        flag(_mask(pc.fill_null(pc.equal(v, ""), True)), "missing_value", f"{col} is empty")
        out[col] = v
    created_at, bad_ts = _parse_timestamps(raw.column("created_at").to_pandas())
    flag(bad_ts, "bad_timestamp", "created_at is unparseable or has no time zone")
    reasons.flag_misfiled(created_at, window)
    out["item_type"] = pc.utf8_lower(out["item_type"])
    known = pc.is_in(out["item_type"], value_set=pa.array(list(ITEM_TYPES), pa.string()))
    flag(~_mask(known), "invalid_enum", f"item_type not in {list(ITEM_TYPES)}")
    out["region"] = pc.utf8_upper(out["region"])
    bad_region = ~_mask(pc.match_substring_regex(out["region"], "^[A-Z]{2}$")) | _mask(
        pc.match_substring_regex(out["region"], _USER_ASSIGNED.pattern)
    )
    flag(bad_region, "invalid_enum", "region is not an ISO-3166-1 alpha-2 code")
    out["language"] = pc.utf8_lower(out["language"])
    flag(~_mask(pc.match_substring_regex(out["language"], "^[a-z]{2}$")), "invalid_enum", "language is not ISO-639-1")

    for col in TEXT_COLUMNS:
        s = column(col, nulls)
        flag(_rows_holding(s, 0xEF, (b"\xbf\xbd",)), "undecodable_text", f"{col} has undecodable characters")
        flag(
            _mask(pc.greater(pc.utf8_length(s), max_item_chars)), "oversize_text", f"{col} over {max_item_chars} chars"
        )
        suspect = _rows_holding(s, 0xC3, _MOJIBAKE_LEADS) & (reason == "")  # candidates, then the pattern
        if suspect.any():
            candidates = np.flatnonzero(suspect)
            suspect[candidates] = _mask(pc.match_substring_regex(s.take(pa.array(candidates)), _MOJIBAKE))
        if suspect.any():
            repaired = [_repair_mojibake(v) for v in s.filter(pa.array(suspect)).to_pylist()]
            s = pc.replace_with_mask(s, pa.array(suspect), pa.array(repaired, pa.string()))
            counts["mojibake_repaired"] = counts.get("mojibake_repaired", 0) + int(suspect.sum())
        out[col] = s

    for col in _NUMBER_COLUMNS:
        target = ITEMS.field(col).type
        if col not in raw.column_names:
            out[col] = pa.array(np.zeros(n, dtype=target.to_pandas_dtype()), target)
            continue
        v = column(col, nulls)
        limit = np.iinfo(np.int32 if col in _INT32_COLUMNS else np.int64).max
        bad = _mask(pc.is_null(v)) | _mask(pc.less(v, 0)) | _mask(pc.greater(v, pa.scalar(limit, pa.int64())))
        flag(bad, "invalid_value", f"{col} is not a non-negative number within range")
        out[col] = pc.if_else(pa.array(bad), pa.scalar(0, v.type), v).cast(target)
    out["ai_disclosed"] = pc.fill_null(column("ai_disclosed", pa.array(np.zeros(n, dtype=bool))), False)

    # Duplicates: the first valid occurrence wins; later ones are quarantined.
    valid = np.flatnonzero(reason == "")
    codes = pc.dictionary_encode(item_id.take(pa.array(valid))).indices.to_numpy(zero_copy_only=False)
    repeat = np.ones(len(valid), dtype=bool)
    repeat[np.unique(codes, return_index=True)[1]] = False
    dup = np.zeros(n, dtype=bool)
    dup[valid[repeat]] = True
    flag(dup, "duplicate_item_id", "item_id seen earlier in this partition")

    bad = reason != ""
    keep = pa.array(~bad)
    out["item_id"] = item_id
    out["source"] = pc.fill_null(column("source", nulls), source_name)
    for col in ("ai_provenance", "media_hash"):
        out[col] = column(col, nulls)
    for col in _LIST_COLUMNS:
        out[col] = column(col, pa.nulls(n, pa.list_(pa.string())))
    ts = pa.Array.from_pandas(created_at[~bad], type=ITEMS.field("created_at").type, safe=False)
    table = pa.Table.from_arrays(
        [ts if name == "created_at" else out[name].filter(keep) for name in ITEMS.names], schema=ITEMS
    )
    rows = np.flatnonzero(bad)
    quarantine = quarantine_frame(_rows_as_read(raw, rows), source_file, reason[bad], detail[bad], run_id)
    counts.update(
        processed=table.num_rows,
        **reasons.quarantined_counts(),
    )
    return IngestResult(table=table, quarantine=quarantine, counts=counts)


def _rows_as_read(table: pa.Table, rows: np.ndarray) -> pd.DataFrame:
    """Rows `rows` of `table` as the whole table's `to_pandas()` shows them (index = row number): a column's
    pandas type depends on the whole column (integers with a missing value anywhere read as floats)."""
    frame = table.take(pa.array(rows, pa.int64())).to_pandas()
    for name, col in zip(table.column_names, table.columns, strict=True):
        if col.null_count and pa.types.is_integer(col.type):
            frame[name] = frame[name].astype(np.float64)
        elif col.null_count and pa.types.is_boolean(col.type):
            frame[name] = frame[name].astype(object)
    frame.index = pd.Index(rows, dtype=np.int64)
    return frame


def quarantine_frame(
    raw_rows: pd.DataFrame, source_file: str, reasons: np.ndarray, details: np.ndarray, run_id: str
) -> pd.DataFrame:
    """Quarantined rows with their reason and the whole original row as JSON (nothing is lost)."""
    raw_json = raw_rows.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    lines = raw_json.splitlines() if len(raw_rows) else []
    item_ids = raw_rows["item_id"].astype("string") if "item_id" in raw_rows else pd.Series([None] * len(raw_rows))
    return pd.DataFrame(
        {
            "source_file": source_file,
            "row_number": raw_rows.index.to_numpy(dtype=np.int64),
            "item_id": item_ids.to_numpy(dtype=object, na_value=None),
            "reason": reasons.astype(object),
            "detail": details.astype(object),
            "raw": lines,
            "run_id": run_id,
        }
    )


def unreadable_file_quarantine(source_file: str, error: str, run_id: str) -> pd.DataFrame:
    """A file that cannot be read at all, quarantined as one entry naming the file and the error."""
    return pd.DataFrame(
        {
            "source_file": [source_file],
            "row_number": [-1],
            "item_id": [None],
            "reason": ["unreadable_file"],
            "detail": [error[:2000]],
            "raw": [json.dumps({"file": source_file, "error": error[:2000]})],
            "run_id": [run_id],
        }
    )


def items_table(df: pd.DataFrame) -> pa.Table:
    return to_table(df, ITEMS)


def quarantine_table(df: pd.DataFrame) -> pa.Table:
    return to_table(df, QUARANTINE)


def _id_values(ids: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A partition's ids as a NumPy object array (from pandas or Arrow)."""
    values = ids.to_numpy(dtype=object) if isinstance(ids, pd.Series) else ids.to_numpy(zero_copy_only=False)
    return values.astype(object, copy=False)


def partition_id_hashes(ids: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of one partition's ids (8 bytes an item: what a day-wide duplicate search keeps)."""
    values = _id_values(ids)
    if pd.isna(values).any():
        raise ValueError("item ids must not be null (ingest quarantines rows without one)")
    return id_hashes(values, DUPLICATE_SEARCH_KEY)


def cross_partition_repeats(
    hashes: list[np.ndarray], ids_of: Callable[[int], pd.Series | pa.Array | pa.ChunkedArray]
) -> list[np.ndarray]:
    """Row positions, per partition, of ids already seen in an earlier partition, from the partitions' id hashes.

    Equal hashes make candidates; their ids are then compared exactly (`ids_of(k)` gives partition k's ids,
    read only for partitions holding a candidate), so a hash collision never quarantines a distinct id.
    Memory is the hashes and one sorted copy of them (16 bytes an item), not the ids themselves.
    """
    lengths = [len(h) for h in hashes]
    empty = [np.array([], dtype=np.int64) for _ in hashes]
    if sum(lengths) == 0:
        return empty
    day = np.sort(np.concatenate(hashes))  # in place of an argsort: no index array
    shared = np.unique(day[1:][day[1:] == day[:-1]])  # hash values met more than once
    del day
    if not len(shared):
        return empty
    seen: set[tuple[int, str]] = set()
    out = []
    for k, h in enumerate(hashes):  # partition order, then row order: the first occurrence wins
        rows = np.flatnonzero(np.isin(h, shared))
        repeated = []
        if len(rows):
            values = _id_values(ids_of(k))[rows]
            for row, key, value in zip(rows, h[rows], values, strict=True):  # only rows sharing a hash: few
                if (key, value) in seen:
                    repeated.append(row)
                seen.add((key, value))
        out.append(np.array(repeated, dtype=np.int64))
    return out


def ingest_rows(
    raw: pd.DataFrame | pa.Table | None,
    read_error: str | None,
    *,
    source_file: str,
    run_id: str,
    file_window: FileDay,
    run_window: tuple[datetime, datetime],
    regions: tuple[str, ...] | None,
    max_item_chars: int,
) -> IngestResult:
    """One source file → the run's canonical items, quarantined rows with reasons, and the file's counts.

    `raw` is what `read_source` gave (an Arrow table only with the contract's types, checked there), or None when
    the file could not be read at all (`read_error` says why): it is quarantined whole. A schema
    problem quarantines every row with it. Valid rows outside the run's window or regions are counted out of scope.
    """
    items = ITEMS.empty_table()
    if raw is None:
        quarantined = unreadable_file_quarantine(source_file, str(read_error), run_id)
        counts = {"read": 0, "processed": 0, "quarantined": 0, "unreadable_files": 1}
    else:
        source_name = Path(source_file).parent.name
        try:
            if isinstance(raw, pa.Table):  # from `read_source`, which keeps a table only with the contract's types
                result = _normalise_table(raw, source_file, source_name, run_id, file_window, max_item_chars)
            else:
                result = normalise_rows(
                    raw,
                    source_file=source_file,
                    source_name=source_name,
                    run_id=run_id,
                    window=file_window,
                    max_item_chars=max_item_chars,
                )
            items, quarantined, counts = result.table, result.quarantine, result.counts
        except SourceSchemaError as exc:  # every row kept, quarantined with the schema problem named
            reasons = np.full(len(raw), "schema_mismatch", dtype=object)
            details = np.full(len(raw), str(exc)[:2000], dtype=object)
            frame = raw.to_pandas() if isinstance(raw, pa.Table) else raw
            quarantined = quarantine_frame(frame, source_file, reasons, details, run_id)
            counts = {
                "read": len(raw),
                "processed": 0,
                "quarantined": len(raw),
                "quarantined.schema_mismatch": len(raw),
            }
        items, out_of_scope = select_scope(items, run_window, regions)
        counts.update(processed=counts["processed"] - out_of_scope, out_of_scope=out_of_scope)
    counts["views"] = int(pc.sum(items["views"]).as_py() or 0)
    return IngestResult(table=items, quarantine=quarantined, counts=counts)


def move_repeats_to_quarantine(
    items: pa.Table,
    quarantine: pd.DataFrame,
    rows: np.ndarray,
    *,
    part: str,
    source_file: str,
    run_id: str,
    counts: dict[str, int],
) -> tuple[pa.Table, pd.DataFrame, dict[str, int]]:
    """Rows `rows` of an items part (ids seen in an earlier part) move to its quarantine; counts follow."""
    dup = items.take(pa.array(rows)).to_pandas()
    # row_number -2-k: the k-th row of the ingested items partition (its source row is not kept with items)
    where = np.array([f"item_id seen in an earlier partition (row {k} of items {part})" for k in rows], dtype=object)
    extra = quarantine_frame(
        dup.set_index(pd.Index(-2 - np.asarray(rows))),
        source_file,
        np.full(len(rows), "duplicate_item_id", dtype=object),
        where,
        run_id,
    )
    moved = pd.concat([quarantine, extra], ignore_index=True)
    counts = {
        **counts,
        "processed": counts["processed"] - len(rows),
        "quarantined": counts["quarantined"] + len(rows),
        "views": counts["views"] - int(dup["views"].sum()),
    }
    counts["quarantined.duplicate_item_id"] = counts.get("quarantined.duplicate_item_id", 0) + len(rows)
    keep = np.ones(items.num_rows, dtype=bool)
    keep[rows] = False
    return items.filter(pa.array(keep)), moved, counts


def select_scope(
    items: pa.Table, window: tuple[datetime, datetime], regions: tuple[str, ...] | None
) -> tuple[pa.Table, int]:
    """Items inside the run's window (and regions, when given), and how many valid items fell outside."""
    if items.num_rows == 0:
        return items, 0
    created = items["created_at"]
    start, end = (pa.scalar(pd.Timestamp(w).tz_convert("UTC"), type=created.type) for w in window)
    keep = pc.and_(pc.greater_equal(created, start), pc.less(created, end))
    if regions:
        keep = pc.and_(keep, pc.is_in(items["region"], value_set=pa.array(list(regions), pa.string())))
    kept = items.filter(keep)
    return kept, items.num_rows - kept.num_rows


class QuarantineCeilingError(RuntimeError):
    """More rows were quarantined than the configured ceiling allows."""


class UnreadableSourceFilesError(RuntimeError):
    """Source files could not be parsed, and settings say a run stops then (or no file at all was readable)."""


def check_ingested(
    counts: dict[str, int], unreadable: list[str], n_files: int, *, stop_on_unreadable: bool, quarantine_ceiling: float
) -> None:
    """Raise when unreadable files must stop the run, or when the quarantined share is above the ceiling."""
    if unreadable and (stop_on_unreadable or len(unreadable) == n_files):
        raise UnreadableSourceFilesError(
            f"{len(unreadable)} of {n_files} source files unreadable (quarantined with the parser's reason): "
            + ", ".join(unreadable[:10])
            + (" …" if len(unreadable) > 10 else "")
        )
    share = counts["quarantined"] / max(counts["read"], 1)
    if share > quarantine_ceiling:
        raise QuarantineCeilingError(f"{share:.2%} of rows quarantined, above the ceiling {quarantine_ceiling:.2%}")


def sum_counts(dicts: list[dict[str, int]]) -> dict[str, int]:
    """Counts of several parts added up, key by key."""
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return out
