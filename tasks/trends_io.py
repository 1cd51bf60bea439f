"""The radar's I/O edge: a run's items and decisions from the lake, earlier days' compact aggregates as the
baseline, the day's aggregate and trends written back (lake `trend_aggregates`, `trends`; SQL `trends`). No
Prefect here: the sweep's task (tasks/pipeline.py `detect_trends`) runs `radar_for_run` in a worker process."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modsweep import resources
from modsweep.catalog import RunCatalog
from modsweep.config import get_settings
from modsweep.lake import Lake
from modsweep.tasks import trends as tr
from modsweep.tasks.reviews_io import pseudonymise

ITEM_COLUMNS = ["item_id", "region", "language", "author_id", "text", "hashtags", "views", "author_account_age_days"]
WHOLE_DAY = "day"  # part name of a run's whole-day aggregate and trends


@dataclass(frozen=True)
class RadarOutcome:
    """What a radar run reports (ledger counts, CLI, artifact)."""

    day: date
    run_key: str
    items: int
    candidates: int
    signals: int
    suggestions: int
    baseline_days: int
    aggregate_rows: int
    trends: pd.DataFrame

    def counts(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "candidates": self.candidates,
            "signals": self.signals,
            "suggestions": self.suggestions,
            "baseline_days": self.baseline_days,
            "aggregate_rows": self.aggregate_rows,
        }


def settings_for(rows: int) -> tr.RadarSettings:
    s = get_settings()
    return tr.RadarSettings(window_days=s.trends_window_days, fdr=s.trends_fdr, sample=tr.sample_rate(rows))


def read_day_items(lake: Lake, day: date, run_key: str) -> pa.Table:
    """The radar's columns of a run's ingested items (every part of the day), with only the texts the day's
    signals read: those holding "http" (a URL's domain) and the 1-in-`sample` rows (bigrams, clusters); the
    other texts are null, so a big day's text is never held whole (examples read theirs: `day_text_at`)."""
    from modsweep.schemas import ITEMS

    parts = lake.parts("items", day, run_key)
    if not parts:
        return pa.schema([ITEMS.field(c) for c in ITEM_COLUMNS]).empty_table()
    sizes = _part_rows(lake, parts)
    sample, starts = settings_for(sum(sizes)).sample, np.cumsum([0, *sizes[:-1]])

    def read(path: str, start: int) -> pa.Table:  # a part's text is thinned as soon as it is read
        table = lake.read(path, ITEM_COLUMNS)
        i = table.schema.get_field_index("text")
        return table.set_column(i, "text", _signal_texts(table.column("text").combine_chunks(), int(start), sample))

    # parts read side by side (Parquet decoding releases the GIL)
    with ThreadPoolExecutor(max_workers=min(4, len(parts))) as pool:
        return pa.concat_tables(list(pool.map(read, parts, starts)), promote_options="default")


def _part_rows(lake: Lake, paths: list[str]) -> list[int]:
    """Rows of each Parquet part, from its footer."""
    return [pq.ParquetFile(path, filesystem=lake.fs).metadata.num_rows for path in paths]


def _signal_texts(text: pa.Array, start: int, sample: int) -> pa.Array:
    """A part's texts (its first row is row `start` of the day) kept where `tr.item_signals` reads them, else null."""
    urls = pc.match_substring(pc.fill_null(text, ""), "http").to_numpy(zero_copy_only=False)
    wanted = urls | tr.sampled(len(text), sample, start)
    # a take through null indices: the result holds only the kept texts' bytes (if_else would keep them all)
    return pc.take(text, pa.array(np.arange(len(text)), mask=~wanted))


def day_text_at(lake: Lake, day: date, run_key: str) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of the day (as `read_day_items` numbers them) → their texts ("" where missing), reading only the parts
    that hold them."""

    def text_at(rows: np.ndarray) -> np.ndarray:
        out = np.full(len(rows), "", dtype=object)
        parts = lake.parts("items", day, run_key)
        start = 0
        for path, n in zip(parts, _part_rows(lake, parts), strict=True):
            inside = np.flatnonzero((rows >= start) & (rows < start + n))
            if len(inside):
                out[inside] = tr.text_of(lake.read(path, ["text"]), rows[inside] - start)
            start += n
        return out

    return text_at


def day_aggregates(
    lake: Lake, day: date, run_key: str, items: pa.Table | None = None
) -> tuple[pd.DataFrame, tr.Signals | None, pa.Table | None]:
    """The day's aggregate for a run: read if committed, else computed from its items and written once."""
    ref = lake.ref("trend_aggregates", day, run_key, WHOLE_DAY)
    if ref is not None and items is None:
        return lake.read(ref).to_pandas(), None, None
    items = items if items is not None else read_day_items(lake, day, run_key)
    settings = settings_for(items.num_rows)
    signals = tr.item_signals(items, settings)
    agg = tr.daily_aggregates(items, signals, day, settings)
    if ref is None:
        lake.write(
            pa.Table.from_pandas(agg, schema=tr.AGGREGATES, preserve_index=False),
            "trend_aggregates",
            day,
            run_key,
            WHOLE_DAY,
        )
    return agg, signals, items


def baseline(lake: Lake, day: date, window: int) -> pd.DataFrame:
    """The aggregates of the `window` days before `day`: per day, the largest count of each signal over that day's
    runs (a regional surge and the daily sweep see the same items; they are not added up). Days swept before the
    radar existed get their aggregate computed once from their items (then it is stored)."""
    frames = []
    for k in range(1, window + 1):
        d = day - timedelta(days=k)
        keys = lake.run_keys("trend_aggregates", d)
        if not keys:  # a day swept before the radar: aggregate its newest run's items once
            item_keys = lake.run_keys("items", d)
            if item_keys:
                frames.append(day_aggregates(lake, d, item_keys[-1])[0])
            continue
        parts = [lake.read(p).to_pandas() for key in keys for p in lake.parts("trend_aggregates", d, key)]
        merged = pd.concat(parts, ignore_index=True)
        cols = ["day", "region", "language", "kind", "signal"]
        frames.append(merged.sort_values("items", ascending=False).drop_duplicates(cols))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=tr.AGGREGATES.names)


def radar_for_run(
    lake_root: str, day: date, run_key: str, pack_name: str, profile: str, model_version: str = "latest"
) -> RadarOutcome:
    """The radar over one run's day: aggregate (stored), baseline, trends (stored in the lake and SQL)."""
    from modsweep.store.trends import insert_trends

    lake = resources.lake(lake_root)
    items = read_day_items(lake, day, run_key)
    if not items.num_rows:  # nothing ingested (every row out of scope or quarantined): nothing to count
        empty = pd.DataFrame({f.name: pd.Series(dtype=object) for f in tr.TRENDS})
        return RadarOutcome(
            day=day,
            run_key=run_key,
            items=0,
            candidates=0,
            signals=0,
            suggestions=0,
            baseline_days=0,
            aggregate_rows=0,
            trends=empty,
        )
    settings = settings_for(items.num_rows)
    today, signals, _ = day_aggregates(lake, day, run_key, items)
    base = baseline(lake, day, settings.window_days)
    decisions = _decisions(lake, day, run_key)
    pack = resources.pack(pack_name, profile, model_version)
    key = get_settings().hmac_key.get_secret_value()
    out = tr.radar(
        items,
        signals,
        today,
        base,
        decisions,
        tr.detectors_for_suggestions(pack),
        settings,
        day,
        lambda authors: pseudonymise(authors, key),
        day_text_at(lake, day, run_key),
    )
    outcome = RadarOutcome(
        day=day,
        run_key=run_key,
        items=items.num_rows,
        candidates=int(((today["kind"] != tr.TOTAL) & (today["items"] >= settings.min_volume)).sum()),
        signals=len(out),
        suggestions=int(out["suggestion"].notna().sum()) if len(out) else 0,
        baseline_days=int(base["day"].nunique()) if len(base) else 0,
        aggregate_rows=len(today),
        trends=out,
    )
    cat = RunCatalog(lake.url, day, run_key)
    if not cat.exists("trends", WHOLE_DAY):  # the first result of a run's day is kept, with its counts
        cat.save(
            "trends", WHOLE_DAY, pa.Table.from_pandas(out, schema=tr.TRENDS, preserve_index=False), outcome.counts()
        )
    insert_trends(resources.store_engine(), out, run_key)
    return outcome


def _decisions(lake: Lake, day: date, run_key: str) -> pd.DataFrame:
    parts = lake.parts("decisions", day, run_key)
    if not parts:
        return pd.DataFrame(columns=["item_id", "policy_id"])
    return pa.concat_tables([lake.read(p, ["item_id", "policy_id"]) for p in parts]).to_pandas()


def trends_markdown(outcome: RadarOutcome, per_region: int = 5) -> str:
    """The artifact / report summary: the top signals per region by risk, every value escaped."""
    from modsweep.tasks.approval import markdown_text as md

    t = outcome.trends
    lines = [
        f"# Emerging-risk radar, {outcome.day}",
        "",
        f"{outcome.signals} signal(s) from {outcome.candidates} candidates over {outcome.items:,} items; baseline "
        f"of {outcome.baseline_days} earlier day(s) (negative-binomial burst test, BH FDR); "
        f"{outcome.suggestions} with a suggested pack patch.",
        "",
    ]
    lead = t[t["rank_risk"] > 0] if len(t) else t
    if lead.empty:
        return "\n".join([*lines, "No emerging signal today."])
    lines += [
        "| region | rank | kind | signal | items | expected | z | reach | young | top policy (overlap) | suggestion |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in lead[lead["rank_risk"] <= per_region].sort_values(["region", "rank_risk"]).itertuples():
        policy = f"{r.top_policy} ({r.top_overlap:.0%})" if isinstance(r.top_policy, str) else "—"
        lines.append(
            f"| {md(r.region)} | {r.rank_risk} | {md(r.kind)} | {md(r.label[:60])} | {r.volume:,} | "
            f"{r.expected:.1f} | {r.z:.1f} | {r.reach:,} | {r.young_share:.0%} | {md(policy)} | "
            f"{md(tr.or_dash(r.suggestion))} |"
        )
    return "\n".join(lines)


def candidate_patches(trends: pd.DataFrame, region: str | None = None, top: int = 10) -> list[dict[str, Any]]:
    """The suggested patches of the leading signals (rank_risk ≤ top), per region or for one region."""
    t = trends[(trends["rank_risk"] > 0) & (trends["rank_risk"] <= top) & trends["patch"].notna()]
    if region is not None:
        t = t[t["region"] == region]
    return [json.loads(p) for p in t["patch"]]


def read_trends(lake: Lake, day: date, run_key: str) -> RadarOutcome | None:
    """The stored radar result of a run's day (its trends and the counts saved with them), or None."""
    cat = RunCatalog(lake.url, day, run_key)
    if not cat.exists("trends", WHOLE_DAY):
        return None
    counts = {k: int(v) for k, v in cat.meta("trends", WHOLE_DAY).items() if k != "rows"}
    return RadarOutcome(day=day, run_key=run_key, trends=cat.load("trends", WHOLE_DAY).to_pandas(), **counts)
