"""infra/: prefect.yaml against the flows, the serving helpers, and a Prefect server on PostgreSQL end to end."""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from modsweep import resources, serving, store

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "infra"
FLOWS = {"daily-sweep", "surge-run", "backfill"}


def _deployments(env: dict[str, str] | None = None) -> list[dict]:
    return serving.load_prefect_file(env=env or {"MODSWEEP_HOME": "/srv/modsweep"})["deployments"]


def test_prefect_yaml_entrypoints_import_and_parameters_match_the_flow_signatures():
    from prefect.flows import load_flow_from_entrypoint

    config = serving.load_prefect_file(env={"MODSWEEP_HOME": "/srv/modsweep"})
    pool = config["definitions"]["work_pool"]
    queues = {q["name"] for q in pool["queues"]}
    seen = set()
    for spec in config["deployments"]:
        flow = load_flow_from_entrypoint(spec["entrypoint"], use_placeholder_flow=False)
        seen.add(flow.name)
        signature = inspect.signature(flow.fn)
        unknown = set(spec.get("parameters") or {}) - set(signature.parameters)
        assert not unknown, f"{flow.name}: deployment parameters {unknown} are not parameters of the flow"
        required = {n for n, p in signature.parameters.items() if p.default is inspect.Parameter.empty}
        if spec.get("schedules"):  # a schedule passes no parameters: the deployment must give every required one
            missing = required - set(spec.get("parameters") or {})
            assert not missing, f"{flow.name} is scheduled but its required parameters {missing} have no value"
        assert spec["work_pool"]["name"] == pool["name"] and spec["work_pool"]["work_queue_name"] in queues
        assert spec["name"] == serving.DEPLOYMENT_NAME
    assert seen == FLOWS


def test_placeholders_are_filled_from_the_environment_or_defaults(tmp_path):
    raw = yaml.safe_dump(yaml.safe_load((INFRA / "prefect.yaml").read_text()))  # without the comments
    names = {m.group(1) for m in serving._PLACEHOLDER.finditer(raw)}
    assert names and names <= set(serving.deployment_environment({"MODSWEEP_HOME": str(tmp_path)}))
    defaults = _deployments({"MODSWEEP_HOME": str(tmp_path)})
    assert "{{" not in yaml.safe_dump(defaults)
    daily = next(d for d in defaults if d["entrypoint"].endswith("daily_sweep"))
    assert daily["schedules"][0]["timezone"] == "UTC"
    assert daily["parameters"]["source"] == str(tmp_path / "source" / "items")
    given = _deployments(
        {
            "MODSWEEP_HOME": str(tmp_path),
            "MODSWEEP_SCHEDULE_TIMEZONE": "Europe/Berlin",
            "MODSWEEP_SOURCE": "/data/items",
        }
    )
    daily = next(d for d in given if d["entrypoint"].endswith("daily_sweep"))
    assert daily["schedules"][0]["timezone"] == "Europe/Berlin" and daily["parameters"]["source"] == "/data/items"


def test_on_demand_work_cannot_take_every_pool_slot():
    pool = serving.load_prefect_file()["definitions"]["work_pool"]
    queues = {q["name"]: q for q in pool["queues"]}
    assert queues["on-demand"]["concurrency_limit"] < pool["concurrency_limit"]
    assert queues["scheduled"]["priority"] < queues["on-demand"]["priority"]  # lower number, served first


def test_served_deployments_carry_schedule_timezone_limits_and_source(tmp_path):
    deployments = {d.flow_name: d for d in serving.build_deployments(timezone="America/New_York", source=str(tmp_path))}
    assert set(deployments) == FLOWS
    daily = deployments["daily-sweep"]
    (schedule,) = daily.schedules
    assert schedule.schedule.cron == "0 2 * * *" and schedule.schedule.timezone == "America/New_York"
    assert daily.parameters["source"] == str(tmp_path)
    assert daily.concurrency_limit == 1 and daily.concurrency_options.collision_strategy == "ENQUEUE"
    assert not deployments["surge-run"].schedules and deployments["surge-run"].concurrency_limit == 2
    assert all(d.entrypoint.startswith("modsweep.flows.") for d in deployments.values())
    assert "on-demand" in deployments["backfill"].tags


def test_serving_and_submitting_without_a_server(monkeypatch):
    monkeypatch.setattr(serving, "_api_url", lambda: None)
    with pytest.raises(RuntimeError, match="needs a Prefect server"):
        serving.serve_deployments()
    assert serving.trigger_or_run("surge-run", {"regions": ["US"]}) is None  # the caller runs it in-process
    with serving.run_key_lock("any-key"):  # no server: nothing to acquire, nothing that could stay held
        pass


def test_flow_run_link_points_at_the_ui_only_when_a_server_is_configured(monkeypatch):
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert serving.flow_run_link("0b4c1c1e-0000-4000-8000-000000000000") is None
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        link = serving.flow_run_link("0b4c1c1e-0000-4000-8000-000000000000")
    assert link == "http://127.0.0.1:4200/runs/flow-run/0b4c1c1e-0000-4000-8000-000000000000"
    assert serving.flow_run_link(None) is None


def test_task_runner_is_a_bounded_thread_pool_unless_a_dask_address_is_given():
    from prefect.task_runners import ThreadPoolTaskRunner

    runner = serving.task_runner(max_workers=3)
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 3
    pytest.importorskip("prefect_dask")
    from prefect_dask import DaskTaskRunner

    dask = serving.task_runner(address="tcp://127.0.0.1:8786")
    assert isinstance(dask, DaskTaskRunner) and dask.address == "tcp://127.0.0.1:8786"


def test_dask_address_setting_selects_the_dask_runner(monkeypatch):
    pytest.importorskip("prefect_dask")
    from prefect_dask import DaskTaskRunner

    from modsweep.config import get_settings

    monkeypatch.setenv("MODSWEEP_DASK_ADDRESS", "tcp://10.0.0.5:8786")
    get_settings.cache_clear()
    try:
        runner = serving.task_runner()
    finally:
        get_settings.cache_clear()
    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://10.0.0.5:8786"


def test_server_wrapper_gives_prefects_orm_hybrids_a_bulk_insert_hook():
    import sqlalchemy

    spec = importlib.util.spec_from_file_location("prefect_server", INFRA / "prefect_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    patched = module.ignore_hybrids_in_bulk_inserts()
    if tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2]) >= (2, 1):
        assert "FlowRun.state" in patched  # what the scheduler's bulk INSERT of flow runs trips on
    from prefect.server.database import orm_models

    assert vars(orm_models.FlowRun)["state"].bulk_dml_setter is not None or not patched


def test_stop_script_with_nothing_started(tmp_path):
    result = subprocess.run(
        ["bash", str(INFRA / "stop-prefect-server.sh")],
        env={**os.environ, "MODSWEEP_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and "nothing to stop" in result.stdout


@pytest.fixture
def run_key_lock_on(monkeypatch):
    from modsweep.config import get_settings

    monkeypatch.setenv("MODSWEEP_RUN_KEY_LOCK", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("MODSWEEP_RUN_KEY_LOCK")
    get_settings.cache_clear()


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_run_key_lock_is_off_unless_asked_for_even_with_a_server(monkeypatch):
    from modsweep.config import get_settings

    monkeypatch.delenv("MODSWEEP_RUN_KEY_LOCK", raising=False)
    get_settings.cache_clear()
    assert serving._api_url() and not serving.run_key_lock_enabled()  # the harness has no lease repossessor


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness", "run_key_lock_on")
def test_run_key_lock_keeps_a_second_run_of_the_same_key_waiting():
    import threading

    assert serving.run_key_lock_enabled()
    key = f"pytest-{uuid.uuid4().hex[:8]}"
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with serving.run_key_lock(key):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(TimeoutError), serving.run_key_lock(key, timeout_seconds=1):
            pass
    finally:
        release.set()
        thread.join(30)
    with serving.run_key_lock(key, timeout_seconds=10):  # released: the next run of the key gets it at once
        pass


# ---- end to end: Prefect server on PostgreSQL, work pool, deployments, a worker, a surge run ----------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else f"(no {path})"


@pytest.mark.slow
@pytest.mark.postgres
def test_surge_deployment_runs_on_a_worker_of_a_postgres_backed_server(sweep_home, synthetic_day):
    from store_fixtures import postgres_unavailable_reason

    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(f"needs PostgreSQL for Prefect's database: {reason}")
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, FlowFilter, FlowRunFilter
    from prefect.settings import PREFECT_API_URL, temporary_settings

    port, database = _free_port(), f"prefect_test_{uuid.uuid4().hex[:10]}"
    state = sweep_home / "prefect-server"
    env = {
        **os.environ,
        "MODSWEEP_HOME": str(sweep_home),
        "MODSWEEP_PREFECT_PORT": str(port),
        "MODSWEEP_PREFECT_DB_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "MODSWEEP_SOURCE": str(synthetic_day["items"]),
        "MODSWEEP_PYTHON": str(REPO / ".venv" / "bin" / "python"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    if not Path(env["MODSWEEP_PYTHON"]).exists():
        import sys

        env["MODSWEEP_PYTHON"] = sys.executable
    env.pop("PREFECT_API_URL", None)
    api = f"http://127.0.0.1:{port}/api"
    try:
        started = subprocess.run(
            ["bash", str(INFRA / "start-prefect-server.sh")], env=env, capture_output=True, text=True, timeout=180
        )
        assert started.returncode == 0, started.stdout + started.stderr + _tail(state / "server.log")
        assert "'surge-run/modsweep'" in started.stdout and "worker started" in started.stdout

        since, until = datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 16, tzinfo=UTC)
        with temporary_settings(updates={PREFECT_API_URL: api}):
            submitted = serving.trigger_or_run(
                "surge-run",
                {
                    "regions": ["US", "IN"],
                    "since": since,
                    "until": until,
                    "source": str(synthetic_day["items"]),
                    "requested_by": "election-desk",
                },
            )
            assert submitted is not None and submitted.deployment == "surge-run/modsweep"
            assert submitted.url == f"http://127.0.0.1:{port}/runs/flow-run/{submitted.flow_run_id}"
            deadline = time.monotonic() + 150
            with get_client(sync_client=True) as client:
                while time.monotonic() < deadline:
                    run = client.read_flow_run(uuid.UUID(submitted.flow_run_id))
                    if run.state is not None and run.state.is_final():
                        break
                    time.sleep(1)
                assert run.state is not None and run.state.is_completed(), (
                    f"{run.state}\n{_tail(state / 'worker.log', 80)}"
                )
                # The scheduler works (Prefect 3.8.8 + SQLAlchemy 2.1 needs infra/prefect_server.py for that).
                scheduled = client.read_flow_runs(
                    flow_filter=FlowFilter(name={"any_": ["daily-sweep"]}),
                    deployment_filter=DeploymentFilter(name={"any_": [serving.DEPLOYMENT_NAME]}),
                    flow_run_filter=FlowRunFilter(state={"type": {"any_": ["SCHEDULED"]}}),
                )
                assert scheduled, "the daily-sweep schedule created no runs:\n" + _tail(state / "server.log")
                assert all(r.expected_start_time.astimezone(UTC).hour == 2 for r in scheduled)
                limits = {gcl.name: gcl for gcl in client.read_global_concurrency_limits(limit=200)}

        runs = store.list_runs(resources.store_engine(), trigger="surge")
        assert len(runs) == 1, runs
        (ledger,) = runs
        assert ledger["state"] == "completed" and ledger["requested_by"] == "election-desk"
        assert ledger["flow"] == "surge-run" and ledger["prefect_flow_run_id"] == submitted.flow_run_id
        assert ledger["parameters"]["regions"] == ["IN", "US"]
        lock = limits[f"{serving.RUN_KEY_LIMIT_PREFIX}{ledger['run_key']}"]  # the run held its run-key lock...
        assert lock.limit == 1 and lock.active_slots == 0  # ...and gave it back

        again = subprocess.run(
            ["bash", str(INFRA / "start-prefect-server.sh")], env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already answering" in again.stdout and "worker already running" in again.stdout
    finally:
        stopped = subprocess.run(
            ["bash", str(INFRA / "stop-prefect-server.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        _drop_database(database)
    assert stopped.returncode == 0 and "server (pid" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not (state / "server.pid").exists() and not (state / "worker.pid").exists()
