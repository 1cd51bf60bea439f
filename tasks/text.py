"""One text normalisation and one featurisation per partition, shared by every detector.

Both are vectorised over the whole partition (one joined string, NumPy over code points, Arrow for
tokenising), so a partition of short posts costs a few microseconds per item rather than a Python call
per item and step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_DELETE_ZW = str.maketrans(dict.fromkeys(ZERO_WIDTH))
_JOINT = "\x00"  # joins a partition's texts into one string; a text's own NULs become spaces first

# The featurisation is stateless (hashing): a model needs only these parameters to score. Bump `scheme`
# whenever `featurise` would produce different columns or values for the same parameters.
FEATURE_PARAMS: dict[str, Any] = {
    "scheme": "hashed-word-char-3",
    "normalise": "nfkc-casefold-zw-leet-wordchars-runs-1",
    # Word uni- and bigrams of the normalised text (tokens of >= 2 characters), raw counts, unit rows:
    # the matrix claim matching compares by cosine.
    "word_ngrams": [1, 2],
    "word_min_chars": 2,
    "word_bits": 20,
    # Character n-grams inside each whitespace token (padded with spaces) of the NFKC text with case and
    # punctuation kept; raw counts scaled to about unit rows (the token-additive norm, see CharBlock); read
    # by the classifiers only.
    "char_ngrams": [2, 5],
    "char_bits": 20,
    "char_weight": 1.0,
    "hash": "pandas-siphash24+splitmix64",
}


class FeatureMismatchError(ValueError):
    """Features made with one set of parameters handed to a model trained with another."""


@dataclass(frozen=True)
class NormalisedText:
    """Normalised, word-boundary padded text per row plus the rows that were truncated."""

    text: pd.Series  # " word word … " (leading and trailing space): lexicons, word n-grams
    truncated: np.ndarray  # bool per row
    cased: pd.Series | None = None  # NFKC text with case and punctuation, zero-width removed: character n-grams


@dataclass(frozen=True)
class CharBlock:
    """Character n-gram features kept factored: rows = diag(scale) · tokens · grams.

    Scoring a linear model needs only `tokens @ (grams @ W)`, about 20 times less work than building the
    n-gram matrix; `matrix()` builds it (training does).
    """

    tokens: sparse.csr_matrix  # rows × the partition's vocabulary (token counts)
    grams: sparse.csr_matrix  # vocabulary × hashed n-grams (n-gram counts per token)
    scale: np.ndarray  # float32 per row: 1 / sqrt(Σ_tokens count · |token's n-gram counts|²)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.tokens.shape[0], self.grams.shape[1])

    def matrix(self) -> sparse.csr_matrix:
        out = (self.tokens @ self.grams).tocsr()
        out.data *= np.repeat(self.scale, np.diff(out.indptr))
        return out

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """rows @ weights for a dense (n-gram features × k) weight matrix."""
        return (self.tokens @ (self.grams @ weights)) * self.scale[:, None]

    def take(self, rows: np.ndarray) -> CharBlock:
        return CharBlock(self.tokens[rows], self.grams, self.scale[rows])


class PartitionFeatures(sparse.csr_matrix):
    """The shared feature matrix of a partition: hashed word 1–2-grams with unit rows (what claim matching
    compares by cosine) carrying the classifiers' character n-gram block and the key of the parameters
    that made both. Slicing or arithmetic returns a plain matrix without them: score what `featurise` returned.
    """

    char_block: CharBlock | None = None
    feature_key: str | None = None


def _as_string(col: pd.Series) -> pd.Series:
    """A string column; lone surrogates (invalid UTF-16 halves) become U+FFFD instead of failing."""
    try:
        return col.fillna("").astype("string")
    except UnicodeEncodeError:
        fixed = col.map(lambda v: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v)
        return fixed.fillna("").astype("string")


def combined_text(frame: pd.DataFrame) -> pd.Series:
    """Caption, transcript and OCR text joined, missing parts skipped."""
    parts = [_as_string(frame[c]) for c in ("text", "transcript", "ocr_text") if c in frame]
    if not parts:
        return pd.Series([""] * len(frame), index=frame.index, dtype="string")
    arrays = [pa.chunked_array(pa.array(p.array)) for p in parts]
    kind = arrays[0].type
    joined = pc.binary_join_element_wise(
        *(a.cast(kind) for a in arrays), pa.scalar(" ", type=kind)
    )  # Arrow: ~15× pandas' str.cat
    return pd.Series(pd.arrays.ArrowStringArray(joined), index=frame.index, name=parts[0].name)


@functools.cache
def _fold_table() -> np.ndarray:
    """Code point → normalised code point: zero-width → dropped, leetspeak folded, non-word (Python's `\\w`) → space."""
    points = np.arange(0x110000, dtype=np.uint32)
    usable = (points < 0xD800) | (points >= 0xE000)  # surrogates cannot be encoded; they are not word characters
    every = points[usable].tobytes().decode("utf-32-le")
    marked = re.sub(r"\w", "\x01", every)  # the same `\w` the lexicons were written against
    table = np.full(0x110000, ord(" "), dtype=np.uint32)
    is_word = np.frombuffer(marked.encode("utf-32-le"), dtype=np.uint32) == 1
    table[points[usable][is_word]] = points[usable][is_word]
    for src, dst in LEET.items():
        table[src] = ord(dst)
    for ch in ZERO_WIDTH:
        table[ord(ch)] = _DROP
    table[ord(_JOINT)] = 0
    return table


_DROP = np.uint32(0xFFFFFFFF)
_EXPANDS = np.uint32(0xFFFFFFFE)  # in the casefolding table: a code point whose case folding is several


@functools.cache
def _casefold_fold_table() -> np.ndarray:
    """`_fold_table` after case folding, for one code point at a time (str.casefold folds each code point on its
    own, with no context): saves casefolding the joined text. Code points that fold to several (ß → ss, ﬁ → fi)
    map to _EXPANDS, replaced by their sequence afterwards (`_expand_foldings`)."""
    points = np.arange(0x110000, dtype=np.uint32)
    usable = points[(points < 0xD800) | (points >= 0xE000)]
    folded = usable.copy()
    for start in range(0, len(usable), 4096):  # a block whose folding keeps its length maps one to one
        block = usable[start : start + 4096]
        text = block.tobytes().decode("utf-32-le")
        fold = text.casefold()
        if len(fold) == len(text):
            folded[start : start + len(block)] = np.frombuffer(fold.encode("utf-32-le"), dtype=np.uint32)
        else:
            for i, ch in enumerate(text):
                f = ch.casefold()
                folded[start + i] = ord(f) if len(f) == 1 else _EXPANDS
    table = np.full(0x110000, ord(" "), dtype=np.uint32)
    single = folded != _EXPANDS
    table[usable[single]] = _fold_table()[folded[single]]
    table[usable[~single]] = _EXPANDS
    return table


def _joined(values: list[str]) -> str:
    big = _JOINT.join(values)
    if big.count(_JOINT) != max(len(values) - 1, 0):  # some text holds a NUL itself
        big = _JOINT.join(v.replace(_JOINT, " ") for v in values)
    return big


def _fold(big: str, n: int, has_zero_width: bool) -> list[str]:
    """The lexicon form of every joined text: casefolded, leetspeak and runs folded, words split by single spaces."""
    cps = np.frombuffer(big.encode("utf-32-le"), dtype=np.uint32)
    mapped = _casefold_fold_table()[cps]  # the joint (NUL) maps to itself, and only joints are NUL here
    if not big.isascii():
        mapped = _expand_foldings(cps, mapped)
    if has_zero_width:
        mapped = mapped[mapped != _DROP]
    # One pass folds both repeated letters (after leetspeak) and runs of spaces; joints never merge.
    keep = np.empty(len(mapped), dtype=bool)
    keep[:1] = True
    np.not_equal(mapped[1:], mapped[:-1], out=keep[1:])
    keep[1:] |= mapped[1:] == 0
    parts = mapped[keep].tobytes().decode("utf-32-le").split(_JOINT)
    assert len(parts) == n, "joined texts must split back into one part per row"
    return [" " + p.strip(" ") + " " for p in parts]


def _expand_foldings(cps: np.ndarray, mapped: np.ndarray) -> np.ndarray:
    """`mapped` with each code point that case-folds to several (ß → ss) replaced by its folded, mapped sequence."""
    where = np.flatnonzero(mapped == _EXPANDS)
    if not len(where):
        return mapped
    pieces, start = [], 0
    for at, point in zip(where.tolist(), cps[where].tolist(), strict=True):
        pieces += [mapped[start:at], _folded_sequence(point)]
        start = at + 1
    return np.concatenate([*pieces, mapped[start:]])


@functools.cache
def _folded_sequence(point: int) -> np.ndarray:
    return _fold_table()[np.frombuffer(chr(point).casefold().encode("utf-32-le"), dtype=np.uint32)]


def _without_format_chars(s: pd.Series) -> pd.Series:
    """Invisible format characters (Unicode Cf: zero-width, bidi embeddings/overrides/isolates, marks, soft
    hyphen, invisible operators) removed, so that none splits a word or keeps a letter from its accent in NFKC."""
    arr = pa.array(s.array)
    hit = pc.match_substring_regex(arr, _FORMAT_CHARS)
    if not pc.any(hit).as_py():  # the usual case: one RE2 scan, nothing to change
        return s
    rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    out = s.copy()
    out.iloc[rows] = pc.replace_substring_regex(arr.take(rows), _FORMAT_CHARS, "").to_pylist()
    return out


_FORMAT_CHARS = r"\p{Cf}"  # RE2 (Arrow); every ZERO_WIDTH character is in Cf


def normalise(texts: pd.Series, max_chars: int = 20_000) -> NormalisedText:
    """Drop invisible format characters, NFKC, casefold, fold leetspeak and repeated letters, keep word boundaries."""
    s = _as_string(texts)
    truncated = (s.str.len() > max_chars).to_numpy(dtype=bool, na_value=False)
    if truncated.any():
        s = s.str.slice(0, max_chars)
    values = _without_format_chars(s).str.normalize("NFKC").to_numpy(dtype=object, na_value="").tolist()
    folded: list[str] = []
    cased: list[str] = []
    for start, stop in _chunks(values):
        big = _joined(values[start:stop])
        has_zero_width = any(ch in big for ch in ZERO_WIDTH)
        folded += _fold(big, stop - start, has_zero_width)
        for ch in ZERO_WIDTH if has_zero_width else ():
            big = big.replace(ch, "")
        cased += big.split(_JOINT)
    return NormalisedText(
        text=pd.Series(folded, index=texts.index, dtype=object),
        truncated=truncated,
        cased=pd.Series(cased, index=texts.index, dtype=object),
    )


def _chunks(values: list[str], max_chars: int = 1 << 21) -> list[tuple[int, int]]:
    """Row ranges of about `max_chars` characters: bounds the code-point arrays (~20 bytes per character)."""
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    ends = np.cumsum(lengths)
    bounds, start = [], 0
    while start < len(values):
        stop = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + max_chars, side="right"))
        stop = max(stop, start + 1)
        bounds.append((start, stop))
        start = stop
    return bounds


def normalise_terms(terms: list[str]) -> list[str]:
    """The text's normalisation applied to lexicon terms, so terms and text meet halfway (one vectorised pass: a
    lexicon has thousands)."""
    return normalise(pd.Series(terms, dtype=object)).text.tolist() if terms else []


# --- hashed features --------------------------------------------------------------------------------------


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fast, well-mixed 64-bit hash of 64-bit integers (vectorised)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _tokens(texts: pd.Series, *, ascii_spaces: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens per row, token codes in row order, the partition's vocabulary) via Arrow."""
    arr = pa.array(texts.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    split_ascii = ascii_spaces or _splits_alike_as_ascii(arr)
    lists = pc.ascii_split_whitespace(arr) if split_ascii else pc.utf8_split_whitespace(arr)
    counts = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    encoded = pc.dictionary_encode(pc.list_flatten(lists))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return counts, codes, encoded.dictionary.to_numpy(zero_copy_only=False)


def _splits_alike_as_ascii(arr: pa.LargeStringArray) -> bool:
    """True when Arrow's ASCII whitespace split gives what its Unicode one would (about twice as fast): the text
    is ASCII and holds none of U+001C–U+001F, which only the Unicode split treats as whitespace."""
    if arr.null_count or not len(arr) or arr.buffers()[2] is None:
        return False
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return not len(data) or (data.max() < 0x80 and not ((data - np.uint8(0x1C)) < 4).any())


def _csr(rows_sorted: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int, width: int) -> sparse.csr_matrix:
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows_sorted, minlength=n), out=indptr[1:])
    out = sparse.csr_matrix((values, cols.astype(np.int32), indptr), shape=(n, width))
    out.sum_duplicates()
    return out


def _unit_rows(x: sparse.csr_matrix) -> sparse.csr_matrix:
    lengths = np.diff(x.indptr)
    sums = np.zeros(x.shape[0], dtype=np.float64)
    filled = lengths > 0
    if filled.any():
        sums[filled] = np.add.reduceat(np.square(x.data, dtype=np.float64), x.indptr[:-1][filled])
    scale = (1 / np.sqrt(np.maximum(sums, 1e-24))).astype(np.float32)
    x.data *= np.repeat(scale, lengths)
    return x


def _word_block(text: pd.Series, p: dict[str, Any]) -> sparse.csr_matrix:
    n, width = len(text), 1 << int(p["word_bits"])
    lo, hi = p["word_ngrams"]
    if hi > 2:
        raise ValueError("word n-grams longer than 2 are not implemented")
    counts, codes, vocab = _tokens(text, ascii_spaces=True)
    long_enough = pc.utf8_length(pa.array(vocab, type=pa.large_string())).to_numpy() >= int(p["word_min_chars"])
    keep = long_enough[codes]
    rows = np.repeat(np.arange(n, dtype=np.int32), counts)[keep]
    codes = codes[keep].astype(np.int32)
    del keep
    token_hash = splitmix64(pd.util.hash_array(vocab.astype(object), categorize=False) ^ np.uint64(1))
    # Each row's unigrams, then its bigrams, written straight into CSR order (no sort of all entries).
    uni_cols = (token_hash % np.uint64(width)).astype(np.int32)[codes] if lo <= 1 else np.zeros(0, dtype=np.int32)
    uni_rows = rows if lo <= 1 else np.zeros(0, dtype=np.int32)
    if lo <= 2 <= hi and len(codes) > 1:
        same_row = rows[1:] == rows[:-1]
        with np.errstate(over="ignore"):
            mixed = token_hash[codes[:-1][same_row]] * np.uint64(0x100000001B3) + token_hash[codes[1:][same_row]]
        bi_cols = (splitmix64(mixed) % np.uint64(width)).astype(np.int32)
        bi_rows = rows[1:][same_row]
        del mixed, same_row
    else:
        bi_cols, bi_rows = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    n_uni, n_bi = np.bincount(uni_rows, minlength=n), np.bincount(bi_rows, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_uni + n_bi, out=indptr[1:])
    cols = np.empty(int(indptr[-1]), dtype=np.int32)
    uni_start = np.cumsum(n_uni) - n_uni
    cols[np.arange(len(uni_cols)) + (indptr[:-1] - uni_start)[uni_rows]] = uni_cols
    bi_start = np.cumsum(n_bi) - n_bi
    cols[np.arange(len(bi_cols)) + (indptr[:-1] + n_uni - bi_start)[bi_rows]] = bi_cols
    x = sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(n, width))
    x.sum_duplicates()
    return _unit_rows(x)


def _char_ngrams_of(vocab: np.ndarray, lo: int, hi: int, width: int) -> sparse.csr_matrix:
    """Vocabulary × hashed character n-grams of " token " (each token's n-gram counts)."""
    padded = [" " + str(t) + " " for t in vocab]
    lengths = np.fromiter((len(t) for t in padded), dtype=np.int64, count=len(padded))
    cps = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    token_of = np.repeat(np.arange(len(vocab), dtype=np.int64), lengths)
    end_of = np.repeat(np.cumsum(lengths), lengths)
    position = np.arange(len(cps), dtype=np.int64)
    rows, cols = [], []
    h = cps.copy()
    for size in range(1, hi + 1):
        if size > 1:
            with np.errstate(over="ignore"):
                h = h[:-1] * np.uint64(0x100000001B3) ^ cps[size - 1 :]
        if size >= lo:
            inside = position[: len(h)] + size <= end_of[: len(h)]
            rows.append(token_of[: len(h)][inside])
            cols.append(splitmix64(h[inside] ^ (np.uint64(size) << np.uint64(56))) % np.uint64(width))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    order = np.argsort(r, kind="stable")
    return _csr(r[order], c[order], np.ones(len(r), dtype=np.float32), len(vocab), width)


def _char_block(cased: pd.Series, p: dict[str, Any]) -> CharBlock:
    n, width = len(cased), 1 << int(p["char_bits"])
    counts, codes, vocab = _tokens(cased, ascii_spaces=False)
    # Arrow splits leading, trailing and repeated whitespace into empty tokens: they are not words (and a
    # caption joined with an empty transcript must featurise like the caption alone).
    empty = np.flatnonzero(pc.utf8_length(pa.array(vocab, type=pa.large_string())).to_numpy(zero_copy_only=False) == 0)
    if len(empty):
        keep = codes != empty[0]
        counts = np.bincount(np.repeat(np.arange(n), counts)[keep], minlength=n).astype(np.int64)
        codes = codes[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    tokens = sparse.csr_matrix(
        (np.ones(len(codes), dtype=np.float32), codes.astype(np.int32), indptr), shape=(n, len(vocab))
    )
    tokens.sum_duplicates()
    if not len(vocab):
        return CharBlock(tokens, sparse.csr_matrix((0, width), dtype=np.float32), np.zeros(n, dtype=np.float32))
    grams = _char_ngrams_of(vocab, int(p["char_ngrams"][0]), int(p["char_ngrams"][1]), width)
    sq = np.zeros(len(vocab), dtype=np.float64)
    lengths = np.diff(grams.indptr)
    sq[lengths > 0] = np.add.reduceat(np.square(grams.data, dtype=np.float64), grams.indptr[:-1][lengths > 0])
    norm2 = tokens @ sq
    scale = np.where(norm2 > 0, float(p["char_weight"]) / np.sqrt(np.maximum(norm2, 1e-24)), 0.0).astype(np.float32)
    return CharBlock(tokens, grams, scale)


def check_feature_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters in canonical form (lists, ints); unknown keys or a different scheme raise."""
    p = json.loads(json.dumps(params, default=str))
    unknown = set(p) ^ set(FEATURE_PARAMS)
    if unknown:
        raise FeatureMismatchError(
            f"feature parameters {sorted(unknown)} are not those of this featuriser ({sorted(FEATURE_PARAMS)})"
        )
    for fixed in ("scheme", "normalise", "hash"):
        if p[fixed] != FEATURE_PARAMS[fixed]:
            raise FeatureMismatchError(
                f"feature {fixed} {p[fixed]!r} is not implemented here (this build: {FEATURE_PARAMS[fixed]!r})"
            )
    lo, hi = p["char_ngrams"]
    if not 1 <= lo <= hi <= 8 or not 1 <= p["word_ngrams"][0] <= p["word_ngrams"][1] <= 2:
        raise ValueError(f"unsupported n-gram ranges: word {p['word_ngrams']}, char {p['char_ngrams']}")
    if not (8 <= p["word_bits"] <= 24 and 0 <= p["char_bits"] <= 24):
        raise ValueError("word_bits must be 8–24 and char_bits 0–24")
    return p


@functools.cache
def _probe() -> str:
    """A digest of the features of a fixed text under the default parameters: changes if the hashing does."""
    norm = normalise(pd.Series(["Ｆｒｅｅ f0llowers!! visit bit.ly/x — 5G towers spread C0VID", ""]))
    words = _word_block(norm.text, FEATURE_PARAMS)
    chars = _char_block(norm.cased, FEATURE_PARAMS).matrix()  # type: ignore[arg-type]
    digest = hashlib.sha256()
    for x in (words, chars):
        digest.update(x.indices.tobytes() + x.indptr.astype(np.int64).tobytes() + np.round(x.data, 5).tobytes())
    return digest.hexdigest()[:16]


def feature_key(params: dict[str, Any] | None = None) -> str:
    """Identifies a featurisation: its parameters plus a probe of this build's hashing."""
    p = check_feature_params(FEATURE_PARAMS if params is None else params)
    blob = json.dumps(p, sort_keys=True) + "|" + _probe()
    return "f-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def featurise(norm: NormalisedText, params: dict[str, Any] | None = None) -> PartitionFeatures:
    """Hashed word 1–2-grams (unit rows; claim matching and classifiers) with the classifiers' character block."""
    p = check_feature_params(FEATURE_PARAMS if params is None else params)
    words = _word_block(norm.text, p)
    out = PartitionFeatures((words.data, words.indices, words.indptr), shape=words.shape)
    if p["char_bits"]:
        if norm.cased is None:
            raise ValueError("character n-grams need NormalisedText.cased; build it with normalise()")
        out.char_block = _char_block(norm.cased, p)
    out.feature_key = feature_key(p)
    return out
