"""The HTML report: self-contained, escaped, and every chart draws in a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from modsweep.tasks.audit import INTERVAL_METHODS
from modsweep.tasks.findings import annotate, describe, with_text
from modsweep.tasks.report import render_report

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _hostile_run() -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    evil = "<script>alert(1)</script>"
    run = {
        "run_id": evil,
        "run_key": "k",
        "flow": "daily-sweep",
        "trigger": "manual",
        "requested_by": evil,
        "state": "completed",
        "parameters": {"day": "2026-11-23", "source": evil},
        "policy_pack": "p",
        "policy_version": "1",
        "policy_sha256": "0" * 64,
        "code_version": "x",
        "input_fingerprint": "f",
        "stage_counts": {
            "ingest": {"read": 3, "processed": 2, "quarantined": 1, f"quarantined.{evil}": 1},
            "audit": {"findings": [{"policy_id": evil, "severity": "critical", "kind": evil}]},
        },
        "gate_results": [{"suite": evil, "severity": "ok", "failures": []}],
    }
    decisions = pd.DataFrame(
        {
            "item_id": [evil, "b"],
            "policy_id": ["hate.speech", evil],
            "action": ["remove", "label"],
            "automated": [True, True],
            "score": [0.99, 0.8],
            "region": ["DE", evil],
        }
    )
    metrics = pd.DataFrame(
        {
            "policy_id": ["hate.speech"],
            "region": ["ALL"],
            "metric": ["automated_precision"],
            "value": [0.9],
            "ci_low": [0.8],
            "ci_high": [0.95],
            "n": [100],
        }
    )
    tasks = pd.DataFrame(
        {
            "task_id": ["t"],
            "queue": [evil],
            "reason": ["review_band"],
            "status": ["open"],
            "decided_at": [None],
            "due_by": [pd.Timestamp("2026-11-24", tz="UTC")],
        }
    )
    return run, decisions, metrics, tasks


def test_every_piece_of_user_content_is_escaped():
    html = render_report(*_hostile_run(), ["hate.speech"])
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # nothing loads from the network


def _closed_run(**extra: object) -> dict:
    finding = {
        "policy_id": "misinfo.medical",
        "region": "ALL",
        "severity": "critical",
        "kind": "precision_below_floor",
        "metric": "automated_precision",
        "value": 0.699,
        "ci_low": 0.651,
        "ci_high": 0.747,
        "floor": 0.8,
        "n": 312,
        "circuit_breaker_tripped": True,
    }
    run = {
        "run_id": "r1",
        "run_key": "key1",
        "flow": "daily-sweep",
        "trigger": "manual",
        "requested_by": "pytest",
        "state": "completed",
        "started_at": "2026-11-24 02:00:00+00:00",
        "ended_at": "2026-11-24 02:03:17+00:00",
        "parameters": {"day": "2026-11-23", "simulate_reviews_from": "/data/truth"},
        "policy_pack": "p",
        "policy_version": "1",
        "policy_sha256": "0" * 64,
        "code_version": "x",
        "input_fingerprint": "f",
        "stage_counts": {
            "ingest": {"read": 10, "processed": 10, "quarantined": 0},
            "audit": {"findings": [], "automation_paused_during_run": []},
            "re_audit": {"findings": [finding], "audited_at": "2026-11-25T09:00:00+00:00", "requested_by": "auditor"},
        },
        "outputs": {"findings": with_text([finding])},
        "gate_results": [],
    }
    return {**run, **extra}


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    decisions = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "policy_id": ["misinfo.medical", "hate.speech", "self_harm"],
            "action": ["remove", "remove", "escalate"],
            "automated": [True, True, False],
            "score": [0.99, 0.95, 0.7],
            "region": ["DE", "FR", "DE"],
        }
    )
    metrics = pd.DataFrame(
        {
            "day": "2026-11-23",
            "run_id": "r1",
            "policy_id": ["misinfo.medical", "misinfo.medical", "misinfo.medical", "hate.speech", "ALL"],
            "region": ["ALL", "ALL", "DE", "ALL", "ALL"],
            "metric": ["automated_precision", "prevalence", "prevalence", "qa_sample_size", "hours_to_decision_median"],
            "value": [0.699, 0.002686, 0.0061, 40.0, 1.23456],
            "ci_low": [0.651, 0.0020, 0.0041, None, None],
            "ci_high": [0.747, 0.00341, 0.0090, None, None],
            "n": [312, 300, 24, 40, 500],
        }
    )
    tasks = pd.DataFrame(
        {
            "task_id": ["t1", "t2"],
            "queue": ["q", "q"],
            "reason": ["qa_actioned", "qa_actioned"],
            "status": ["decided", "decided"],
            "reviewer_id": ["sim-reviewer-03", "sim-reviewer-07"],
            "decided_at": [pd.Timestamp("2026-11-23 10:00", tz="UTC")] * 2,
            "due_by": [pd.Timestamp("2026-11-24", tz="UTC")] * 2,
        }
    )
    return decisions, metrics, tasks


POLICIES = ["misinfo.medical", "hate.speech", "self_harm"]


def test_report_of_a_closed_run_shows_its_state_end_time_findings_and_simulated_reviewers():
    html = render_report(_closed_run(), *_frames(), POLICIES, baseline_runs=0)
    assert "state: running" not in html and "Run completed at 2026-11-24 02:03:17+00:00" in html
    assert "<th>ended</th><td><code>2026-11-24 02:03:17+00:00</code>" in html
    sentence = (
        "Critical: misinfo.medical, all regions: automated precision 0.699 (95% CI 0.651–0.747, n = 312 "
        "reviewed automated actions) is below the floor 0.80; circuit breaker tripped"
    )
    assert sentence in html and "No findings" not in html and "{&#39;" not in html  # a sentence, not a dict
    assert "latest re-audit (`modsweep audit`) at 2026-11-25T09:00:00+00:00 by auditor" in html
    assert "Simulated reviewers: 2 of 2 decided review tasks were decided by simulated reviewers" in html
    assert (
        "Not in the precision chart: hate.speech: none of its 1 automated actions has a reviewed QA outcome yet; "
        "self_harm: no automated actions in this run." in html
    )


def test_report_says_when_drift_and_volume_have_no_baseline_yet():
    run = _closed_run(outputs={"findings": []})
    run["stage_counts"].pop("re_audit")
    html = render_report(run, *_frames(), POLICIES, baseline_runs=1)
    assert "No drift or volume anomaly" not in html and "no score drift or volume anomaly" not in html
    assert "No baseline yet (needs 1 earlier completed run of this flow in the 7 days before this one; found 1" in html
    assert (
        "No baseline yet (needs 3 earlier completed runs of this flow in the 7 days before this one; found 1)" in html
    )
    assert "No findings: no audited policy" in html
    decisions, metrics, tasks = _frames()
    z = pd.DataFrame(
        {
            "day": "2026-11-23",
            "run_id": "r1",
            "policy_id": "ALL",
            "region": "ALL",
            "metric": ["volume_zscore"],
            "value": [4.2],
            "ci_low": None,
            "ci_high": None,
            "n": [5],
        }
    )
    html = render_report(run, decisions, pd.concat([metrics, z], ignore_index=True), tasks, POLICIES, baseline_runs=5)
    assert "Processed volume z-score +4.20 against 5 earlier runs: an anomaly (|z| &gt; 3)." in html


def test_metrics_table_is_grouped_by_policy_with_one_format_per_metric_and_downloads_as_csv():
    decisions, metrics, tasks = _frames()
    html = render_report(_closed_run(), decisions, metrics, tasks, POLICIES)
    groups = re.findall(r'<th class="group" colspan="6">([^<]+)</th>', html)
    assert groups == ["ALL", "hate.speech", "misinfo.medical"]
    # value and interval share their metric's format: no 0.002686 beside [0.003, 0.003]
    assert '<td>prevalence</td><td class="num">0.0027</td><td class="num">[0.0020, 0.0034]</td><td></td>' in html
    assert '<td>qa_sample_size</td><td class="num">40</td>' in html
    assert '<td>hours_to_decision_median</td><td class="num">1.23</td>' in html
    uri = re.search(r'<a href="data:text/csv;charset=utf-8;base64,([^"]+)" download="metrics-key1.csv">', html)
    assert uri is not None
    table = pd.read_csv(io.BytesIO(base64.b64decode(uri.group(1))))
    assert len(table) == len(metrics) and set(table["policy_id"]) == set(metrics["policy_id"])
    assert sorted(table["value"].round(6)) == sorted(metrics["value"].round(6))  # full precision, every row
    assert set(table["interval_method"].dropna()) <= {"census", *INTERVAL_METHODS.values()}
    zero = metrics.assign(ci_low=metrics["value"], ci_high=metrics["value"]).head(1)  # a census row is named so
    html = render_report(_closed_run(), decisions, zero, tasks, POLICIES)
    assert "</td><td>census</td>" in html


def test_every_finding_reads_as_one_sentence():
    drift = {"policy_id": "deceptive.spam", "severity": "warning", "kind": "score_drift", "value": 0.31}
    volume = {"policy_id": "ALL", "severity": "warning", "kind": "volume_anomaly", "value": -3.4}
    paused = {
        "policy_id": "hate.speech",
        "severity": "critical",
        "kind": "precision_below_floor",
        "value": 0.5,
        "ci_high": 0.6,
        "floor": 0.8,
        "n": 40,
        "circuit_breaker_tripped": False,
    }
    assert describe(drift) == (
        "Warning: deceptive.spam, all regions: score drift (PSI) 0.310 against the earlier runs' "
        "score bands is above 0.25 (a significant shift); recorded as a warning; nothing was "
        "changed automatically."
    )
    assert describe(volume).startswith("Warning: all policies, all regions: volume z-score -3.40")
    assert describe(paused).endswith(
        "below the floor 0.80; its automation was already paused by the circuit breaker; "
        "later runs keep sending it to human review."
    )
    assert "95% CI upper bound 0.600" in describe(paused)
    metrics = pd.DataFrame(
        {
            "policy_id": ["hate.speech"],
            "region": ["ALL"],
            "metric": ["automated_precision"],
            "value": [0.5],
            "ci_low": [0.41],
            "ci_high": [0.6],
            "n": [40],
        }
    )
    assert "95% CI 0.410–0.600" in with_text(annotate([paused], metrics))[0]["text"]


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

    summary = daily_sweep(
        day=synthetic_day["day"],
        source=str(synthetic_day["items"]),
        trigger="manual",
        requested_by="pytest",
        simulate_reviews_from=str(synthetic_day["truth"]),
    )
    url = Path(summary.report_path).resolve().as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            *profile,
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert 'data-charts-total="' in dom.stdout
    total = int(dom.stdout.split('data-charts-total="')[1].split('"')[0])
    drawn = int(dom.stdout.split('data-charts-drawn="')[1].split('"')[0])
    assert total >= 4 and drawn == total
    console_errors = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and "error" in ln.lower()]
    assert console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--window-size=1280,3000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 50_000  # a real page, not a blank one
    (ARTIFACTS / "report.json").write_text(json.dumps({"charts": total, "report": str(summary.report_path)}))
