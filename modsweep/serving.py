"""Running the flows under a Prefect server: deployments from infra/prefect.yaml, submission, run-key locks, task runners.

- `serve_deployments` serves the three deployments, with their schedules, from one process (`prefect.serve`).
- `ensure_work_pool` creates the work pool and its queues declared in infra/prefect.yaml (`definitions.work_pool`).
- `trigger_or_run` submits a flow run to a configured server's deployment, or answers None (run in-process).
- `run_key_lock` keeps two runs of one run key from overlapping (a Prefect global concurrency limit per key),
  when MODSWEEP_RUN_KEY_LOCK is on (the production set-up turns it on).
- `task_runner` picks the flows' task runner: `DaskTaskRunner(address=...)` when a Dask address is configured.

Prefect is imported inside functions: `flow_run_link` (used by `modsweep show`) stays cheap when no server is set.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from modsweep.config import get_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.task_runners import TaskRunner

PREFECT_FILE = Path(__file__).resolve().parent.parent / "infra" / "prefect.yaml"
DEPLOYMENT_NAME = "modsweep"
RUN_KEY_LIMIT_PREFIX = "modsweep-run:"
_PLACEHOLDER = re.compile(r"{{\s*\$(\w+)\s*}}")


def deployment_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values of infra/prefect.yaml's `{{ $VAR }}` placeholders: the environment's, else modsweep's defaults."""
    env = os.environ if env is None else env
    home = Path(env.get("MODSWEEP_HOME") or get_settings().home).resolve()
    return {
        "MODSWEEP_HOME": str(home),
        "MODSWEEP_SOURCE": env.get("MODSWEEP_SOURCE") or str(home / "source" / "items"),
        "MODSWEEP_SCHEDULE_TIMEZONE": env.get("MODSWEEP_SCHEDULE_TIMEZONE") or "UTC",
    }


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    """Replace `{{ $VAR }}` placeholders the way `prefect deploy` does (unknown ones are left as they are)."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def load_prefect_file(prefect_file: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """infra/prefect.yaml with anchors merged and placeholders filled from `deployment_environment(env)`."""
    path = Path(prefect_file or PREFECT_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no prefect.yaml (pass prefect_file=, or run from a modsweep checkout)")
    with path.open(encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    return _fill(config, deployment_environment(env))


def build_deployments(
    prefect_file: Path | None = None,
    *,
    cron: str | None = None,
    timezone: str | None = None,
    source: str | None = None,
) -> list[RunnerDeployment]:
    """The deployments of infra/prefect.yaml as runner deployments (no work pool), schedules and limits included.

    `cron` and `timezone` override the scheduled deployments' schedules; `source` overrides every `source` parameter.
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    env = dict(os.environ)
    if timezone:
        env["MODSWEEP_SCHEDULE_TIMEZONE"] = timezone
    if source:
        env["MODSWEEP_SOURCE"] = source
    config = load_prefect_file(prefect_file, env)
    out = []
    for spec in config["deployments"]:
        flow = load_flow_from_entrypoint(spec["entrypoint"], use_placeholder_flow=False)
        schedules = [
            Cron(cron or s["cron"], timezone=s.get("timezone"), active=s.get("active", True), slug=s.get("slug"))
            for s in spec.get("schedules") or []
        ]
        limit = spec.get("concurrency_limit")
        if isinstance(limit, dict):
            limit = ConcurrencyLimitConfig(
                limit=limit["limit"],
                collision_strategy=ConcurrencyLimitStrategy(limit.get("collision_strategy") or "ENQUEUE"),
            )
        out.append(
            flow.to_deployment(
                name=spec["name"],
                schedules=schedules,
                concurrency_limit=limit,
                parameters=spec.get("parameters") or {},
                tags=spec.get("tags") or [],
                description=spec.get("description"),
                enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return out


def _api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def serve_deployments(
    prefect_file: Path | None = None,
    *,
    cron: str | None = None,
    timezone: str | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> None:
    """Serve daily-sweep (scheduled), surge-run and backfill from this process until interrupted.

    Needs a Prefect server (PREFECT_API_URL): the ephemeral API runs no scheduler, so nothing would ever start.
    """
    if not _api_url():
        raise RuntimeError(
            "serving needs a Prefect server: start one (`prefect server start`, or "
            "infra/start-prefect-server.sh) and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api"
        )
    from prefect import serve

    os.environ.setdefault("MODSWEEP_RUN_KEY_LOCK", "true")  # inherited by the served runs' processes
    get_settings.cache_clear()
    serve(*build_deployments(prefect_file, cron=cron, timezone=timezone, source=source), limit=limit)


def ensure_work_pool(prefect_file: Path | None = None) -> str:
    """Create (or update) the work pool and queues of `definitions.work_pool`; returns the pool's name."""
    import anyio

    spec = load_prefect_file(prefect_file)["definitions"]["work_pool"]
    anyio.run(_ensure_work_pool, spec)
    return spec["name"]


async def _ensure_work_pool(spec: dict[str, Any]) -> None:
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.base import BaseWorker

    worker_cls = BaseWorker.get_worker_class_from_type(spec.get("type", "process"))
    if worker_cls is None:
        raise ValueError(f"work pool type {spec.get('type')!r} has no worker installed here")
    async with get_client() as client:
        try:
            await client.create_work_pool(
                WorkPoolCreate(
                    name=spec["name"],
                    type=spec.get("type", "process"),
                    concurrency_limit=spec.get("concurrency_limit"),
                    base_job_template=worker_cls.get_default_base_job_template(),
                )
            )
        except ObjectAlreadyExists:  # keep its job template (it may be edited in the UI); re-apply the limit
            await client.update_work_pool(spec["name"], WorkPoolUpdate(concurrency_limit=spec.get("concurrency_limit")))
        for q in spec.get("queues") or []:
            fields = {
                "priority": q.get("priority"),
                "concurrency_limit": q.get("concurrency_limit"),
                "description": q.get("description"),
            }
            try:
                queue = await client.read_work_queue_by_name(q["name"], work_pool_name=spec["name"])
                await client.update_work_queue(queue.id, **fields)
            except ObjectNotFound:
                await client.create_work_queue(name=q["name"], work_pool_name=spec["name"], **fields)


@dataclass(frozen=True)
class SubmittedRun:
    """A flow run handed to a Prefect server's deployment (it runs on a worker, not in this process)."""

    flow_run_id: str
    flow_run_name: str
    deployment: str
    url: str | None


class PrefectServerUnreachable(RuntimeError):
    """PREFECT_API_URL is set but the server does not answer (an in-process run would fail on it too)."""


def trigger_or_run(
    flow_name: str, parameters: dict[str, Any], *, deployment: str = DEPLOYMENT_NAME
) -> SubmittedRun | None:
    """Submit `parameters` to the deployment `flow_name/deployment` when a Prefect server is configured and has it.

    Returns None when no server is configured (PREFECT_API_URL unset) or the server has no such deployment: the
    caller then runs the flow in-process. Raises PrefectServerUnreachable when the configured server is down.
    """
    api_url = _api_url()
    if not api_url:
        return None
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.utilities.urls import url_for

    name = f"{flow_name}/{deployment}"
    with get_client(sync_client=True) as client:
        problem = client.api_healthcheck()
        if problem is not None:
            raise PrefectServerUnreachable(
                f"the Prefect server at {api_url} does not answer ({problem}); start it "
                "(infra/start-prefect-server.sh) or unset PREFECT_API_URL to run in-process"
            )
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None
    flow_run = run_deployment(name=name, parameters=parameters, timeout=0)
    return SubmittedRun(
        flow_run_id=str(flow_run.id),
        flow_run_name=flow_run.name,
        deployment=name,
        url=url_for("flow-run", obj_id=flow_run.id),
    )


def flow_run_link(flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run when a server is configured (PREFECT_UI_URL or PREFECT_API_URL set)."""
    if not flow_run_id or not (os.environ.get("PREFECT_UI_URL") or os.environ.get("PREFECT_API_URL")):
        return None
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=str(flow_run_id)) or None


def run_key_lock_enabled() -> bool:
    """Whether runs take their run-key lock: MODSWEEP_RUN_KEY_LOCK is on and a Prefect server is configured."""
    return bool(getattr(get_settings(), "run_key_lock", False)) and bool(_api_url())  # field: modsweep/config.py


@contextmanager
def run_key_lock(run_key: str, timeout_seconds: float | None = None) -> Iterator[None]:
    """Hold the global concurrency limit `modsweep-run:<run key>` (limit 1, created on first use) while a run runs.

    Only when enabled (MODSWEEP_RUN_KEY_LOCK, set by infra/start-prefect-server.sh and `modsweep serve`): a killed
    holder's slot is freed only by a server's lease repossessor, about a minute after its lease (60 s, renewed while
    the run lives) expires. An ephemeral API (plain CLI runs, the test harness) runs no such service, so a lock there
    would keep a crashed run's resume waiting forever.
    """
    if not run_key_lock_enabled():
        yield
        return
    from prefect import get_client
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists

    name = f"{RUN_KEY_LIMIT_PREFIX}{run_key}"
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):  # another run may create it first
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    # A lease that fails to renew must not kill a long sweep: re-runs of a key are idempotent anyway.
    with concurrency(
        name,
        occupy=1,
        timeout_seconds=timeout_seconds,
        lease_duration=60,
        strict=True,
        raise_on_lease_renewal_failure=False,
    ):
        yield


def task_runner(address: str | None = None, max_workers: int | None = None) -> TaskRunner:
    """`DaskTaskRunner(address=...)` when a Dask scheduler address is given or set (MODSWEEP_DASK_ADDRESS), else a
    thread pool of `max_workers` (MODSWEEP_MAX_WORKERS)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    settings = get_settings()
    address = address or getattr(settings, "dask_address", None)  # the field is added in modsweep/config.py
    if not address:
        return ThreadPoolTaskRunner(max_workers=max_workers or settings.max_workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise RuntimeError(
            f"a Dask address ({address}) is set but prefect-dask is not installed: "
            "pip install -c constraints.txt -e '.[dask]'"
        ) from exc
    return DaskTaskRunner(address=address)


def main(argv: list[str] | None = None) -> int:
    """`python -m modsweep.serving env|ensure-pool|serve` (used by infra/start-prefect-server.sh)."""
    parser = argparse.ArgumentParser(prog="python -m modsweep.serving", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("env", help="print `export VAR=value` lines for infra/prefect.yaml's placeholders")
    pool = sub.add_parser("ensure-pool", help="create or update the work pool and its queues; prints its name")
    pool.add_argument("--prefect-file", type=Path, default=None)
    serve = sub.add_parser("serve", help="serve the deployments with their schedules until interrupted")
    serve.add_argument("--prefect-file", type=Path, default=None)
    serve.add_argument("--cron", default=None)
    serve.add_argument("--timezone", default=None)
    serve.add_argument("--source", default=None)
    serve.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "env":
        import shlex

        for key, value in deployment_environment().items():
            print(f"export {key}={shlex.quote(value)}")
    elif args.command == "ensure-pool":
        print(ensure_work_pool(args.prefect_file))
    else:
        serve_deployments(
            args.prefect_file, cron=args.cron, timezone=args.timezone, source=args.source, limit=args.limit
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
