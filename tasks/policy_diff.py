"""`policy diff OLD NEW`: a change brief for moderators and reviewers (DESIGN §11).

Two parts, both pure: what changed in the pack (per policy: bands by region and profile, detectors, lexicon
terms, claims, hashtags, SLA, floors, dates) and, over past days, whose outcome changes. The impact re-decides
each day's ingested items with both packs exactly as a sweep (and `shadow`) does — `detect_in_chunks`, then
`policy_scores`, then `decide_partition` — and compares them with `shadow.diff_decisions`.

Where past reviews exist, each kind of change carries the share of its reviewed items found violating,
weighted by 1/inclusion_prob (Hájek), with a 95% Wilson interval on Kish's effective sample size; its coverage
on a simulated stratified sample is measured in tests/test_policy_diff.py (docs: README "policy diff").
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from modsweep.policy import ACTION_SEVERITY, PolicyPack, PolicySpec
from modsweep.tasks.approval import markdown_text
from modsweep.tasks.audit import wilson_interval
from modsweep.tasks.review import SIMULATED_REVIEWER_PREFIX
from modsweep.tasks.shadow import diff_decisions

RESOURCE_KEYS = {"terms": "terms", "claims": "claims", "patterns": "patterns", "hashes": "hashes"}


@dataclass(frozen=True)
class PackChange:
    """One difference between two packs: where (policy or profile), what, before and after."""

    scope: str  # a policy id, `profile:<name>` or `pack`
    area: str  # bands, detectors, lexicon, claims, hashtags, patterns, sla, floor, dates, dsa, severity, ...
    what: str
    old: str
    new: str


@dataclass
class Brief:
    """Everything a change brief shows."""

    old: str
    new: str
    changes: list[PackChange]
    days: list[date] = field(default_factory=list)
    impact: pd.DataFrame | None = None  # per policy × change: items, reviewed, violating share and interval
    examples: pd.DataFrame | None = None  # a few changed items per policy × change, pseudonymised
    notes: list[str] = field(default_factory=list)


# --- what changed in the pack ---------------------------------------------------------------------------------


def _ladder(bands: list[Any]) -> str:
    return ", ".join(f"{b.action} ≥ {b.describe()}" for b in bands) or "—"


def _resource_entries(pack: PolicyPack, rel: str, kind: str) -> dict[str, str]:
    """Entries of a resource file keyed by what identifies them: term, claim text, pattern or hash → detail."""
    text = pack.resources.get(rel)
    if text is None:
        return {}
    if kind == "claims":
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        return {r.text.strip(): f"{r.claim_id} → {r.fact_check_url}" for r in frame.itertuples()}
    out = {}
    for line in pack.resource_lines(rel):
        key, _, weight = line.partition("\t")
        out[key.strip()] = weight.strip() or "1.0"
    return out


def _detector_resources(policy: PolicySpec | None) -> dict[tuple[str, str], tuple[str, str]]:
    """(detector kind, resource key) → (relative path, detector id) for a policy's resource-backed detectors."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for d in policy.detectors if policy else []:
        for key in RESOURCE_KEYS:
            if isinstance(d.params.get(key), str):
                out[(d.id, key)] = (d.params[key], d.kind)
    return out


def _area(kind: str, key: str) -> str:
    return {
        "lexicon": "lexicon",
        "hashtag": "hashtags",
        "claim_match": "claims",
        "regex": "patterns",
        "hash_match": "hashes",
    }.get(kind, key)


def pack_changes(old: PolicyPack, new: PolicyPack) -> list[PackChange]:
    """Every difference a moderator needs to know, policy by policy, then profiles."""
    out: list[PackChange] = []
    if old.version != new.version:
        out.append(PackChange("pack", "version", "version", old.version, new.version))
    olds = {p.id: p for p in old.spec.policies}
    news = {p.id: p for p in new.spec.policies}
    for pid in [*olds, *(p for p in news if p not in olds)]:
        a, b = olds.get(pid), news.get(pid)
        if a is None or b is None:
            out.append(
                PackChange(
                    pid, "policy", "policy", "absent" if a is None else a.title, "absent" if b is None else b.title
                )
            )
            if a is None or b is None:
                continue
        out.extend(_policy_changes(pid, a, b, old, new))
    for name in [*old.spec.profiles, *(n for n in new.spec.profiles if n not in old.spec.profiles)]:
        pa_, pb = old.spec.profiles.get(name), new.spec.profiles.get(name)
        scope = f"profile:{name}"
        if pa_ is None or pb is None:
            out.append(
                PackChange(
                    scope,
                    "profile",
                    "profile",
                    "absent" if pa_ is None else "present",
                    "absent" if pb is None else "present",
                )
            )
            continue
        for pid in sorted(set(pa_.threshold_offsets) | set(pb.threshold_offsets)):
            x, y = pa_.threshold_offsets.get(pid, 0.0), pb.threshold_offsets.get(pid, 0.0)
            if x != y:
                out.append(PackChange(scope, "bands", f"{pid} threshold offset", f"{x:+g}", f"{y:+g}"))
        if pa_.qa_multiplier != pb.qa_multiplier:
            out.append(
                PackChange(scope, "qa", "QA sample multiplier", f"{pa_.qa_multiplier:g}", f"{pb.qa_multiplier:g}")
            )
        for pid in sorted(set(pa_.priority_multiplier) | set(pb.priority_multiplier)):
            x, y = pa_.priority_multiplier.get(pid, 1.0), pb.priority_multiplier.get(pid, 1.0)
            if x != y:
                out.append(PackChange(scope, "queues", f"{pid} priority multiplier", f"{x:g}", f"{y:g}"))
        for pid in sorted(set(pa_.extra_detectors) | set(pb.extra_detectors)):
            x = {d.id: d for d in pa_.extra_detectors.get(pid, [])}
            y = {d.id: d for d in pb.extra_detectors.get(pid, [])}
            for did in sorted(set(x) | set(y)):
                if x.get(did) != y.get(did):
                    out.append(
                        PackChange(
                            scope,
                            "detectors",
                            f"{pid} extra detector {did}",
                            _detector_text(x.get(did)),
                            _detector_text(y.get(did)),
                        )
                    )
            for (did, key), (rel_b, kind) in _profile_resources(pb.extra_detectors.get(pid, [])).items():
                rel_a = _profile_resources(pa_.extra_detectors.get(pid, [])).get((did, key), (None, kind))[0]
                out.extend(_resource_changes(scope, f"{pid} {did}", kind, key, old, rel_a, new, rel_b))
    return out


def _profile_resources(dets: list[Any]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(d.id, k): (d.params[k], d.kind) for d in dets for k in RESOURCE_KEYS if isinstance(d.params.get(k), str)}


def _detector_text(d: Any) -> str:
    if d is None:
        return "absent"
    params = {k: v for k, v in d.params.items() if k not in RESOURCE_KEYS}
    return f"{d.kind}, weight {d.weight:g}" + (f", {params}" if params else "")


def _policy_changes(pid: str, a: PolicySpec, b: PolicySpec, old: PolicyPack, new: PolicyPack) -> list[PackChange]:
    out = []
    for attr, area in (
        ("title", "title"),
        ("severity", "severity"),
        ("sla_hours", "sla"),
        ("precision_floor", "floor"),
        ("never_automate", "automation"),
        ("effective_from", "dates"),
        ("effective_until", "dates"),
    ):
        x, y = getattr(a, attr), getattr(b, attr)
        if x != y:
            out.append(PackChange(pid, area, attr, str(x), str(y)))
    if a.precision_targets != b.precision_targets:
        out.append(PackChange(pid, "floor", "precision_targets", str(a.precision_targets), str(b.precision_targets)))
    if a.dsa != b.dsa:
        out.append(
            PackChange(
                pid,
                "dsa",
                "DSA statement",
                f"{a.dsa.category} {a.dsa.category_specification}",
                f"{b.dsa.category} {b.dsa.category_specification}",
            )
        )
    if a.bands != b.bands:
        out.append(PackChange(pid, "bands", "default bands", _ladder(a.bands), _ladder(b.bands)))
    for region in [*a.regions, *(r for r in b.regions if r not in a.regions)]:
        x, y = a.regions.get(region), b.regions.get(region)
        if x != y:
            out.append(
                PackChange(
                    pid,
                    "bands",
                    f"{region} bands",
                    _ladder(x.bands) if x else "default bands",
                    _ladder(y.bands) if y else "default bands",
                )
            )
    da, db = {d.id: d for d in a.detectors}, {d.id: d for d in b.detectors}
    for did in [*da, *(d for d in db if d not in da)]:
        x, y = da.get(did), db.get(did)
        if x is None or y is None:
            out.append(PackChange(pid, "detectors", f"detector {did}", _detector_text(x), _detector_text(y)))
        elif x.weight != y.weight or x.kind != y.kind:
            out.append(
                PackChange(pid, "detectors", f"detector {did} re-weighted", _detector_text(x), _detector_text(y))
            )
        elif {k: v for k, v in x.params.items() if k not in RESOURCE_KEYS} != {
            k: v for k, v in y.params.items() if k not in RESOURCE_KEYS
        } or x.enforce != y.enforce:
            out.append(PackChange(pid, "detectors", f"detector {did} parameters", _detector_text(x), _detector_text(y)))
    ra, rb = _detector_resources(a), _detector_resources(b)
    for did, key in [*ra, *(k for k in rb if k not in ra)]:
        rel_a, kind = ra.get((did, key), (None, ""))
        rel_b, kind_b = rb.get((did, key), (None, kind))
        out.extend(_resource_changes(pid, did, kind or kind_b, key, old, rel_a, new, rel_b))
    return out


def _resource_changes(
    scope: str, did: str, kind: str, key: str, old: PolicyPack, rel_a: str | None, new: PolicyPack, rel_b: str | None
) -> list[PackChange]:
    """Entries added, removed or re-weighted between a detector's old and new resource file."""
    x = _resource_entries(old, rel_a, key) if rel_a else {}
    y = _resource_entries(new, rel_b, key) if rel_b else {}
    area = _area(kind, key)
    out = []
    for entry in sorted(set(y) - set(x)):
        out.append(PackChange(scope, area, f"{did}: added", "—", f"{entry} ({y[entry]})"))
    for entry in sorted(set(x) - set(y)):
        out.append(PackChange(scope, area, f"{did}: removed", f"{entry} ({x[entry]})", "—"))
    for entry in sorted(set(x) & set(y)):
        if x[entry] != y[entry]:
            out.append(PackChange(scope, area, f"{did}: changed {entry}", x[entry], y[entry]))
    return out


# --- impact on past traffic -----------------------------------------------------------------------------------


def classify_outcomes(diff: pd.DataFrame) -> pd.DataFrame:
    """`shadow.diff_decisions` rows that differ, with `outcome`: new, dropped, stricter or looser action."""
    changed = diff[diff["change"] != "same"].copy()
    old_rank = changed["action_live"].map(ACTION_SEVERITY)
    new_rank = changed["action_candidate"].map(ACTION_SEVERITY)
    changed["outcome"] = np.select(
        [changed["change"] == "new", changed["change"] == "dropped", new_rank > old_rank],
        ["new", "dropped", "stricter"],
        default="looser",
    )
    return changed.rename(
        columns={
            "action_live": "action_old",
            "action_candidate": "action_new",
            "score_live": "score_old",
            "score_candidate": "score_new",
            "automated_live": "automated_old",
            "automated_candidate": "automated_new",
        }
    )


def day_changes(old_decisions: pd.DataFrame, new_decisions: pd.DataFrame, day: date) -> pd.DataFrame:
    """One day's changed outcomes between the two packs' decisions (DECISIONS frames)."""
    out = classify_outcomes(diff_decisions(old_decisions, new_decisions))
    views = pd.concat([old_decisions[["item_id", "views"]], new_decisions[["item_id", "views"]]]).drop_duplicates(
        "item_id"
    )
    out = out.merge(views, on="item_id", how="left")
    out["views"] = out["views"].fillna(0).astype(np.int64)
    out["day"] = day.isoformat()
    return out


def weighted_share(y: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float]:
    """Hájek share Σwy/Σw with a 95% Wilson interval on Kish's effective n = (Σw)²/Σw²: (p, lo, hi, n_eff)."""
    if not len(y):
        return float("nan"), float("nan"), float("nan"), 0.0
    p = float(np.sum(w * y) / np.sum(w))
    n_eff = float(np.sum(w) ** 2 / np.sum(w**2))
    lo, hi = wilson_interval(p * n_eff, n_eff)
    return p, lo, hi, n_eff


def impact_table(changes: pd.DataFrame, reviewed: pd.DataFrame) -> pd.DataFrame:
    """Per policy × outcome: changed items, and where some were reviewed (first review of each item × policy,
    weighted by 1/inclusion_prob), the share found violating with its 95% interval."""
    cols = [
        "policy_id",
        "outcome",
        "items",
        "views",
        "reviewed",
        "reviewed_simulated",
        "violating_share",
        "ci_low",
        "ci_high",
        "n_effective",
    ]
    if changes.empty:
        return pd.DataFrame(columns=cols)
    rev = reviewed.dropna(subset=["label"])
    rev = rev[rev["inclusion_prob"].astype(float) > 0].drop_duplicates(["item_id", "policy_id"])
    rev = rev.assign(
        simulated=rev.get("reviewer_id", pd.Series("", index=rev.index))
        .astype(str)
        .str.startswith(SIMULATED_REVIEWER_PREFIX)
    )
    joined = changes.merge(
        rev[["item_id", "policy_id", "label", "inclusion_prob", "simulated"]], on=["item_id", "policy_id"], how="left"
    )
    rows = []
    for (policy, outcome), g in joined.groupby(["policy_id", "outcome"], sort=True):
        r = g.dropna(subset=["label"])
        p, lo, hi, n_eff = weighted_share(
            (r["label"] == "violating").to_numpy(dtype=float), 1.0 / r["inclusion_prob"].to_numpy(dtype=float)
        )
        rows.append(
            {
                "policy_id": policy,
                "outcome": outcome,
                "items": len(g),
                "views": int(g["views"].sum()) if "views" in g else 0,
                "reviewed": len(r),
                "reviewed_simulated": int(r["simulated"].astype(bool).sum()),
                "violating_share": p,
                "ci_low": lo,
                "ci_high": hi,
                "n_effective": n_eff,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def pick_examples(
    changes: pd.DataFrame, items: pd.DataFrame, pseudonyms: pd.Series, per_change: int = 3, max_chars: int = 160
) -> pd.DataFrame:
    """The highest-reach changed items of each policy × outcome, text cut short, author pseudonymised."""
    cols = [
        "policy_id",
        "outcome",
        "day",
        "item_id",
        "region",
        "language",
        "action_old",
        "action_new",
        "score_old",
        "score_new",
        "views",
        "author",
        "text",
    ]
    if changes.empty:
        return pd.DataFrame(columns=cols)
    texts = items[["item_id", "text", "language"]].assign(author=pseudonyms.to_numpy())
    top = (
        changes.sort_values(["views", "item_id"], ascending=[False, True])
        .groupby(["policy_id", "outcome"], sort=True)
        .head(per_change)
    )
    out = top.merge(texts, on="item_id", how="left")
    text = out["text"].fillna("").astype(str)
    out["text"] = text.str.slice(0, max_chars).where(text.str.len() <= max_chars, text.str.slice(0, max_chars) + "…")
    return out.reindex(columns=cols).sort_values(["policy_id", "outcome", "views"], ascending=[True, True, False])


# --- rendering ------------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    """A cell for the brief: '—' for a missing value, 3 decimals for a score, thousands for a count."""
    if isinstance(value, float):
        return "—" if np.isnan(value) else f"{value:.3f}"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    return f"{value:,}" if isinstance(value, int | np.integer) else str(value)


def _interval(r: Any) -> str:
    if not r.reviewed:
        return "no reviews"
    sim = f", {r.reviewed_simulated} by simulated reviewers" if r.reviewed_simulated else ""
    return f"{r.violating_share:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] (n={r.reviewed}, n_eff={r.n_effective:.1f}{sim})"


def render_markdown(brief: Brief) -> str:
    """The brief as one Markdown file; every value from the data is escaped (markdown_text)."""
    md = markdown_text
    lines = [f"# Policy change brief: {md(brief.old)} → {md(brief.new)}", ""]
    lines += ["## What changed", ""]
    if not brief.changes:
        lines.append("No differences between the packs.")
    else:
        lines += ["| where | area | what | before | after |", "|---|---|---|---|---|"]
        lines += [f"| {md(c.scope)} | {md(c.area)} | {md(c.what)} | {md(c.old)} | {md(c.new)} |" for c in brief.changes]
    if brief.days:
        lines += ["", f"## Impact on {len(brief.days)} past day(s): {brief.days[0]} … {brief.days[-1]}", ""]
        imp = brief.impact if brief.impact is not None else pd.DataFrame()
        if imp.empty:
            lines.append("No item's outcome changes on these days.")
        else:
            lines += [
                "| policy | outcome | items | views | reviewed: violating share [95% CI] |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {md(r.policy_id)} | {md(r.outcome)} | {r.items:,} | {r.views:,} | {md(_interval(r))} |"
                for r in imp.itertuples()
            ]
        ex = brief.examples if brief.examples is not None else pd.DataFrame()
        if len(ex):
            lines += ["", "### Examples (highest reach first; authors pseudonymised)", ""]
            for (policy, outcome), g in ex.groupby(["policy_id", "outcome"], sort=True):
                lines += [f"**{md(policy)} · {md(outcome)}**", ""]
                lines += [
                    f"- `{md(r.item_id)}` {md(r.day)} {md(r.region)}/{md(r.language)}, {_fmt(r.views)} views, "
                    f"author {md(r.author)}: {md(_fmt(r.action_old))} → {md(_fmt(r.action_new))} "
                    f"(score {_fmt(r.score_old)} → {_fmt(r.score_new)}): “{md(r.text)}”"
                    for r in g.itertuples()
                ]
                lines.append("")
    if brief.notes:
        lines += ["", "## Notes", ""] + [f"- {md(n)}" for n in brief.notes]
    return "\n".join(lines).rstrip() + "\n"


def render_html(brief: Brief) -> str:
    """The brief as one self-contained HTML file (inline CSS, no scripts, every value escaped)."""
    e = html.escape
    parts = [f"<h1>Policy change brief: {e(brief.old)} → {e(brief.new)}</h1>", "<h2>What changed</h2>"]
    if brief.changes:
        rows = "".join(
            f"<tr><td>{e(c.scope)}</td><td>{e(c.area)}</td><td>{e(c.what)}</td><td>{e(c.old)}</td>"
            f"<td>{e(c.new)}</td></tr>"
            for c in brief.changes
        )
        parts.append(
            f"<table><tr><th>where</th><th>area</th><th>what</th><th>before</th><th>after</th></tr>{rows}</table>"
        )
    else:
        parts.append("<p>No differences between the packs.</p>")
    if brief.days:
        parts.append(f"<h2>Impact on {len(brief.days)} past day(s): {brief.days[0]} … {brief.days[-1]}</h2>")
        imp = brief.impact if brief.impact is not None else pd.DataFrame()
        if imp.empty:
            parts.append("<p>No item's outcome changes on these days.</p>")
        else:
            rows = "".join(
                f"<tr><td>{e(r.policy_id)}</td><td>{e(r.outcome)}</td><td>{r.items:,}</td><td>{r.views:,}</td>"
                f"<td>{e(_interval(r))}</td></tr>"
                for r in imp.itertuples()
            )
            parts.append(
                "<table><tr><th>policy</th><th>outcome</th><th>items</th><th>views</th>"
                f"<th>reviewed: violating share [95% CI]</th></tr>{rows}</table>"
            )
        ex = brief.examples if brief.examples is not None else pd.DataFrame()
        if len(ex):
            parts.append("<h3>Examples (highest reach first; authors pseudonymised)</h3>")
            for (policy, outcome), g in ex.groupby(["policy_id", "outcome"], sort=True):
                items = "".join(
                    f"<li><code>{e(_fmt(r.item_id))}</code> {e(_fmt(r.day))} {e(_fmt(r.region))}/{e(_fmt(r.language))}, "
                    f"{e(_fmt(r.views))} views, author {e(_fmt(r.author))}: {e(_fmt(r.action_old))} → "
                    f"{e(_fmt(r.action_new))} (score {e(_fmt(r.score_old))} → {e(_fmt(r.score_new))}): "
                    f"<q>{e(_fmt(r.text))}</q></li>"
                    for r in g.itertuples()
                )
                parts.append(f"<h4>{e(policy)} · {e(outcome)}</h4><ul>{items}</ul>")
    if brief.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in brief.notes) + "</ul>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}q{color:#333}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(brief.old)} → {e(brief.new)}</title>'
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
