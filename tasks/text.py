"""One text normalisation and one featurisation per partition, shared by every detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_DELETE_ZW = str.maketrans(dict.fromkeys(ZERO_WIDTH))

# The featurisation is stateless (hashing), so a model only needs these parameters to score.
FEATURE_PARAMS: dict[str, object] = {
    "analyzer": "word",
    "ngram_range": (1, 2),
    "n_features": 2**20,
    "alternate_sign": False,
    "norm": "l2",
    "token_pattern": r"(?u)\b\w\w+\b",
    "dtype": np.float32,
}


@dataclass(frozen=True)
class NormalisedText:
    """Normalised, word-boundary padded text per row plus the rows that were truncated."""

    text: pd.Series  # " word word … " (leading and trailing space)
    truncated: np.ndarray  # bool per row


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
    out = parts[0]
    for p in parts[1:]:
        out = out.str.cat(p, sep=" ")
    return out


def normalise(texts: pd.Series, max_chars: int = 20_000) -> NormalisedText:
    """NFKC, casefold, drop zero-width characters, fold leetspeak and repeated letters, keep word boundaries."""
    s = _as_string(texts)
    truncated = (s.str.len() > max_chars).to_numpy(dtype=bool, na_value=False)
    if truncated.any():
        s = s.str.slice(0, max_chars)
    s = s.str.normalize("NFKC").str.casefold().str.translate(_DELETE_ZW).str.translate(LEET)
    s = s.str.replace(r"[^\w]+", " ", regex=True).str.replace(r"(\w)\1+", r"\1", regex=True)
    s = " " + s.str.strip() + " "
    return NormalisedText(text=s.astype(object).where(s.notna(), " "), truncated=truncated)


def normalise_term(term: str) -> str:
    """The same normalisation applied to a lexicon term, so terms and text meet halfway."""
    return normalise(pd.Series([term])).text.iloc[0]


def featurise(norm: NormalisedText) -> sparse.csr_matrix:
    """Hashed word uni- and bigrams (one matrix for all classifiers)."""
    return HashingVectorizer(**FEATURE_PARAMS).transform(norm.text.to_numpy())
