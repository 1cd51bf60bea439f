"""The sweep's outputs stay the same through refactors: decisions, review tasks and metrics of a fixed synthetic
day (3,000 rows in 3 partitions, simulated reviewers, golden set) match a fingerprint stored before the change.

A legitimate change of behaviour (a new model, pack or generator) moves the fingerprint: re-take it at that
commit, with the pipeline logic it must stay equal to (see tests/helpers/fingerprint.py).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest
from helpers.fingerprint import differences, sweep_fingerprint, write_fingerprint
from helpers.sweeps import isolated_home, run_daily, write_small_day

from modsweep import resources

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

STORED = Path(__file__).parent / "fingerprints" / "sweep_outputs.json"
DAY = date(2026, 11, 23)


def test_sweep_outputs_match_the_stored_fingerprint(tmp_path: Path, synthetic_day: dict[str, object]) -> None:
    source = write_small_day(tmp_path / "source", DAY, 3_000, 1_000, seed=42)
    with isolated_home(tmp_path, synthetic_day["models"]):  # type: ignore[arg-type]
        summary = run_daily(source)
        got = sweep_fingerprint(resources.lake(), DAY, summary.run_key)
    assert got["decisions"]["rows"] > 0 and got["review_tasks"]["rows"] > 0 and got["metrics"]["rows"] > 0
    if os.environ.get("MODSWEEP_WRITE_FINGERPRINT") == "1":
        write_fingerprint(STORED, got)
    want = json.loads(STORED.read_text(encoding="utf-8"))
    assert not differences(got, want), "outputs differ from the stored fingerprint:\n" + "\n".join(
        differences(got, want)
    )
