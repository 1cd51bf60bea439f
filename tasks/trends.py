"""The emerging-risk radar (DESIGN §11): signals whose volume bursts against a baseline of earlier days.

Pure functions over one day's items (and its decisions) and over compact daily aggregates; no I/O.

* **Signals** per item: hashtags, URL domains, word bigrams and near-duplicate text clusters (the text lowercased
  with URLs, hashtags, digits and punctuation removed, hashed: posts that differ only in those share a cluster).
  Bigrams and clusters are counted on a deterministic 1-in-`sample` subset of items (by item-id hash) on every
  day alike: thinning a Poisson count keeps it Poisson, so the test below stays valid at a fraction of the cost.
* **Daily aggregates** (`AGGREGATES`): per day × region × language × kind × signal, items, distinct authors,
  views and young-account items, keeping signals with at least `min_items` items, plus one `_total` row per
  region × language (the exposure). The sweep writes them every day; the baseline is read from them alone.
* **Burst statistic**: for today's count x of a signal with exposure N (items of its region × language) and a
  baseline of B items over exposure E on the window's days, the expected count is λ = N (B + ½) / E (the ½ keeps
  a never-seen signal's expectation above zero). x is tested against a negative binomial with mean λ and
  variance λ + φλ² (φ = `dispersion`, default 0.1: day-to-day variation beyond Poisson); p = P(X ≥ x),
  z = (x − λ) / √(λ + φλ²). Benjamini–Hochberg controls the false-discovery rate across every candidate of
  the day (all regions and kinds); a signal is reported when q ≤ `fdr`, x ≥ `min_volume` and x ≥ `min_lift` λ.
* **Ranking**, per region: by reach (views) and by risk, the share of the signal's items already actioned or
  escalated under its most-overlapping policy times log10(1 + views); a suggestion is a candidate-pack patch
  (a line to add to one of that policy's lexicon, hashtag, claims or pattern files) when that overlap reaches
  `min_overlap`; a benign burst (little enforcement) is shown without one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from modsweep.schemas import TREND_AGGREGATES, TRENDS

KINDS: tuple[str, ...] = ("hashtag", "domain", "ngram", "cluster")
TOTAL = "_total"
YOUNG_DAYS = 30

AGGREGATES = TREND_AGGREGATES  # the lake schemas (modsweep/schemas.py)


@dataclass(frozen=True)
class RadarSettings:
    """Knobs of the radar (MODSWEEP_TRENDS_* settings feed these)."""

    window_days: int = 14
    sample: int = 1  # bigrams and clusters on 1 item in `sample`
    min_items: int = 3  # smallest count kept in a daily aggregate (smaller counts read as 0 in a baseline)
    min_volume: int = 10
    min_lift: float = 3.0
    dispersion: float = 0.1
    fdr: float = 0.05
    min_overlap: float = 0.1
    examples: int = 3
    suggestion_weight: float = 0.5


_NON_WORD = r"[^\p{L}\p{N}]+"
_URL = r"https?://\S+"
_DOMAIN = r"https?://(?:www\.)?(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"


def sampled(n: int, sample: int, start: int = 0) -> np.ndarray:
    """Deterministic systematic 1-in-`sample` selection of a partition's rows (by position: independent of what
    the items say, which is all the thinning argument needs, and free to compute); `start`: the position of the
    first of the `n` rows."""
    return np.arange(start, start + n) % max(sample, 1) == 0


def sample_rate(rows: int, target: int = 50_000) -> int:
    """1-in-k so that about `target` items of a day are tokenised (1 below that size)."""
    return max(1, rows // target)


def _dedup(keys: np.ndarray) -> np.ndarray:
    """Distinct values of an int64 array (hash-based, unordered)."""
    return pd.unique(keys)


def _clean_text(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Lowercased text without URLs, hashtags, mentions, digits and punctuation, single-spaced."""
    t = pc.replace_substring_regex(pc.fill_null(text, ""), r"\s*(?:https?://|[#@])\S+|[^\p{L}]+", " ")
    return pc.utf8_trim_whitespace(pc.utf8_lower(t))


@dataclass(frozen=True)
class Signals:
    """Every item's signals as codes: `row` (index into the items) and `code` (index into `vocab`) per (item,
    signal) pair, each pair once; per code its `kind` (index into KINDS), `vocab` text and `label` (what a person
    reads: a cluster's first text, else the signal itself)."""

    row: np.ndarray
    code: np.ndarray
    vocab: np.ndarray
    kind: np.ndarray
    label: np.ndarray

    def frame(self) -> pd.DataFrame:
        """(row, kind, signal, label) as a DataFrame (for tests and small days)."""
        return pd.DataFrame(
            {
                "row": self.row,
                "kind": np.array(KINDS, dtype=object)[self.kind[self.code]],
                "signal": self.vocab[self.code],
                "label": self.label[self.code],
            }
        )


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary codes and the dictionary of a string array."""
    enc = pc.dictionary_encode(values)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return enc.indices.to_numpy().astype(np.int64), enc.dictionary.to_numpy(zero_copy_only=False).astype(object)


def item_signals(items: pa.Table, settings: RadarSettings) -> Signals:
    """Every item's hashtags and URL domain, and (on the 1-in-`sample` subset) its bigrams and cluster."""
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # kind, rows, codes, vocab (labels = vocab)
    labels: dict[int, np.ndarray] = {}
    tags = items.column("hashtags").combine_chunks()
    flat = tags.flatten()
    if len(flat):
        codes, vocab = _codes(pc.utf8_lower(flat))
        parts.append((0, pc.list_parent_indices(tags).to_numpy().astype(np.int64), codes, vocab))
    text = pc.fill_null(items.column("text"), "")
    url_rows = np.flatnonzero(pc.match_substring(text, "http").to_numpy(zero_copy_only=False))
    if len(url_rows):
        found = pc.struct_field(pc.extract_regex(pc.take(text, pa.array(url_rows)), _DOMAIN), "domain")
        ok = pc.is_valid(found).to_numpy(zero_copy_only=False)
        if ok.any():
            codes, vocab = _codes(pc.utf8_lower(found.filter(pa.array(ok))))
            parts.append((1, url_rows[ok], codes, vocab))
    keep = np.flatnonzero(sampled(items.num_rows, settings.sample))
    if len(keep):
        clean = _clean_text(pc.take(text, pa.array(keep)))
        got = _bigrams(clean, keep)
        if got is not None:
            parts.append((2, *got))
        rows, codes, vocab = _clusters(clean, keep)
        if len(rows):
            parts.append(
                (
                    3,
                    rows,
                    codes,
                    np.char.add("cluster:", np.char.mod("%016x", pd.util.hash_array(vocab))).astype(object),
                )
            )
            labels[len(parts) - 1] = vocab
    all_rows, all_codes, vocabs, kinds, label_parts, offset = [], [], [], [], [], 0
    for i, (kind, rows, codes, vocab) in enumerate(parts):
        pairs = _dedup(rows * (len(vocab) + 1) + codes)  # each (item, signal) once
        all_rows.append(pairs // (len(vocab) + 1))
        all_codes.append(pairs % (len(vocab) + 1) + offset)
        vocabs.append(vocab)
        kinds.append(np.full(len(vocab), kind, dtype=np.int8))
        label_parts.append(labels.get(i, vocab))
        offset += len(vocab)
    if not parts:
        empty = np.array([], dtype=np.int64)
        return Signals(
            empty, empty, np.array([], dtype=object), np.array([], dtype=np.int8), np.array([], dtype=object)
        )
    return Signals(
        np.concatenate(all_rows),
        np.concatenate(all_codes),
        np.concatenate(vocabs),
        np.concatenate(kinds),
        np.concatenate(label_parts),
    )


def _bigrams(clean: pa.ChunkedArray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Bigrams of consecutive words of at least 3 letters (shorter words are dropped first, so a bigram may join
    the two words around one): (rows, codes, vocab)."""
    tokens = pc.utf8_split_whitespace(clean).combine_chunks()
    flat = tokens.flatten()
    parent = pc.list_parent_indices(tokens).to_numpy()
    long_enough = pc.greater_equal(pc.utf8_length(flat), 3).to_numpy(zero_copy_only=False)
    flat, parent = flat.filter(pa.array(long_enough)), parent[long_enough]
    if len(flat) < 2:
        return None
    codes, words = _codes(flat)
    same = parent[1:] == parent[:-1]
    key = codes[:-1][same] * len(words) + codes[1:][same]
    uniq, inverse = np.unique(key, return_inverse=True)
    vocab = np.char.add(np.char.add(words[uniq // len(words)].astype(str), " "), words[uniq % len(words)].astype(str))
    return rows[parent[:-1][same]], inverse.astype(np.int64), vocab.astype(object)


def _clusters(clean: pa.ChunkedArray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near-duplicate clusters: items whose cleaned text (at least 4 words) is identical: (rows, codes, texts)."""
    long = pc.greater_equal(pc.list_value_length(pc.utf8_split_whitespace(clean)), 4).to_numpy(zero_copy_only=False)
    codes, texts = _codes(clean.filter(pa.array(long)))
    return rows[long], codes, texts


def daily_aggregates(items: pa.Table, signals: Signals, day: date, settings: RadarSettings) -> pd.DataFrame:
    """The compact aggregate of one day (AGGREGATES columns), from its items and their signals (hash group-bys
    over integer codes and bincounts: never a per-row loop or a string group-by)."""
    region, regions = _codes(items.column("region"))
    language, languages = _codes(items.column("language"))
    rl = region * len(languages) + language
    views = np.maximum(items.column("views").to_numpy(zero_copy_only=False), 0).astype(np.float64)
    young = (items.column("author_account_age_days").to_numpy(zero_copy_only=False) < YOUNG_DAYS).astype(np.float64)
    frames = []
    r = signals.row
    if len(r):
        n_codes = len(signals.vocab) + 1
        group, uniq = pd.factorize(rl[r] * n_codes + signals.code)
        counts = np.bincount(group)
        kept = counts >= settings.min_items
        code = uniq[kept] % n_codes
        frames.append(
            _grouped(
                uniq[kept] // n_codes,
                signals.kind[code],
                signals.vocab[code],
                counts[kept],
                np.bincount(group, weights=views[r])[kept],
                np.bincount(group, weights=young[r])[kept],
                regions,
                languages,
            )
        )
    keep = sampled(items.num_rows, settings.sample)
    for name, mask in (("all", slice(None)), ("sampled", keep)):
        group, uniq = pd.factorize(rl[mask])
        frames.append(
            _grouped(
                uniq,
                np.full(len(uniq), -1, dtype=np.int8),
                np.full(len(uniq), name, dtype=object),
                np.bincount(group),
                np.bincount(group, weights=views[mask]),
                np.bincount(group, weights=young[mask]),
                regions,
                languages,
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "day", day)
    return out[list(AGGREGATES.names)]


def _grouped(
    rl: np.ndarray,
    kind: np.ndarray,
    signal: np.ndarray,
    items: np.ndarray,
    views: np.ndarray,
    young: np.ndarray,
    regions: np.ndarray,
    languages: np.ndarray,
) -> pd.DataFrame:
    names = np.array([*KINDS, TOTAL], dtype=object)
    return pd.DataFrame(
        {
            "region": regions[rl // len(languages)],
            "language": languages[rl % len(languages)],
            "kind": names[kind.astype(np.int64)],
            "signal": signal,
            "items": items.astype(np.int64),
            "views": views.astype(np.int64),
            "young_items": young.astype(np.int64),
        }
    )


def _exposure(aggs: pd.DataFrame) -> pd.DataFrame:
    """Items per region × language × kind (sampled kinds use the sampled total) of each day in `aggs`."""
    t = aggs[aggs["kind"] == TOTAL]
    full = t[t["signal"] == "all"][["day", "region", "language", "items"]]
    part = t[t["signal"] == "sampled"][["day", "region", "language", "items"]]
    frames = [full.assign(kind=k) for k in ("hashtag", "domain")] + [part.assign(kind=k) for k in ("ngram", "cluster")]
    return pd.concat(frames, ignore_index=True).rename(columns={"items": "exposure"})


def burst_scores(today: pd.DataFrame, baseline: pd.DataFrame, settings: RadarSettings) -> pd.DataFrame:
    """Today's signals with expected count, z, p and BH q against the baseline aggregates (module docstring);
    every candidate (x ≥ min_volume) with `bursting` marking those reported."""
    key = ["region", "language", "kind", "signal"]
    cand = today[(today["kind"] != TOTAL) & (today["items"] >= settings.min_volume)].copy()
    exp_today = _exposure(today).drop(columns="day")
    cand = cand.merge(exp_today, on=["region", "language", "kind"], how="left")
    if baseline.empty:
        base = pd.DataFrame(columns=[*key, "baseline_items", "baseline_days_seen"])
        base_exp = pd.DataFrame(columns=["region", "language", "kind", "baseline_exposure", "baseline_days"])
    else:
        sig = baseline[baseline["kind"] != TOTAL]
        base = (
            sig.groupby(key, sort=False)
            .agg(baseline_items=("items", "sum"), baseline_days_seen=("day", "nunique"))
            .reset_index()
        )
        ex = _exposure(baseline)
        base_exp = (
            ex.groupby(["region", "language", "kind"], sort=False)
            .agg(baseline_exposure=("exposure", "sum"), baseline_days=("day", "nunique"))
            .reset_index()
        )
    cand = cand.merge(base, on=key, how="left").merge(base_exp, on=["region", "language", "kind"], how="left")
    cand["baseline_items"] = cand["baseline_items"].fillna(0).astype(np.int64)
    cand["baseline_days"] = cand["baseline_days"].fillna(0).astype(np.int32)
    exposure = cand["exposure"].fillna(0).to_numpy(dtype=float)
    base_exposure = cand["baseline_exposure"].fillna(0).to_numpy(dtype=float)
    # with no baseline day at all, today is its own reference (nothing can burst on day one)
    lam = np.where(
        base_exposure > 0,
        exposure * (cand["baseline_items"].to_numpy(dtype=float) + 0.5) / np.maximum(base_exposure, 1.0),
        cand["items"].to_numpy(dtype=float),
    )
    lam = np.maximum(lam, 1e-3)
    x = cand["items"].to_numpy(dtype=float)
    phi = settings.dispersion
    var = lam + phi * lam**2
    cand["expected"] = lam
    cand["z"] = (x - lam) / np.sqrt(var)
    if phi > 0:
        n_nb = 1.0 / phi
        cand["p_value"] = stats.nbinom.sf(x - 1, n_nb, n_nb / (n_nb + lam))
    else:
        cand["p_value"] = stats.poisson.sf(x - 1, lam)
    cand["q_value"] = stats.false_discovery_control(cand["p_value"].to_numpy(), method="bh") if len(cand) else []
    cand["bursting"] = (cand["q_value"] <= settings.fdr) & (x >= settings.min_lift * lam) & (base_exposure > 0)
    return cand


def _at(items: pa.Table, column: str, rows: np.ndarray) -> np.ndarray:
    """A column's values at `rows` (taken in Arrow first: a big day's column is never converted whole)."""
    return pc.take(items.column(column), pa.array(rows, type=pa.int64())).to_numpy(zero_copy_only=False)


def members(signals: Signals, items: pa.Table, keys: pd.DataFrame) -> pd.DataFrame:
    """The (row, region, language, kind, signal, label) pairs of the signals in `keys` (region, language, kind,
    signal): only their codes are looked at, so this stays small on a big day."""
    kinds = np.array(KINDS, dtype=object)
    wanted = np.flatnonzero(pd.Series(signals.vocab).isin(set(keys["signal"])).to_numpy())
    mask = np.isin(signals.code, wanted)
    rows, codes = signals.row[mask], signals.code[mask]
    frame = pd.DataFrame(
        {
            "row": rows,
            "region": _at(items, "region", rows),
            "language": _at(items, "language", rows),
            "kind": kinds[signals.kind[codes]],
            "signal": signals.vocab[codes],
            "label": signals.label[codes],
        }
    )
    return frame.merge(keys[["region", "language", "kind", "signal"]], on=["region", "language", "kind", "signal"])


def enforcement_overlap(member: pd.DataFrame, items: pa.Table, decisions: pd.DataFrame) -> pd.DataFrame:
    """Per signal (`member`: its items, from `members`) × policy: share of its items with a decision (an action or
    an escalation) under that policy today."""
    key = ["region", "language", "kind", "signal"]
    cols = [*key, "policy_id", "share"]
    if decisions.empty or member.empty:
        return pd.DataFrame(columns=cols)
    m = member.assign(item_id=_at(items, "item_id", member["row"].to_numpy()))
    sizes = m.groupby(key).size().rename("n")
    hit = m.merge(decisions[["item_id", "policy_id"]].drop_duplicates(), on="item_id")
    counts = hit.groupby([*key, "policy_id"]).size().rename("k").reset_index()
    counts = counts.join(sizes, on=key)
    counts["share"] = counts["k"] / counts["n"]
    return counts[cols]


def _patch_for(
    kind: str, signal: str, label: str, language: str, policy: str, detectors: dict[str, list[dict]], weight: float
) -> tuple[str, dict] | None:
    """Where a signal would go in `policy`'s resources: (sentence, patch) or None when it has no such file."""
    by_kind = {d["kind"]: d for d in detectors.get(policy, [])}

    def lexicon(term: str) -> tuple[str, dict] | None:
        d = by_kind.get("lexicon")
        if d is None:
            return None
        return (
            f"add {term!r} to {policy}'s lexicon ({d['id']})",
            {"policy_id": policy, "detector_id": d["id"], "resource": d["resource"], "line": f"{term}\t{weight:g}"},
        )

    if kind == "hashtag":
        d = by_kind.get("hashtag")
        tag = signal.lstrip("#")
        if d is not None:
            return (
                f"add #{tag} to {policy}'s hashtag list ({d['id']})",
                {"policy_id": policy, "detector_id": d["id"], "resource": d["resource"], "line": f"{tag}\t{weight:g}"},
            )
        return lexicon(tag)
    if kind == "cluster":
        d = by_kind.get("claim_match")
        if d is not None:
            claim_id = "radar-" + signal.removeprefix("cluster:")[:10]
            text = label.replace(",", " ").replace('"', " ")
            return (
                f"add the claim {label[:80]!r} to {policy}'s claims ({d['id']}), pending a fact check",
                {
                    "policy_id": policy,
                    "detector_id": d["id"],
                    "resource": d["resource"],
                    "line": f"{claim_id},{text},urn:modsweep:pending-fact-check:{claim_id},{language}",
                },
            )
        return lexicon(" ".join(label.split()[:8]))
    return lexicon(signal)


def radar(
    items: pa.Table,
    signals: Signals,
    today: pd.DataFrame,
    baseline: pd.DataFrame,
    decisions: pd.DataFrame,
    detectors: dict[str, list[dict]],
    settings: RadarSettings,
    day: date,
    pseudonym: callable,
    text_at: Callable[[np.ndarray], np.ndarray] | None = None,
) -> pd.DataFrame:
    """The day's trends (TRENDS columns): bursting signals with reach, young-account share, enforcement overlap per
    policy, ranks per region, examples, pseudonymised accounts and a suggested candidate-pack patch.

    `detectors` maps policy → [{kind, id, resource}] of the pack's resource-backed detectors; `pseudonym` maps
    author ids (a Series) to pseudonyms; `text_at` gives the texts of item rows for the examples (default: the
    items' text column; a big day's reader keeps only the texts the signals need and reads the examples' apart)."""
    scored = burst_scores(today, baseline, settings)
    hot = scored[scored["bursting"]].copy()
    if hot.empty:
        return pd.DataFrame({f.name: pd.Series(dtype=object) for f in TRENDS})
    key = ["region", "language", "kind", "signal"]
    member = members(signals, items, hot[key])
    authors = _at(items, "author_id", member["row"].to_numpy())
    hot = hot.merge(
        member.assign(author=authors).groupby(key)["author"].nunique().rename("authors").reset_index(),
        on=key,
        how="left",
    )
    hot["authors"] = hot["authors"].fillna(0).astype(np.int64)
    overlap = enforcement_overlap(member, items, decisions)
    top = (
        overlap.sort_values(["share", "policy_id"], ascending=[False, True])
        .drop_duplicates(key)
        .rename(columns={"policy_id": "top_policy", "share": "top_overlap"})
    )
    hot = hot.merge(top, on=key, how="left")
    hot["top_overlap"] = hot["top_overlap"].fillna(0.0)
    shares = (
        {
            k: json.dumps(
                {p: round(float(s), 3) for p, s in zip(g["policy_id"], g["share"], strict=True)}, sort_keys=True
            )
            for k, g in overlap.groupby(key)
        }
        if len(overlap)
        else {}
    )
    hot["overlap"] = [shares.get(tuple(r), "{}") for r in hot[key].itertuples(index=False, name=None)]
    hot["reach"] = hot["views"].astype(np.int64)
    hot["young_share"] = hot["young_items"] / hot["items"]
    hot["risk"] = hot["top_overlap"] * np.log10(1.0 + hot["reach"])
    hot["same_as"] = _same_items(member, hot, key)
    lead = hot["same_as"].isna()
    hot["rank_reach"], hot["rank_risk"] = 0, 0
    by_reach = hot[lead].sort_values(["reach", "z"], ascending=False)
    hot.loc[by_reach.index, "rank_reach"] = by_reach.groupby("region").cumcount().to_numpy() + 1
    by_risk = hot[lead].sort_values(["risk", "z"], ascending=False)
    hot.loc[by_risk.index, "rank_risk"] = by_risk.groupby("region").cumcount().to_numpy() + 1
    hot["rank_reach"], hot["rank_risk"] = hot["rank_reach"].astype(np.int32), hot["rank_risk"].astype(np.int32)
    ex, acc, label = _examples_and_accounts(member, items, settings.examples, pseudonym, text_at)
    hot = hot.merge(ex, on=key, how="left").merge(acc, on=key, how="left").merge(label, on=key, how="left")
    suggestion, patch = [], []
    for r in hot.itertuples():
        made = None
        if isinstance(r.top_policy, str) and r.top_overlap >= settings.min_overlap:
            made = _patch_for(
                r.kind, r.signal, r.label, r.language, r.top_policy, detectors, settings.suggestion_weight
            )
        suggestion.append(made[0] if made else None)
        patch.append(json.dumps(made[1], ensure_ascii=False) if made else None)
    hot["suggestion"], hot["patch"] = suggestion, patch
    hot["day"] = day
    hot["volume"] = hot["items"].astype(np.int64)
    out = hot.assign(_dup=hot["rank_risk"] == 0).sort_values(
        ["region", "_dup", "rank_risk", "z"], ascending=[True, True, True, False]
    )
    out = out.reset_index(drop=True)
    return out[list(TRENDS.names)]


def _same_items(member: pd.DataFrame, hot: pd.DataFrame, key: list[str], share: float = 0.8) -> list[str | None]:
    """For each bursting signal, a broader signal (more items) of its region whose items cover `share` of its own
    (a campaign's hashtag, domain, phrases and cluster are one story: ranked once, the rest point at it).

    Co-occurrence counts come from one sparse product (signals × items)·(items × signals); the greedy pass is over
    the day's bursting signals (tens to hundreds), never over items."""
    from scipy import sparse

    hot = hot.reset_index(drop=True)
    index = pd.MultiIndex.from_frame(hot[key])
    sig = index.get_indexer(pd.MultiIndex.from_frame(member[key]))
    ok = sig >= 0
    rows, cols = sig[ok], pd.factorize(member["row"].to_numpy()[ok])[0]
    m = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(hot), cols.max(initial=-1) + 1)
    )
    m.data[:] = 1.0  # (item, signal) pairs are distinct already; guard against duplicates anyway
    co = (m @ m.T).toarray()
    size = np.diag(co).copy()
    order = np.lexsort((hot["signal"].to_numpy(), -hot["z"].to_numpy(), -size))
    region = hot["region"].to_numpy()
    label = (hot["kind"] + ":" + hot["signal"]).to_numpy()
    out: list[str | None] = [None] * len(hot)
    leads: list[int] = []
    for i in order.tolist():
        match = next((j for j in leads if region[j] == region[i] and size[i] and co[i, j] >= share * size[i]), None)
        if match is None:
            leads.append(i)
        else:
            out[i] = label[match]
    return out


def text_of(items: pa.Table, rows: np.ndarray) -> np.ndarray:
    """The items' texts at `rows` ("" where missing)."""
    taken = pc.take(items.column("text"), pa.array(rows, type=pa.int64()))
    return pc.fill_null(taken, "").to_numpy(zero_copy_only=False)


def _examples_and_accounts(
    member: pd.DataFrame,
    items: pa.Table,
    k: int,
    pseudonym: callable,
    text_at: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per signal: the k highest-reach items (id, text cut to 160), its accounts (pseudonymised, most active first,
    at most 10) and a label (a cluster's text). Only the shown authors are pseudonymised."""
    key = ["region", "language", "kind", "signal"]
    r = member["row"].to_numpy()
    s = member[[*key, "row", "label"]].copy()
    s["views"] = _at(items, "views", r)
    s["author"] = _at(items, "author_id", r)
    top = s.sort_values(["views", "row"], ascending=[False, True]).groupby(key, sort=False).head(k)
    counts = s.groupby([*key, "author"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["n", "author"], ascending=[False, True]).groupby(key, sort=False).head(10)
    shown = pd.unique(np.concatenate([top["author"].to_numpy(dtype=object), counts["author"].to_numpy(dtype=object)]))
    alias = dict(zip(shown, pseudonym(pd.Series(shown, dtype=object)).to_numpy(), strict=True))
    rows = top["row"].to_numpy()
    ids = _at(items, "item_id", rows)
    texts = text_at(rows) if text_at is not None else text_of(items, rows)
    ex: dict[tuple, list] = {}
    for kk, item_id, views, author, text in zip(
        top[key].itertuples(index=False, name=None), ids, top["views"], top["author"], texts, strict=True
    ):
        ex.setdefault(kk, []).append(
            {"item_id": item_id, "views": int(views), "author": alias[author], "text": str(text)[:160]}
        )
    acc: dict[tuple, list] = {}
    for kk, author, n in zip(
        counts[key].itertuples(index=False, name=None), counts["author"], counts["n"], strict=True
    ):
        acc.setdefault(kk, []).append({"author": alias[author], "items": int(n)})

    def frame(d: dict, name: str) -> pd.DataFrame:
        return pd.DataFrame([(*kk, json.dumps(v, ensure_ascii=False)) for kk, v in d.items()], columns=[*key, name])

    labels = s.drop_duplicates(key)[[*key, "label"]]
    return frame(ex, "examples"), frame(acc, "accounts"), labels


def detectors_for_suggestions(pack: object) -> dict[str, list[dict]]:
    """policy → [{kind, id, resource}] of a pack's resource-backed detectors (where a suggestion can go)."""
    out: dict[str, list[dict]] = {}
    for p in pack.spec.policies:  # type: ignore[attr-defined]
        for d in p.detectors:
            for key in ("terms", "claims", "patterns"):
                if isinstance(d.params.get(key), str) and d.kind in ("lexicon", "hashtag", "claim_match", "regex"):
                    out.setdefault(p.id, []).append({"kind": d.kind, "id": d.id, "resource": d.params[key]})
    return out


def apply_patches(resources: dict[str, str], patches: list[dict]) -> dict[str, str]:
    """Resource texts with each patch's line appended once (a line already present is not repeated)."""
    out = dict(resources)
    for patch in patches:
        rel, line = patch["resource"], patch["line"]
        text = out.get(rel, "")
        present = {ln.strip() for ln in text.splitlines()}
        if line.strip() in present or line.split("\t")[0].strip() in {ln.split("\t")[0].strip() for ln in present}:
            continue
        out[rel] = (text if text.endswith("\n") or not text else text + "\n") + line + "\n"
    return out


def or_dash(value: object) -> str:
    """A text cell, or "—" for a missing one (None, or NaN: how a null string reads back from the lake)."""
    return value if isinstance(value, str) and value else "—"


def report_rows(trends: pd.DataFrame, per_region: int = 5) -> list[dict[str, object]]:
    """The leading signals per region (by risk rank) as rows for the run's HTML report."""
    if trends is None or trends.empty:
        return []
    lead = trends[(trends["rank_risk"] > 0) & (trends["rank_risk"] <= per_region)].sort_values(["region", "rank_risk"])
    return [
        {
            "region": r.region,
            "rank": int(r.rank_risk),
            "kind": r.kind,
            "signal": str(r.label)[:80],
            "volume": int(r.volume),
            "expected": float(r.expected),
            "z": float(r.z),
            "reach": int(r.reach),
            "young": float(r.young_share),
            "policy": f"{r.top_policy} ({r.top_overlap:.0%})" if isinstance(r.top_policy, str) else "—",
            "suggestion": or_dash(r.suggestion),
        }
        for r in lead.itertuples()
    ]
