"""What a new user sees when something is wrong: one clear line and the documented exit code, never a traceback;
checks that need no Prefect run before Prefect starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modsweep.cli import app

MODSWEEP = [sys.executable, "-m", "modsweep.cli"]


def _run(args: list[str], home: Path, timeout: float = 600) -> tuple[int, str, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MODSWEEP_"))}
    env["MODSWEEP_HOME"] = str(home)
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "900"  # a loaded test machine starts Prefect slowly
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "from modsweep.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - t0


def _one_error_line(stdout: str, stderr: str) -> str:
    """The one `error:` line; no traceback and no engine error record anywhere (warnings may precede it)."""
    assert "Traceback" not in stdout + stderr and "| ERROR" not in stdout + stderr, stdout + stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_new_home_is_created_and_a_missing_model_is_named_before_prefect_starts(tmp_path, synthetic_day):
    home = tmp_path / "does" / "not" / "exist"
    code, out, err, seconds = _run(["sweep", "--day", "2026-11-23", "--source", str(synthetic_day["items"])], home)
    line = _one_error_line(out, err)
    assert code == 2 and "no trained model" in line and "modsweep train" in line
    assert (home / "prefect").is_dir()  # created, with Prefect's home under it
    assert not (home / "prefect" / "prefect.db").exists()  # Prefect never started
    assert seconds < 60  # measured ≈ 3 s on a quiet machine; Prefect's start-up alone took ~17 s before


def test_a_model_of_another_featurisation_is_named_before_prefect_starts(tmp_path, synthetic_day):
    """An active model whose card names a feature scheme this build does not make: one line with the retrain
    command, read from the card before any data or Prefect (not after ingest)."""
    import json

    home = tmp_path / "home"
    version = tmp_path / "home" / "models" / "text-policy" / "vold"
    version.mkdir(parents=True)
    (version.parent / "LATEST").write_text("vold")
    (version / "card.json").write_text(
        json.dumps({"features": {"key": "f-0", "params": {"scheme": "hashed-word-char-0"}}})
    )
    code, out, err, _ = _run(["sweep", "--day", "2026-11-23", "--source", str(synthetic_day["items"])], home)
    line = _one_error_line(out, err)
    assert code == 2 and "model vold cannot be used by this build" in line and "modsweep train" in line, line
    assert not (home / "prefect" / "prefect.db").exists()  # Prefect never started


def test_a_home_that_cannot_be_created_is_one_line(tmp_path, synthetic_day):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err, _ = _run(["sweep", "--day", "2026-11-23", "--source", str(synthetic_day["items"])], blocker / "x")
    line = _one_error_line(out, err)
    assert code == 2 and "MODSWEEP_HOME" in line and "cannot be created" in line


@pytest.mark.flow
def test_a_failed_flow_prints_one_line_and_its_traceback_goes_to_the_log(tmp_path, synthetic_day):
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(synthetic_day["models"])
    source = tmp_path / "src"
    source.mkdir()
    (source / "part-00000.csv").write_text("item_id,text\n1,hello\n")  # no required columns: unusable
    code, out, err, _ = _run(["sweep", "--day", "2026-11-23", "--source", str(source)], home)
    line = _one_error_line(out, err)
    assert code == 1 and "run failed: QuarantineCeilingError: 100.00% of rows quarantined" in line, line
    assert "prefect.log" in line
    assert "Traceback" in (home / "logs" / "prefect.log").read_text()


def test_bad_input_to_audit_surge_and_backfill_exits_2_with_one_line(modsweep_home, tmp_path):
    runner = CliRunner()
    missing = str(tmp_path / "nowhere")
    cases = [
        (["audit", "zzz"], "no run matches 'zzz'"),
        (["surge", "--region", "US", "--last", "6h", "--source", missing], "does not exist"),
        (["backfill", "--start", "2026-11-22", "--end", "2026-11-23", "--source", missing], "does not exist"),
        (["approve", "zzz", "--by", "alice"], "no run matches 'zzz'"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.flow
def test_sigterm_stops_a_paused_run_promptly_and_records_it_cancelled(tmp_path, synthetic_day, monkeypatch):
    """The reported case: a run over the removal ceiling paused where nobody can answer; SIGTERM (systemd, docker
    stop) must end the process at once with a clear line, the ledger saying cancelled."""
    import signal

    from modsweep import resources, store

    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(synthetic_day["models"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MODSWEEP_"))}
    env.update(
        MODSWEEP_HOME=str(home),
        MODSWEEP_REMOVAL_CEILING="3",
        MODSWEEP_APPROVAL_WAIT="pause",
        MODSWEEP_APPROVAL_TIMEOUT_SECONDS="3600",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="900",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from modsweep.cli import main; main()",
            "sweep",
            "--day",
            "2026-11-23",
            "--source",
            str(synthetic_day["items"]),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "paused:" in line:
                break
        assert any("paused:" in ln and "modsweep approve" in ln for ln in seen), "".join(seen)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rest, _ = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 30
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(seen) + rest
    assert proc.returncode == 143 and "stopped by SIGTERM" in output, output
    assert "Traceback" not in output, output
    monkeypatch.setenv("MODSWEEP_HOME", str(home))
    monkeypatch.delenv("MODSWEEP_DATABASE_URL", raising=False)
    resources.reset()
    try:
        (run,) = store.list_runs(resources.store_engine())
        assert run["state"] == "cancelled" and run["error"]["stage"] == "approval", run
    finally:
        resources.reset()
