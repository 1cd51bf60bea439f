"""Worker processes run bodies under the settings of the process that sends them work, now (the pool outlives a
change of MODSWEEP_HOME: tests give every run its own home)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modsweep import resources, workers


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch):
    """A pool of two worker processes of its own (shut down afterwards), whatever the session's pool."""
    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "2")
    resources.reset()
    monkeypatch.setattr(workers, "_POOL", None)
    yield
    pool = workers._POOL
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    monkeypatch.setattr(workers, "_POOL", None)
    resources.reset()


@pytest.mark.usefixtures("two_workers")
def test_a_worker_reads_the_senders_settings_after_they_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workers.start_workers()
    for name in ("first", "second"):
        monkeypatch.setenv("MODSWEEP_HOME", str(tmp_path / name))
        monkeypatch.setenv("MODSWEEP_REVIEW_CAPACITY_PER_QUEUE", "7" if name == "first" else "9")
        resources.reset()
        lakes = {workers.on_cpu(resources.lake).url for _ in range(4)}  # both workers, one body each at least
        assert lakes == {resources.lake().url} and lakes == {str(tmp_path / name / "lake")}
    monkeypatch.delenv("MODSWEEP_REVIEW_CAPACITY_PER_QUEUE")
    assert workers.on_cpu(workers._settings_env).get("MODSWEEP_REVIEW_CAPACITY_PER_QUEUE") is None  # unset too


@pytest.mark.usefixtures("two_workers")
def test_work_sent_when_idle_waits_for_a_free_worker_and_lets_later_work_pass(tmp_path: Path) -> None:
    """Both workers busy: the radar's kind of work (`when_idle`) does not queue ahead of a stage's body sent after
    it; the body takes the first worker that frees, the idle work the next."""
    workers.start_workers()
    with ThreadPoolExecutor(max_workers=4) as threads:
        busy = [threads.submit(workers.on_cpu, time.sleep, s) for s in (0.6, 1.2)]
        time.sleep(0.2)
        idle = threads.submit(workers.on_cpu, time.time, when_idle=True)
        time.sleep(0.2)
        stage_body = threads.submit(workers.on_cpu, time.time)
        started_idle, started_body = idle.result(), stage_body.result()
        [b.result() for b in busy]
    assert started_body < started_idle  # sent later, started first
    with workers._SETTLED:  # a body is counted off by its future's done callback, just after its result is set
        workers._SETTLED.wait_for(lambda: workers._in_flight == 0, timeout=5)
    assert workers._in_flight == 0


@pytest.mark.usefixtures("two_workers")
def test_warming_up_the_workers_does_not_wait_for_them() -> None:
    """The flow sends the detector bank's loading to the workers and goes on gating; the next body runs after it."""
    workers.start_workers()
    workers.on_cpu(int)  # the workers are up
    sent = time.time()
    workers.warm_up_workers(time.sleep, 0.8)
    assert time.time() - sent < 0.5
    assert workers._in_flight == 2  # the warm-ups count as the workers' work (the radar's kind waits for them)
    started = workers.on_cpu(time.time)
    assert started >= sent + 0.7  # queued behind a warm-up: the pool's two workers were both warming up
