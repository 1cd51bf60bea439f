"""Synthetic raw source for modsweep: realistic items, planted violations, campaigns and dirty rows (one day at a time).

The generator is the test bed for every later stage, so it plants the problems a Trust & Safety team meets:

* items in 9 languages correlated with 13 regions, Zipf-distributed author activity, heavy-tailed views;
* violations of every policy at configurable base rates, whose ground truth goes to a *separate* truth table
  (schema ``TRUTH``) and never into the items;
* lexicon gaps (the pack's lexicons hold ~60 % of the generator's phrasebook), benign "confuser" posts that
  use lexicon words harmlessly, and obfuscated violating text (leetspeak, repeated letters, zero-width spaces);
* coordinated campaigns: near-duplicate posts from >= 10 young accounts within minutes, one spanning two chunks;
* AI-generated media with provenance, disclosed or not, and user reports correlated with violations and reach;
* dirty rows of every kind ingest must quarantine or repair (see ``DIRTY_KINDS``).

Raw-source contract (``RAW_ITEMS``): the canonical ``ITEMS`` columns, except that ``created_at`` is an ISO-8601
*string* (so bad timestamps can exist), ``item_id`` may be null and ``user_reports`` is int64.

Dirty rows never carry a violation and are never in the truth table. A ``duplicate_item_id`` row is the *later*
occurrence (same chunk, or the next chunk for a cross-chunk duplicate) of an id whose first occurrence is a clean
row; that first occurrence may be in the truth table, and ingest is expected to keep it and quarantine the copy.
"""

from __future__ import annotations

import math
import os
import random
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modsweep.schemas import ITEM_TYPES, ITEMS, LANGUAGES, POLICY_IDS, TRUTH
from modsweep.tasks.text import splitmix64

SOURCE_NAME = "synthetic"

# --- raw-source contract ------------------------------------------------------------------------------------

_RAW_OVERRIDES = {
    "item_id": pa.field("item_id", pa.string(), nullable=True),
    "created_at": pa.field("created_at", pa.string(), nullable=False),
    "user_reports": pa.field("user_reports", pa.int64(), nullable=False),
}
RAW_ITEMS = pa.schema([_RAW_OVERRIDES.get(f.name, f) for f in ITEMS])

# --- dirty rows ---------------------------------------------------------------------------------------------

DIRTY_KINDS: tuple[str, ...] = (
    "null_item_id",  # item_id is null
    "duplicate_item_id",  # item_id of an earlier clean row, same chunk or previous chunk
    "bad_timestamp",  # unparseable created_at: "not-a-date", "2026-13-45T25:00:00Z", "", ...
    "naive_timestamp",  # created_at without a timezone: "2026-11-23 10:00:00"
    "invalid_enum",  # item_type "podcast", region "XX" / "usa", language "english"
    "mojibake_text",  # UTF-8 bytes decoded as cp1252 ("cafÃ© Ã  la"): repairable with .encode("cp1252").decode()
    "undecodable_text",  # text with U+FFFD replacement characters: the original bytes are lost
    "negative_views",  # views < 0
    "oversize_text",  # text longer than 1,000,000 characters (at most one row per chunk)
)
# The quarantine reason (schemas.QUARANTINE_REASONS) each kind should get at ingest; None = repair and keep.
QUARANTINE_REASON_BY_DIRTY_KIND: dict[str, str | None] = {
    "null_item_id": "null_item_id",
    "duplicate_item_id": "duplicate_item_id",
    "bad_timestamp": "bad_timestamp",
    "naive_timestamp": "bad_timestamp",
    "invalid_enum": "invalid_enum",
    "mojibake_text": None,
    "undecodable_text": "undecodable_text",
    "negative_views": "invalid_value",
    "oversize_text": "oversize_text",
}
_HASHED_DIRTY_KINDS = len(DIRTY_KINDS) - 1  # every kind but oversize is drawn per row
_OVERSIZE = DIRTY_KINDS.index("oversize_text")

# --- defaults -----------------------------------------------------------------------------------------------

DEFAULT_VIOLATION_RATES: dict[str, float] = {
    "misinfo.medical": 0.008,
    "civic.election_integrity": 0.005,
    "aigc.undisclosed": 0.006,
    "hate.speech": 0.012,
    "violent_extremism": 0.002,
    "self_harm": 0.003,
    "minor_safety": 0.001,
    "deceptive.spam": 0.025,
    "deceptive.coordinated": 0.002,
}
DEFAULT_REGION_WEIGHTS: dict[str, float] = {
    "US": 0.26,
    "IN": 0.18,
    "BR": 0.11,
    "GB": 0.05,
    "MX": 0.04,
    "DE": 0.08,
    "FR": 0.07,
    "ES": 0.06,
    "IT": 0.05,
    "PL": 0.04,
    "NL": 0.03,
    "BE": 0.02,
    "AT": 0.01,
}
# Language mix of each region's authors.
REGION_LANGUAGES: dict[str, dict[str, float]] = {
    "US": {"en": 0.85, "es": 0.15},
    "IN": {"hi": 0.55, "en": 0.45},
    "BR": {"pt": 0.95, "en": 0.05},
    "GB": {"en": 0.96, "pl": 0.04},
    "MX": {"es": 0.95, "en": 0.05},
    "DE": {"de": 0.92, "en": 0.08},
    "FR": {"fr": 0.93, "en": 0.07},
    "ES": {"es": 0.93, "en": 0.07},
    "IT": {"it": 0.93, "en": 0.07},
    "PL": {"pl": 0.93, "en": 0.07},
    "NL": {"nl": 0.85, "en": 0.15},
    "BE": {"nl": 0.5, "fr": 0.42, "en": 0.08},
    "AT": {"de": 0.95, "en": 0.05},
}
_TYPE_P = {"video": 0.3, "comment": 0.3, "live": 0.04, "image": 0.15, "text_post": 0.15, "ad": 0.06}
_TYPE_VIEW_MULT = {"video": 2.5, "comment": 0.15, "live": 1.5, "image": 1.2, "text_post": 0.8, "ad": 4.0}
_MEDIA_TYPES = ("video", "image", "ad")
_PROVENANCE = {
    "video": ("c2pa:sora", "synthid:veo", "c2pa:runway-gen3"),
    "image": ("c2pa:dall-e-3", "c2pa:firefly", "synthid:imagen", "c2pa:gpt-image-1"),
    "ad": ("c2pa:firefly", "c2pa:dall-e-3", "synthid:imagen", "c2pa:sora"),
}
# User-report reasons per policy (the pack's `reports` detectors match on these) and background noise.
REPORT_REASONS: dict[str, tuple[str, ...]] = {
    "misinfo.medical": ("misinformation", "health"),
    "civic.election_integrity": ("election", "misinformation"),
    "aigc.undisclosed": ("ai_generated", "misleading"),
    "hate.speech": ("hate", "harassment", "bullying"),
    "violent_extremism": ("violence", "terrorism"),
    "self_harm": ("self_harm", "suicide"),
    "minor_safety": ("minor_safety", "child_safety"),
    "deceptive.spam": ("spam", "scam"),
    "deceptive.coordinated": ("spam", "fake_account"),
}
_NOISE_REASONS = ("other", "dislike", "spam", "misinformation", "hate", "nudity", "bullying")
# fmt: off
# (hand-laid tables from here to `fmt: on`: kept compact, out of the formatter's reach)
# Expected reports per sqrt(views / 100): violating content is reported far more often than benign content.
_REPORT_RATE = {
    "misinfo.medical": 0.25, "civic.election_integrity": 0.3, "aigc.undisclosed": 0.1, "hate.speech": 0.5,
    "violent_extremism": 0.6, "self_harm": 0.3, "minor_safety": 0.45, "deceptive.spam": 0.35,
    "deceptive.coordinated": 0.1, "benign": 0.006, "confuser": 0.03,
}

# --- text: benign content per language ---------------------------------------------------------------------

TOPICS: tuple[str, ...] = ("food", "sport", "music", "travel", "weather", "family", "tech", "politics")

_TABLES = Path(__file__).with_name("generate_data")


def _tuples(value: object) -> object:
    """YAML lists as tuples (the tables are read-only and hashed into generated text)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _table(name: str) -> dict:
    """One phrase table from tasks/generate_data/ (read once, at import)."""
    with (_TABLES / f"{name}.yaml").open(encoding="utf-8") as f:
        return _tuples(yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # type: ignore[return-value]


_TAG_TABLES = _table("tags")
_TOPIC_TAGS: dict[str, tuple[str, ...]] = _TAG_TABLES["topic_tags"]
_POLICY_TAGS: dict[str, tuple[str, ...]] = _TAG_TABLES["policy_tags"]
_EMOJI: tuple[str, ...] = _TAG_TABLES["emoji"]
# Benign text per language (templates, slot fillers, lines per topic, ad calls to action, fillers, accents).
_BENIGN: dict[str, dict] = _table("benign")["benign"]

# --- text: policy phrasebooks ------------------------------------------------------------------------------
# Per policy and language (tasks/generate_data/policy_text.yaml): violating `phrases` (the pack lexicon holds
# those whose index i has i % 5 in {0, 2, 4}), `keywords`, `frames` and benign `confusers`.
_POLICY_TEXT: dict[str, dict[str, dict[str, tuple]]] = _table("policy_text")["policy_text"]

TEXT_POLICIES: tuple[str, ...] = tuple(p for p in POLICY_IDS if p in _POLICY_TEXT)
# Policies detected from metadata or clustering, not words: no lexicon file.
NON_LEXICON_POLICIES: tuple[str, ...] = tuple(p for p in POLICY_IDS if p not in _POLICY_TEXT)
_PHRASE_WEIGHT = {
    "deceptive.spam": 0.85,
    "self_harm": 0.85,
}

# Coordinated campaigns (tasks/generate_data/campaigns.yaml): astroturfing templates ({s} = the promoted name).
_CAMPAIGN_TABLES = _table("campaigns")
_CAMPAIGNS: dict[str, tuple[str, ...]] = _CAMPAIGN_TABLES["templates"]
_CAMPAIGN_NAMES: tuple[str, ...] = _CAMPAIGN_TABLES["names"]
_CAMPAIGN_TAGS: tuple[str, ...] = _CAMPAIGN_TABLES["tags"]
# fmt: on

_LEET = {"e": "3", "o": "0", "i": "1", "a": "@", "s": "$"}
_BAD_TIMESTAMPS = ("not-a-date", "{y}-13-45T25:00:00Z", "", "31/02/{y} 25:61", "yesterday")
_INVALID_ENUMS = (("item_type", "podcast"), ("region", "XX"), ("region", "usa"), ("language", "english"))

# --- parameters and summary ---------------------------------------------------------------------------------


class GeneratorParams(BaseModel):
    """Everything that shapes a synthetic day besides its date, size and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    violation_rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_VIOLATION_RATES),
        description="Share of items violating each policy; missing policies take the default",
    )
    golden_share: float = Field(
        default=0.05, ge=0, le=1, description="share of violations kept as known-label golden items"
    )
    dirty_share: float = Field(default=0.005, ge=0, le=0.5, description="Share of rows with one defect each")
    oversize_text: bool = Field(
        default=True, description="One >1M-char row per chunk (~1 MB each) when dirty_share > 0"
    )
    oversize_chars: int = Field(default=1_048_576, gt=1_000_000, le=16_000_000)
    ai_share: float = Field(default=0.02, ge=0, le=0.5, description="Items with AI provenance that ARE disclosed")
    ai_self_label_share: float = Field(default=0.004, ge=0, le=0.5, description="Disclosed AI items without provenance")
    confuser_ratio: float = Field(default=1.0, ge=0, le=10, description="Benign lexicon-confusers per violation")
    obfuscation_share: float = Field(default=0.25, ge=0, le=1, description="Violating phrases with obfuscation")
    campaign_size_min: int = Field(default=12, ge=10, description="Distinct young accounts per campaign (min)")
    campaign_size_max: int = Field(default=40, ge=10)
    campaign_window_minutes: float = Field(default=6.0, gt=0, le=30, description="A campaign posts within this span")
    campaign_max_account_age_days: int = Field(default=29, ge=0, le=29)
    cross_chunk_campaign: bool = Field(default=True, description="One campaign split over chunks 0 and 1")
    bridge_campaign_size: int = Field(default=14, ge=10, le=30, description="Split 7 + 7: only visible across chunks")
    n_authors: int = Field(default=1_000_000, ge=100, description="Author population (Zipf ranks)")
    zipf_exponent: float = Field(default=1.15, gt=1.0, le=3.0)
    zipf_offset: float = Field(default=30.0, ge=0)
    young_account_share: float = Field(default=0.03, ge=0, le=1, description="Authors younger than 30 days")
    region_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_REGION_WEIGHTS))
    window_hours: tuple[int, int] = Field(default=(0, 24), description="created_at within [start, end) hours UTC")
    emerging_campaigns: bool = Field(
        default=False, description="Plant the emerging campaigns of generate_data/emerging.yaml (extra rows, chunk 0)"
    )
    emerging_start: date = Field(default=date(2026, 11, 1), description="Day index 0 of the emerging campaigns")
    emerging_scale: float = Field(default=1.0, gt=0, le=100, description="Multiplies every campaign's daily posts")

    @field_validator("violation_rates")
    @classmethod
    def _known_policies(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(POLICY_IDS))
        if unknown:
            raise ValueError(f"unknown policy ids {unknown}; known: {list(POLICY_IDS)}")
        bad = {k: r for k, r in v.items() if not 0 <= r <= 0.2}
        if bad:
            raise ValueError(f"violation rates must be within [0, 0.2]: {bad}")
        return {**DEFAULT_VIOLATION_RATES, **v}

    @field_validator("region_weights")
    @classmethod
    def _known_regions(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(REGION_LANGUAGES))
        if unknown:
            raise ValueError(f"no language mix for regions {unknown}; known: {sorted(REGION_LANGUAGES)}")
        if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("region weights must be non-negative with a positive sum")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> GeneratorParams:
        if self.campaign_size_max < self.campaign_size_min:
            raise ValueError("campaign_size_max must be >= campaign_size_min")
        start, end = self.window_hours
        if not 0 <= start < end <= 24:
            raise ValueError("window_hours must satisfy 0 <= start < end <= 24")
        if sum(self.violation_rates[p] for p in TEXT_POLICIES) > 0.5:
            raise ValueError("text-policy violation rates must sum to at most 0.5")
        return self


GOLDEN = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("policy_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
    ]
)


def golden_set(items: pa.Table, truth: pa.Table, dirty_codes: np.ndarray, *, seed: int, share: float) -> pa.Table:
    """Known-label item × policy pairs a policy team would curate: a share of the true violations and as many
    clean benign pairs (dirty rows are never golden, since ingest quarantines them)."""
    rng = np.random.default_rng(_mix(seed, 0x601D))
    t = truth.to_pandas()
    positives = t.sample(frac=share, random_state=int(rng.integers(1 << 31))) if len(t) else t
    ids = items["item_id"].to_numpy(zero_copy_only=False)
    clean = ids[(dirty_codes < 0) & pd.notna(ids)]
    violating = set(zip(t["item_id"], t["policy_id"], strict=True))
    n = len(positives)
    picks = rng.choice(clean, size=min(len(clean), 2 * n), replace=False) if n else np.array([], dtype=object)
    policies = rng.choice(np.array(POLICY_IDS, dtype=object), size=len(picks))
    negatives = [(i, p) for i, p in zip(picks, policies, strict=True) if (i, p) not in violating][:n]
    frame = pd.concat(
        [
            positives[["item_id", "policy_id"]].assign(label="violating"),
            pd.DataFrame(negatives, columns=["item_id", "policy_id"]).assign(label="benign"),
        ],
        ignore_index=True,
    )
    return pa.Table.from_pandas(frame, schema=GOLDEN, preserve_index=False)


class GenerateSummary(BaseModel):
    """What `write_synthetic_day` wrote: files, and counts of every planted problem."""

    day: date
    seed: int
    rows: int
    partitions: int
    item_files: list[str]
    truth_files: list[str]
    violations: dict[str, int]  # truth rows per policy
    violating_items: int
    dirty: dict[str, int]  # rows per DIRTY_KINDS kind
    campaigns: int
    campaign_items: int


# --- hashing helpers (per-row decisions that must be recomputable without generating a chunk) --------------

_U64 = (1 << 64) - 1
_SALT = {"dirty": 0xD1, "dup": 0xD2, "author": 0xA1, "campaign": 0xC1, "bridge": 0xB1, "pool": 0x9F}


def _splitmix_int(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _U64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
    return x ^ (x >> 31)


def _mix(*parts: int) -> int:
    """A 64-bit key from integers (order-sensitive)."""
    x = 0x243F6A8885A308D3
    for p in parts:
        x = _splitmix_int(x ^ (p & _U64))
    return x


def _hash_rows(key: int, idx: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return splitmix64(idx.astype(np.uint64) + np.uint64(key))


def _unit(h: np.ndarray) -> np.ndarray:
    """uint64 hashes → uniform floats in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def item_id(day: date, chunk_index: int, row: int) -> str:
    """The deterministic id of row `row` of chunk `chunk_index` of `day` (unique across days and chunks)."""
    return f"{day:%Y%m%d}-{chunk_index:05d}-{row:07d}"


# --- dirty-row plan ---------------------------------------------------------------------------------------


def dirty_plan(day: date, n_rows: int, seed: int, chunk_index: int, params: GeneratorParams) -> np.ndarray:
    """Per row the index into DIRTY_KINDS of its defect, or -1: a pure hash of (seed, day, chunk, row).

    Row i's plan does not depend on n_rows (the first dirty row becomes the chunk's oversize row), so a
    chunk can tell which rows of the previous chunk are clean without generating it.
    """
    codes = np.full(n_rows, -1, dtype=np.int8)
    share = params.dirty_share
    if share <= 0 or n_rows == 0:
        return codes
    u = _unit(_hash_rows(_mix(seed, day.toordinal(), chunk_index, _SALT["dirty"]), np.arange(n_rows)))
    dirty = u < share
    codes[dirty] = np.minimum((u[dirty] / share * _HASHED_DIRTY_KINDS).astype(np.int8), _HASHED_DIRTY_KINDS - 1)
    if params.oversize_text and dirty.any():
        codes[int(np.argmax(dirty))] = _OVERSIZE
    return codes


def dirty_counts(codes: np.ndarray) -> dict[str, int]:
    """Rows per dirty kind from a `dirty_plan`."""
    counts = np.bincount(codes[codes >= 0].astype(np.int64), minlength=len(DIRTY_KINDS))
    return {k: int(c) for k, c in zip(DIRTY_KINDS, counts, strict=True)}


# --- phrasebook and lexicons ------------------------------------------------------------------------------


def _in_lexicon(i: int) -> bool:
    return i % 5 in (0, 2, 4)


def phrasebook(policy_id: str) -> dict[str, tuple[str, ...]]:
    """Every violating phrase the generator plants for a policy, per language."""
    return {lang: spec["phrases"] for lang, spec in _POLICY_TEXT[policy_id].items()}


def lexicon_terms(policy_id: str) -> list[tuple[str, float]]:
    """The pack lexicon for a policy: ~60 % of the phrasebook (weight 0.85-0.9) plus weak keywords, deduplicated."""
    weight = _PHRASE_WEIGHT.get(policy_id, 0.9)
    seen: dict[str, float] = {}
    for spec in _POLICY_TEXT[policy_id].values():
        for i, phrase in enumerate(spec["phrases"]):
            if _in_lexicon(i):
                seen.setdefault(phrase.lower(), weight)
        for term, w in spec["keywords"]:
            seen.setdefault(term.lower(), w)
    return list(seen.items())


def render_lexicon(policy_id: str) -> str:
    """The lexicon file text (`term<TAB>weight`, `#` comments), grouped by language."""
    weight = _PHRASE_WEIGHT.get(policy_id, 0.9)
    lines = [
        f"# Lexicon for {policy_id} (community-guidelines pack).",
        "# One term per line: term<TAB>weight, weight in (0, 1] = how strongly the term alone indicates a violation.",
        "# Terms are matched as whole words after normalisation (NFKC, casefold, leetspeak, repeated letters,",
        "# zero-width characters), so write them plainly. Short keywords have low weights: they also occur in",
        "# harmless posts (counter-speech, hyperbole, homonyms) and only add evidence.",
    ]
    seen: set[str] = set()
    for lang, spec in _POLICY_TEXT[policy_id].items():
        entries = [(p, weight) for i, p in enumerate(spec["phrases"]) if _in_lexicon(i)] + list(spec["keywords"])
        entries = [(t.lower(), w) for t, w in entries if t.lower() not in seen]
        if not entries:
            continue
        lines.append(f"# --- {lang} ---")
        for term, w in entries:
            seen.add(term)
            lines.append(f"{term}\t{w:g}")
    return "\n".join(lines) + "\n"


# --- text assembly ----------------------------------------------------------------------------------------

_BANK_SIZE = 512
_CAPITALISE = re.compile(r"(?<=[.!?] )\w")


@lru_cache(maxsize=1)
def _sentence_bank() -> np.ndarray:
    """Benign sentences as an object array [language, topic, k] (a fixed vocabulary, independent of seeds)."""
    bank = np.empty((len(LANGUAGES), len(TOPICS), _BANK_SIZE), dtype=object)
    r = random.Random(20261123)
    for li, lang in enumerate(LANGUAGES):
        spec = _BENIGN[lang]
        for ti, topic in enumerate(TOPICS):
            combos = sorted(
                {
                    t.format(n=n, t=tm, x=x)
                    for t in spec["templates"]
                    for n in spec["nouns"][topic]
                    for tm in spec["times"]
                    for x in spec["evals"]
                }
            )
            combos = [_CAPITALISE.sub(lambda m: m.group(0).upper(), s[0].upper() + s[1:]) for s in combos]
            r.shuffle(combos)
            lines = list(spec["lines"][topic])
            pool = combos[: _BANK_SIZE - 4 * len(lines)] + lines * 4  # ready-made lines are common
            r.shuffle(pool)
            bank[li, ti, :] = [pool[k % len(pool)] for k in range(_BANK_SIZE)]
    return bank


@lru_cache(maxsize=1)
def _handles() -> np.ndarray:
    """A fixed pool of plausible @-handles."""
    r = random.Random(7)
    syllables = (
        "ka",
        "lo",
        "mi",
        "ra",
        "ten",
        "zu",
        "bel",
        "dor",
        "vi",
        "sa",
        "ne",
        "tor",
        "li",
        "an",
        "jo",
        "ree",
        "max",
        "pi",
        "ko",
        "su",
        "mar",
        "eli",
        "nox",
        "ari",
        "fin",
        "del",
        "oma",
        "ruk",
        "tia",
        "van",
    )
    handles = set()
    while len(handles) < 4096:
        name = "".join(r.choice(syllables) for _ in range(r.randint(2, 3)))
        handles.add("@" + name + (r.choice(("", "_", ".")) + str(r.randint(1, 99)) if r.random() < 0.5 else ""))
    return np.array(sorted(handles), dtype=object)


def _obfuscate(phrase: str, r: random.Random) -> str:
    """One evasion trick: leetspeak, repeated letters, a zero-width space inside a word, or mixed case."""
    trick = r.randrange(4)
    if trick == 0:
        return "".join(_LEET[c] if c in _LEET and r.random() < 0.6 else c for c in phrase)
    if trick == 3:
        return "".join(c.upper() if r.random() < 0.5 else c.lower() for c in phrase)
    words = phrase.split(" ")
    candidates = [k for k, w in enumerate(words) if len(w) >= 3 and w.isalpha()]
    if not candidates:
        return phrase.upper()
    for k in r.sample(candidates, k=min(len(candidates), r.randint(1, 2))):
        w = words[k]
        pos = r.randrange(1, len(w))
        if trick == 1:
            words[k] = w[:pos] + w[pos - 1] * r.randint(2, 4) + w[pos:]
        else:
            words[k] = w[:pos] + "\u200b" + w[pos:]
    return " ".join(words)


def _sentence(phrase: str, r: random.Random) -> str:
    """A phrase as a sentence: capitalised (mostly) and punctuated."""
    if r.random() < 0.8 and phrase[:1].islower():
        phrase = phrase[0].upper() + phrase[1:]
    if phrase.endswith(("?", "!", ".")):
        return phrase
    return phrase + r.choice((".", "!", "!!", "...", ""))


def _compose(context: str, phrase: str, frame: str | None, r: random.Random) -> str:
    parts = [_sentence(phrase, r)]
    if frame:
        parts.append(frame)
    if r.random() < 0.6:
        parts.insert(r.randrange(len(parts) + 1), context)
    return " ".join(parts)


def _campaign_variant(base: str, lang: str, r: random.Random) -> str:
    """A near-duplicate: at most one token-level edit plus punctuation, case and emoji noise."""
    words = base.split(" ")
    edit = r.random()
    if edit < 0.25 and len(words) > 3:
        k = r.randrange(1, len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    elif edit < 0.5:
        words.insert(r.randrange(1, len(words)), r.choice(_BENIGN[lang]["fillers"]))
    elif edit < 0.65 and len(words) > 8:
        del words[r.randrange(1, len(words))]
    text = " ".join(words)
    if r.random() < 0.5:
        text = text.replace(",", r.choice(("", " -", "...")), 1)
    text += r.choice(("", ".", "!", "!!!", "...", " !!"))
    if r.random() < 0.25:
        text = text.upper() if r.random() < 0.2 else text[0].lower() + text[1:]
    if r.random() < 0.6:
        text += " " + "".join(r.choice(_EMOJI) for _ in range(r.randint(1, 3)))
    return text


def _mojibake(text: str, lang: str) -> str:
    """UTF-8 bytes read as cp1252 ("cafÃ©"): repairable with ``s.encode('cp1252').decode('utf-8')``."""
    for source in (text if not text.isascii() else f"{_BENIGN[lang]['accent']} {text}", _BENIGN["en"]["accent"]):
        try:
            broken = source.encode("utf-8").decode("cp1252")
        except UnicodeDecodeError:
            continue
        if broken != source and broken.encode("cp1252").decode("utf-8") == source:
            return broken
    raise AssertionError("unreachable: the English accent line always round-trips")


def _undecodable(text: str, r: random.Random) -> str:
    """Text whose original bytes were lost: non-ASCII characters and a few more become U+FFFD."""
    chars = ["\ufffd" if not c.isascii() else c for c in text]
    pos = r.randrange(len(chars) + 1)
    return "".join(chars[:pos]) + "\ufffd\ufffd" + "".join(chars[pos:])


# --- authors ----------------------------------------------------------------------------------------------


def _zipf_ranks(u: np.ndarray, params: GeneratorParams) -> np.ndarray:
    """Author ranks 0..n_authors-1 with P(rank r) ∝ (r + 1 + q)^-s (Zipf–Mandelbrot, inverse CDF)."""
    s, q, n = params.zipf_exponent, params.zipf_offset, params.n_authors
    a = 1.0 - s
    lo, hi = (1.0 + q) ** a, (n + 1.0 + q) ** a
    x = (lo + u * (hi - lo)) ** (1.0 / a) - q
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, n - 1)


def _language_table(regions: tuple[str, ...]) -> np.ndarray:
    """Cumulative language probabilities per region, shape [region, language]."""
    table = np.zeros((len(regions), len(LANGUAGES)))
    for ri, reg in enumerate(regions):
        for lang, w in REGION_LANGUAGES[reg].items():
            table[ri, LANGUAGES.index(lang)] = w
    table /= table.sum(axis=1, keepdims=True)
    return np.cumsum(table, axis=1)


def _authors(ranks: np.ndarray, seed: int, params: GeneratorParams, regions: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Stable per-author attributes (same author → same id, region, language, followers, age for a seed)."""
    uniq, inverse = np.unique(ranks, return_inverse=True)
    key = _mix(seed, _SALT["author"])
    h = [_hash_rows(_mix(key, salt), uniq) for salt in range(6)]
    u = [_unit(x) for x in h]
    weights = np.array([params.region_weights.get(r, 0.0) for r in regions])
    region = np.minimum(np.searchsorted(np.cumsum(weights) / weights.sum(), u[0], side="right"), len(regions) - 1)
    lang = np.minimum((u[1][:, None] > _language_table(regions)[region]).sum(axis=1), len(LANGUAGES) - 1)
    normal = np.sqrt(-2.0 * np.log1p(-u[2])) * np.cos(2 * np.pi * u[3])
    log_followers = 1.5 + 0.45 * np.log10(params.n_authors / (uniq + 1.0)) + 0.8 * normal
    followers = np.minimum(np.floor(10**log_followers), 3e8).astype(np.int64)
    young = u[4] < params.young_account_share
    old_age = 30 + np.floor(-np.log1p(-u[5]) * 900)
    age = np.where(young, np.floor(u[5] * 30), np.minimum(old_age, 6000)).astype(np.int32)
    age = np.where(uniq < 1000, np.maximum(age, 365), age)  # the most active accounts are established
    ids = np.array([f"u{x:012x}" for x in (h[0] >> np.uint64(16)).tolist()], dtype=object)
    return {
        "author_id": ids[inverse],
        "region": region[inverse],
        "language": lang[inverse],
        "followers": followers[inverse],
        "age": age[inverse],
    }


# --- campaigns --------------------------------------------------------------------------------------------


def _campaign(
    rng: np.random.Generator, campaign_id: str, size: int, key: int, params: GeneratorParams, regions: tuple[str, ...]
) -> dict[str, list]:
    """One coordinated campaign: `size` distinct young accounts posting variants of one template within minutes."""
    weights = np.array([params.region_weights.get(r, 0.0) for r in regions])
    region = int(rng.choice(len(regions), p=weights / weights.sum()))
    langs = REGION_LANGUAGES[regions[region]]
    lang = list(langs)[int(rng.choice(len(langs), p=np.array(list(langs.values())) / sum(langs.values())))]
    r = random.Random(int(rng.integers(0, 2**62)))
    name = r.choice(_CAMPAIGN_NAMES)
    base = r.choice(_CAMPAIGNS[lang]).format(s=name)
    tags = ["#" + name.replace(" ", "").lower(), r.choice(_CAMPAIGN_TAGS)]
    start_h, end_h = params.window_hours
    span_us = int(params.campaign_window_minutes * 60e6)
    start = int(
        rng.integers(start_h * 3_600_000_000, max(start_h * 3_600_000_000 + 1, end_h * 3_600_000_000 - span_us))
    )
    offsets = np.sort(rng.integers(0, span_us, size))
    members: dict[str, list] = {k: [] for k in ("text", "hashtags", "author_id", "age", "followers", "type", "us")}
    for m in range(size):
        text = _campaign_variant(base, lang, r)
        member_tags = [t for t in tags if r.random() < 0.7]
        if member_tags and r.random() < 0.6:
            text += " " + " ".join(member_tags)
        members["text"].append(text)
        members["hashtags"].append(member_tags)
        members["author_id"].append(f"u{_mix(key, m) >> 16:012x}")
        members["age"].append(r.randint(0, params.campaign_max_account_age_days))
        members["followers"].append(int(r.paretovariate(1.5) * 3) - 3)
        members["type"].append("comment" if r.random() < 0.6 else "text_post")
        members["us"].append(start + int(offsets[m]))
    members["campaign_id"] = [campaign_id] * size
    members["region"] = [region] * size
    members["language"] = [LANGUAGES.index(lang)] * size
    return members


def _campaigns_for_chunk(
    day: date,
    n_rows: int,
    seed: int,
    chunk_index: int,
    n_chunks: int,
    params: GeneratorParams,
    regions: tuple[str, ...],
) -> dict[str, list]:
    """This chunk's campaigns plus its half of the cross-chunk campaign (chunks 0 and 1 of a multi-chunk day)."""
    rate = params.violation_rates["deceptive.coordinated"]
    rng = np.random.default_rng([seed, day.toordinal(), chunk_index, _SALT["campaign"]])
    mean_size = (params.campaign_size_min + params.campaign_size_max) / 2
    n_campaigns = math.floor(rate * n_rows / mean_size + rng.random()) if n_rows >= 1000 else 0
    out: dict[str, list] = {}
    parts = []
    for k in range(n_campaigns):
        size = int(rng.integers(params.campaign_size_min, params.campaign_size_max + 1))
        cid = f"camp-{day:%Y%m%d}-{chunk_index:05d}-{k:02d}"
        parts.append(
            _campaign(rng, cid, size, _mix(seed, day.toordinal(), chunk_index, k, _SALT["campaign"]), params, regions)
        )
    if params.cross_chunk_campaign and rate > 0 and n_chunks >= 2 and chunk_index in (0, 1) and n_rows >= 1000:
        bridge_rng = np.random.default_rng([seed, day.toordinal(), _SALT["bridge"]])
        size = params.bridge_campaign_size
        cid = f"camp-{day:%Y%m%d}-bridge"
        whole = _campaign(bridge_rng, cid, size, _mix(seed, day.toordinal(), _SALT["bridge"]), params, regions)
        half = size // 2
        sl = slice(0, half) if chunk_index == 0 else slice(half, size)
        parts.append({k: v[sl] for k, v in whole.items()})
    for part in parts:
        for k, v in part.items():
            out.setdefault(k, []).extend(v)
    return out


# --- one chunk --------------------------------------------------------------------------------------------


KNOWN_MEDIA_POLICIES: tuple[str, ...] = ("violent_extremism", "minor_safety")


def known_media_hashes(policy_id: str, count: int = 24) -> list[int]:
    """The hash list entries of known violating media for a policy (stable across days and seeds)."""
    index = KNOWN_MEDIA_POLICIES.index(policy_id)
    return [_mix(0x5EED, 1000 + index, j) & ((1 << 64) - 1) for j in range(count)]


def render_hash_list(policy_id: str) -> str:
    """The pack's hash-list file for a policy: `hexhash<TAB>label` lines."""
    lines = [f"# Known {policy_id} media: 64-bit perceptual hashes (hex) and their list entry."]
    lines += [f"{h:016x}\t{policy_id}:{j:03d}" for j, h in enumerate(known_media_hashes(policy_id))]
    return "\n".join(lines) + "\n"


def generate_chunk(
    day: date, n_rows: int, seed: int, chunk_index: int, params: GeneratorParams, *, n_chunks: int = 1
) -> tuple[pa.Table, pa.Table]:
    """One chunk of a synthetic day → (raw items in RAW_ITEMS, ground truth in TRUTH); pure and deterministic.

    `n_chunks` (the day's chunk count) only decides whether chunks 0 and 1 share the cross-chunk campaign.
    A cross-chunk duplicate id assumes the previous chunk had at least `n_rows` rows (true for the writer).
    """
    if n_rows < 0 or seed < 0 or chunk_index < 0:
        raise ValueError("n_rows, seed and chunk_index must be non-negative")
    n = n_rows
    ordinal = day.toordinal()
    rng = np.random.default_rng([seed, ordinal, chunk_index])
    r = random.Random(int(rng.integers(0, 2**62)))
    regions = tuple(params.region_weights)
    prefix = f"{day:%Y%m%d}-{chunk_index:05d}-"
    ids = np.array([f"{prefix}{i:07d}" for i in range(n)], dtype=object)

    kinds = dirty_plan(day, n, seed, chunk_index, params)
    clean = kinds < 0

    # Authors (Zipf activity), item types, times, languages, topics.
    a = _authors(_zipf_ranks(rng.random(n), params), seed, params, regions)
    author_id, region_i, lang_i = a["author_id"], a["region"].astype(np.int64), a["language"].astype(np.int64)
    followers, age = a["followers"], a["age"]
    switch_en = rng.random(n) < 0.05
    lang_i = np.where(switch_en, LANGUAGES.index("en"), lang_i)
    type_p = np.array([_TYPE_P[t] for t in ITEM_TYPES])
    type_i = rng.choice(len(ITEM_TYPES), size=n, p=type_p / type_p.sum())
    start_h, end_h = params.window_hours
    t_us = rng.integers(start_h * 3_600_000_000, end_h * 3_600_000_000, n)
    topic_i = rng.integers(0, len(TOPICS), n)

    # Coordinated campaigns overwrite randomly placed clean rows.
    camp = _campaigns_for_chunk(day, n, seed, chunk_index, n_chunks, params, regions)
    n_camp = min(len(camp.get("text", [])), int(clean.sum()) // 5)
    camp_rows = np.sort(rng.choice(np.flatnonzero(clean), size=n_camp, replace=False)) if n_camp else np.array([], int)
    is_campaign = np.zeros(n, dtype=bool)
    is_campaign[camp_rows] = True
    if n_camp:
        author_id = author_id.copy()
        author_id[camp_rows] = camp["author_id"][:n_camp]
        age[camp_rows] = camp["age"][:n_camp]
        followers[camp_rows] = np.maximum(0, np.array(camp["followers"][:n_camp]))
        type_i[camp_rows] = [ITEM_TYPES.index(t) for t in camp["type"][:n_camp]]
        t_us[camp_rows] = camp["us"][:n_camp]
        region_i[camp_rows] = camp["region"][:n_camp]
        lang_i[camp_rows] = camp["language"][:n_camp]

    # Violations: at most one text policy per item; AI disclosure independently among media items.
    eligible = clean & ~is_campaign
    n_elig = max(1, int(eligible.sum()))
    rates = np.array([params.violation_rates[p] for p in TEXT_POLICIES]) * n / n_elig
    policy_i = np.searchsorted(np.cumsum(rates), rng.random(n), side="right")
    violating = eligible & (policy_i < len(TEXT_POLICIES))
    confuser_i = np.searchsorted(np.cumsum(rates * params.confuser_ratio), rng.random(n), side="right")
    confuser = eligible & ~violating & (confuser_i < len(TEXT_POLICIES))
    media = np.isin(type_i, [ITEM_TYPES.index(t) for t in _MEDIA_TYPES]) & eligible
    n_media = max(1, int(media.sum()))
    p_undisclosed = params.violation_rates["aigc.undisclosed"] * n / n_media
    p_disclosed = params.ai_share * n / n_media
    p_self = params.ai_self_label_share * n / n_media
    u_ai = rng.random(n)
    ai_undisclosed = media & (u_ai < p_undisclosed)
    ai_disclosed_prov = media & ~ai_undisclosed & (u_ai < p_undisclosed + p_disclosed)
    ai_self_label = media & (u_ai >= p_undisclosed + p_disclosed) & (u_ai < p_undisclosed + p_disclosed + p_self)

    # Benign text from the sentence bank (vectorised), per item type.
    bank = _sentence_bank()
    picks = rng.integers(0, _BANK_SIZE, (5, n))
    s = [bank[lang_i, topic_i, picks[k]] for k in range(5)]
    types = np.array(ITEM_TYPES, dtype=object)[type_i]
    n_sent = np.where(
        types == "text_post", rng.integers(1, 4, n), np.where(types == "comment", rng.integers(1, 3, n), 1)
    )
    text = s[0].copy()
    text[n_sent >= 2] = s[0][n_sent >= 2] + " " + s[1][n_sent >= 2]
    text[n_sent >= 3] = text[n_sent >= 3] + " " + s[2][n_sent >= 3]
    # Openers, closers and @-mentions vary the template skeletons, as real posts do.
    openers = np.array([_BENIGN[lang]["openers"] for lang in LANGUAGES], dtype=object)
    closers = np.array([_BENIGN[lang]["closers"] for lang in LANGUAGES], dtype=object)
    oc_pick, oc_u = rng.integers(0, openers.shape[1], (2, n)), rng.random((3, n))
    for i in np.flatnonzero(oc_u[0] < 0.35).tolist():
        opener, body = openers[lang_i[i], oc_pick[0, i]], text[i]
        if opener[-1] not in ".:" and LANGUAGES[lang_i[i]] != "de":
            body = body[0].lower() + body[1:]
        text[i] = f"{opener} {body}"
    ads = types == "ad"
    with_closer = (oc_u[1] < 0.4) & ~ads
    text[with_closer] = text[with_closer] + " " + closers[lang_i[with_closer], oc_pick[1, with_closer]]
    mention = oc_u[2] < 0.2
    handles = _handles()
    text[mention] = text[mention] + " " + handles[rng.integers(0, len(handles), int(mention.sum()))]
    if ads.any():
        cta = np.array([_BENIGN[lang]["cta"] for lang in LANGUAGES], dtype=object)
        text[ads] = text[ads] + " " + cta[lang_i[ads], rng.integers(0, 3, int(ads.sum()))]
    emoji = rng.random(n) < 0.12
    text[emoji] = text[emoji] + " " + np.array(_EMOJI, dtype=object)[rng.integers(0, len(_EMOJI), int(emoji.sum()))]
    spoken = (types == "video") | (types == "live")
    transcript = np.full(n, None, dtype=object)
    transcript[spoken] = s[2][spoken] + " " + s[3][spoken] + " " + s[4][spoken]
    with_ocr = (types == "image") & (rng.random(n) < 0.35)
    ocr_text = np.full(n, None, dtype=object)
    ocr_text[with_ocr] = s[4][with_ocr]

    # Hashtags: 0-3 topic tags, sometimes repeated in the text.
    n_tags = rng.choice(4, size=n, p=[0.45, 0.25, 0.2, 0.1])
    tag_pick = rng.integers(0, 4, (n, 3))
    tags_in_text = rng.random(n) < 0.4
    hashtags: list[list[str]] = [[] for _ in range(n)]
    for i in np.flatnonzero(n_tags).tolist():
        pool = _TOPIC_TAGS[TOPICS[topic_i[i]]]
        hashtags[i] = list(dict.fromkeys(pool[j] for j in tag_pick[i, : n_tags[i]]))
        if tags_in_text[i]:
            text[i] = f"{text[i]} {' '.join(hashtags[i])}"

    # Violating text: a policy phrase (round-robin through the phrasebook per language) in context.
    offsets: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero(violating).tolist():
        policy = TEXT_POLICIES[policy_i[i]]
        lang = LANGUAGES[lang_i[i]]
        spec = _POLICY_TEXT[policy][lang]
        slot = (int(policy_i[i]), int(lang_i[i]))
        k = offsets.setdefault(slot, r.randrange(len(spec["phrases"])))
        offsets[slot] = k + 1
        phrase = spec["phrases"][k % len(spec["phrases"])]
        if r.random() < params.obfuscation_share:
            phrase = _obfuscate(phrase, r)
        frame = r.choice(spec["frames"]) if r.random() < 0.5 else None
        composed = _compose(str(s[1][i]), phrase, frame, r)
        kind = types[i]
        if kind in ("video", "live") and r.random() < 0.4:
            transcript[i] = f"{s[2][i]} {composed}"
        elif kind == "image" and r.random() < 0.4:
            ocr_text[i] = composed
        else:
            text[i] = composed
        tags = _POLICY_TAGS.get(policy)
        if tags and r.random() < 0.3:
            hashtags[i] = [*hashtags[i], r.choice(tags)]
    for i in np.flatnonzero(confuser).tolist():
        spec = _POLICY_TEXT[TEXT_POLICIES[confuser_i[i]]][LANGUAGES[lang_i[i]]]
        sentence = r.choice(spec["confusers"])
        text[i] = f"{sentence} {s[1][i]}" if r.random() < 0.5 else f"{s[1][i]} {sentence}"
    if n_camp:
        text[camp_rows] = camp["text"][:n_camp]
        transcript[camp_rows] = None
        ocr_text[camp_rows] = None
        for j, i in enumerate(camp_rows.tolist()):
            hashtags[i] = camp["hashtags"][j]

    # Media hashes (some viral re-uploads share a hash) and AI provenance.
    hashed = (types == "image") | (types == "video") | (ads & (rng.random(n) < 0.6))
    hashed &= ~is_campaign
    raw_hashes = rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True)
    viral = rng.random(n) < 0.03
    pool = [f"{_mix(seed, _SALT['pool'], j):016x}" for j in range(64)]
    pool_pick = rng.integers(0, len(pool), n)
    media_hash = np.full(n, None, dtype=object)
    for i in np.flatnonzero(hashed).tolist():
        media_hash[i] = pool[pool_pick[i]] if viral[i] else f"{int(raw_hashes[i]):016x}"
    # Half of the violent-extremism and minor-safety media are re-uploads of known material: a listed
    # hash with up to three bits flipped (what perceptual hashing of a re-encoded copy looks like).
    for p_index, policy in enumerate(TEXT_POLICIES):
        if policy not in KNOWN_MEDIA_POLICIES:
            continue
        rows = np.flatnonzero(hashed & violating & (policy_i == p_index) & (rng.random(n) < 0.5))
        known = known_media_hashes(policy)
        for i in rows.tolist():
            flips = sum(1 << int(b) for b in rng.choice(64, size=int(rng.integers(0, 4)), replace=False))
            media_hash[i] = f"{known[int(rng.integers(0, len(known)))] ^ flips:016x}"
    provenance = np.full(n, None, dtype=object)
    with_prov = ai_undisclosed | ai_disclosed_prov
    prov_pick = rng.integers(0, 12, n)
    for i in np.flatnonzero(with_prov).tolist():
        choices = _PROVENANCE[types[i]]
        provenance[i] = choices[prov_pick[i] % len(choices)]
    ai_disclosed = ai_disclosed_prov | ai_self_label

    # Reach and reports: heavy-tailed views; violating items draw many more reports, most still none.
    view_mult = np.array([_TYPE_VIEW_MULT[t] for t in ITEM_TYPES])[type_i]
    log_views = 1.5 + 0.6 * np.log1p(followers) + rng.normal(0.0, 1.5, n)
    views = np.minimum(np.exp(log_views) * view_mult, 2e9).astype(np.int64)
    rate_key = np.full(n, _REPORT_RATE["benign"])
    rate_key[confuser] = _REPORT_RATE["confuser"]
    text_rates = np.array([_REPORT_RATE[p] for p in TEXT_POLICIES])
    rate_key[violating] = text_rates[policy_i[violating]]
    rate_key[ai_undisclosed] = np.maximum(rate_key[ai_undisclosed], _REPORT_RATE["aigc.undisclosed"])
    rate_key[is_campaign] = _REPORT_RATE["deceptive.coordinated"]
    lam = np.minimum(rate_key * np.sqrt(views / 100.0) * rng.gamma(0.5, 2.0, n), 1e6)
    reports = rng.poisson(lam).astype(np.int64)
    report_reasons: list[list[str]] = [[] for _ in range(n)]
    for i in np.flatnonzero(reports).tolist():
        if violating[i]:
            wanted = REPORT_REASONS[TEXT_POLICIES[policy_i[i]]]
        elif ai_undisclosed[i]:
            wanted = REPORT_REASONS["aigc.undisclosed"]
        elif is_campaign[i]:
            wanted = REPORT_REASONS["deceptive.coordinated"]
        else:
            wanted = ()
        k = min(int(reports[i]), r.choice((1, 1, 2, 3)))
        picked = [r.choice(wanted) if wanted and r.random() < 0.85 else r.choice(_NOISE_REASONS) for _ in range(k)]
        report_reasons[i] = list(dict.fromkeys(picked))

    # Timestamps as ISO-8601 strings with a Z.
    stamps = np.datetime64(day.isoformat(), "us") + t_us.astype("timedelta64[us]")
    created_at = np.char.add(np.datetime_as_string(stamps, unit="us"), "Z").astype(object)
    item_type = types.copy()
    region = np.array(regions, dtype=object)[region_i]
    language = np.array(LANGUAGES, dtype=object)[lang_i]

    # Dirty rows: one defect each, applied last so nothing above depends on them.
    prev_clean: np.ndarray | None = None
    redelivered: list[tuple[int, int]] = []
    for i in np.flatnonzero(~clean).tolist():
        kind = DIRTY_KINDS[kinds[i]]
        if kind == "null_item_id":
            ids[i] = None
        elif kind == "duplicate_item_id":
            earlier = np.flatnonzero(clean[:i])
            cross = chunk_index > 0 and (r.random() < 0.5 or not len(earlier))
            if cross:
                if prev_clean is None:
                    prev_clean = np.flatnonzero(dirty_plan(day, n, seed, chunk_index - 1, params) < 0)
                ids[i] = item_id(day, chunk_index - 1, int(prev_clean[r.randrange(len(prev_clean))]))
            elif len(earlier):  # an at-least-once re-delivery: the whole earlier row again
                redelivered.append((i, int(earlier[r.randrange(len(earlier))])))
            else:  # first rows of chunk 0 only: re-deliver a later clean row instead
                later = np.flatnonzero(clean)
                if len(later):
                    redelivered.append((i, int(later[0])))
                else:
                    ids[i] = None
        elif kind == "bad_timestamp":
            created_at[i] = r.choice(_BAD_TIMESTAMPS).format(y=day.year)
        elif kind == "naive_timestamp":
            created_at[i] = str(stamps[i].astype("datetime64[s]")).replace("T", " ")
        elif kind == "invalid_enum":
            column, value = r.choice(_INVALID_ENUMS)
            {"item_type": item_type, "region": region, "language": language}[column][i] = value
        elif kind == "mojibake_text":
            text[i] = _mojibake(str(text[i]), str(language[i]))
        elif kind == "undecodable_text":
            text[i] = _undecodable(str(text[i]), r)
        elif kind == "negative_views":
            views[i] = -int(rng.integers(1, 10_000))
        elif kind == "oversize_text":
            unit = f"{text[i]} "
            text[i] = (unit * (params.oversize_chars // len(unit) + 1))[: params.oversize_chars]
    columns = (
        ids,
        item_type,
        author_id,
        created_at,
        region,
        language,
        text,
        transcript,
        ocr_text,
        media_hash,
        ai_disclosed,
        provenance,
        age,
        followers,
        views,
        reports,
    )
    for i, j in redelivered:
        for column in columns:
            column[i] = column[j]
        hashtags[i], report_reasons[i] = list(hashtags[j]), list(report_reasons[j])

    items = pa.table(
        {
            "item_id": pa.array(ids, type=pa.string()),
            "source": pa.array([SOURCE_NAME] * n, type=pa.string()),
            "item_type": pa.array(item_type, type=pa.string()),
            "author_id": pa.array(author_id, type=pa.string()),
            "created_at": pa.array(created_at, type=pa.string()),
            "region": pa.array(region, type=pa.string()),
            "language": pa.array(language, type=pa.string()),
            "text": pa.array(text, type=pa.string()),
            "transcript": pa.array(transcript, type=pa.string()),
            "ocr_text": pa.array(ocr_text, type=pa.string()),
            "hashtags": pa.array(hashtags, type=pa.list_(pa.string())),
            "media_hash": pa.array(media_hash, type=pa.string()),
            "ai_disclosed": pa.array(ai_disclosed, type=pa.bool_()),
            "ai_provenance": pa.array(provenance, type=pa.string()),
            "author_account_age_days": pa.array(age, type=pa.int32()),
            "author_followers": pa.array(followers, type=pa.int64()),
            "views": pa.array(views, type=pa.int64()),
            "user_reports": pa.array(reports, type=pa.int64()),
            "report_reasons": pa.array(report_reasons, type=pa.list_(pa.string())),
        },
        schema=RAW_ITEMS,
    )
    truth = _truth(ids, violating, policy_i, ai_undisclosed, camp_rows, camp.get("campaign_id", []))
    if params.emerging_campaigns and chunk_index == 0:
        extra, extra_truth = emerging_rows(day, seed, params, prefix)
        items, truth = pa.concat_tables([items, extra]), pa.concat_tables([truth, extra_truth])
    return items, truth


EMERGING: tuple[dict, ...] = _table("emerging")["campaigns"]
EMERGING_ID_PREFIX = "emerging:"  # campaign_id of a planted emerging campaign's rows in the truth table


def emerging_plan(day: date, params: GeneratorParams) -> list[dict]:
    """The emerging campaigns posting on `day`: id, policy (None: benign), region, language, hashtag, domain,
    growth_day (0 = first day) and posts."""
    k = (day - params.emerging_start).days
    out = []
    for c in EMERGING:
        g = k - c["start"]
        daily = c["daily"]
        if g < 0 or g >= len(daily) + c["plateau"]:
            continue
        posts = max(1, round(daily[min(g, len(daily) - 1)] * params.emerging_scale))
        out.append(
            {
                "campaign_id": c["id"],
                "policy_id": c["policy"],
                "region": c["region"],
                "language": c["language"],
                "hashtag": c["hashtag"],
                "domain": c["domain"],
                "growth_day": g,
                "posts": posts,
            }
        )
    return out


def emerging_rows(day: date, seed: int, params: GeneratorParams, prefix: str) -> tuple[pa.Table, pa.Table]:
    """The day's posts of every active emerging campaign (RAW_ITEMS rows, ids `<prefix>e<NNNNNN>`) and the truth
    rows of the violating ones (campaign_id `emerging:<id>`)."""
    frames, truth_ids, truth_policies, truth_campaigns = [], [], [], []
    offset = 0
    for plan in emerging_plan(day, params):
        spec = next(c for c in EMERGING if c["id"] == plan["campaign_id"])
        n = plan["posts"]
        rng = np.random.default_rng([seed, day.toordinal(), 0xE1, EMERGING.index(spec)])
        ids = np.array([f"{prefix}e{offset + i:06d}" for i in range(n)], dtype=object)
        offset += n
        account = rng.integers(0, spec["accounts"], n)
        pool = np.arange(spec["accounts"])
        young = _unit(_hash_rows(_mix(seed, 0xE2, EMERGING.index(spec)), pool)) < spec["young_share"]
        age = np.where(young, pool % 30, 90 + (pool * 37) % 3000)[account].astype(np.int32)
        texts = np.array(spec["texts"], dtype=object)[rng.integers(0, len(spec["texts"]), n)]
        url = np.where(rng.random(n) < 0.6, f"https://{spec['domain']}/", "")
        text = [
            t.format(tag=spec["hashtag"], url=(u + f"p{j % 97}") if u else "").strip()
            for j, (t, u) in enumerate(zip(texts.tolist(), url.tolist(), strict=True))
        ]
        if spec["policy"] and spec["known_share"] > 0:  # some posts also carry a phrase the pack already enforces
            book = _POLICY_TEXT[spec["policy"]].get(spec["language"]) or _POLICY_TEXT[spec["policy"]]["en"]
            known = [ph for i, ph in enumerate(book["phrases"]) if _in_lexicon(i)]
            with_known = np.flatnonzero(rng.random(n) < spec["known_share"])
            for j, pick in zip(with_known.tolist(), rng.integers(0, len(known), len(with_known)).tolist(), strict=True):
                text[j] = f"{text[j]} {known[pick]}"
        followers = np.floor(10 ** (1.5 + rng.normal(0, 0.8, n))).astype(np.int64)
        views = np.minimum(np.exp(2.0 + 0.6 * np.log1p(followers) + rng.normal(0, 1.2, n)) * spec["views_mult"], 2e9)
        t_us = rng.integers(params.window_hours[0] * 3_600_000_000, params.window_hours[1] * 3_600_000_000, n)
        stamps = np.datetime64(day.isoformat(), "us") + t_us.astype("timedelta64[us]")
        frames.append(
            pa.table(
                {
                    "item_id": pa.array(ids, type=pa.string()),
                    "source": pa.array([SOURCE_NAME] * n, type=pa.string()),
                    "item_type": pa.array(
                        np.array(["text_post", "video", "comment"], dtype=object)[rng.integers(0, 3, n)],
                        type=pa.string(),
                    ),
                    "author_id": pa.array(
                        [f"u-emerging-{spec['id']}-{a:05d}" for a in account.tolist()], type=pa.string()
                    ),
                    "created_at": pa.array(
                        np.char.add(np.datetime_as_string(stamps, unit="us"), "Z").astype(object), type=pa.string()
                    ),
                    "region": pa.array([spec["region"]] * n, type=pa.string()),
                    "language": pa.array([spec["language"]] * n, type=pa.string()),
                    "text": pa.array(text, type=pa.string()),
                    "transcript": pa.nulls(n, pa.string()),
                    "ocr_text": pa.nulls(n, pa.string()),
                    "hashtags": pa.array([[spec["hashtag"]]] * n, type=pa.list_(pa.string())),
                    "media_hash": pa.nulls(n, pa.string()),
                    "ai_disclosed": pa.array(np.zeros(n, dtype=bool), type=pa.bool_()),
                    "ai_provenance": pa.nulls(n, pa.string()),
                    "author_account_age_days": pa.array(age, type=pa.int32()),
                    "author_followers": pa.array(followers, type=pa.int64()),
                    "views": pa.array(views.astype(np.int64), type=pa.int64()),
                    "user_reports": pa.array(np.zeros(n, dtype=np.int64), type=pa.int64()),
                    "report_reasons": pa.array([[]] * n, type=pa.list_(pa.string())),
                },
                schema=RAW_ITEMS,
            )
        )
        if spec["policy"]:
            truth_ids.append(ids)
            truth_policies.append(np.full(n, spec["policy"], dtype=object))
            truth_campaigns.append(np.full(n, EMERGING_ID_PREFIX + spec["id"], dtype=object))
    items = pa.concat_tables(frames) if frames else RAW_ITEMS.empty_table()
    cat = lambda parts: np.concatenate(parts) if parts else np.array([], dtype=object)  # noqa: E731
    truth = pa.table(
        {
            "item_id": pa.array(cat(truth_ids), type=pa.string()),
            "policy_id": pa.array(cat(truth_policies), type=pa.string()),
            "campaign_id": pa.array(cat(truth_campaigns), type=pa.string()),
        },
        schema=TRUTH,
    )
    return items, truth


def _truth(
    ids: np.ndarray,
    violating: np.ndarray,
    policy_i: np.ndarray,
    ai_undisclosed: np.ndarray,
    camp_rows: np.ndarray,
    campaign_ids: list[str],
) -> pa.Table:
    """Ground truth rows (item, policy, campaign) ordered by row then policy."""
    rows = [np.flatnonzero(violating), np.flatnonzero(ai_undisclosed), camp_rows.astype(np.int64)]
    policies = [
        np.array(TEXT_POLICIES, dtype=object)[policy_i[rows[0]]],
        np.full(len(rows[1]), "aigc.undisclosed", dtype=object),
        np.full(len(rows[2]), "deceptive.coordinated", dtype=object),
    ]
    campaigns = [
        np.full(len(rows[0]), None, dtype=object),
        np.full(len(rows[1]), None, dtype=object),
        np.array(campaign_ids[: len(rows[2])], dtype=object),
    ]
    all_rows = np.concatenate(rows)
    policy = np.concatenate(policies)
    order = np.lexsort((np.array([POLICY_IDS.index(p) for p in policy], dtype=np.int64), all_rows))
    return pa.table(
        {
            "item_id": pa.array(ids[all_rows[order]] if len(all_rows) else [], type=pa.string()),
            "policy_id": pa.array(policy[order], type=pa.string()),
            "campaign_id": pa.array(np.concatenate(campaigns)[order], type=pa.string()),
        },
        schema=TRUTH,
    )


# --- writing a day ----------------------------------------------------------------------------------------


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a hidden temp file in the same directory, then rename over the target."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_synthetic_day(
    out_dir: Path,
    day: date,
    rows: int,
    seed: int,
    partition_rows: int = 100_000,
    params: GeneratorParams | None = None,
) -> GenerateSummary:
    """Write one day as `items/date=D/part-NNNNN.parquet` + `truth/date=D/part-NNNNN.parquet`, chunk by chunk.

    Memory is proportional to `partition_rows` (one chunk at a time); re-running with the same arguments
    rewrites byte-identical files and removes parts left over from a larger earlier run of the same day.
    """
    if rows < 0 or partition_rows < 1:
        raise ValueError("rows must be >= 0 and partition_rows >= 1")
    params = params or GeneratorParams()
    out_dir = Path(out_dir)
    n_chunks = max(1, math.ceil(rows / partition_rows))
    dirs = {name: out_dir / name / f"date={day.isoformat()}" for name in ("items", "truth", "golden")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    item_files, truth_files = [], []
    violations = dict.fromkeys(POLICY_IDS, 0)
    dirty = dict.fromkeys(DIRTY_KINDS, 0)
    violating_items = 0
    campaign_ids: set[str] = set()
    campaign_items = 0
    for c in range(n_chunks):
        n = min(partition_rows, rows - c * partition_rows)
        items, truth = generate_chunk(day, n, seed, c, params, n_chunks=n_chunks)
        name = f"part-{c:05d}.parquet"
        _write_atomic(items, dirs["items"] / name)
        _write_atomic(truth, dirs["truth"] / name)
        codes = dirty_plan(day, n, seed, c, params)
        codes = np.concatenate([codes, np.full(items.num_rows - n, -1, dtype=codes.dtype)])  # emerging rows: clean
        _write_atomic(golden_set(items, truth, codes, seed=seed, share=params.golden_share), dirs["golden"] / name)
        item_files.append(str(dirs["items"] / name))
        truth_files.append(str(dirs["truth"] / name))
        for policy, count in zip(
            *np.unique(truth["policy_id"].to_numpy(zero_copy_only=False), return_counts=True), strict=True
        ):
            violations[str(policy)] += int(count)
        violating_items += len(pc.unique(truth["item_id"]))
        camps = truth["campaign_id"].drop_null().to_pylist()
        campaign_ids.update(camps)
        campaign_items += len(camps)
        for kind, count in dirty_counts(dirty_plan(day, n, seed, c, params)).items():
            dirty[kind] += count
        del items, truth
    for d in dirs.values():  # parts beyond this run's count belong to an earlier, larger run
        for stale in d.glob("part-*.parquet"):
            if int(stale.stem.split("-")[1]) >= n_chunks:
                stale.unlink()
    return GenerateSummary(
        day=day,
        seed=seed,
        rows=rows,
        partitions=n_chunks,
        item_files=item_files,
        truth_files=truth_files,
        violations=violations,
        violating_items=violating_items,
        dirty=dirty,
        campaigns=len(campaign_ids),
        campaign_items=campaign_items,
    )
