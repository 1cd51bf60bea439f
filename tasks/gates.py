"""Data-quality gates between stages: run a Great Expectations suite from ``expectations/`` on an in-memory frame.

Suites are JSON files named ``<dataset>.<stage>.json`` in our own small format (see ``SuiteSpec``); each
expectation carries a severity. A failed ``critical`` expectation stops the run (``check_gate`` raises
``DataQualityError``); a failed ``warning`` is only recorded. The result (``GateResult``) is JSON-friendly for
the run ledger.

Great Expectations is imported lazily (≈ 3 s): importing this module is cheap and needs neither GX nor Prefect.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.datasource.fluent import PandasDatasource

    from modsweep.catalog import RunCatalog

SUITE_PACKAGE = "modsweep.expectations"
SUITE_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")  # <dataset>.<stage>
PARTIAL_VALUES = 5  # unexpected examples kept per failed expectation
_GX_DATASOURCE = "modsweep"
_INDEX_KEY = "modsweep_index"  # carried in each GX expectation's meta to map results back to our specs

Severity = Literal["critical", "warning"]


class SuiteError(ValueError):
    """A suite file that cannot be used: names the file, the expectation and the problem."""


class ExpectationSpec(BaseModel):
    """One expectation of a suite file: a GX expectation name, its arguments and our severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=r"^expect_[a-z0-9_]+$", description="snake_case GX expectation name")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to the GX expectation as is")
    severity: Severity
    mostly: float | None = Field(default=None, gt=0, le=1, description="share of rows that must pass")
    notes: str | None = None

    @property
    def columns(self) -> list[str]:
        """The column(s) this expectation looks at; empty for table-level expectations."""
        kw = self.kwargs
        if "column" in kw:
            return [str(kw["column"])]
        if "column_A" in kw:
            return [str(kw["column_A"]), str(kw.get("column_B", ""))]
        if "column_list" in kw:
            return [str(c) for c in kw["column_list"]]
        return []


class SuiteSpec(BaseModel):
    """A suite file: ``{"name": "items.ingested", "description": "...", "expectations": [...]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SUITE_NAME.pattern)
    description: str = ""
    expectations: list[ExpectationSpec] = Field(min_length=1)


class ExpectationFailure(BaseModel):
    """One failed expectation, summarised for the ledger and the error message."""

    expectation_type: str
    columns: list[str]
    severity: Severity
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    partial_unexpected: list[str] = Field(default_factory=list)
    observed: str | None = None  # table-level expectations: observed value / mismatch details
    error: str | None = None  # the expectation could not be evaluated (e.g. missing column)

    def describe(self) -> str:
        """``expect_x(col): 12 unexpected (0.1%), e.g. ['a', 'b']``."""
        where = ", ".join(self.columns) if self.columns else "table"
        head = f"{self.expectation_type}({where})"
        if self.error:
            return f"{head}: could not be evaluated: {self.error}"
        parts = []
        if self.unexpected_count is not None:
            pct = f" ({_fmt_pct(self.unexpected_percent)})" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} unexpected{pct}")
        if self.partial_unexpected:
            parts.append(f"e.g. {self.partial_unexpected[:3]}")
        if self.observed:
            parts.append(f"observed {self.observed}")
        return f"{head}: {', '.join(parts) or 'failed'}"


class GateResult(BaseModel):
    """Outcome of one suite on one frame (one partition or a whole window)."""

    suite: str
    severity: Literal["critical", "warning", "ok"]
    success: bool  # no critical expectation failed
    partition: str | None = None
    rows: int
    failures: list[ExpectationFailure] = Field(default_factory=list)
    evaluated_expectations: int
    seconds: float

    @property
    def critical_failures(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.severity == "critical"]

    @property
    def warning_failures(self) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.severity == "warning"]

    def summary(self) -> str:
        """One line for logs: suite, partition, outcome and every failed expectation."""
        where = f" [{self.partition}]" if self.partition else ""
        if not self.failures:
            return f"gate {self.suite}{where} ok: {self.evaluated_expectations} expectations on {self.rows} rows"
        return f"gate {self.suite}{where} {self.severity}: " + "; ".join(
            f"{f.severity} {f.describe()}" for f in self.failures
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict for the run ledger."""
        return self.model_dump(mode="json")


class DataQualityError(Exception):
    """A gate found a critical failure; ``result`` holds the whole ``GateResult``."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        where = f" [{result.partition}]" if result.partition else ""
        details = "; ".join(f.describe() for f in result.critical_failures)
        super().__init__(f"gate {result.suite}{where} failed: {details}")

    def __reduce__(self) -> tuple[type, tuple[GateResult]]:  # rebuilt from its result when sent between processes
        return (type(self), (self.result,))


# --------------------------------------------------------------------------- suite files


def _gx() -> Any:
    """Import great_expectations on first use (≈ 3 s); analytics off, whatever the caller's environment says."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def expectation_class(type_name: str) -> type | None:
    """``expect_column_values_to_not_be_null`` → ``gx.expectations.ExpectColumnValuesToNotBeNull`` (None if unknown)."""
    gx = _gx()
    cls = getattr(gx.expectations, "".join(part.capitalize() for part in type_name.split("_")), None)
    if isinstance(cls, type) and issubclass(cls, gx.expectations.Expectation):
        return cls
    return None


def _build_expectation(spec: ExpectationSpec, index: int) -> Any:
    cls = expectation_class(spec.type)
    if cls is None:
        raise LookupError(spec.type)
    kwargs = dict(spec.kwargs)
    if spec.mostly is not None:
        kwargs["mostly"] = spec.mostly
    return cls(**kwargs, severity=spec.severity, meta={_INDEX_KEY: index})


def parse_suite(data: Any, *, source: str, expected_name: str | None = None) -> SuiteSpec:
    """Validate a suite document; every error names ``source`` and, where it applies, the expectation."""
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{source}: invalid suite: {exc}") from exc
    if expected_name is not None and spec.name != expected_name:
        raise SuiteError(f"{source}: suite is named {spec.name!r}, expected {expected_name!r} (the file name)")
    for i, exp in enumerate(spec.expectations):
        where = f"{source}: expectations[{i}] {exp.type}"
        if expectation_class(exp.type) is None:
            camel = "".join(part.capitalize() for part in exp.type.split("_"))
            raise SuiteError(
                f"{where}: unknown expectation type {exp.type!r} (no great_expectations.expectations.{camel})"
            )
        try:
            _build_expectation(exp, i)  # GX validates the arguments (unknown or mistyped kwargs)
        except Exception as exc:  # pydantic.v1 ValidationError or GX's own configuration errors
            raise SuiteError(f"{where}: invalid arguments {exp.kwargs}: {exc}") from exc
    return spec


def load_suite(name: str, *, root: Traversable | Path | None = None) -> SuiteSpec:
    """Read and validate ``expectations/<name>.json`` (from the installed package unless ``root`` is given)."""
    if not SUITE_NAME.match(name):
        raise SuiteError(f"bad suite name {name!r}: expected <dataset>.<stage>, e.g. items.ingested")
    base = root if root is not None else resources.files(SUITE_PACKAGE)
    file = base / f"{name}.json"
    if not file.is_file():
        known = sorted(p.name.removesuffix(".json") for p in base.iterdir() if p.name.endswith(".json"))
        raise SuiteError(f"no suite {name!r}: {file} does not exist (known: {', '.join(known) or 'none'})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{file}: not valid JSON: {exc}") from exc
    return parse_suite(data, source=str(file), expected_name=name)


def list_suites() -> list[str]:
    """Names of the suites shipped in ``expectations/``."""
    base = resources.files(SUITE_PACKAGE)
    return sorted(p.name.removesuffix(".json") for p in base.iterdir() if p.name.endswith(".json"))


# --------------------------------------------------------------------------- GX runtime (one per process)


@dataclass
class _Gate:
    spec: SuiteSpec
    suite: ExpectationSuite
    batch_definition: BatchDefinition


# One lock for the context, the caches and every validation: the pandas execution engine keeps the loaded frame,
# the active batch id and a metric cache on the data source, shared by every call, so two validations on the same
# suite (two partitions in two threads) would overwrite each other's batch. A gate is ~0.1 s per 10^5 rows.
_LOCK = threading.RLock()
_CONTEXT: Any = None
_DATASOURCE: PandasDatasource | None = None
_GATES: dict[str, _Gate] = {}


def _datasource() -> PandasDatasource:
    """The ephemeral context (in-memory stores: nothing written to disk) and its pandas data source."""
    global _CONTEXT, _DATASOURCE
    if _DATASOURCE is None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints every pandas batch for result metadata we do not use: an md5 of the pickled frame when a
        # column holds lists (hashtags, report_reasons), ≈ 15 s per 10^6 items. Frames at or above this many bytes
        # are not fingerprinted; 0 turns it off.
        pandas_execution_engine.HASH_THRESHOLD = 0
        _CONTEXT = gx.get_context(mode="ephemeral")
        _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in task logs
        _DATASOURCE = _CONTEXT.data_sources.add_or_update_pandas(_GX_DATASOURCE)
    return _DATASOURCE


def _gate(suite_name: str) -> _Gate:
    """Suite, data asset and whole-frame batch definition, built once per suite name."""
    gate = _GATES.get(suite_name)
    if gate is None:
        spec = load_suite(suite_name)
        datasource = _datasource()
        suite = _gx().ExpectationSuite(
            name=spec.name, expectations=[_build_expectation(exp, i) for i, exp in enumerate(spec.expectations)]
        )
        asset = datasource.add_dataframe_asset(name=spec.name)
        gate = _Gate(spec, suite, asset.add_batch_definition_whole_dataframe("whole"))
        _GATES[suite_name] = gate
    return gate


def _release_batches() -> None:
    """Drop the frame, the per-row condition masks and metric values GX keeps after a validation."""
    if _DATASOURCE is None:
        return
    engine = _DATASOURCE.get_execution_engine()
    engine.batch_manager.batch_data_cache.clear()
    engine.batch_manager.reset_batch_cache()
    cache = getattr(engine, "_metric_cache", None)  # private; holds 1 bool Series per map expectation
    if isinstance(cache, dict):
        cache.clear()


# --------------------------------------------------------------------------- results


def _fmt_pct(pct: float | None) -> str:
    if pct is None:
        return "n/a"
    if pct == 0 or pct >= 0.1:
        return f"{pct:.1f}%"
    return f"{pct:.2g}%"


def _short(value: Any, limit: int = 200) -> str:
    if isinstance(value, tuple):  # column-pair examples: (a, b) without numpy reprs
        value = "(" + ", ".join(str(v) for v in value) + ")"
    elif isinstance(value, dict):  # compound-column examples: {column: value}
        value = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _exception_message(info: Any) -> str | None:
    """GX reports an expectation that raised as ``{raised_exception, exception_message}``, possibly per metric."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    for sub in info.values():
        if isinstance(sub, dict) and sub.get("raised_exception"):
            return str(sub.get("exception_message") or "exception")
    return None


def _observed(result: dict[str, Any]) -> str | None:
    details = result.get("details") or {}
    mismatched = details.get("mismatched") if isinstance(details, dict) else None
    if isinstance(mismatched, dict):  # expect_table_columns_to_match_set
        return ", ".join(f"{k}: {sorted(map(str, v))}" for k, v in mismatched.items() if v) or None
    if "observed_value" in result:
        return _short(result["observed_value"])
    return None


def _failure(spec: ExpectationSpec, res: Any) -> ExpectationFailure:
    result: dict[str, Any] = dict(res.result or {})
    count = result.get("unexpected_count")
    return ExpectationFailure(
        expectation_type=spec.type,
        columns=spec.columns,
        severity=spec.severity,
        unexpected_count=int(count) if count is not None else None,
        unexpected_percent=_number(result.get("unexpected_percent")),
        partial_unexpected=[]
        if spec.type == "expect_column_values_to_not_be_null"  # the examples would all be null
        else [_short(v) for v in (result.get("partial_unexpected_list") or [])[:PARTIAL_VALUES]],
        observed=None if count is not None else _observed(result),
        error=_exception_message(res.exception_info),
    )


# --------------------------------------------------------------------------- public API


def _widen_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """32-bit and smaller numeric columns as 64-bit: GX compares only int64/float64 columns vectorised (others
    value by value in Python, about 20× slower). Values are unchanged."""
    narrow = {
        c: ("int64" if pd.api.types.is_integer_dtype(t) else "float64")
        for c, t in df.dtypes.items()
        if isinstance(t, np.dtype) and t.kind in "iuf" and t.itemsize < 8
    }
    return df.astype(narrow) if narrow else df


def referenced_columns(spec: SuiteSpec, available: list[str]) -> set[str]:
    """Columns some expectation of the suite reads values of (table-level expectations read only names). A
    `row_condition` may name any column: then all of them."""
    if any("row_condition" in exp.kwargs for exp in spec.expectations):
        return set(available)
    return {c for exp in spec.expectations for c in exp.columns}


def arrow_to_frame(table: pa.Table, keep_arrow: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """``table`` as pandas; columns in ``keep_arrow`` stay Arrow-backed (``pd.ArrowDtype``): no per-value Python
    objects for columns no expectation reads (list columns cost ~0.35 µs a row to convert otherwise)."""
    if not keep_arrow:
        return table.to_pandas()
    fields = {f.name: f.type for f in table.schema if f.name in keep_arrow}
    types = {t: pd.ArrowDtype(t) for t in fields.values()}
    df = table.select([n for n in table.column_names if n not in fields]).to_pandas()
    arrow_part = table.select(list(fields)).to_pandas(types_mapper=types.get)
    return pd.concat([df, arrow_part], axis=1)[table.column_names]


def warm_up_in_background() -> threading.Thread:
    """Import Great Expectations and build its context in a daemon thread (≈ 2 s), so the first gate of a run does
    not wait for it; call at the start of a run, while its first stage works in other processes."""

    def warm() -> None:
        with _LOCK:
            _datasource()

    thread = threading.Thread(target=warm, name="gx-warm-up", daemon=True)
    thread.start()
    return thread


def _run_suite(gate: _Gate, df: pd.DataFrame, result_format: str) -> Any:
    from great_expectations.validator.v1_validator import Validator

    try:
        # What ValidationDefinition.run does, minus storing every result in the context's result store (which
        # would grow for the life of the process) and Batch.validate's second load of the same frame.
        validator = Validator(
            batch_definition=gate.batch_definition,
            batch_parameters={"dataframe": df},
            result_format=result_format,
        )
        return validator.validate_expectation_suite(gate.suite)
    finally:
        _release_batches()


def validate_frame(
    df: pd.DataFrame | pa.Table,
    suite_name: str,
    *,
    partition: str | None = None,
    result_format: str = "SUMMARY",
) -> GateResult:
    """Run the suite ``suite_name`` on ``df``; never raises for failed expectations.

    A pyarrow Table is converted with the columns no expectation reads kept Arrow-backed. The suite runs
    first with ``BOOLEAN_ONLY`` results (same pass/fail, no unexpected-row lookups: ~4× faster on 10^5-10^6
    rows); only when something failed does it run again with ``result_format`` for counts and examples.
    """
    start = time.perf_counter()
    with _LOCK:
        gate = _gate(suite_name)
    if isinstance(df, pa.Table):
        df = arrow_to_frame(df, set(df.column_names) - referenced_columns(gate.spec, df.column_names))
    df = _widen_numbers(df)
    with _LOCK:
        outcome = _run_suite(gate, df, "BOOLEAN_ONLY")
        if result_format != "BOOLEAN_ONLY" and not all(res.success for res in outcome.results):
            outcome = _run_suite(gate, df, result_format)
    failures = []
    for res in outcome.results:
        if res.success:
            continue
        index = res.expectation_config.meta.get(_INDEX_KEY)
        failures.append(_failure(gate.spec.expectations[index], res))
    critical = any(f.severity == "critical" for f in failures)
    return GateResult(
        suite=gate.spec.name,
        severity="critical" if critical else "warning" if failures else "ok",
        success=not critical,
        partition=partition,
        rows=len(df),
        failures=failures,
        evaluated_expectations=len(outcome.results),
        seconds=round(time.perf_counter() - start, 4),
    )


def check_gate(
    df: pd.DataFrame | pa.Table, suite_name: str, *, partition: str | None = None, result_format: str = "SUMMARY"
) -> GateResult:
    """``validate_frame``, then raise ``DataQualityError`` if a critical expectation failed."""
    result = validate_frame(df, suite_name, partition=partition, result_format=result_format)
    if not result.success:
        raise DataQualityError(result)
    return result


def gate_lake_partitions(
    cat: RunCatalog, suite: str, dataset: str, parts: list[str], batch_rows: int
) -> list[dict[str, Any]]:
    """Validate parts in batches of up to `batch_rows` rows (0: one part per batch).

    A GX validation costs about 15 ms per expectation whatever the row count, so batching keeps that to one call
    per batch while memory stays bounded by `batch_rows`. When a batch fails, its parts are checked one by
    one so the error names the part (a failure only across parts, e.g. a duplicate id, names the batch).
    """
    rows = {part: cat.meta(dataset, part)["rows"] for part in parts}
    declared = cat.dataset(dataset).schema
    read = referenced_columns(load_suite(suite), list(declared.names)) if declared is not None else None
    results = []
    for batch in _batches(parts, rows, batch_rows):
        label = batch[0] if len(batch) == 1 else f"{batch[0]}..{batch[-1]}"
        tables = [_load_for_suite(cat, dataset, part, read) for part in batch]
        if len(tables) > 1 and any(not t.schema.equals(tables[0].schema) for t in tables[1:]):
            results += [check_gate(t, suite, partition=part).to_dict() for t, part in zip(tables, batch, strict=True)]
            continue
        result = validate_frame(pa.concat_tables(tables), suite, partition=label)
        if not result.success and len(batch) > 1:
            for table, part in zip(tables, batch, strict=True):
                check_gate(table, suite, partition=part)  # raises for the part at fault
        if not result.success:
            raise DataQualityError(result)
        results.append(result.to_dict())
    return results


def _load_for_suite(cat: RunCatalog, dataset: str, part: str, read: set[str] | None) -> pa.Table:
    """A committed part as a suite sees it: the columns in `read` (None: all), the others as nulls of their
    declared type (table-level expectations look only at their names), so an unread text column costs nothing."""
    declared = cat.dataset(dataset).schema
    if declared is None or read is None or read >= set(declared.names):
        return cat.load(dataset, part)
    table = cat.load(dataset, part, columns=[n for n in declared.names if n in read])
    for f in (f for f in declared if f.name not in read):
        table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table.select(list(declared.names))


def _batches(parts: list[str], rows: dict[str, int], batch_rows: int) -> list[list[str]]:
    """Consecutive parts grouped up to `batch_rows` rows (a larger part is a batch of its own)."""
    batches: list[list[str]] = []
    size = 0
    for part in parts:
        if batches and batch_rows and size + rows[part] <= batch_rows:
            batches[-1].append(part)
            size += rows[part]
        else:
            batches.append([part])
            size = rows[part]
    return batches
