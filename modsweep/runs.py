"""Run identity and provenance: run keys, windows, code version and input fingerprints."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict

from modsweep import __version__

SOURCE_SUFFIXES = (".parquet", ".csv", ".tsv", ".jsonl", ".json")


class RunContext(BaseModel):
    """What every task of a run needs to know: small, serialisable, no secrets."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    run_key: str
    flow: str
    day: date
    window_start: datetime
    window_end: datetime
    pack: str
    profile: str
    policy_sha256: str
    seed: str
    lake_root: str
    regions: tuple[str, ...] | None = None
    model_version: str = "latest"
    golden_dir: str | None = None
    models_dir: str = ""

    @property
    def window(self) -> tuple[datetime, datetime]:
        return (self.window_start, self.window_end)


def run_day(run: dict[str, Any]) -> date | None:
    """The lake day of a ledger run: a daily sweep's `day`, a surge's first day (`since`); None if it has neither."""
    params = run.get("parameters") or {}
    if params.get("day"):
        return date.fromisoformat(str(params["day"]))
    if params.get("since"):
        return datetime.fromisoformat(str(params["since"])).astimezone(UTC).date()
    return None


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def utc_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """A validated [since, until) window in UTC (naive datetimes are taken as UTC)."""
    start, end = (t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC) for t in (since, until))
    if end <= start:
        raise ValueError(f"empty window: until ({end.isoformat()}) is not after since ({start.isoformat()})")
    if end - start > timedelta(days=31):
        raise ValueError("a window longer than 31 days is a backfill: use `modsweep backfill`")
    return start, end


def make_run_key(
    flow: str, window: tuple[datetime, datetime], regions: list[str] | None, policy_sha256: str, profile: str
) -> str:
    """Deterministic: the same flow, window, regions, pack content and profile give the same key."""
    parts = [
        flow,
        window[0].isoformat(),
        window[1].isoformat(),
        ",".join(sorted(regions or ["*"])),
        policy_sha256,
        profile,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit (and `-dirty`) when running from a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"{__version__}+g{sha}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def list_source_files(source: Path, day: date | None = None) -> list[Path]:
    """Source partitions: a file, or the files of a folder (its `date=YYYY-MM-DD/` sub-folder when present)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"source {source} does not exist")
    folder = (
        source / f"date={day.isoformat()}"
        if day is not None and (source / f"date={day.isoformat()}").is_dir()
        else source
    )
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES)
    return files


def reject_parent_references(**paths: str | None) -> None:
    """Path parameters of a flow (from the CLI, a deployment's form or an API call) may not climb out with '..'."""
    for name, value in paths.items():
        if value is not None and ".." in PurePath(str(value)).parts:
            raise ValueError(f"flow parameter {name}={value!r} contains '..'; give a path without parent references")


GENERATOR_EXTRAS = ("truth", "golden")  # what `modsweep generate` writes beside items/: never items


def resolve_source(source: Path) -> tuple[Path, str | None]:
    """The folder of items in `source`: `modsweep generate --out DIR` writes DIR/items/ beside DIR/truth/ and
    DIR/golden/ (ground truth, not items), so such a DIR means its items/; returns the folder and a note saying so."""
    items = source / "items"
    if source.is_dir() and items.is_dir() and any((source / extra).is_dir() for extra in GENERATOR_EXTRAS):
        return items, f"{source} is generator output: reading its items/ ({', '.join(GENERATOR_EXTRAS)} are not items)"
    return source, None


def list_window_files(
    source: Path, window: tuple[datetime, datetime]
) -> list[tuple[Path, tuple[datetime, datetime] | tuple[None, None]]]:
    """Source files that can hold the window's items, each with the day its `date=` folder says it holds.

    A source of `date=YYYY-MM-DD/` folders is read only for the days the window touches (none of them present:
    no files, an empty window); a row outside its folder's day is misfiled and quarantined at ingest. A file
    or a folder without `date=` folders is read whole, its day unknown (`(None, None)`): rows outside the
    window are out of scope, not bad data. Raises FileNotFoundError when the source is missing or holds no
    source file at all.
    """
    source, _ = resolve_source(source)
    if not source.exists():
        raise FileNotFoundError(f"source {source} does not exist")
    first, last = window[0].date(), (window[1] - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    if source.is_dir() and any(p.is_dir() for p in source.glob("date=*")):
        return [
            (f, day_window(d))
            for d in days
            if (source / f"date={d.isoformat()}").is_dir()
            for f in list_source_files(source, d)
        ]
    files = list_source_files(source)
    if not files:
        raise FileNotFoundError(f"no source files ({', '.join(SOURCE_SUFFIXES)}) under {source}")
    return [(f, (None, None)) for f in files]


def input_fingerprint(files: list[Path] | list[tuple[Path, Any]]) -> str:
    """sha256 over every source file's name and content, in order: which input a run decided on."""
    digest = hashlib.sha256()
    for entry in files:
        f = entry[0] if isinstance(entry, tuple) else entry
        digest.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
