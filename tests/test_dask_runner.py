"""The daily sweep on a Dask cluster (prefect-dask) decides exactly what the default thread pool decides."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

pytest.importorskip("prefect_dask", reason="the `dask` extra is not installed (pip install -e '.[dask]')")

from modsweep import resources, store


def _decisions(run_key: str):
    frame = store.fetch_decisions(resources.store_engine(), run_key=run_key)
    return frame[["decision_id", "action", "score"]].sort_values("decision_id").reset_index(drop=True)


@pytest.mark.flow
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_dask_task_runner_makes_the_same_decisions_as_the_default_runner(
    sweep_home, synthetic_day, tmp_path, monkeypatch
):
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from modsweep.flows.daily_sweep import daily_sweep

    # Dask workers are processes of their own: score in the task (no process pool inside a Dask worker).
    monkeypatch.setenv("MODSWEEP_DETECT_PROCESSES", "1")
    resources.reset()
    args = {"day": synthetic_day["day"], "source": str(synthetic_day["items"]), "trigger": "manual"}
    default = daily_sweep(**args)
    expected = _decisions(default.run_key)
    assert len(expected) > 0

    # A second home, so the Dask run decides afresh instead of resuming the first run's partitions. The workers
    # read MODSWEEP_* when they start: the environment is set before the cluster is.
    home = tmp_path / "home-dask"
    home.mkdir()
    (home / "models").symlink_to(Path(synthetic_day["models"]))
    monkeypatch.setenv("MODSWEEP_HOME", str(home))
    resources.reset()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = daily_sweep.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))(**args)
    assert on_dask.run_key == default.run_key and on_dask.run_id != default.run_id
    got = _decisions(on_dask.run_key)
    assert got["decision_id"].tolist() == expected["decision_id"].tolist()
    assert got["action"].tolist() == expected["action"].tolist()
    assert (got["score"] - expected["score"]).abs().max() == 0
    assert on_dask.actions == default.actions and on_dask.items_processed == default.items_processed


def _score_in_a_daemonic_process(answers) -> None:
    os.environ["MODSWEEP_DETECT_PROCESSES"] = "2"  # the default (0) means one per core: 2 on this machine
    from modsweep import workers

    try:
        pool = workers.cpu_pool()
        answers.put("ok" if pool is None else str(pool.submit(int, "1").result(timeout=60)))
    except BaseException as exc:
        answers.put(f"{type(exc).__name__}: {exc}")


def test_detection_scores_in_the_task_inside_a_daemonic_dask_worker():
    """Dask's worker processes are daemonic, and a daemonic process may not start a process pool.

    With default settings detect_partition then fails on every partition ("daemonic processes are not allowed
    to have children"): inside a daemonic process `workers.cpu_pool()` must answer None (score in the calling thread).
    """
    ctx = multiprocessing.get_context("spawn")
    answers = ctx.Queue()
    child = ctx.Process(target=_score_in_a_daemonic_process, args=(answers,), daemon=True)
    child.start()
    try:
        answer = answers.get(timeout=120)
    finally:
        child.join(30)
    assert answer in {"ok", "1"}, answer
