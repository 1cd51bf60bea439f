"""The review loop with an external review tool: blind exports of open tasks, validated imports of decisions,
simulated reviewers, and queue health.

Pure functions (tables in, tables or bytes out) come first; the thin I/O functions at the end read the store and
the lake, write files and call ``store.apply_review_outcomes`` (one transaction) and ``store.append_audit``.

Exports are blind: a reviewer sees the same columns for every task whatever its reason (review band, QA, golden,
prevalence), never its stratum, inclusion probability or score, and never a raw author id, only
``author_pseudonym`` = HMAC-SHA256(key, author_id) truncated to 16 hex digits.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine

from modsweep import store
from modsweep.lake import Lake, write_file_atomically
from modsweep.schemas import ACTIONS
from modsweep.tasks import review

EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
IMPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
# What a reviewer gets, in this order, for every task whatever its reason.
EXPORT_COLUMNS: tuple[str, ...] = (
    "task_id",
    "queue",
    "policy_id",
    "kind",
    "priority",
    "due_by",
    "item_id",
    "item_type",
    "region",
    "language",
    "item_created_at",
    "author_pseudonym",
    "text",
    "transcript",
    "ocr_text",
    "hashtags",
    "media_hash",
)
# Read from the lake items partitions (author_id is pseudonymised as soon as it is read).
LAKE_CONTENT_COLUMNS: tuple[str, ...] = (
    "item_id",
    "item_type",
    "author_id",
    "created_at",
    "text",
    "transcript",
    "ocr_text",
    "hashtags",
    "media_hash",
)
FREE_TEXT_COLUMNS: tuple[str, ...] = ("text", "transcript", "ocr_text")
OUTCOME_COLUMNS: tuple[str, ...] = ("task_id", "reviewer_id", "label", "final_action", "claimed_at", "decided_at")
REQUIRED_OUTCOME_COLUMNS: tuple[str, ...] = ("task_id", "reviewer_id", "label", "decided_at")
FINAL_ACTIONS: tuple[str, ...] = ("none", *ACTIONS)
PENDING_STATUSES: tuple[str, ...] = ("open", "claimed", "carried_over")
SUMMARY_STATUSES: tuple[str, ...] = ("open", "claimed", "decided", "carried_over", "expired")
PSEUDONYM_HEX = 16
# Rejections found while reading the file; the store adds invalid_reviewer, invalid_label, invalid_decided_at,
# unknown_task and already_decided.
FILE_REJECTIONS: tuple[str, ...] = ("malformed_row", "missing_value", "bad_timestamp", "invalid_final_action")
STORE_REJECTION_DETAILS: dict[str, str] = {
    "invalid_reviewer": "reviewer_id must be 1-64 characters of A-Z a-z 0-9 _ . -",
    "invalid_label": "label must be violating or benign",
    "invalid_decided_at": "decided_at is not a valid timestamp",
    "unknown_task": "no review task has this task_id",
    "already_decided": "the task was already decided with another label or by another reviewer",
}
# Internal columns of a raw outcomes frame (names no review tool would use).
LINE, MALFORMED, RAW = "__line", "__malformed", "__raw"
REPORT_COLUMNS: tuple[str, ...] = ("line", "rejection", "detail")
# Spreadsheet formula triggers (CSV injection): such free-text cells are prefixed with a quote in CSV exports.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class OutcomesFileError(ValueError):
    """A decisions file that cannot be imported at all (unreadable, not the format, missing required columns)."""


# ---------------------------------------------------------------------------------------------- pure: export


def pseudonymise(author_ids: pd.Series, key: str | bytes) -> pd.Series:
    """HMAC-SHA256(key, author_id) as hex truncated to 16 digits; missing ids stay missing. Stable per key,
    so one author's items can be linked within and across exports without revealing who it is."""
    secret = key.encode("utf-8") if isinstance(key, str) else key
    if not secret:
        raise ValueError("the pseudonym key is empty")
    missing = author_ids.isna().to_numpy()
    text = author_ids.astype(str).to_numpy(dtype=object)
    keyed = hmac.new(secret, digestmod=hashlib.sha256)  # copied per author: the key is absorbed once
    digests = {}
    for a in pd.unique(text[~missing]):
        h = keyed.copy()
        h.update(a.encode("utf-8"))
        digests[a] = h.hexdigest()[:PSEUDONYM_HEX]
    values = pd.Series(text).map(digests).to_numpy(dtype=object)
    values[missing] = None
    return pd.Series(values, index=author_ids.index, dtype=object, name="author_pseudonym")


def safe_queue_filename(queue: str) -> str:
    """A file-name stem for a queue: letters, digits, ``.``, ``_``, ``-`` only, never hidden or empty; names that
    had to change get a short hash of the queue so two queues never share a file."""
    cleaned = _UNSAFE_NAME.sub("_", queue).strip("._")[:80] or "queue"
    if cleaned == queue:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(queue.encode('utf-8')).hexdigest()[:8]}"


def export_frames(tasks: pd.DataFrame, items: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per queue, the blind rows reviewers get (EXPORT_COLUMNS), by priority (highest first) then task id.

    ``tasks`` are store rows; ``items`` hold the content by ``item_id`` with ``author_pseudonym`` already in
    place of the author id. Tasks whose item has no content keep their row with empty content.
    """
    if "author_id" in items.columns:
        raise ValueError("items still carry raw author_id; pseudonymise before exporting")
    content = items.drop_duplicates("item_id").rename(columns={"created_at": "item_created_at"})
    rows = tasks.merge(content, on="item_id", how="left", suffixes=("", "_item"))
    # Appeals are a different job for a reviewer; every other reason (QA, golden, prevalence) looks like review.
    rows["kind"] = np.where(rows["reason"] == "appeal", "appeal", "review")
    for column in EXPORT_COLUMNS:
        if column not in rows.columns:
            rows[column] = None
    rows = rows.sort_values(["queue", "priority", "task_id"], ascending=[True, False, True], kind="stable")
    return {str(q): g[list(EXPORT_COLUMNS)].reset_index(drop=True) for q, g in rows.groupby("queue", sort=True)}


def _iso_seconds(values: pd.Series) -> list[str | None]:
    ts = pd.to_datetime(values, utc=True)
    return [None if pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts]


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.ndarray | list | tuple):
        return [str(v) for v in value if v is not None]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _export_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values, timestamps as ISO-8601 UTC, priority rounded: the same text every time."""
    out = frame.copy()
    out["due_by"] = _iso_seconds(out["due_by"])
    out["item_created_at"] = _iso_seconds(out["item_created_at"])
    out["priority"] = [round(float(p), 3) for p in out["priority"]]
    columns = export_columns(out)
    for column in columns[len(EXPORT_COLUMNS) :]:  # an appeal queue's extra columns (tasks/appeals_io)
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = _iso_seconds(out[column])
    return [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in out[columns].itertuples(index=False)]


def export_columns(frame: pd.DataFrame) -> list[str]:
    """EXPORT_COLUMNS, then any extra columns a queue's frame carries (appeal queues: the appeal and the original
    decision's evidence), in the frame's order."""
    return [*EXPORT_COLUMNS, *(str(c) for c in frame.columns if c not in EXPORT_COLUMNS)]


def _csv_cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "hashtags":
        return json.dumps(value, ensure_ascii=False)
    if column == "priority":
        return f"{value:.3f}"
    text = str(value)
    if (column in FREE_TEXT_COLUMNS or column == "appeal_statement") and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def render_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header; hashtags as a JSON array; free text that a spreadsheet would run as a formula
    is prefixed with ``'`` (the JSONL export keeps it verbatim)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    columns = export_columns(frame)
    writer.writerow(columns)
    for record in _export_records(frame):
        writer.writerow([_csv_cell(c, record[c]) for c in columns])
    return buffer.getvalue().encode("utf-8")


def render_jsonl(frame: pd.DataFrame) -> bytes:
    """One JSON object per line, keys in EXPORT_COLUMNS order, content verbatim (UTF-8, not escaped) except
    U+2028/U+2029, written as JSON escapes: readers that split lines on them (Python's splitlines, JavaScript)
    would otherwise cut a record in two; every JSON parser reads the same value back."""
    lines = [json_line(r) for r in _export_records(frame)]
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def json_line(record: Any) -> str:
    """Compact JSON on one line in every reader's sense (U+2028 and U+2029 escaped)."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


RENDERERS = {"csv": render_csv, "jsonl": render_jsonl}


# ---------------------------------------------------------------------------------------------- pure: import


def _cell(value: Any) -> tuple[str | None, str | None]:
    """A JSON value as stripped text (None when missing or blank), or a problem."""
    if value is None:
        return None, None
    if isinstance(value, bool | list | dict):
        return None, f"a {type(value).__name__} where text was expected"
    text = str(value).strip()
    return (text or None), None


def outcomes_frame(text: str, fmt: str) -> pd.DataFrame:
    """Decisions text as a raw frame: one row per record, every value text or None, plus the record's line
    number and, for a record that cannot be read as a row, why (``__malformed``) and its raw text."""
    if fmt not in IMPORT_FORMATS:
        raise OutcomesFileError(f"unknown format {fmt!r}; use {' or '.join(IMPORT_FORMATS)}")
    if "\x00" in text:
        raise OutcomesFileError("the file holds NUL bytes: not a text file")
    columns: list[str] = []
    records: list[dict[str, Any]] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next((row for row in reader if row), None)
            if header is None:
                raise OutcomesFileError("the file is empty: no header row")
            columns = [h.strip() for h in header]
            duplicated = sorted({c for c in columns if columns.count(c) > 1})
            if duplicated:
                raise OutcomesFileError(f"the header repeats column(s) {', '.join(duplicated)}")
            for row in reader:
                if not row:
                    continue
                if len(row) != len(columns):
                    records.append(
                        {
                            LINE: reader.line_num,
                            RAW: json.dumps(row, ensure_ascii=False),
                            MALFORMED: f"{len(row)} fields where the header has {len(columns)}",
                        }
                    )
                    continue
                values = {c: (v.strip() or None) for c, v in zip(columns, row, strict=True)}
                records.append({**values, LINE: reader.line_num, RAW: None, MALFORMED: None})
        except csv.Error as exc:
            raise OutcomesFileError(f"not readable as CSV near line {reader.line_num}: {exc}") from exc
    else:
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.strip()
            if not line:
                continue
            problem: str | None = None
            values: dict[str, Any] = {}
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                obj, problem = None, f"invalid JSON: {exc.msg} at column {exc.colno}"
            if problem is None and not isinstance(obj, dict):
                problem = f"a JSON {type(obj).__name__} where an object was expected"
            if problem is None:
                for key, value in obj.items():
                    values[str(key)], cell_problem = _cell(value)
                    problem = problem or (f"column {key}: {cell_problem}" if cell_problem else None)
                    if str(key) not in columns:
                        columns.append(str(key))
            if problem is not None:
                records.append({LINE: number, RAW: line[:2000], MALFORMED: problem})
            else:
                records.append({**values, LINE: number, RAW: None, MALFORMED: None})
    frame = pd.DataFrame(records, columns=[*columns, LINE, MALFORMED, RAW], dtype=object)
    return frame.astype({LINE: "int64"})


def _instant(text: str) -> tuple[pd.Timestamp | None, str | None]:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None, "is not an ISO-8601 timestamp"
    if value.tzinfo is None:
        return None, "has no time zone (add Z or an offset such as +01:00)"
    return pd.Timestamp(value).tz_convert("UTC"), None


CLOCK_SKEW = dt.timedelta(minutes=5)  # a reviewer's clock may run a little ahead; more is a wrong timestamp


def parse_outcomes(
    raw: pd.DataFrame, *, reviewer_default: str | None = None, now: dt.datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw outcomes frame into rows the store can apply and rows rejected here.

    Valid rows: OUTCOME_COLUMNS (label and final_action lower-cased, timestamps UTC) plus ``__line``. Rejected
    rows: ``__line``, ``rejection`` (malformed_row, missing_value, bad_timestamp, invalid_final_action), ``detail``.
    Raises OutcomesFileError when a required column is missing (then nothing may be applied). Reviewer ids and
    labels are checked by the store, which also knows unknown and already-decided tasks. A decision (or claim)
    timed after `now` (default: the clock) plus CLOCK_SKEW has not happened yet: ``bad_timestamp``.
    """
    latest = pd.Timestamp(now or dt.datetime.now(dt.UTC)).tz_convert("UTC") + CLOCK_SKEW
    required = [c for c in REQUIRED_OUTCOME_COLUMNS if not (c == "reviewer_id" and reviewer_default)]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        present = [c for c in raw.columns if c not in (LINE, MALFORMED, RAW)]
        raise OutcomesFileError(
            f"missing required column(s) {', '.join(missing)}; the file has {', '.join(present) or 'no readable rows'}"
        )
    valid: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []

    def get(row: Mapping[str, Any], column: str) -> str | None:
        value = row.get(column)
        return None if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value

    for row in raw.to_dict("records"):
        line = int(row[LINE])

        def reject(reason: str, detail: str, line: int = line) -> None:
            rejected.append({LINE: line, "rejection": reason, "detail": detail})

        if get(row, MALFORMED) is not None:
            reject("malformed_row", str(row[MALFORMED]))
            continue
        task_id, label, decided_text = get(row, "task_id"), get(row, "label"), get(row, "decided_at")
        reviewer = get(row, "reviewer_id") or reviewer_default
        empty = [
            c
            for c, v in (
                ("task_id", task_id),
                ("reviewer_id", reviewer),
                ("label", label),
                ("decided_at", decided_text),
            )
            if v is None
        ]
        if empty:
            reject("missing_value", f"no value in {', '.join(empty)}")
            continue
        decided, problem = _instant(str(decided_text))
        if problem:
            reject("bad_timestamp", f"decided_at {decided_text!r} {problem}")
            continue
        if decided > latest:
            reject(
                "bad_timestamp",
                f"decided_at {decided_text} is in the future (now {latest - CLOCK_SKEW:%Y-%m-%dT%H:%M:%SZ})",
            )
            continue
        claimed_text = get(row, "claimed_at")
        claimed = None
        if claimed_text is not None:
            claimed, problem = _instant(str(claimed_text))
            if problem:
                reject("bad_timestamp", f"claimed_at {claimed_text!r} {problem}")
                continue
            if claimed > latest:
                reject("bad_timestamp", f"claimed_at {claimed_text} is in the future")
                continue
            if claimed > decided:
                reject("bad_timestamp", f"claimed_at {claimed_text} is after decided_at {decided_text}")
                continue
        final_action = get(row, "final_action")
        final_action = str(final_action).lower() if final_action is not None else None
        if final_action is not None and final_action not in FINAL_ACTIONS:
            reject("invalid_final_action", f"final_action {final_action!r} is not one of {', '.join(FINAL_ACTIONS)}")
            continue
        valid.append(
            {
                "task_id": str(task_id),
                "reviewer_id": str(reviewer),
                "label": str(label).lower(),
                "final_action": final_action,
                "claimed_at": claimed,
                "decided_at": decided,
                LINE: line,
            }
        )

    valid_frame = pd.DataFrame(valid, columns=[*OUTCOME_COLUMNS, LINE])
    for column in ("claimed_at", "decided_at"):
        valid_frame[column] = pd.to_datetime(valid_frame[column], utc=True).astype("datetime64[us, UTC]")
    return valid_frame, pd.DataFrame(rejected, columns=[LINE, "rejection", "detail"])


def store_rejections(rejections: pd.DataFrame) -> pd.DataFrame:
    """The store's rejected rows as ``__line``, ``rejection``, ``detail``."""
    if rejections.empty:
        return pd.DataFrame(columns=[LINE, "rejection", "detail"])
    out = rejections[[LINE, "rejection"]].copy()
    out["detail"] = out["rejection"].map(STORE_REJECTION_DETAILS).fillna("")
    return out.reset_index(drop=True)


def rejection_report(raw: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows as the reviewer sent them, by line: line, rejection, detail, the file's columns, raw text.
    Fixing the values and importing the report again works: its extra columns are ignored."""
    own = [c for c in raw.columns if c not in (LINE, MALFORMED, RAW, *REPORT_COLUMNS, "raw")]
    merged = rejected.merge(raw[[LINE, *own, RAW]], on=LINE, how="left").sort_values(LINE, kind="stable")
    merged = merged.rename(columns={LINE: "line", RAW: "raw"})
    return merged[[*REPORT_COLUMNS, *own, "raw"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- pure: queues


def filter_tasks(
    tasks: pd.DataFrame, *, policies: Sequence[str] | None = None, regions: Sequence[str] | None = None
) -> pd.DataFrame:
    """Tasks of the given policies and regions (all when a filter is empty)."""
    keep = pd.Series(True, index=tasks.index)
    if policies:
        keep &= tasks["policy_id"].isin(list(policies))
    if regions:
        keep &= tasks["region"].isin(list(regions))
    return tasks[keep]


def queue_summary(tasks: pd.DataFrame, now: dt.datetime, by: str = "queue") -> pd.DataFrame:
    """Per queue (or per `by` column, e.g. policy_id): tasks by status, the oldest due_by still pending (open,
    claimed, carried over), and SLA breaches: ``late_decided`` (decided after due_by) + ``overdue`` (not decided
    and due_by already past at ``now``)."""
    columns = [by, *SUMMARY_STATUSES, "oldest_due_by", "late_decided", "overdue", "sla_breaches"]
    if by != "queue":
        columns.insert(1, "queues")
    if tasks.empty:
        return pd.DataFrame(columns=columns)
    t = tasks.assign(
        due_by=pd.to_datetime(tasks["due_by"], utc=True), decided_at=pd.to_datetime(tasks["decided_at"], utc=True)
    )
    now_ts = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    decided = t["status"] == "decided"
    pending = t["status"].isin(PENDING_STATUSES)
    t = t.assign(
        late_decided=decided & (t["decided_at"] > t["due_by"]),
        overdue=~decided & (t["due_by"] < now_ts),
        pending_due=t["due_by"].where(pending),
    )
    counts = pd.crosstab(t[by], t["status"]).reindex(columns=list(SUMMARY_STATUSES), fill_value=0)
    grouped = t.groupby(by)
    out = counts.join(grouped["pending_due"].min().rename("oldest_due_by"))
    out = out.join(grouped[["late_decided", "overdue"]].sum().astype("int64"))
    if by != "queue":
        out = out.join(grouped["queue"].nunique().rename("queues"))
    out["sla_breaches"] = out["late_decided"] + out["overdue"]
    out = out.reset_index().sort_values(by, kind="stable").reset_index(drop=True)
    return out[columns]


# ---------------------------------------------------------------------------------------------- I/O: export


@dataclass(frozen=True)
class ExportedQueue:
    queue: str
    tasks: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class ExportResult:
    out_dir: str
    queues: list[ExportedQueue]
    tasks: int
    missing_content: int
    sha256: dict[str, str] = field(default_factory=dict)


def select_tasks_for_export(
    engine: Engine,
    *,
    run_key: str | None = None,
    day: dt.date | None = None,
    queues: Sequence[str] | None = None,
    include_carried_over: bool = False,
    policies: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Open (and optionally carried-over) tasks matching the filters, each with the lake day of its item."""
    statuses = ["open", "carried_over"] if include_carried_over else ["open"]
    frames = [store.fetch_review_tasks(engine, status=s, run_key=run_key) for s in statuses]
    found = [f for f in frames if len(f)]
    tasks = pd.concat(found, ignore_index=True) if found else frames[0]
    if queues:
        tasks = tasks[tasks["queue"].isin(list(queues))]
    tasks = _with_days(engine, filter_tasks(tasks, policies=policies, regions=regions))
    if day is not None:
        tasks = tasks[tasks["day"] == day]
    return tasks.reset_index(drop=True)


def _with_days(engine: Engine, tasks: pd.DataFrame) -> pd.DataFrame:
    """Fill a missing task ``day`` from its run's parameters in the ledger (the day the run swept)."""
    tasks = tasks.copy()
    tasks["day"] = pd.Series(
        [None if pd.isna(d) else pd.Timestamp(d).date() for d in tasks["day"]], index=tasks.index, dtype=object
    )
    missing = tasks["day"].isna()
    for run_id in sorted(set(tasks.loc[missing, "run_id"])):
        run = store.get_run(engine, run_id)
        value = ((run or {}).get("parameters") or {}).get("day")
        if value:
            tasks.loc[missing & (tasks["run_id"] == run_id), "day"] = dt.date.fromisoformat(str(value))
    return tasks


def read_item_content(lake: Lake, tasks: pd.DataFrame, key: str | bytes) -> pd.DataFrame:
    """The content of the tasks' items from the lake, partition by partition: only the needed columns, only the
    wanted item ids (pyarrow filter), stopping once every id is found. Author ids are pseudonymised here."""
    frames: list[pd.DataFrame] = []
    known = tasks.dropna(subset=["day"])
    for (day, run_key), group in known.groupby(["day", "run_key"], sort=True):
        wanted = set(group["item_id"].astype(str))
        for path in lake.parts("items", day, str(run_key)):
            if not wanted:
                break
            table = pq.read_table(
                path,
                columns=list(LAKE_CONTENT_COLUMNS),
                filesystem=lake.fs,
                filters=pc.field("item_id").isin(sorted(wanted)),
            )
            if table.num_rows:
                part = table.to_pandas()
                part["author_pseudonym"] = pseudonymise(part.pop("author_id"), key)
                frames.append(part)
                wanted -= set(part["item_id"])
    columns = [c for c in LAKE_CONTENT_COLUMNS if c != "author_id"] + ["author_pseudonym"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns].drop_duplicates("item_id").reset_index(drop=True)


def write_export(
    frames: Mapping[str, pd.DataFrame], out_dir: Path, formats: Iterable[str]
) -> tuple[list[ExportedQueue], dict[str, str]]:
    """One file per queue per format in ``out_dir``; returns what was written and each file's sha256."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, digests = [], {}
    for queue, frame in frames.items():
        stem = safe_queue_filename(queue)
        files = []
        for fmt in formats:
            data = RENDERERS[fmt](frame)
            path = out_dir / f"{stem}.{fmt}"
            write_file_atomically(path, data)
            files.append(str(path))
            digests[path.name] = hashlib.sha256(data).hexdigest()
        written.append(ExportedQueue(queue, len(frame), tuple(files)))
    return written, digests


def default_export_dir(exports_dir: Path, now: dt.datetime | None = None) -> Path:
    """``<exports>/reviews/<UTC timestamp>/``, with a suffix if that folder already exists."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = exports_dir / "reviews" / stamp
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{stamp}-{n}")
    return candidate


def export_reviews(
    engine: Engine,
    lake: Lake,
    out_dir: Path,
    *,
    key: str | bytes,
    formats: Sequence[str] = EXPORT_FORMATS,
    run_key: str | None = None,
    day: dt.date | None = None,
    queues: Sequence[str] | None = None,
    include_carried_over: bool = False,
    actor: str = "cli",
    policies: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> ExportResult:
    """Export the selected open tasks with their content, one file per queue and format, and record the
    export (file hashes, no content) in the audit log. Nothing is written when no task matches."""
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {', '.join(unknown)}")
    tasks = select_tasks_for_export(
        engine,
        run_key=run_key,
        day=day,
        queues=queues,
        policies=policies,
        regions=regions,
        include_carried_over=include_carried_over,
    )
    if tasks.empty:
        return ExportResult(str(out_dir), [], 0, 0)
    # An account review is about an account, not an item: never looked up in the lake (an id that is never found
    # would keep the read from stopping early), nor counted as missing content.
    item_tasks = tasks[tasks["reason"] != "account_review"]
    items = read_item_content(lake, item_tasks, key)
    missing = int((~item_tasks["item_id"].isin(items["item_id"])).sum())
    from modsweep.tasks.appeals_io import with_appeal_context

    # appeal queues carry the appeal and the original decision's evidence (other queues' files are unchanged)
    written, digests = write_export(with_appeal_context(engine, lake, export_frames(tasks, items)), out_dir, formats)
    store.append_audit(
        engine,
        actor=actor,
        event="reviews.exported",
        subject=str(out_dir)[-255:],
        payload={
            "out_dir": str(out_dir),
            "tasks": len(tasks),
            "queues": len(written),
            "missing_content": missing,
            "include_carried_over": include_carried_over,
            "filters": {
                "run_key": run_key,
                "day": day.isoformat() if day else None,
                "queues": sorted(queues or []),
                "policies": sorted(policies or []),
                "regions": sorted(regions or []),
            },
            "files": digests,
        },
    )
    return ExportResult(str(out_dir), written, len(tasks), missing, digests)


# ---------------------------------------------------------------------------------------------- I/O: import


@dataclass(frozen=True)
class ImportReport:
    """What one import did. ``exit_code``: 0 all rows applied or unchanged, 1 some rows rejected."""

    file: str
    sha256: str
    format: str
    rows: int
    applied: int
    unchanged: int
    rejected: int
    rejections: dict[str, int]
    report_path: str | None
    audit_seq: int
    lifecycle: dict[str, Any] = field(default_factory=dict)  # appeals decided, reversals, account reviews applied

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0


def outcomes_format(path: Path, fmt: str | None = None) -> str:
    """The decisions file's format: as given, else from the suffix (.csv, .jsonl/.ndjson/.json)."""
    if fmt is not None:
        if fmt not in IMPORT_FORMATS:
            raise OutcomesFileError(f"unknown format {fmt!r}; use {' or '.join(IMPORT_FORMATS)}")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    guessed = {"ndjson": "jsonl", "json": "jsonl"}.get(suffix, suffix)
    if guessed not in IMPORT_FORMATS:
        raise OutcomesFileError(f"{path.name}: cannot tell the format from {path.suffix!r}; pass --format csv|jsonl")
    return guessed


def read_outcomes_file(path: Path, fmt: str | None = None) -> tuple[pd.DataFrame, str, str]:
    """The file as a raw outcomes frame, its format and its sha256; OutcomesFileError if it cannot be read."""
    fmt = outcomes_format(path, fmt)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OutcomesFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OutcomesFileError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    try:
        frame = outcomes_frame(text, fmt)
    except OutcomesFileError as exc:
        raise OutcomesFileError(f"{path}: {exc}") from exc
    return frame, fmt, hashlib.sha256(data).hexdigest()


def rejected_report_path(path: Path) -> Path:
    """``<name>.rejected.csv`` next to the input."""
    return path.with_name(f"{path.stem}.rejected.csv")


def import_outcomes_file(
    engine: Engine, path: Path, *, fmt: str | None = None, reviewer_default: str | None = None, actor: str = "cli"
) -> ImportReport:
    """Validate every row, apply the valid ones in one transaction, write rejected rows with their reasons to
    ``<name>.rejected.csv`` and append ``reviews.imported`` to the audit log. Raises OutcomesFileError (nothing
    applied, nothing logged) when the file is unreadable or lacks a required column."""
    raw, fmt, digest = read_outcomes_file(path, fmt)
    from modsweep.policy import load_pack
    from modsweep.tasks import appeals_io

    try:
        valid, rejected_here = parse_outcomes(raw, reviewer_default=reviewer_default)
    except OutcomesFileError as exc:
        raise OutcomesFileError(f"{path}: {exc}") from exc
    valid, by_original = appeals_io.reject_original_reviewers(engine, valid)  # an appeal needs a fresh pair of eyes
    rejected_here = pd.concat([d for d in (rejected_here, by_original) if len(d)] or [rejected_here], ignore_index=True)
    if len(valid):
        result = store.apply_review_outcomes(engine, valid)
    else:
        result = store.ReviewImportResult(applied=0, unchanged=0, rejected=0, rejections=valid.iloc[0:0])
    pack = load_pack()
    lifecycle = appeals_io.resolve_decided_appeals(engine, pack.spec.enforcement, actor=actor, pack=pack)
    parts = [d for d in (rejected_here, store_rejections(result.rejections)) if len(d)]
    rejected = pd.concat(parts, ignore_index=True) if parts else rejected_here
    by_reason = {str(k): int(v) for k, v in sorted(rejected["rejection"].value_counts().items())}
    report_path: Path | None = None
    if len(rejected):
        report_path = rejected_report_path(path)
        buffer = io.StringIO(newline="")
        rejection_report(raw, rejected).to_csv(buffer, index=False, lineterminator="\n")
        write_file_atomically(report_path, buffer.getvalue().encode("utf-8"))
    seq = store.append_audit(
        engine,
        actor=actor,
        event="reviews.imported",
        subject=path.name[-255:],
        payload={
            "file": str(path),
            "sha256": digest,
            "format": fmt,
            "rows": len(raw),
            "applied": result.applied,
            "unchanged": result.unchanged,
            "rejected": len(rejected),
            "rejections": by_reason,
            "reviewer_default": reviewer_default,
        },
    )
    return ImportReport(
        file=str(path),
        sha256=digest,
        format=fmt,
        rows=len(raw),
        applied=result.applied,
        unchanged=result.unchanged,
        rejected=len(rejected),
        rejections=by_reason,
        report_path=str(report_path) if report_path else None,
        audit_seq=seq,
        lifecycle=lifecycle,
    )


# ---------------------------------------------------------------------------------------------- I/O: simulate


def read_truth(truth_dir: Path) -> pd.DataFrame:
    """The generator's ground truth (item_id, policy_id) from every Parquet file under ``truth_dir``."""
    if not truth_dir.is_dir():
        raise FileNotFoundError(f"truth folder {truth_dir} does not exist")
    files = sorted(truth_dir.rglob("*.parquet"))
    if not files:
        return pd.DataFrame(columns=["item_id", "policy_id"])
    return pd.concat([pd.read_parquet(f, columns=["item_id", "policy_id"]) for f in files], ignore_index=True)


def simulated_outcomes(
    tasks: pd.DataFrame, truth: pd.DataFrame, *, accuracy: float, false_positive_rate: float
) -> pd.DataFrame:
    """Simulated reviewers' decisions, seeded per run key as the sweep seeds them, so a replay is identical."""
    now = pd.Timestamp.now(tz="UTC")
    frames = [
        review.simulate_outcomes(
            group, truth, accuracy=accuracy, false_positive_rate=false_positive_rate, seed=str(run_key), not_after=now
        )
        for run_key, group in tasks.groupby("run_key", sort=True)
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(OUTCOME_COLUMNS)].sort_values("task_id", kind="stable")


def outcomes_csv(outcomes: pd.DataFrame) -> bytes:
    """Decisions as the review tool would send them: CSV, timestamps ISO-8601 with their zone."""
    out = outcomes[list(OUTCOME_COLUMNS)].copy()
    for column in ("claimed_at", "decided_at"):
        stamps = pd.to_datetime(out[column], utc=True).dt.floor("us")
        out[column] = [None if pd.isna(t) else t.isoformat() for t in stamps]
    buffer = io.StringIO(newline="")
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def simulate_reviews(
    engine: Engine,
    *,
    truth_dir: Path,
    out_path: Path,
    accuracy: float,
    false_positive_rate: float,
    run_key: str | None = None,
    actor: str = "simulated-reviewers",
    tasks: pd.DataFrame | None = None,
) -> tuple[int, ImportReport | None]:
    """Play simulated reviewers on the open tasks, write their decisions to ``out_path`` and import that file
    through the same path as a real review tool's file. Returns the open task count and the import report
    (None when no task was open). ``tasks``: the stored tasks to play (default: the open tasks of ``run_key``;
    a sweep passes its whole sample, which may hold tasks another run stored first)."""
    truth = read_truth(truth_dir)
    if tasks is None:
        tasks = store.fetch_review_tasks(engine, status="open", run_key=run_key)
    tasks = tasks[tasks["status"] == "open"]
    if tasks.empty:
        return 0, None
    from modsweep.tasks.appeals_io import avoid_original_reviewers, simulate_account_reviews

    outcomes = simulated_outcomes(tasks, truth, accuracy=accuracy, false_positive_rate=false_positive_rate)
    outcomes = avoid_original_reviewers(engine, outcomes)  # appeals go to someone else than the first reviewer
    outcomes = simulate_account_reviews(engine, outcomes, truth)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(out_path, outcomes_csv(outcomes))
    return len(tasks), import_outcomes_file(engine, out_path, fmt="csv", actor=actor)


# ---------------------------------------------------------------------------------------------- I/O: queues


def read_queue_summary(
    engine: Engine,
    *,
    now: dt.datetime,
    run_key: str | None = None,
    day: dt.date | None = None,
    policies: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    by: str = "queue",
) -> pd.DataFrame:
    """queue_summary over the stored tasks matching the filters."""
    tasks = store.fetch_review_tasks(engine, run_key=run_key)
    if day is not None and len(tasks):
        tasks = tasks[[d is not None and pd.Timestamp(d).date() == day for d in tasks["day"]]]
    return queue_summary(filter_tasks(tasks, policies=policies, regions=regions), now, by=by)
