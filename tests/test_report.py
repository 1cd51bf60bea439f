"""The HTML report: self-contained, escaped, and every chart draws in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from modsweep.tasks.report import render_report

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _hostile_run() -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    evil = "<script>alert(1)</script>"
    run = {"run_id": evil, "run_key": "k", "flow": "daily-sweep", "trigger": "manual", "requested_by": evil,
           "state": "completed", "parameters": {"day": "2026-11-23", "source": evil}, "policy_pack": "p",
           "policy_version": "1", "policy_sha256": "0" * 64, "code_version": "x", "input_fingerprint": "f",
           "stage_counts": {"ingest": {"read": 3, "processed": 2, "quarantined": 1, f"quarantined.{evil}": 1},
                            "audit": {"findings": [{"policy_id": evil, "severity": "critical", "kind": evil}]}},
           "gate_results": [{"suite": evil, "severity": "ok", "failures": []}]}  # fmt: skip
    decisions = pd.DataFrame({"item_id": [evil, "b"], "policy_id": ["hate.speech", evil], "action": ["remove", "label"],
                              "automated": [True, True], "score": [0.99, 0.8], "region": ["DE", evil]})  # fmt: skip
    metrics = pd.DataFrame({"policy_id": ["hate.speech"], "region": ["ALL"], "metric": ["automated_precision"],
                            "value": [0.9], "ci_low": [0.8], "ci_high": [0.95], "n": [100]})  # fmt: skip
    tasks = pd.DataFrame({"task_id": ["t"], "queue": [evil], "reason": ["review_band"], "status": ["open"],
                          "decided_at": [None], "due_by": [pd.Timestamp("2026-11-24", tz="UTC")]})  # fmt: skip
    return run, decisions, metrics, tasks


def test_every_piece_of_user_content_is_escaped():
    html = render_report(*_hostile_run(), ["hate.speech"])
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing loads from the network


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when it can: apt-get install chromium)")
    return path


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_report_of_a_real_run_renders_in_chromium_with_every_chart_drawn(sweep_home, synthetic_day, tmp_path):
    chromium = _chromium()
    from modsweep.flows.daily_sweep import daily_sweep

    summary = daily_sweep(day=synthetic_day["day"], source=str(synthetic_day["items"]), trigger="manual",
                          requested_by="pytest", simulate_reviews_from=str(synthetic_day["truth"]))  # fmt: skip
    url = Path(summary.report_path).resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, *profile, "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=5000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert 'data-charts-total="' in dom.stdout
    total = int(dom.stdout.split('data-charts-total="')[1].split('"')[0])
    drawn = int(dom.stdout.split('data-charts-drawn="')[1].split('"')[0])
    assert total >= 4 and drawn == total
    console_errors = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and "error" in ln.lower()]
    assert console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, *profile, "--window-size=1280,3000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 50_000  # a real page, not a blank one
    (ARTIFACTS / "report.json").write_text(json.dumps({"charts": total, "report": str(summary.report_path)}))
