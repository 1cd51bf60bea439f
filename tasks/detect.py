"""Detectors over one partition: vectorised, one shared normalisation and featurisation for every policy."""

from __future__ import annotations

import functools
import json
import logging
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from modsweep.policy import PolicyPack
from modsweep.schemas import DETECTIONS
from modsweep.tasks.text import NormalisedText, combined_text, featurise, normalise, normalise_terms
from modsweep.tasks.train import TextPolicyModel

log = logging.getLogger(__name__)

SCORE_FLOOR = 0.05  # detections below this are not stored; decisions treat them as 0
DETECTOR_VERSIONS = {
    "lexicon": "lexicon-1",
    "regex": "regex-1",
    "hashtag": "hashtag-1",
    "claim_match": "claim-cosine-1",
    "hash_match": "hamming-1",
    "reports": "reports-1",
    "aigc": "aigc-provenance-1",
    "coordination": "minhash-lsh-1",
}


@dataclass(frozen=True)
class LexiconEntry:
    policy_id: str
    detector_id: str
    term: str
    weight: float


@dataclass(frozen=True)
class ClaimList:
    """Fact-checked false claims with their hashed features (same featurisation as the items)."""

    claim_ids: np.ndarray
    urls: np.ndarray
    features: sparse.csr_matrix


@dataclass(frozen=True)
class HashList:
    """Known media hashes (64-bit perceptual hashes as hex) and the list entry they came from."""

    hashes: np.ndarray  # uint64
    labels: np.ndarray


def parse_claims(text: str) -> ClaimList:
    """A claims CSV: claim_id, text, fact_check_url, language."""
    import io

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    missing = {"claim_id", "text", "fact_check_url"} - set(frame.columns)
    if missing:
        raise ValueError(f"claims file lacks column(s) {sorted(missing)}")
    feats = featurise(normalise(frame["text"]))
    return ClaimList(frame["claim_id"].to_numpy(dtype=object), frame["fact_check_url"].to_numpy(dtype=object), feats)


def parse_hashes(lines: list[str]) -> HashList:
    """`hexhash<TAB>label` lines; hashes are 16 hex digits (64 bits)."""
    hashes, labels = [], []
    for line in lines:
        value, _, label = line.partition("\t")
        hashes.append(int(value.strip(), 16))
        labels.append(label.strip() or value.strip())
    return HashList(np.array(hashes, dtype=np.uint64), np.array(labels, dtype=object))


def hex_to_uint64(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse 16-hex-digit hashes; returns (values, valid mask)."""
    s = values.astype("string").str.strip().str.lower()
    valid = s.str.fullmatch(r"[0-9a-f]{16}").fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(s), dtype=np.uint64)
    if valid.any():  # 16 ASCII hex digits each: one byte array, a digit table, shifts (no int() per value)
        digits = np.frombuffer("".join(s[valid].tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 16)
        parsed = np.zeros(len(digits), dtype=np.uint64)
        for nibble in _HEX_DIGIT[digits].T:  # most significant digit first
            parsed = (parsed << np.uint64(4)) | nibble
        out[valid] = parsed
    return out, valid


_HEX_DIGIT = np.zeros(256, dtype=np.uint64)
_HEX_DIGIT[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint64)


@dataclass
class DetectorBank:
    """Everything detection needs, prepared once per run from the pack and the model registry."""

    pack: PolicyPack
    automaton: Any | None
    lexicon_version: str
    model: TextPolicyModel | None
    model_version: str | None
    classifier_detectors: list[tuple[str, str, str, float]] = field(default_factory=list)  # policy, det, label, w
    report_detectors: list[tuple[str, str, list[str], float]] = field(default_factory=list)
    aigc_detectors: list[tuple[str, str, float, str | None, float]] = field(default_factory=list)  # …, text label, w
    coordination: list[tuple[str, str, dict[str, Any], float]] = field(default_factory=list)
    regex_detectors: list[tuple[str, str, list[tuple[str, float]], float]] = field(default_factory=list)
    hashtag_detectors: list[tuple[str, str, dict[str, float], float]] = field(default_factory=list)
    claim_detectors: list[tuple[str, str, ClaimList, float, float]] = field(default_factory=list)  # …, min_sim
    hash_detectors: list[tuple[str, str, HashList, int, float]] = field(default_factory=list)  # …, max_distance
    skipped: list[dict[str, Any]] = field(default_factory=list)  # detectors that cannot run (see skipped_classifiers)

    @property
    def needs_features(self) -> bool:
        return bool(self.classifier_detectors or self.claim_detectors or any(a[3] for a in self.aigc_detectors))


def parse_lexicon(lines: list[str]) -> list[tuple[str, float]]:
    """`term<TAB>weight` lines (weight defaults to 1.0)."""
    out = []
    for line in lines:
        term, _, weight = line.partition("\t")
        out.append((term.strip(), float(weight) if weight.strip() else 1.0))
    return out


def skipped_classifiers(pack: PolicyPack, labels: list[str] | None, model_version: str | None) -> list[dict[str, Any]]:
    """The pack's classifier detectors whose label the model lacks (e.g. a manifest-trained model has no
    minor_safety data): they are skipped, and the policy's other detectors still run."""
    if labels is None:
        return []
    return [
        {
            "policy_id": policy.id,
            "detector_id": det.id,
            "kind": det.kind,
            "label": label,
            "model_version": model_version,
            "reason": f"model {model_version} has no label {label!r}",
            "optional": bool(det.params.get("optional", False)),
        }
        for policy in pack.policies()
        for det in policy.detectors
        if det.kind == "classifier" and (label := det.params.get("label", policy.id)) not in labels
    ]


def build_detector_bank(pack: PolicyPack, model: TextPolicyModel | None, model_version: str | None) -> DetectorBank:
    """Compile every lexicon into one Aho-Corasick automaton and index the other detectors by kind.

    A model from an older featurisation fails here, naming the command that replaces it; classifier
    detectors whose label the model lacks are skipped with a warning and listed in `bank.skipped`.
    """
    automaton = ahocorasick.Automaton()
    n_terms = 0
    bank = DetectorBank(pack=pack, automaton=None, lexicon_version="", model=model, model_version=model_version)
    if model is not None:
        model.check_current(model_version)
    bank.skipped = skipped_classifiers(pack, model.labels if model is not None else None, model_version)
    for s in bank.skipped:
        if s["optional"]:  # the pack says the model may lack it (e.g. a second head only the manifest model has)
            log.info("optional detector %s/%s skipped: %s", s["policy_id"], s["detector_id"], s["reason"])
            continue
        log.warning(
            "detector %s/%s skipped: %s (the policy's other detectors still run)",
            s["policy_id"],
            s["detector_id"],
            s["reason"],
        )
    skip = {(s["policy_id"], s["detector_id"]) for s in bank.skipped}
    for policy in pack.policies():
        for det in policy.detectors:
            if det.kind == "lexicon":
                entries = parse_lexicon(pack.resource_lines(det.params["terms"]))
                keys = normalise_terms([term for term, _ in entries])  # one vectorised pass per lexicon
                for (term, weight), key in zip(entries, keys, strict=True):
                    if key.strip():
                        entry = LexiconEntry(policy.id, det.id, term, weight * det.weight)
                        existing = automaton.get(key, ())
                        automaton.add_word(key, (*existing, entry))
                        n_terms += 1
            elif det.kind == "classifier":
                if model is None:
                    raise ValueError(f"policy {policy.id} uses a classifier but no model was loaded")
                if (policy.id, det.id) in skip:
                    continue
                label = det.params.get("label", policy.id)
                bank.classifier_detectors.append((policy.id, det.id, label, det.weight))
            elif det.kind == "reports":
                bank.report_detectors.append((policy.id, det.id, list(det.params.get("reasons", [])), det.weight))
            elif det.kind == "aigc":
                # The machine-text signal needs a model trained with that label (`modsweep train --manifest`).
                text_label = det.params.get("text_label")
                usable = text_label if model is not None and text_label in model.labels else None
                bank.aigc_detectors.append(
                    (policy.id, det.id, det.weight, usable, float(det.params.get("text_weight", 0.7)))
                )
            elif det.kind == "coordination":
                bank.coordination.append((policy.id, det.id, dict(det.params), det.weight))
            elif det.kind == "regex":
                patterns = parse_lexicon(pack.resource_lines(det.params["patterns"]))
                for pattern, _ in patterns:
                    re.compile(pattern)  # a bad pattern fails at load, naming itself
                    if not runs_in_re2(pattern):
                        log.warning(
                            "regex %r of %s/%s needs Python's re (lookaround or backreference): slower",
                            pattern,
                            policy.id,
                            det.id,
                        )
                bank.regex_detectors.append((policy.id, det.id, patterns, det.weight))
            elif det.kind == "hashtag":
                tags = {t.lstrip("#").casefold(): w for t, w in parse_lexicon(pack.resource_lines(det.params["terms"]))}
                bank.hashtag_detectors.append((policy.id, det.id, tags, det.weight))
            elif det.kind == "claim_match":
                claims = parse_claims(pack.resources[det.params["claims"]])
                bank.claim_detectors.append(
                    (policy.id, det.id, claims, det.weight, float(det.params.get("min_similarity", 0.5)))
                )
            elif det.kind == "hash_match":
                hashes = parse_hashes(pack.resource_lines(det.params["hashes"]))
                bank.hash_detectors.append(
                    (policy.id, det.id, hashes, int(det.params.get("max_distance", 6)), det.weight)
                )
            else:
                raise NotImplementedError(f"detector kind {det.kind!r} ({policy.id}/{det.id}) is not available yet")
    if n_terms:
        automaton.make_automaton()
        bank.automaton = automaton
    bank.lexicon_version = f"lexicon-{pack.sha256[:12]}"
    return bank


def _frame(
    item_ids: np.ndarray, policy: str, det: str, version: str, scores: np.ndarray, evidence: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": item_ids,
            "policy_id": policy,
            "detector_id": det,
            "detector_version": version,
            "score": scores.astype(np.float32),
            "evidence": evidence,
        }
    )


def match_lexicons(norm: NormalisedText, automaton: Any) -> dict[tuple[str, str], dict[int, list[LexiconEntry]]]:
    """All lexicon hits in one pass over the partition's concatenated text: (policy, detector) → row → entries."""
    texts = norm.text.tolist()
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    ends = np.cumsum(lengths)  # each text is followed by one separator character
    big = "\x01".join(texts)
    hits: dict[tuple[str, str], dict[int, list[LexiconEntry]]] = {}
    positions: list[int] = []
    payloads: list[tuple[LexiconEntry, ...]] = []
    for end, entries in automaton.iter(big):
        positions.append(end)
        payloads.append(entries)
    if not positions:
        return hits
    rows = np.searchsorted(ends, np.asarray(positions), side="right")
    for row, entries in zip(rows.tolist(), payloads, strict=True):
        for e in entries:
            hits.setdefault((e.policy_id, e.detector_id), {}).setdefault(row, []).append(e)
    return hits


def score_lexicons(item_ids: np.ndarray, norm: NormalisedText, bank: DetectorBank) -> list[pd.DataFrame]:
    if bank.automaton is None:
        return []
    frames = []
    truncated = norm.truncated.tolist()
    terms_json: dict[tuple[str, ...], str] = {}  # a partition repeats few term sets: each serialised once
    for (policy, det), by_row in match_lexicons(norm, bank.automaton).items():
        rows = np.fromiter(by_row.keys(), dtype=np.int64, count=len(by_row))
        scores = np.empty(len(by_row), dtype=np.float64)
        evidence = []
        for k, (r, v) in enumerate(by_row.items()):
            # Several distinct terms add evidence: 1 - Π(1 - w) (noisy-or), capped below 1.
            scores[k] = 1 - (1 - v[0].weight) if len(v) == 1 else 1 - np.prod([1 - e.weight for e in _by_term(v)])
            terms = tuple(sorted({e.term for e in v}))
            if terms not in terms_json:
                terms_json[terms] = json.dumps(list(terms), ensure_ascii=False)
            evidence.append(f'{{"terms": {terms_json[terms]}, "truncated": {"true" if truncated[r] else "false"}}}')
        frames.append(_frame(item_ids[rows], policy, det, bank.lexicon_version, np.minimum(scores, 0.99), evidence))
    return frames


def _by_term(entries: list[LexiconEntry]) -> list[LexiconEntry]:
    """One entry per distinct term, in first-hit order (the last hit's entry for a repeated term)."""
    return list({e.term: e for e in entries}.values())


def score_classifiers(
    item_ids: np.ndarray, probs: dict[str, np.ndarray] | None, norm: NormalisedText, bank: DetectorBank
) -> list[pd.DataFrame]:
    if not bank.classifier_detectors or probs is None:
        return []
    frames = []
    for policy, det, label, weight in bank.classifier_detectors:
        p = probs[label] * weight
        rows = np.flatnonzero(p >= SCORE_FLOOR)
        evidence = [json.dumps({"p": round(float(p[r]), 4), "truncated": bool(norm.truncated[r])}) for r in rows]
        frames.append(_frame(item_ids[rows], policy, det, str(bank.model_version), p[rows], evidence))
    return frames


def score_reports(items: pd.DataFrame, bank: DetectorBank) -> list[pd.DataFrame]:
    """Report velocity: reports whose reason matches the policy, per item, squashed to [0, 1)."""
    if not bank.report_detectors:
        return []
    reasons = pa.array(items["report_reasons"], type=pa.list_(pa.string()))
    flat = pc.list_flatten(reasons)
    parents = pc.list_parent_indices(reasons).to_numpy()
    lengths = pc.fill_null(pc.list_value_length(reasons), 0).to_numpy()
    reports = items["user_reports"].to_numpy(dtype=np.float64)
    views = items["views"].to_numpy(dtype=np.float64)
    frames = []
    for policy, det, wanted, weight in bank.report_detectors:
        match = pc.is_in(flat, value_set=pa.array(wanted, type=pa.string())).to_numpy(zero_copy_only=False)
        matched = np.bincount(parents[match], minlength=len(items)).astype(np.float64)
        share = np.divide(matched, lengths, out=np.zeros(len(items)), where=lengths > 0)
        effective = reports * share
        per_k_views = effective / np.maximum(views, 1.0) * 1000
        score = (1 - np.exp(-effective / 4)) * weight
        rows = np.flatnonzero((effective > 0) & (score >= SCORE_FLOOR))
        evidence = [
            json.dumps(
                {
                    "reports": int(reports[r]),
                    "matching_reports": round(float(effective[r]), 1),
                    "reports_per_1k_views": round(float(per_k_views[r]), 3),
                }
            )
            for r in rows
        ]
        frames.append(
            _frame(items["item_id"].to_numpy()[rows], policy, det, DETECTOR_VERSIONS["reports"], score[rows], evidence)
        )
    return frames


def score_aigc(items: pd.DataFrame, probs: dict[str, np.ndarray] | None, bank: DetectorBank) -> list[pd.DataFrame]:
    """Undisclosed AI content: provenance metadata says AI-generated, or a machine-text classifier says so,
    while the creator did not disclose it."""
    if not bank.aigc_detectors:
        return []
    provenance = items["ai_provenance"].astype("string")
    disclosed = items["ai_disclosed"].astype(bool).to_numpy()
    has_provenance = (provenance.notna() & (provenance.str.len() > 0)).to_numpy(dtype=bool, na_value=False)
    ids = items["item_id"].to_numpy()
    frames = []
    for policy, det, w, text_label, text_weight in bank.aigc_detectors:
        rows = np.flatnonzero(has_provenance & ~disclosed)
        evidence = [json.dumps({"provenance": str(provenance.iloc[r]), "ai_disclosed": False}) for r in rows]
        frames.append(_frame(ids[rows], policy, det, DETECTOR_VERSIONS["aigc"], np.full(len(rows), 0.95 * w), evidence))
        if text_label and probs is not None:
            p = probs[text_label] * text_weight * w
            rows = np.flatnonzero((p >= SCORE_FLOOR) & ~disclosed)
            evidence = [json.dumps({"machine_text_p": round(float(p[r]), 4), "ai_disclosed": False}) for r in rows]
            frames.append(_frame(ids[rows], policy, f"{det}:machine-text", str(bank.model_version), p[rows], evidence))
    return frames


@functools.cache
def runs_in_re2(pattern: str) -> bool:
    """Whether Arrow's RE2 engine compiles the pattern (everything but lookaround and backreferences)."""
    try:
        pc.match_substring_regex(pa.array([""]), pattern, ignore_case=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def regex_hits(text: pa.Array, pattern: str) -> np.ndarray:
    """Rows whose text contains a match, case-insensitive: RE2 in Arrow (about 20× faster than a Python
    loop), Python's `re` for the patterns RE2 cannot run. RE2's `\\w`, `\\d` and `\\b` are ASCII classes."""
    if runs_in_re2(pattern):
        return pc.match_substring_regex(text, pattern, ignore_case=True).to_numpy(zero_copy_only=False).astype(bool)
    rx = re.compile(pattern, re.IGNORECASE)
    return np.fromiter((rx.search(t) is not None for t in text.to_pylist()), dtype=bool, count=len(text))


def score_regexes(items: pd.DataFrame, raw_text: pd.Series, bank: DetectorBank) -> list[pd.DataFrame]:
    """Regular expressions over the raw (not normalised) text, e.g. links and phone numbers."""
    frames = []
    text = pa.array(raw_text.fillna(""), type=pa.large_string(), from_pandas=True) if bank.regex_detectors else None
    for policy, det, patterns, weight in bank.regex_detectors:
        score = np.zeros(len(items))
        hits = [(pattern, regex_hits(text, pattern), w) for pattern, w in patterns]
        for _, hit, w in hits:
            score = np.where(hit, 1 - (1 - score) * (1 - w), score)
        score *= weight
        rows = np.flatnonzero(score >= SCORE_FLOOR)
        evidence = [json.dumps({"patterns": [pattern for pattern, hit, _ in hits if hit[r]]}) for r in rows]
        frames.append(
            _frame(items["item_id"].to_numpy()[rows], policy, det, DETECTOR_VERSIONS["regex"], score[rows], evidence)
        )
    return frames


def score_hashtags(items: pd.DataFrame, bank: DetectorBank) -> list[pd.DataFrame]:
    """Listed hashtags (case-insensitive, '#' optional) → the highest listed weight among an item's tags."""
    if not bank.hashtag_detectors:
        return []
    tags = pa.array(items["hashtags"], type=pa.list_(pa.string()))
    flat = pc.utf8_lower(pc.utf8_ltrim(pc.list_flatten(tags), characters="#"))
    parents = pc.list_parent_indices(tags).to_numpy()
    flat_values = flat.to_numpy(zero_copy_only=False)
    tags_series = pd.Series(flat_values, dtype=object)
    frames = []
    for policy, det, listed, weight in bank.hashtag_detectors:
        weights = tags_series.map(listed).fillna(0.0).to_numpy(dtype=np.float64)  # a missing tag weighs 0
        score = np.zeros(len(items))
        np.maximum.at(score, parents, weights)
        score *= weight
        rows = np.flatnonzero(score >= SCORE_FLOOR)
        hit_tags: dict[int, list[str]] = {}
        listed_at = np.flatnonzero(weights > 0)  # only the listed tags' rows: few
        for p, t in zip(parents[listed_at], flat_values[listed_at], strict=True):
            hit_tags.setdefault(int(p), []).append(str(t))
        evidence = [json.dumps({"hashtags": sorted(set(hit_tags.get(int(r), [])))}) for r in rows]
        frames.append(
            _frame(items["item_id"].to_numpy()[rows], policy, det, DETECTOR_VERSIONS["hashtag"], score[rows], evidence)
        )
    return frames


def row_max(m: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a non-negative sparse matrix: the largest value (0 if none) and its column (the lowest on ties).

    Vectorised (scipy's own sparse argmax loops over rows in Python)."""
    best = np.zeros(m.shape[0], dtype=np.float64)
    which = np.zeros(m.shape[0], dtype=np.int64)
    if m.nnz:
        lengths = np.diff(m.indptr)
        filled = lengths > 0
        starts = m.indptr[:-1][filled]
        best[filled] = np.maximum.reduceat(m.data, starts)
        at_best = m.data == np.repeat(best, lengths).astype(m.data.dtype)
        columns = np.where(at_best, m.indices.astype(np.int64), np.iinfo(np.int64).max)
        which[filled] = np.minimum.reduceat(columns, starts)
    return best, which


def score_claims(item_ids: np.ndarray, features: sparse.csr_matrix | None, bank: DetectorBank) -> list[pd.DataFrame]:
    """Cosine similarity of each item to the closest fact-checked false claim (shared hashed features)."""
    frames = []
    for policy, det, claims, weight, min_sim in bank.claim_detectors:
        best, which = row_max((features @ claims.features.T).tocsr())
        rows = np.flatnonzero(best >= min_sim)
        evidence = [
            json.dumps(
                {
                    "claim_id": str(claims.claim_ids[which[r]]),
                    "similarity": round(float(best[r]), 3),
                    "fact_check_url": str(claims.urls[which[r]]),
                }
            )
            for r in rows
        ]
        frames.append(
            _frame(
                item_ids[rows],
                policy,
                det,
                DETECTOR_VERSIONS["claim_match"],
                np.minimum(best[rows], 0.99) * weight,
                evidence,
            )
        )
    return frames


def score_media_hashes(items: pd.DataFrame, bank: DetectorBank) -> list[pd.DataFrame]:
    """Exact and near-duplicate matches (Hamming distance on 64-bit perceptual hashes) against hash lists."""
    if not bank.hash_detectors:
        return []
    values, valid = hex_to_uint64(items["media_hash"])
    idx = np.flatnonzero(valid)
    frames = []
    for policy, det, listed, max_distance, weight in bank.hash_detectors:
        if not len(idx) or not len(listed.hashes):
            continue
        best = np.full(len(idx), 65, dtype=np.int64)
        which = np.zeros(len(idx), dtype=np.int64)
        for j in range(0, len(listed.hashes), 256):  # blocks keep the distance matrix small
            block = listed.hashes[j : j + 256]
            dist = np.bitwise_count(values[idx][:, None] ^ block[None, :]).astype(np.int64)
            arg = dist.argmin(axis=1)
            d = dist[np.arange(len(idx)), arg]
            better = d < best
            best[better], which[better] = d[better], arg[better] + j
        hit = best <= max_distance
        rows = idx[hit]
        # Exact match 0.99; each differing bit lowers the score, down to 0.6 at the distance limit.
        score = (0.99 - 0.39 * best[hit] / max(max_distance, 1)) * weight
        evidence = [
            json.dumps({"list_entry": str(listed.labels[w]), "hamming_distance": int(d)})
            for w, d in zip(which[hit], best[hit], strict=True)
        ]
        frames.append(
            _frame(items["item_id"].to_numpy()[rows], policy, det, DETECTOR_VERSIONS["hash_match"], score, evidence)
        )
    return frames


def detect_partition(items: pd.DataFrame, bank: DetectorBank, run_id: str, max_chars: int = 20_000) -> pd.DataFrame:
    """Every per-item detector of the pack over one partition → sparse detections (DETECTIONS schema).

    The text is combined and normalised once, and featurised once for every classifier and claim list.
    """
    raw_text = combined_text(items)
    norm = normalise(raw_text, max_chars=max_chars)
    features = featurise(norm) if bank.needs_features else None
    scoring_text = raw_text.str.slice(0, max_chars)
    # Every model label is scored once per partition and shared by classifier and AI-text detectors (a model with
    # an embedding stage also encodes the raw text of the posts its first stage flags: tasks/embeddings.py).
    probs = (
        bank.model.predict_proba(features, scoring_text) if bank.model is not None and features is not None else None
    )
    item_ids = items["item_id"].to_numpy()
    frames = [
        *score_lexicons(item_ids, norm, bank),
        *score_classifiers(item_ids, probs, norm, bank),
        *score_claims(item_ids, features, bank),
        *score_regexes(items, scoring_text, bank),
        *score_hashtags(items, bank),
        *score_media_hashes(items, bank),
        *score_reports(items, bank),
        *score_aigc(items, probs, bank),
    ]
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in DETECTIONS.names})
    out["run_id"] = run_id
    return out[list(DETECTIONS.names)]


def detect_in_chunks(
    items: pd.DataFrame, bank: DetectorBank, run_id: str, max_chars: int = 20_000, chunk_rows: int = 25_000
) -> pd.DataFrame:
    """`detect_partition` over consecutive slices of at most `chunk_rows` rows (0: the whole partition).

    Every per-item detector looks at one row at a time, so the result is the same; the sparse features of a
    slice (a few hundred non-zeros per item) are what bound a worker's memory, not the partition size.
    """
    if not chunk_rows or len(items) <= chunk_rows:
        return detect_partition(items, bank, run_id, max_chars=max_chars)
    parts = [
        detect_partition(items.iloc[i : i + chunk_rows], bank, run_id, max_chars=max_chars)
        for i in range(0, len(items), chunk_rows)
    ]
    return pd.concat(parts, ignore_index=True)


# --- coordinated behaviour: signatures per partition, clusters across partitions -------------------------

MINHASH_PERMUTATIONS = 32
LSH_BANDS = 8  # 8 bands × 4 rows: pairs above ≈ 0.6 Jaccard become candidates
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20261124)
_A = _rng.integers(1, (1 << 61) - 1, size=MINHASH_PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, size=MINHASH_PERMUTATIONS, dtype=np.uint64)


def coordination_signatures(items: pd.DataFrame, max_account_age_days: int) -> pd.DataFrame:
    """MinHash LSH band keys of young accounts' texts (hashtags and numbers dropped): the input to clustering."""
    young = items[items["author_account_age_days"].to_numpy() <= max_account_age_days]
    if young.empty:
        return pd.DataFrame(columns=["item_id", "author_id", "created_at", "account_age", "minhash", *_band_cols()])
    norm = normalise(young["text"].fillna("").astype("string").str.replace(r"#\w+", " ", regex=True))
    token_lists = [[t for t in s.split() if len(t) > 2 and not t.isdigit()] for s in norm.text.tolist()]
    keep = np.array([len(t) >= 4 for t in token_lists], dtype=bool)
    token_lists = [t for t, k in zip(token_lists, keep, strict=True) if k]
    young = young[keep]
    if young.empty:
        return pd.DataFrame(columns=["item_id", "author_id", "created_at", "account_age", "minhash", *_band_cols()])
    lengths = np.array([len(set(t)) for t in token_lists])
    hashes = np.fromiter((zlib.crc32(tok.encode()) for toks in token_lists for tok in set(toks)), dtype=np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    with np.errstate(over="ignore"):
        permuted = (hashes[None, :] * _A[:, None] + _B[:, None]) % _MERSENNE
    sig = np.minimum.reduceat(permuted, starts, axis=1)  # (perms, items)
    rows_per_band = MINHASH_PERMUTATIONS // LSH_BANDS
    out = pd.DataFrame(
        {
            "item_id": young["item_id"].to_numpy(),
            "author_id": young["author_id"].to_numpy(),
            "created_at": young["created_at"].to_numpy(),
            "account_age": young["author_account_age_days"].to_numpy(),
            # The full signature (32 × uint32) verifies LSH candidates: estimated Jaccard = share of equal values.
            "minhash": [row.tobytes() for row in np.ascontiguousarray(sig.T.astype(np.uint32))],
        }
    )
    for b in range(LSH_BANDS):
        block = np.ascontiguousarray(sig[b * rows_per_band : (b + 1) * rows_per_band].T)
        out[f"band_{b}"] = pd.util.hash_array(
            block.view(f"V{block.dtype.itemsize * rows_per_band}").ravel().astype(object)
        )
    return out


def _band_cols() -> list[str]:
    return [f"band_{b}" for b in range(LSH_BANDS)]


def cluster_coordination(signatures: pd.DataFrame, bank: DetectorBank, run_id: str) -> pd.DataFrame:
    """Near-duplicate clusters posted by ≥ min_accounts distinct young accounts within the window → detections."""
    frames = []
    sig = signatures.reset_index(drop=True)
    n = len(sig)
    for policy, det, params, weight in bank.coordination:
        if n == 0:
            continue
        min_accounts = int(params.get("min_accounts", 8))
        window = pd.Timedelta(minutes=float(params.get("window_minutes", 30)))
        src, dst = [], []
        for col in _band_cols():
            codes = pd.factorize(sig[col])[0]
            order = np.argsort(codes, kind="stable")
            sorted_codes = codes[order]
            for lag in range(1, 5):  # each bucket member meets up to four others: one bad pair cannot split a cluster
                same = sorted_codes[lag:] == sorted_codes[:-lag]
                src.append(order[lag:][same])
                dst.append(order[:-lag][same])
        s, d = np.concatenate(src), np.concatenate(dst)
        # Keep only candidate pairs that really are similar and close in time, so clusters cannot chain
        # loosely related posts across the day.
        minhash = np.frombuffer(b"".join(sig["minhash"]), dtype=np.uint32).reshape(n, MINHASH_PERMUTATIONS)
        times_us = (
            pd.to_datetime(sig["created_at"], utc=True)
            .dt.tz_localize(None)
            .to_numpy()
            .astype("datetime64[us]")
            .astype(np.int64)
        )
        close = np.abs(times_us[s] - times_us[d]) <= int(window.total_seconds() * 1e6)
        s, d = s[close], d[close]
        s, d = similar_pairs(minhash, s, d, float(params.get("similarity", 0.7)))
        graph = sparse.coo_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        sizes = np.bincount(labels)
        for comp in np.flatnonzero(sizes >= min_accounts):
            members = sig.iloc[np.flatnonzero(labels == comp)].sort_values("created_at")
            times = pd.to_datetime(members["created_at"], utc=True)
            mask, best = burst_members(times.to_numpy(), members["author_id"].to_numpy(), window, min_accounts)
            if not mask.any():
                continue
            members, times = members[mask], times[mask]
            score = min(0.99, 0.6 + 0.35 * (best - min_accounts) / max(min_accounts, 1)) * weight
            cluster_id = "c-" + format(zlib.crc32(",".join(sorted(members["item_id"])).encode()), "08x")
            span = (times.max() - times.min()).total_seconds() / 60
            evidence = json.dumps(
                {
                    "cluster_id": cluster_id,
                    "similarity_threshold": float(params.get("similarity", 0.7)),
                    "cluster_size": len(members),
                    "accounts": int(best),
                    "span_minutes": round(span, 1),
                    "median_account_age_days": float(members["account_age"].median()),
                }
            )
            frames.append(
                _frame(
                    members["item_id"].to_numpy(),
                    policy,
                    det,
                    DETECTOR_VERSIONS["coordination"],
                    np.full(len(members), score),
                    [evidence] * len(members),
                )
            )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in DETECTIONS.names})
    out["run_id"] = run_id
    return out[list(DETECTIONS.names)]


def similar_pairs(
    minhash: np.ndarray, s: np.ndarray, d: np.ndarray, threshold: float, chunk: int = 250_000
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs whose estimated Jaccard similarity (share of equal MinHash values) reaches `threshold`,
    compared `chunk` pairs at a time: two gathered signature blocks per chunk (~64 MB), not per day."""
    keep = np.zeros(len(s), dtype=bool)
    for i in range(0, len(s), chunk):
        a, b = s[i : i + chunk], d[i : i + chunk]
        keep[i : i + chunk] = (minhash[a] == minhash[b]).mean(axis=1) >= threshold
    return s[keep], d[keep]


def burst_members(
    times: np.ndarray, authors: np.ndarray, window: pd.Timedelta, min_accounts: int
) -> tuple[np.ndarray, int]:
    """Members (times sorted) inside some `window`-long stretch with ≥ min_accounts distinct authors, and the peak count."""
    in_burst = np.zeros(len(times), dtype=bool)
    best, left = 0, 0
    counts: dict[Any, int] = {}
    w = np.timedelta64(int(window.total_seconds() * 1e6), "us")
    for right in range(len(times)):
        counts[authors[right]] = counts.get(authors[right], 0) + 1
        while times[right] - times[left] > w:
            counts[authors[left]] -= 1
            if counts[authors[left]] == 0:
                del counts[authors[left]]
            left += 1
        best = max(best, len(counts))
        if len(counts) >= min_accounts:
            in_burst[left : right + 1] = True
    return in_burst, best
