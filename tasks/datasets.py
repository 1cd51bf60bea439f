"""Labelled training data described by a manifest: which files, columns and label values make each model label."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Split = Literal["train", "validation"]
SPLITS: tuple[Split, ...] = ("train", "validation")
POLICY_ID = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"

# Mojibake of UTF-8 read as cp1252 or latin-1 ("cafÃ©", "â€™", "â\x80¦"): a lead byte as a character,
# then a continuation byte as one.
_MOJIBAKE = re.compile(r"[\u00c2-\u00f4][\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]")


def _cp1252_bytes() -> dict[str, int]:
    out = {}
    for b in range(0x80, 0xA0):
        try:
            out[bytes([b]).decode("cp1252")] = b
        except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned in cp1252
            continue
    return out


_CP1252_BYTE = _cp1252_bytes()


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file, the entry and the field."""


class SplitFiles(BaseModel):
    """One split: a table (csv/tsv) or a text-per-line file plus its line-aligned labels file (lines)."""

    model_config = ConfigDict(extra="forbid")

    path: list[str] = Field(min_length=1, description="file(s) relative to --data-root, concatenated in order")
    labels: list[str] | None = Field(default=None, description="lines format: the line-aligned label file(s)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `train: a.csv` and `train: [a.csv, b.csv]` mean {path: ...}
        if isinstance(v, str | list):
            return {"path": v}
        return v

    @field_validator("path", "labels", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class TableOptions(BaseModel):
    """How to read a csv/tsv file; lines files use only `encoding`."""

    model_config = ConfigDict(extra="forbid")

    sep: str | None = Field(default=None, description="field separator; ',' for csv and a tab for tsv by default")
    header: bool = Field(default=True, description="the first line names the columns")
    columns: list[str] | None = Field(default=None, description="column names when the file has no header")
    quoting: Literal["minimal", "none"] | None = Field(
        default=None,
        description="'minimal' honours double quotes (csv default); 'none' reads them literally (tsv default)",
    )
    encoding: str = "utf-8"


class RowFilter(BaseModel):
    """Keep only rows whose `column` contains `contains` (case-insensitive), e.g. LIAR's elections subjects."""

    model_config = ConfigDict(extra="forbid")

    column: str | int
    contains: str = Field(min_length=1)


class DatasetEntry(BaseModel):
    """One labelled data set mapped to one model label (a policy id)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    role: Literal["labelled", "background"] = Field(
        default="labelled",
        description="'background': unlabelled ordinary posts, a negative for every label (lines files need no labels)",
    )
    label: str | None = Field(
        default=None, pattern=POLICY_ID, description="the model label (classifier head) this data set trains"
    )
    policy: str | None = Field(
        default=None,
        pattern=POLICY_ID,
        description="the policy the label serves (default: the label); heads of one policy are not each other's negatives",
    )
    violation: bool = Field(
        default=True, description="positives violate the policy (false for signals such as machine-written text)"
    )
    hard_negatives: bool = Field(
        default=False,
        description="train the label's in-corpus model also on the other policies' rows its domain gate lets "
        "through uncapped (as negatives): for a corpus whose negatives do not cover the benign posts of its topic",
    )
    description: str = ""
    licence: str = Field(default="", description="the data's licence terms, copied into the model card")
    format: Literal["lines", "csv", "tsv"]
    options: TableOptions = Field(default_factory=TableOptions)
    train: SplitFiles | None = None
    validation: SplitFiles | None = None
    source: SplitFiles | None = Field(default=None, description="one file holding both splits; needs `holdout`")
    holdout: float | None = Field(
        default=None, gt=0, lt=1, description="share of `source` rows (by text hash) kept for validation"
    )
    text_column: str | int | None = None
    label_column: str | int | None = None
    positive: list[str] = Field(default_factory=list, description="label values that mean 'violating'")
    negative: list[str] | None = Field(
        default=None,
        description="label values that mean 'not violating'; other values are dropped. Omitted: every non-positive value",
    )
    where: RowFilter | None = None
    strip_labels: bool = Field(default=True, description="compare label values with surrounding whitespace removed")

    @field_validator("positive", "negative", mode="before")
    @classmethod
    def _label_values_as_text(cls, v: Any) -> Any:
        if isinstance(v, str | int | float | bool):
            v = [v]
        return [str(x) for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _consistent(self) -> DatasetEntry:
        if self.role == "background":
            if self.label is not None or self.positive or self.negative is not None:
                raise ValueError("a background entry has no `label`, `positive` or `negative` (every row is benign)")
        elif self.label is None:
            raise ValueError("needs `label` (the model label it trains), or `role: background`")
        if self.source is not None:
            if self.train is not None or self.validation is not None:
                raise ValueError("give either `source` + `holdout` or `train`/`validation`, not both")
            if self.holdout is None:
                raise ValueError("`source` needs `holdout` (the validation share, e.g. 0.2)")
        elif self.validation is None:
            raise ValueError("needs `validation` (and usually `train`), or `source` + `holdout`")
        elif self.holdout is not None:
            raise ValueError("`holdout` applies only to `source`")
        if self.role == "labelled" and not self.positive and not self.negative:
            raise ValueError("needs `positive` (or `negative`) label values")
        if self.format == "lines":
            for name in ("train", "validation", "source"):
                files = getattr(self, name)
                if files is None:
                    continue
                if self.role == "background" and files.labels is not None:
                    raise ValueError(f"a background entry reads texts only: drop `{name}.labels`")
                if self.role == "labelled" and (files.labels is None or len(files.labels) != len(files.path)):
                    raise ValueError(f"lines format: `{name}.labels` must name one label file per text file")
        else:
            if self.text_column is None or (self.label_column is None and self.role == "labelled"):
                raise ValueError(f"{self.format} format needs `text_column` and `label_column`")
            if (
                not self.options.header
                and self.options.columns is None
                and not (isinstance(self.text_column, int) and isinstance(self.label_column, int))
            ):
                raise ValueError("without a header, name the columns in `options.columns` or use column indices")
        return self

    def files(self) -> list[str]:
        """Every file the entry reads, relative to the data root."""
        out = [
            p for s in (self.train, self.validation, self.source) if s is not None for p in [*s.path, *(s.labels or [])]
        ]
        return sorted(set(out))

    @property
    def policy_id(self) -> str | None:
        """The policy this entry's positives belong to (None for background)."""
        return self.policy or self.label

    @property
    def trains(self) -> bool:
        """False for evaluation-only entries (a validation split and no training rows)."""
        return self.train is not None or self.source is not None


class DatasetManifest(BaseModel):
    """The file behind `modsweep train --manifest`."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    description: str = ""
    datasets: list[DatasetEntry] = Field(min_length=1)

    def labels(self) -> list[str]:
        """Model labels in first-appearance order (only those with training rows)."""
        return list(dict.fromkeys(d.label for d in self.datasets if d.trains and d.label is not None))

    def entries_for(self, label: str) -> list[DatasetEntry]:
        return [d for d in self.datasets if d.label == label]


class LabelledSplit(NamedTuple):
    texts: pd.Series  # object dtype, no missing values
    y: np.ndarray  # bool


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
    return f"field {loc!r}: {err['msg']}"


def parse_manifest(data: Any, origin: str = "<manifest>") -> DatasetManifest:
    """Validate a manifest's parsed YAML; errors name `origin`, the entry id and the field."""
    if not isinstance(data, dict):
        raise ManifestError(f"{origin}: expected a mapping with a `datasets` list, got {type(data).__name__}")
    raw = data.get("datasets")
    if not isinstance(raw, list) or not raw:
        raise ManifestError(f"{origin}: field 'datasets': a non-empty list of data sets is required")
    problems: list[str] = []
    entries: list[DatasetEntry] = []
    for i, item in enumerate(raw):
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"dataset {ident!r} (entry {i + 1})" if ident else f"entry {i + 1}"
        try:
            entries.append(DatasetEntry.model_validate(item))
        except ValidationError as exc:
            problems.extend(f"{origin}: {where}: {_describe(e)}" for e in exc.errors())
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            problems.append(f"{origin}: dataset {e.id!r}: field 'id': used by more than one entry")
        seen.add(e.id)
    try:
        manifest = DatasetManifest.model_validate({**data, "datasets": [e.model_dump() for e in entries]})
    except ValidationError as exc:
        problems.extend(f"{origin}: {_describe(e)}" for e in exc.errors() if e["loc"][:1] != ("datasets",))
        manifest = None
    if problems:
        raise ManifestError("invalid manifest:\n  " + "\n  ".join(problems))
    assert manifest is not None
    return manifest


def load_manifest(path: Path | str) -> DatasetManifest:
    """Read and validate a YAML manifest."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from None
    return parse_manifest(data, origin=str(path))


def repair_mojibake(texts: pd.Series) -> pd.Series:
    """UTF-8 text that was decoded as cp1252 or latin-1 back to what was meant; rows that do not round-trip stay."""
    s = texts.astype(object)
    suspect = s.map(lambda v: isinstance(v, str) and _MOJIBAKE.search(v) is not None).to_numpy(dtype=bool)
    if suspect.any():
        s = s.copy()
        s[suspect] = s[suspect].map(_repair_one)
    return s


def _repair_one(text: str) -> str:
    try:
        # cp1252 for its printable 0x80-0x9f characters, latin-1 for everything else below U+0100
        raw = bytes(_CP1252_BYTE.get(c, ord(c)) for c in text)
        return raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # a character above U+00FF, or bytes that are not UTF-8
        return text


def _read_lines(path: Path, encoding: str) -> list[str]:
    # Split on "\n" only: str.splitlines() would also split on U+2028, \x1c … and misalign texts and labels.
    text = path.read_bytes().decode(encoding, errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _read_table(entry: DatasetEntry, path: Path) -> pd.DataFrame:
    opts = entry.options
    sep = opts.sep if opts.sep is not None else ("\t" if entry.format == "tsv" else ",")
    quoting = opts.quoting or ("none" if entry.format == "tsv" else "minimal")
    frame = pd.read_csv(
        path,
        sep=sep,
        header=0 if opts.header else None,
        names=opts.columns,
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL,
        encoding=opts.encoding,
        encoding_errors="replace",
        on_bad_lines="error",
        engine="c",
    )
    return frame


def _column(frame: pd.DataFrame, col: str | int, entry: DatasetEntry, path: Path, field: str) -> pd.Series:
    if isinstance(col, int):
        if not -frame.shape[1] <= col < frame.shape[1]:
            raise ValueError(
                f"dataset {entry.id!r}: {path}: `{field}` index {col} is outside its {frame.shape[1]} columns"
            )
        return frame.iloc[:, col]
    if col not in frame.columns:
        raise ValueError(f"dataset {entry.id!r}: {path}: `{field}` {col!r} is not a column (has {list(frame.columns)})")
    return frame[col]


def _read_files(
    entry: DatasetEntry, files: SplitFiles, data_root: Path
) -> tuple[pd.Series, pd.Series, pd.Series | None]:
    """(texts, raw label values, filter column or None) over every file of a split."""
    texts, labels, filters = [], [], []
    for i, rel in enumerate(files.path):
        path = data_root / rel
        if not path.is_file():
            raise FileNotFoundError(
                f"dataset {entry.id!r}: {path} not found (paths are relative to --data-root {data_root})"
            )
        try:
            if entry.format == "lines" and files.labels is None:  # background: texts only
                t = _read_lines(path, entry.options.encoding)
                texts.append(pd.Series(t, dtype=object))
                labels.append(pd.Series([""] * len(t), dtype=object))
            elif entry.format == "lines":
                assert files.labels is not None
                label_path = data_root / files.labels[i]
                if not label_path.is_file():
                    raise FileNotFoundError(f"dataset {entry.id!r}: {label_path} not found")
                t = _read_lines(path, entry.options.encoding)
                lab = _read_lines(label_path, entry.options.encoding)
                if len(t) != len(lab):
                    raise ValueError(f"dataset {entry.id!r}: {path} has {len(t)} lines but {label_path} has {len(lab)}")
                texts.append(pd.Series(t, dtype=object))
                labels.append(pd.Series(lab, dtype=object))
            else:
                frame = _read_table(entry, path)
                texts.append(_column(frame, entry.text_column, entry, path, "text_column").astype(object))  # type: ignore[arg-type]
                if entry.label_column is None:  # background table
                    labels.append(pd.Series([""] * len(frame), dtype=object))
                else:
                    labels.append(_column(frame, entry.label_column, entry, path, "label_column").astype(object))
                if entry.where is not None:
                    filters.append(_column(frame, entry.where.column, entry, path, "where.column").astype(object))
        except (pd.errors.ParserError, UnicodeError, LookupError) as exc:
            raise ValueError(f"dataset {entry.id!r}: cannot read {path} as {entry.format}: {exc}") from exc
    text = pd.concat(texts, ignore_index=True)
    label = pd.concat(labels, ignore_index=True)
    filt = pd.concat(filters, ignore_index=True) if filters else None
    return text, label, filt


def holdout_mask(texts: pd.Series, share: float) -> np.ndarray:
    """Deterministic validation rows by text hash: the same text never lands in both splits."""
    h = pd.util.hash_pandas_object(texts.astype(object).fillna(""), index=False).to_numpy()
    return (h % 10_000) < round(share * 10_000)


def read_split(entry: DatasetEntry, data_root: Path | str, split: Split) -> LabelledSplit:
    """(texts, y) for one split of one data set; empty texts and unlisted label values are dropped."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    data_root = Path(data_root)
    files = entry.source if entry.source is not None else getattr(entry, split)
    if files is None:  # an evaluation-only entry has no training rows
        return LabelledSplit(pd.Series([], dtype=object), np.zeros(0, dtype=bool))
    text, raw_label, filt = _read_files(entry, files, data_root)
    if entry.format != "lines" and entry.where is not None and filt is None:
        raise ValueError(f"dataset {entry.id!r}: `where` needs a table format")
    text = repair_mojibake(text.where(text.notna(), "")).astype(object)
    if entry.role == "background":
        keep = text.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(dtype=bool)
        if entry.source is not None:
            assert entry.holdout is not None
            in_validation = holdout_mask(text, entry.holdout)
            keep = keep & (in_validation if split == "validation" else ~in_validation)
        return LabelledSplit(text[keep].reset_index(drop=True), np.zeros(int(keep.sum()), dtype=bool))
    label = raw_label.where(raw_label.notna(), "").astype(str)
    if entry.strip_labels:
        label = label.str.strip()
    positive = {v.strip() if entry.strip_labels else v for v in entry.positive}
    negative = None if entry.negative is None else {v.strip() if entry.strip_labels else v for v in entry.negative}
    is_pos = label.isin(positive).to_numpy(dtype=bool)
    if negative is None:
        keep = np.ones(len(label), dtype=bool) if positive else np.zeros(len(label), dtype=bool)
    else:
        is_neg = label.isin(negative).to_numpy(dtype=bool)
        if not positive:  # only negatives listed: every other value is positive
            is_pos = ~is_neg & (label != "").to_numpy(dtype=bool)
        keep = is_pos | is_neg
    if not positive and negative is None:
        raise ValueError(f"dataset {entry.id!r}: no positive or negative label values")
    keep &= text.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(dtype=bool)
    if filt is not None and entry.where is not None:
        keep &= (
            filt.fillna("").astype(str).str.contains(entry.where.contains, case=False, regex=False).to_numpy(dtype=bool)
        )
    if entry.source is not None:
        assert entry.holdout is not None
        in_validation = holdout_mask(text, entry.holdout)
        keep &= in_validation if split == "validation" else ~in_validation
    return LabelledSplit(text[keep].reset_index(drop=True), is_pos[keep])
