"""A backfill whose day fails ends Failed, lists each failed day with its error, and the CLI exits 1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modsweep.cli import app

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def _source_with_a_bad_day(root: Path) -> Path:
    """2026-11-24 holds only an unreadable file; 2026-11-25 has no partition (an empty day that completes)."""
    bad = root / "items" / "date=2026-11-24"
    bad.mkdir(parents=True)
    (bad / "part-0.parquet").write_bytes(b"this is not parquet")
    return root / "items"


def _newest_artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(max(found, key=lambda a: a.created).data)


def test_a_backfill_with_a_failed_day_ends_failed_and_lists_the_day(sweep_home, tmp_path):
    from modsweep.flows.backfill import backfill, backfill_outcome

    source = _source_with_a_bad_day(tmp_path)
    state = backfill(
        start=date(2026, 11, 24), end=date(2026, 11, 25), source=str(source), requested_by="pytest", return_state=True
    )
    assert state.is_failed()  # never a silent Completed
    results, failures = backfill_outcome(state)
    assert results == {"swept": ["2026-11-25"], "skipped": [], "failed": ["2026-11-24"]}
    assert [f["day"] for f in failures] == ["2026-11-24"]
    assert failures[0]["error"].startswith("UnreadableSourceFilesError: ") and failures[0]["flow_run_id"]
    artifact = _newest_artifact("backfill-2026-11-24-2026-11-25")
    assert "1 failed day(s)" in artifact and "UnreadableSourceFilesError" in artifact


def test_cli_backfill_exits_1_naming_each_failed_day(sweep_home, tmp_path):
    source = _source_with_a_bad_day(tmp_path)
    out = CliRunner().invoke(app, ["backfill", "--start", "2026-11-24", "--end", "2026-11-25", "--source", str(source)])
    assert out.exit_code == 1, out.output
    text = " ".join(out.output.split())
    assert "2026-11-24 failed: UnreadableSourceFilesError" in text
    assert "backfill failed on 1 of 2 days: 2026-11-24" in text and "Traceback" not in out.output
