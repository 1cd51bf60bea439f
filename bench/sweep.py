"""End-to-end benchmark of the daily sweep flow: wall time, peak RSS, stages, orchestration overhead, naive reference.

    make bench         # 100,000, 1,000,000 and 10,000,000 items; overhead ratio at 1,000,000
    make bench-quick   # 100,000 and 1,000,000 items; overhead ratio at 1,000,000
    .venv/bin/python -m bench.sweep --sizes 100000,1000000 --overhead-at 1000000 [--py-spy /tmp/x/bin/py-spy]
    make bench-baseline BASELINE_REF=c1cef94   # the 1M flow of this tree beside that commit's, alternating

`--baseline-ref REF` checks REF out as a git worktree (symlinks give it the installed package's layout) and runs
its own `bench.sweep child` with this `.venv` and `PYTHONPATH=<worktree>`, beside this tree's run of every size;
the side-by-side table compares run time (ledger started_at → ended_at) and peak RSS.

Every measured run is a fresh child process with its own MODSWEEP_HOME (SQLite store, lake) and PREFECT_HOME
(ephemeral API on a fresh SQLite database), so peak RSS (VmHWM from /proc) belongs to that run alone:

* `flow`   — Prefect start-up (the first trivial flow call) timed on its own, then `daily_sweep` timed.
* `direct` — the same stage bodies without Prefect (`bench/direct.py`), for the overhead ratio.
* `naive`  — one Prefect task per item (`detect.detect_partition` on a 1-row frame), extrapolated.
* `breakdown` — detection per detector kind on one partition (`bench.detect_speed._breakdown`).

Synthetic days are generated partition by partition (`write_synthetic_day`, `partition_rows` rows at a time) in
a child process whose peak RSS is reported too. Runs use no simulated reviews, and the removal-approval
ceiling is set out of reach (`MODSWEEP_REMOVAL_CEILING`) so no run pauses for a person.
Results go to stdout, to `bench/RESULTS.md` (overwritten) and to a JSON file beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench import procstats

DAY = date(2026, 11, 23)
TRAIN_DAY = date(2026, 11, 22)
PACK, PROFILE = "community-guidelines", "standard"
REPO = Path(__file__).resolve().parent.parent
RESULTS_MD = REPO / "bench" / "RESULTS.md"
STAGE_ORDER = [
    "start",
    "ingest",
    "gate:items.ingested",
    "detect",
    "gate:detections.scored",
    "decide",
    "gate:decisions.made",
    "approval",
    "store:decisions",
    "sample",
    "gate:review.sampled",
    "review",
    "audit",
    "gate:metrics.audited",
    "report",
]
TARGETS = {
    "wall_1m_s": 60.0,
    "rss_1m_gib": 3.0,
    "scale_10m_time": 11.0,
    "scale_10m_rss": 1.25,
    "overhead": 1.15,
    "gate_share": 0.10,
    "detect_cores": 0.9,
}


# ------------------------------------------------------------------------------------------ child processes


def _child_env(home: Path) -> None:
    os.environ["MODSWEEP_HOME"] = str(home)
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    for key, value in (
        ("PREFECT_LOGGING_LEVEL", "WARNING"),
        ("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
        ("GX_ANALYTICS_ENABLED", "false"),
        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
    ):
        os.environ.setdefault(key, value)


def _timeline_hook() -> list[tuple[str, float]]:
    """Record when each ledger stage starts (RunRecorder.enter) and when the run finishes."""
    from modsweep.ledger import RunRecorder

    marks: list[tuple[str, float]] = []
    enter, finish = RunRecorder.enter, RunRecorder.finish

    def timed_enter(self: Any, stage: str) -> None:
        marks.append((stage, time.perf_counter()))
        enter(self, stage)

    def timed_finish(self: Any, outputs: dict[str, Any]) -> None:
        marks.append(("<finished>", time.perf_counter()))
        finish(self, outputs)

    RunRecorder.enter, RunRecorder.finish = timed_enter, timed_finish  # type: ignore[method-assign]
    return marks


def _stage_window(marks: list[tuple[str, float]], stage: str) -> tuple[float, float] | None:
    for i, (name, t0) in enumerate(marks):
        if name == stage and i + 1 < len(marks):
            return t0, marks[i + 1][1]
    return None


def _stage_timeline(marks: list[tuple[str, float]], sampler: procstats.CpuSampler, t0: float) -> list[list[Any]]:
    """Each ledger stage entry in order: [stage, start (s after the flow call), seconds, cores our processes used]
    (what shows where the cores sit idle)."""
    rows = []
    for (name, start), (_, end) in itertools.pairwise(marks):
        cpu = sampler.window(start, end) if end - start >= 2 * sampler.interval else None
        rows.append([name, round(start - t0, 2), round(end - start, 2), cpu["own_cores_used"] if cpu else None])
    return rows


def _prefect_startup() -> float:
    """The first trivial flow call of this process (starts the ephemeral API on a fresh database)."""
    from prefect import flow

    @flow(name="bench-startup")
    def startup() -> int:
        return 1

    t0 = time.perf_counter()
    startup()
    return time.perf_counter() - t0


def _count_task_runs(flow_run_id: str | None) -> int | None:
    """Task runs the API recorded for the flow run (polled until stable: records arrive as events)."""
    if not flow_run_id:
        return None
    from prefect.client.orchestration import get_client

    last, stable = -1, 0
    with get_client(sync_client=True) as client:
        for _ in range(40):
            resp = client.request("POST", "/task_runs/count", json={"flow_runs": {"id": {"any_": [str(flow_run_id)]}}})
            n = int(resp.json())
            stable = stable + 1 if n == last else 0
            if stable >= 2:
                return n
            last = n
            time.sleep(0.5)
    return last


def child_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """One daily sweep, orchestrated (`flow`) or direct (`direct`), in this fresh process."""
    _child_env(Path(args.home))
    t0 = time.perf_counter()
    from modsweep import resources, store
    from modsweep.config import get_settings

    if args.mode == "flow":
        from modsweep.flows.daily_sweep import daily_sweep
    else:
        from bench.direct import daily_sweep_direct
    import_s = time.perf_counter() - t0
    marks = _timeline_hook()
    sampler = procstats.CpuSampler(interval=args.sample_interval).start()
    startup_s = _prefect_startup() if args.mode == "flow" else None
    settings = get_settings()
    t0 = time.perf_counter()
    if args.mode == "flow":
        summary = daily_sweep(
            day=DAY, source=args.source, pack=PACK, profile=PROFILE, trigger="manual", requested_by="bench"
        )
    else:
        summary = daily_sweep_direct(DAY, args.source, PACK, PROFILE)
    wall = time.perf_counter() - t0
    sampler.stop()
    rss = procstats.tree_peak_rss()
    run = store.get_run(resources.store_engine(), summary.run_id)
    stage_seconds = run["outputs"]["stage_seconds"]
    detect_window = _stage_window(marks, "detect")
    detect_cpu = sampler.window(*detect_window) if detect_window else None
    counts = run["stage_counts"]
    return {
        "mode": args.mode,
        "rows": summary.items_read,
        "processed": summary.items_processed,
        "quarantined": summary.quarantined,
        "partitions": int(run["parameters"].get("source_files", 0)),
        "import_seconds": round(import_s, 2),
        "prefect_startup_seconds": round(startup_s, 2) if startup_s is not None else None,
        "wall_seconds": round(wall, 2),
        "items_per_second": round(summary.items_read / wall, 1),
        "stage_seconds": stage_seconds,
        "detect_cpu": detect_cpu,
        "whole_run_cpu": sampler.window(t0, t0 + wall),
        "timeline": _stage_timeline(marks, sampler, t0),
        "peak_rss": rss,
        "task_runs": _count_task_runs(run.get("prefect_flow_run_id")) if args.mode == "flow" else None,
        "decisions": int(counts.get("decide", {}).get("decisions", 0)),
        "review_tasks": int(counts.get("sample", {}).get("review_tasks", 0)),
        "gates": summary.gates,
        "max_workers": settings.max_workers,
        "detect_processes": settings.detect_processes or os.cpu_count(),
        "load_average_after": procstats.load_average(),
    }


def _first_items_partition(home: Path) -> Path:
    found = sorted((home / "lake" / "items").rglob("part-00000.parquet"))
    if not found:
        raise FileNotFoundError(f"no committed items partition under {home}/lake (run the flow first)")
    return found[0]


def child_naive(args: argparse.Namespace) -> dict[str, Any]:
    """One Prefect task per item over the first `--items` items of a committed partition, and the same calls
    without Prefect; both per item, for extrapolation."""
    _child_env(Path(args.home))
    import pandas as pd
    from prefect import flow, task
    from prefect.cache_policies import NONE as NO_CACHE
    from prefect.task_runners import ThreadPoolTaskRunner

    from modsweep.config import get_settings
    from modsweep.tasks import banks, detect

    items = pd.read_parquet(args.items_partition).head(args.items).reset_index(drop=True)
    bank = banks.detector_bank(PACK, PROFILE)
    detect.detect_partition(items.iloc[[0]], bank, "naive")  # warm caches (model, automaton)
    startup_s = _prefect_startup()

    @task(name="score-one-item", cache_policy=NO_CACHE)
    def score_one_item(row: pd.DataFrame) -> int:
        return len(detect.detect_partition(row, bank, "naive"))

    @flow(name="bench-naive-per-item", task_runner=ThreadPoolTaskRunner(max_workers=get_settings().max_workers))
    def naive(n: int) -> int:
        futures = [score_one_item.submit(items.iloc[[i]]) for i in range(n)]
        return sum(f.result() for f in futures)

    t0 = time.perf_counter()
    found = naive(len(items))
    prefect_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = sum(len(detect.detect_partition(items.iloc[[i]], bank, "naive")) for i in range(len(items)))
    plain_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = len(detect.detect_partition(items, bank, "naive"))
    batch_s = time.perf_counter() - t0
    return {
        "items": len(items),
        "prefect_startup_seconds": round(startup_s, 2),
        "prefect_per_item_seconds": prefect_s,
        "prefect_total_seconds": round(prefect_s, 2),
        "plain_per_item_seconds": plain_s,
        "plain_total_seconds": round(plain_s, 2),
        "batch_seconds": round(batch_s, 3),
        "detections": [found, plain, batch],
        "peak_rss": procstats.tree_peak_rss(),
    }


def child_breakdown(args: argparse.Namespace) -> dict[str, Any]:
    _child_env(Path(args.home))
    from bench.detect_speed import _breakdown

    return _breakdown(Path(args.items_partition))


def child_generate(args: argparse.Namespace) -> dict[str, Any]:
    """A synthetic day written partition by partition (peak RSS shows it streams), or the training set + model."""
    _child_env(Path(args.home))
    from modsweep.tasks.generate import write_synthetic_day

    t0 = time.perf_counter()
    if args.train:
        from modsweep.cli import TEXT_POLICIES
        from modsweep.registry import save_model
        from modsweep.tasks.train import MODEL_NAME, read_synthetic_training_set, train_text_policy_model

        write_synthetic_day(Path(args.source), TRAIN_DAY, args.rows, seed=7, partition_rows=args.partition_rows)
        texts, labels = read_synthetic_training_set(Path(args.source), TEXT_POLICIES)
        result = train_text_policy_model(texts, labels, source="bench")
        save_model(Path(args.home) / "models", MODEL_NAME, result.version, result.model, result.card)
        summary = {"model_version": result.version}
    else:
        s = write_synthetic_day(Path(args.source), DAY, args.rows, seed=42, partition_rows=args.partition_rows)
        summary = {"partitions": s.partitions, "dirty": sum(s.dirty.values())}
    size = sum(f.stat().st_size for f in (Path(args.source) / "items").rglob("*.parquet"))
    return {
        **summary,
        "seconds": round(time.perf_counter() - t0, 2),
        "items_bytes": size,
        "peak_rss_mib": procstats.tree_peak_rss()["parent_mib"],
    }


# ------------------------------------------------------------------------------------------ the orchestrator


class ChildFailed(RuntimeError):
    pass


def _run_child(
    mode: str, timeout: float, log: Path, wrap: list[str] | None = None, tree: Path | None = None, **kw: Any
) -> dict[str, Any]:
    """Run `python -m bench.sweep child --mode MODE ...` in its own session; its JSON result, or ChildFailed.

    `tree`: a checkout of another commit (the baseline) whose code the child runs instead of this tree's.
    """
    out = log.with_suffix(".json")
    cmd = [sys.executable, "-m", "bench.sweep", "child", "--mode", mode, "--out", str(out)]
    for key, value in kw.items():
        if value is True:
            cmd.append(f"--{key.replace('_', '-')}")
        elif value is not None and value is not False:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    cmd = [*(wrap or []), *cmd]
    with log.open("w") as fh:
        env = {**os.environ, "PYTHONPATH": str(tree)} if tree is not None else None
        proc = subprocess.Popen(
            cmd, cwd=tree or REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # the child's own session: its workers and Prefect server
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise ChildFailed(f"{mode} exceeded {timeout:.0f} s (log: {log})") from None
    with contextlib.suppress(ProcessLookupError):  # anything the child left in its session (worker, API server)
        os.killpg(proc.pid, signal.SIGTERM)
    if rc != 0 or not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ChildFailed(f"{mode} exited with {rc} (log: {log}):\n{tail}")
    return json.loads(out.read_text())


def _say(msg: str) -> None:
    print(msg, flush=True)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="modsweep-bench-", dir=args.workdir))
    logs = work / "logs"
    logs.mkdir()
    os.environ.update(
        MODSWEEP_REMOVAL_CEILING=str(10**12),
        MODSWEEP_PARTITION_ROWS=str(args.partition_rows),
        GX_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # A loaded machine can take longer than Prefect's default 20 s to start a child's ephemeral API server.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": args.command or "python -m bench.sweep " + shlex.join(sys.argv[1:]),
        "machine": procstats.machine(),
        "sizes": sizes,
        "partition_rows": args.partition_rows,
        "overhead_at": args.overhead_at,
        "runs": {},
        "generate": {},
        "notes": [],
        "workdir": str(work),
    }
    _say(f"modsweep sweep benchmark — {result['date']} — load average {result['machine']['load_average']}")
    _say(f"work dir {work}")
    models = work / "models-home"
    r = _run_child(
        "generate",
        args.timeout,
        logs / "train.log",
        home=models,
        source=work / "training",
        rows=args.train_rows,
        partition_rows=args.partition_rows,
        train=True,
    )
    _say(f"trained the text model on {args.train_rows:,} synthetic items in {r['seconds']:.1f} s")
    shutil.rmtree(work / "training", ignore_errors=True)
    baseline = None
    try:
        if args.baseline_ref:
            baseline = _baseline_tree(args.baseline_ref, work)
            result["baseline"] = {"ref": args.baseline_ref, "commit": baseline.commit}
            # The baseline trains its own model: a model saved by this tree's code may not load in older code.
            r = _run_child(
                "generate",
                args.timeout,
                logs / "train-baseline.log",
                tree=baseline.path,
                home=baseline.models,
                source=work / "training-baseline",
                rows=args.train_rows,
                partition_rows=args.partition_rows,
                train=True,
            )
            shutil.rmtree(work / "training-baseline", ignore_errors=True)
            _say(
                f"baseline {args.baseline_ref} = {baseline.commit[:12]} checked out in {baseline.path}; "
                f"its model trained in {r['seconds']:.1f} s"
            )
        for size in sizes:
            _bench_size(args, result, work, logs, models, size, baseline)
    finally:
        if baseline is not None:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline.path)],
                capture_output=True,
                check=False,
            )
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


@dataclass(frozen=True)
class Baseline:
    """A checkout of the code to compare with (a `git worktree`), run with this tree's .venv."""

    path: Path
    commit: str
    models: Path


def _baseline_tree(ref: str, work: Path) -> Baseline:
    """`git worktree add` of `ref`, laid out so `PYTHONPATH=<tree>` imports its code as the `modsweep` package.

    The installed package maps `modsweep.flows`/`.tasks`/... onto this tree's top-level folders; inside the
    worktree the same mapping is made with symlinks (the worktree is scratch, removed when the benchmark ends).
    """
    path = work / "baseline-tree"
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit], capture_output=True, check=True
    )
    for folder in ("flows", "tasks", "expectations", "policies"):
        link = path / "modsweep" / folder
        if (path / folder).is_dir() and not link.exists():
            link.symlink_to(Path("..") / folder, target_is_directory=True)
    return Baseline(path=path, commit=commit, models=work / "models-home-baseline")


def ledger_seconds(home: Path) -> float | None:
    """The run's time from its ledger row (started_at → ended_at) in a child's SQLite store."""
    db = home / "modsweep.db"
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT started_at, ended_at FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    if not row or not row[1]:
        return None
    start, end = (datetime.fromisoformat(str(v)) for v in row)
    return round((end - start).total_seconds(), 2)


def _home(work: Path, models: Path, name: str) -> Path:
    home = work / name
    home.mkdir()
    (home / "models").symlink_to(models / "models", target_is_directory=True)
    return home


def _bench_size(
    args: argparse.Namespace,
    result: dict[str, Any],
    work: Path,
    logs: Path,
    models: Path,
    size: int,
    baseline: Baseline | None = None,
) -> None:
    source = work / f"source-{size}"
    gen = _run_child(
        "generate",
        args.timeout,
        logs / f"generate-{size}.log",
        home=models,
        source=source,
        rows=size,
        partition_rows=args.partition_rows,
    )
    result["generate"][str(size)] = gen
    _say(
        f"\n== {size:,} items: generated {gen['partitions']} partitions ({gen['items_bytes'] / 2**20:,.0f} MiB) in "
        f"{gen['seconds']:.1f} s, generator peak RSS {gen['peak_rss_mib']:,.0f} MiB"
    )
    runs = result["runs"].setdefault(str(size), {})
    modes = ["flow", "direct"] if size == args.overhead_at else ["flow"]
    if baseline is not None:  # side by side, baseline first, alternating when repeated
        modes = ["baseline", *modes]
    if args.profile_only:
        modes = []
    for i in range(args.repeat if size == args.overhead_at or baseline is not None else 1):
        for mode in modes:
            load = procstats.load_average()
            _say(f"   {mode} run ... (load average {load})")
            is_base = mode == "baseline"
            home = _home(work, baseline.models if is_base else models, f"home-{mode}-{size}-{i}")  # type: ignore[union-attr]
            try:
                r = _run_child(
                    "flow" if is_base else mode,
                    args.timeout,
                    logs / f"{mode}-{size}-{i}.log",
                    home=home,
                    tree=baseline.path if is_base else None,
                    source=source / "items",  # type: ignore[union-attr]
                    sample_interval=args.sample_interval,
                )
                r["mode"] = mode
                r["ledger_seconds"] = ledger_seconds(home)
            except ChildFailed as exc:
                _say(f"   {mode} run FAILED: {exc}")
                runs.setdefault(mode, []).append({"error": str(exc)})
                result["notes"].append(f"{size:,} items, {mode}: {str(exc).splitlines()[0]}")
                continue
            r["load_average_before"] = load
            runs.setdefault(mode, []).append(r)
            _print_run(size, r)
            if mode == "flow" and i == 0 and size == min(result["sizes"]) and not args.skip_side:
                _side_measurements(args, result, logs, home)
            if not args.keep and not (mode == "flow" and args.py_spy and size == args.profile_at):
                shutil.rmtree(home, ignore_errors=True)
    if args.py_spy and size == args.profile_at:
        _profile(args, result, work, logs, models, source, size)
    if not args.keep:
        shutil.rmtree(source, ignore_errors=True)


def _side_measurements(args: argparse.Namespace, result: dict[str, Any], logs: Path, home: Path) -> None:
    part = _first_items_partition(home)
    try:
        result["breakdown"] = _run_child(
            "breakdown", args.timeout, logs / "breakdown.log", home=home, items_partition=part
        )
        _say(f"   detection per detector kind (one partition of {int(result['breakdown']['rows']):,} rows) done")
    except ChildFailed as exc:
        result["notes"].append(f"breakdown: {str(exc).splitlines()[0]}")
    if args.naive_items:
        try:
            n = _run_child(
                "naive", args.timeout, logs / "naive.log", home=home, items_partition=part, items=args.naive_items
            )
            result["naive"] = n
            _say(
                f"   naive per-item tasks: {n['items']:,} items in {n['prefect_total_seconds']:.1f} s with Prefect, "
                f"{n['plain_total_seconds']:.1f} s as plain calls, {n['batch_seconds']:.2f} s as one batch"
            )
        except ChildFailed as exc:
            result["notes"].append(f"naive: {str(exc).splitlines()[0]}")


def _profile(
    args: argparse.Namespace, result: dict[str, Any], work: Path, logs: Path, models: Path, source: Path, size: int
) -> None:
    """One more flow run under py-spy (all processes); top functions by own and by inclusive samples."""
    home = _home(work, models, f"home-profile-{size}")
    raw = work / "profile.txt"
    wrap = [args.py_spy, "record", "--subprocesses", "--rate", "50", "--format", "raw", "--output", str(raw), "--"]
    _say(f"   profiled flow run under py-spy ... (load average {procstats.load_average()})")
    try:
        r = _run_child(
            "flow",
            args.timeout * 1.5,
            logs / f"profile-{size}.log",
            wrap=wrap,
            home=home,
            source=source / "items",
            sample_interval=args.sample_interval,
        )
    except ChildFailed as exc:
        result["notes"].append(f"profile: {str(exc).splitlines()[0]}")
        return
    time.sleep(2)  # py-spy writes its output after the child exits
    if raw.exists():
        result["profile"] = {"size": size, "wall_seconds_under_profiler": r["wall_seconds"], **summarise_profile(raw)}
        if args.keep_profile:
            shutil.copy(raw, Path(args.keep_profile_to or work.parent) / f"modsweep-profile-{size}.txt")
    else:
        result["notes"].append("profile: py-spy wrote no output (ptrace not permitted?)")


def summarise_profile(raw: Path, top: int = 40) -> dict[str, Any]:
    """py-spy raw (collapsed) stacks → top functions by own samples and by inclusive samples, per process kind."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    by_process: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # With --subprocesses every stack starts with its process ancestry, `process PID:"cmdline";` per level
        # (a cmdline may hold ';'): the innermost level says which process the sample is from.
        procs = _PROCESS_FRAME.findall(stack)
        stack = _PROCESS_FRAME.sub("", stack)
        head = procs[-1] if procs else ""
        proc = "worker" if "spawn_main" in head else "prefect_server" if "uvicorn" in head else "parent"
        frames = [f for f in stack.split(";") if f]
        if frames and frames[0].startswith("thread "):
            frames.pop(0)
        if proc == "prefect_server":
            by_process[proc] = by_process.get(proc, 0) + n
            continue
        if not frames or any("bench-cpu-sampler" in f or "procstats.py" in f for f in frames):
            continue  # the benchmark's own sampling thread
        names = [_frame_name(f) for f in frames]
        if _is_idle(names[-1]):
            by_process[proc + " (waiting)"] = by_process.get(proc + " (waiting)", 0) + n
            continue
        total += n
        by_process[proc] = by_process.get(proc, 0) + n
        key = f"[{proc}] {names[-1]}"
        own[key] = own.get(key, 0) + n
        for name in set(names):
            k = f"[{proc}] {name}"
            incl[k] = incl.get(k, 0) + n

    def ranked(d: dict[str, int]) -> list[tuple[str, int, float]]:
        return [(k, v, round(v / max(total, 1), 4)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "by_process": by_process, "own": ranked(own), "inclusive": ranked(incl)}


_PROCESS_FRAME = re.compile(r'process \d+:"(.*?)";')


def _frame_name(frame: str) -> str:
    """`func (path/to/module.py:123)` → `func (module.py)`; keeps the last two path parts for modsweep files."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = (
        "/".join(parts[-2:]) if any(p in ("tasks", "modsweep", "flows", "bench") for p in parts[-2:-1]) else parts[-1]
    )
    return f"{name} ({short})"


def _is_idle(name: str) -> bool:
    return any(
        s in name
        for s in (
            "wait (threading.py)",
            "_wait_for_tstate_lock",
            "select (selectors.py)",
            "poll (selectors.py)",
            "acquire",
            "sleep",
            "result (_base.py)",
            "_recv (connection.py)",
            "recv_bytes",
            "get (queue.py)",
            "epoll",
        )
    )


# ------------------------------------------------------------------------------------------ reporting


def _flow(result: dict[str, Any], size: int) -> dict[str, Any] | None:
    runs = [r for r in result["runs"].get(str(size), {}).get("flow", []) if "error" not in r]
    return runs[0] if runs else None


def _direct(result: dict[str, Any], size: int) -> dict[str, Any] | None:
    runs = [r for r in result["runs"].get(str(size), {}).get("direct", []) if "error" not in r]
    return runs[0] if runs else None


def _gib(mib: float) -> str:
    return f"{mib / 1024:.2f} GiB"


def _gate_seconds(r: dict[str, Any]) -> float:
    return sum(v for k, v in r["stage_seconds"].items() if k.startswith("gate:"))


def _stage_total(r: dict[str, Any]) -> float:
    return sum(r["stage_seconds"].values())


def _overhead(result: dict[str, Any]) -> tuple[float, dict[str, Any], dict[str, Any]] | None:
    size = result["overhead_at"]
    flows = [r for r in result["runs"].get(str(size), {}).get("flow", []) if "error" not in r]
    directs = [r for r in result["runs"].get(str(size), {}).get("direct", []) if "error" not in r]
    if not flows or not directs:
        return None
    f = min(flows, key=lambda r: r["wall_seconds"])
    d = min(directs, key=lambda r: r["wall_seconds"])
    return f["wall_seconds"] / d["wall_seconds"], f, d


def assess(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, figure, met?, comment) for every target that has a measurement."""
    out = []
    r1 = _flow(result, 1_000_000)
    if r1:
        out.append(
            (
                "1M end to end ≤ 60 s wall (Prefect start-up excluded)",
                f"{r1['wall_seconds']:.1f} s",
                _met(r1["wall_seconds"] <= TARGETS["wall_1m_s"]),
                "",
            )
        )
        rss = r1["peak_rss"]["parent_plus_workers_mib"]
        out.append(
            (
                "1M peak RSS ≤ 3 GiB (parent + scoring workers)",
                _gib(rss),
                _met(rss <= TARGETS["rss_1m_gib"] * 1024),
                f"Prefect API server adds {r1['peak_rss']['prefect_server_mib']:,.0f} MiB",
            )
        )
    r10 = _flow(result, 10_000_000)
    if r1 and r10:
        ratio = r10["wall_seconds"] / r1["wall_seconds"]
        out.append(
            (
                "10M time ≤ 11× the 1M time",
                f"{ratio:.2f}×",
                _met(ratio <= TARGETS["scale_10m_time"]),
                f"{r10['wall_seconds']:.0f} s vs {r1['wall_seconds']:.1f} s",
            )
        )
        rr = r10["peak_rss"]["parent_plus_workers_mib"] / r1["peak_rss"]["parent_plus_workers_mib"]
        out.append(
            (
                "10M peak RSS ≤ 1.25× the 1M peak",
                f"{rr:.2f}×",
                _met(rr <= TARGETS["scale_10m_rss"]),
                f"{_gib(r10['peak_rss']['parent_plus_workers_mib'])} vs {_gib(r1['peak_rss']['parent_plus_workers_mib'])}",
            )
        )
    elif r1 and 10_000_000 in result["sizes"]:
        out.append(("10M time ≤ 11× / RSS ≤ 1.25× the 1M figures", "no 10M figure", "not measured", "see notes"))
    ov = _overhead(result)
    if ov:
        ratio, f, d = ov
        out.append(
            (
                f"orchestration overhead ≤ 1.15× (flow / direct, {result['overhead_at']:,} items)",
                f"{ratio:.3f}×",
                _met(ratio <= TARGETS["overhead"]),
                f"{f['wall_seconds']:.1f} s vs {d['wall_seconds']:.1f} s",
            )
        )
    for size in result["sizes"]:
        r = _flow(result, size)
        if r is None:
            continue
        share = _gate_seconds(r) / _stage_total(r)
        out.append(
            (
                f"gates ≤ 10% of the run ({size:,})",
                f"{share:.1%}",
                _met(share <= TARGETS["gate_share"]),
                f"{_gate_seconds(r):.1f} s of {_stage_total(r):.1f} s",
            )
        )
    for size in result["sizes"]:
        r = _flow(result, size)
        if r is None or not r.get("detect_cpu"):
            continue
        c = r["detect_cpu"]
        out.append(
            (
                f"both cores busy during detect ({size:,})",
                f"{c['own_cores_used']:.2f} of {result['machine']['cores']} cores",
                _met(c["own_share_of_cores"] >= TARGETS["detect_cores"]),
                f"machine busy {c['machine_busy_share']:.0%} over {c['seconds']:.1f} s",
            )
        )
    return out + _baseline_targets(result)


def _baseline_targets(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = []
    for size in result["sizes"]:
        pair = _pair(result, size) if result.get("baseline") else None
        if pair is None:
            continue
        base, cur = pair
        drop = 1 - cur["ledger_seconds"] / base["ledger_seconds"]
        out.append(
            (
                f"run time ≥ 30% lower than {result['baseline']['ref']} ({size:,})",
                f"{drop:.1%} lower",
                _met(drop >= 0.30),
                f"{cur['ledger_seconds']:.1f} s vs {base['ledger_seconds']:.1f} s",
            )
        )
        x, y = base["peak_rss"]["parent_plus_workers_mib"], cur["peak_rss"]["parent_plus_workers_mib"]
        out.append(
            (
                f"peak RSS no higher than {result['baseline']['ref']} ({size:,})",
                f"{y:,.0f} vs {x:,.0f} MiB",
                _met(y <= x),
                "parent + scoring workers",
            )
        )
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    la = ", ".join(f"{x:.2f}" for x in m["load_average"])
    lines = [
        "# Sweep benchmark results",
        "",
        "How to read this: each column is one fresh process running the `daily-sweep` Prefect flow on a synthetic day "
        f"generated partition by partition ({result['partition_rows']:,} rows per partition), with its own store, lake and "
        "ephemeral Prefect API. *Wall* is the flow call alone; Prefect start-up (the first trivial flow call of a fresh "
        "process: API server start and database migrations) is shown on its own line and excluded. *Peak RSS* is VmHWM from "
        "/proc for the flow process and each scoring worker (the Prefect API server is a separate child, listed apart). "
        "Stage seconds come from the run ledger (`outputs.stage_seconds`). The overhead ratio compares the flow with the "
        "same stage bodies called directly (`bench/direct.py`). Runs use no simulated reviews and an unreachable removal "
        "ceiling (no approval pause). Figures come from a single run on a shared machine, so read them as orders of "
        "magnitude, with the load average as context. "
        "The file is overwritten by every `make bench` / `make bench-quick`; the JSON beside it holds every figure.",
        "",
        f"- date: {result['date']}",
        f"- command: `{result['command']}`",
        f"- machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu_model']}; load average at start {la}",
        "",
    ]
    sizes = [s for s in result["sizes"] if _flow(result, s)]
    if sizes:
        head = "| | " + " | ".join(f"{s:,}" for s in sizes) + " |"
        lines += ["## End to end (daily-sweep flow)", "", head, "|---" * (len(sizes) + 1) + "|"]

        def row(label: str, fn: Any) -> None:
            lines.append(f"| {label} | " + " | ".join(fn(_flow(result, s)) for s in sizes) + " |")

        row("partitions", lambda r: str(r["partitions"]))
        row("wall (s)", lambda r: f"{r['wall_seconds']:.1f}")
        row("items/s", lambda r: f"{r['items_per_second']:,.0f}")
        row("Prefect start-up (s, excluded)", lambda r: f"{r['prefect_startup_seconds']:.1f}")
        row("peak RSS parent (MiB)", lambda r: f"{r['peak_rss']['parent_mib']:,.0f}")
        row(
            "peak RSS scoring workers (MiB)",
            lambda r: " + ".join(f"{w:,.0f}" for w in r["peak_rss"]["workers_mib"]) or "–",
        )
        row("peak RSS parent + workers (MiB)", lambda r: f"{r['peak_rss']['parent_plus_workers_mib']:,.0f}")
        row("peak RSS Prefect API server (MiB)", lambda r: f"{r['peak_rss']['prefect_server_mib']:,.0f}")
        row("task runs (Prefect API)", lambda r: str(r["task_runs"]))
        row(
            "detect: cores used (of 2)",
            lambda r: f"{r['detect_cpu']['own_cores_used']:.2f}" if r.get("detect_cpu") else "–",
        )
        row(
            "detect: machine busy",
            lambda r: f"{r['detect_cpu']['machine_busy_share']:.0%}" if r.get("detect_cpu") else "–",
        )
        row(
            "whole run: cores used",
            lambda r: f"{r['whole_run_cpu']['own_cores_used']:.2f}" if r.get("whole_run_cpu") else "–",
        )
        row("CPU seconds: flow process + workers", lambda r: _cpu_cell(r, "own_cpu_seconds"))
        row("CPU seconds: Prefect API server", lambda r: _cpu_cell(r, "server_cpu_seconds"))
        row("gate share", lambda r: f"{_gate_seconds(r) / _stage_total(r):.1%}")
        row("decisions", lambda r: f"{r['decisions']:,}")
        row("load average after", lambda r: ", ".join(f"{x:.1f}" for x in r["load_average_after"]))
        gens = result["generate"]
        lines.append(
            "| generation (s, not in wall) | " + " | ".join(f"{gens[str(s)]['seconds']:.0f}" for s in sizes) + " |"
        )
        lines.append(
            "| generator peak RSS (MiB) | " + " | ".join(f"{gens[str(s)]['peak_rss_mib']:,.0f}" for s in sizes) + " |"
        )
        lines += ["", "## Stages (seconds, from the ledger)", "", head, "|---" * (len(sizes) + 1) + "|"]
        stages = [s for s in STAGE_ORDER if any(s in _flow(result, z)["stage_seconds"] for z in sizes)]
        stages += sorted({k for z in sizes for k in _flow(result, z)["stage_seconds"]} - set(stages))
        for st in stages:
            lines.append(
                f"| {st} | "
                + " | ".join(
                    _cell(_flow(result, z)["stage_seconds"].get(st), _stage_total(_flow(result, z))) for z in sizes
                )
                + " |"
            )
        lines.append("| **total** | " + " | ".join(f"{_stage_total(_flow(result, z)):.1f}" for z in sizes) + " |")
    ov = _overhead(result)
    if ov:
        ratio, f, d = ov
        lines += [
            "",
            f"## Orchestration overhead ({result['overhead_at']:,} items)",
            "",
            "| | flow | direct | flow − direct |",
            "|---|---|---|---|",
            f"| wall (s) | {f['wall_seconds']:.1f} | {d['wall_seconds']:.1f} | {f['wall_seconds'] - d['wall_seconds']:+.1f} |",
        ]
        for st in [s for s in STAGE_ORDER if s in f["stage_seconds"] or s in d["stage_seconds"]]:
            a, b = f["stage_seconds"].get(st, 0.0), d["stage_seconds"].get(st, 0.0)
            lines.append(f"| {st} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
        lines.append(
            f"| peak RSS parent + workers (MiB) | {f['peak_rss']['parent_plus_workers_mib']:,.0f} | "
            f"{d['peak_rss']['parent_plus_workers_mib']:,.0f} | |"
        )
        lines.append(
            f"| CPU seconds, own processes (API server) | {_cpu_cell(f, 'own_cpu_seconds')} "
            f"({_cpu_cell(f, 'server_cpu_seconds')}) | {_cpu_cell(d, 'own_cpu_seconds')} | |"
        )
        lines += ["", f"Ratio flow / direct (wall): **{ratio:.3f}×**."]
        cpu_f, cpu_d = _cpu(f, "own_cpu_seconds"), _cpu(d, "own_cpu_seconds")
        if cpu_f and cpu_d:
            lines.append(
                f"In CPU seconds, less sensitive to other load on the machine: {cpu_f / cpu_d:.3f}× for the flow "
                f"process and workers, {(cpu_f + (_cpu(f, 'server_cpu_seconds') or 0)) / cpu_d:.3f}× with the "
                "Prefect API server counted too."
            )
        all_runs = result["runs"][str(result["overhead_at"])]
        if len(all_runs.get("flow", [])) > 1:
            lines.append(
                "All runs (s): flow "
                + ", ".join(f"{r['wall_seconds']:.1f}" for r in all_runs["flow"] if "error" not in r)
                + "; direct "
                + ", ".join(f"{r['wall_seconds']:.1f}" for r in all_runs.get("direct", []) if "error" not in r)
                + " (the fastest of each is compared)."
            )
    n = result.get("naive")
    if n:
        per_p = n["prefect_per_item_seconds"] / n["items"]
        per_plain = n["plain_per_item_seconds"] / n["items"]
        lines += [
            "",
            f"## Naive reference: one Prefect task per item ({n['items']:,} items, measured; larger sizes extrapolated)",
            "",
            "| | per item | 1,000,000 items | 10,000,000 items |",
            "|---|---|---|---|",
            f"| one Prefect task per item (thread pool of {_flow(result, min(result['sizes']))['max_workers'] if _flow(result, min(result['sizes'])) else '?'}) | "
            f"{per_p * 1e3:.1f} ms | {_dur(per_p * 1e6)} | {_dur(per_p * 1e7)} |",
            f"| the same per-item calls without Prefect | {per_plain * 1e3:.1f} ms | {_dur(per_plain * 1e6)} | {_dur(per_plain * 1e7)} |",
            f"| one batch of {n['items']:,} (`detect_partition`) | {n['batch_seconds'] / n['items'] * 1e3:.3f} ms | | |",
        ]
        for z in (1_000_000, 10_000_000):
            r = _flow(result, z)
            if r:
                lines.append(
                    f"\nThe batch design's whole sweep at {z:,} items: {r['wall_seconds']:.0f} s, "
                    f"{per_p * z / r['wall_seconds']:,.0f}× faster than the naive per-item tasks' detection alone."
                )
    b = result.get("breakdown")
    if b:
        total = sum(v for k, v in b.items() if k != "rows")
        lines += [
            "",
            f"## Detection per detector kind (one partition of {int(b['rows']):,} rows, one process)",
            "",
            "| step | seconds | share |",
            "|---|---|---|",
        ]
        for k, v in sorted(((k, v) for k, v in b.items() if k != "rows"), key=lambda kv: -kv[1]):
            lines.append(f"| {k} | {v:.2f} | {v / total:.1%} |")
    p = result.get("profile")
    if p:
        lines += [
            "",
            f"## Profile of a {p['size']:,}-item flow run (py-spy, every process, 50 Hz; "
            f"{p['wall_seconds_under_profiler']:.0f} s wall under the profiler)",
            "",
            "Samples by process: " + ", ".join(f"{k} {v:,}" for k, v in sorted(p["by_process"].items())),
            "",
            "| function (own time, not waiting) | samples | share of busy samples |",
            "|---|---|---|",
        ]
        lines += [f"| `{k}` | {v:,} | {s:.1%} |" for k, v, s in p["own"][:15]]
    lines += _side_by_side_lines(result)
    lines += ["", "## Targets", "", "| target | figure | | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b_} | {c} | {d} |" for a, b_, c, d in assess(result)]
    if result["notes"]:
        lines += ["", "## Notes", ""] + [f"- {x}" for x in result["notes"]]
    return "\n".join(lines) + "\n"


def _pair(result: dict[str, Any], size: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The fastest (ledger start → end) baseline and current flow runs of one size, if both ran."""
    runs = result["runs"].get(str(size), {})
    base = [r for r in runs.get("baseline", []) if "error" not in r and r.get("ledger_seconds")]
    cur = [r for r in runs.get("flow", []) if "error" not in r and r.get("ledger_seconds")]
    if not base or not cur:
        return None
    return min(base, key=lambda r: r["ledger_seconds"]), min(cur, key=lambda r: r["ledger_seconds"])


def _side_by_side_lines(result: dict[str, Any]) -> list[str]:
    b = result.get("baseline")
    if not b:
        return []
    lines = [
        "",
        f"## Against the baseline {b['ref']} ({b['commit'][:12]}), side by side in this invocation",
        "",
        "Alternating runs (baseline first) of the same generated day, each a fresh process with its own store; "
        "run time is the ledger's started_at → ended_at; the fastest run of each side is compared.",
        "",
        "| size | | baseline | this tree | change |",
        "|---|---|---|---|---|",
    ]
    for size in result["sizes"]:
        pair = _pair(result, size)
        if pair is None:
            continue
        base, cur = pair
        figures = [
            ("run time, ledger start → end (s)", base["ledger_seconds"], cur["ledger_seconds"]),
            ("flow call wall (s)", base["wall_seconds"], cur["wall_seconds"]),
            (
                "peak RSS parent + workers (MiB)",
                base["peak_rss"]["parent_plus_workers_mib"],
                cur["peak_rss"]["parent_plus_workers_mib"],
            ),
            ("peak RSS parent (MiB)", base["peak_rss"]["parent_mib"], cur["peak_rss"]["parent_mib"]),
            # CPU seconds depend less on what else the machine runs than wall time does (a loaded machine's figure)
            ("CPU s, flow process + workers", _own_cpu(base), _own_cpu(cur)),
            ("decisions", base["decisions"], cur["decisions"]),
            ("review tasks", base["review_tasks"], cur["review_tasks"]),
        ]
        for label, x, y in figures:
            lines.append(f"| {size:,} | {label} | {x:,.1f} | {y:,.1f} | {(y - x) / x:+.1%} |")
        for st in sorted(set(base["stage_seconds"]) | set(cur["stage_seconds"]), key=_stage_rank):
            x, y = base["stage_seconds"].get(st), cur["stage_seconds"].get(st)
            lines.append(
                f"| {size:,} | stage {st} (s) | {'–' if x is None else f'{x:.2f}'} | "
                f"{'–' if y is None else f'{y:.2f}'} | |"
            )
        runs = result["runs"][str(size)]
        lines.append(
            f"| {size:,} | all runs, ledger s (load average before) | "
            + ", ".join(
                f"{r['ledger_seconds']:.1f} ({r['load_average_before'][0]:.1f})"
                for r in runs["baseline"]
                if "error" not in r
            )
            + " | "
            + ", ".join(
                f"{r['ledger_seconds']:.1f} ({r['load_average_before'][0]:.1f})"
                for r in runs["flow"]
                if "error" not in r
            )
            + " | |"
        )
    return lines


def _own_cpu(run: dict[str, Any]) -> float:
    """CPU seconds our processes used over the flow call (NaN where the sampler saw too little)."""
    return float((run.get("whole_run_cpu") or {}).get("own_cpu_seconds", float("nan")))


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def _cpu(r: dict[str, Any], key: str) -> float | None:
    cpu = r.get("whole_run_cpu") or {}
    return cpu.get(key)


def _cpu_cell(r: dict[str, Any], key: str) -> str:
    v = _cpu(r, key)
    return "–" if v is None else f"{v:,.0f}"


def _cell(v: float | None, total: float) -> str:
    return "–" if v is None else f"{v:.2f} ({v / total:.0%})"


def _dur(seconds: float) -> str:
    return (
        f"{seconds / 3600:.1f} h"
        if seconds >= 3600
        else f"{seconds / 60:.1f} min"
        if seconds >= 60
        else f"{seconds:.1f} s"
    )


def _print_run(size: int, r: dict[str, Any]) -> None:
    rss = r["peak_rss"]
    cpu = r.get("detect_cpu") or {}
    startup = (
        f", Prefect start-up {r['prefect_startup_seconds']:.1f} s (excluded)"
        if r["prefect_startup_seconds"] is not None
        else ""
    )
    _say(
        f"   {r['mode']}: {r['rows']:,} items in {r['wall_seconds']:.1f} s = {r['items_per_second']:,.0f} items/s{startup}"
    )
    _say(
        f"   peak RSS: parent {rss['parent_mib']:,.0f} MiB + workers {rss['workers_mib']} = {rss['parent_plus_workers_mib']:,.0f} MiB"
        f" (Prefect API server {rss['prefect_server_mib']:,.0f} MiB); task runs {r['task_runs']}"
    )
    if cpu:
        _say(
            f"   detect: {cpu['own_cores_used']:.2f} cores used, machine {cpu['machine_busy_share']:.0%} busy over {cpu['seconds']:.1f} s"
        )
    total = sum(r["stage_seconds"].values())
    top = sorted(r["stage_seconds"].items(), key=lambda kv: -kv[1])[:6]
    _say("   stages: " + ", ".join(f"{k} {v:.1f} s ({v / total:.0%})" for k, v in top))
    if r.get("timeline"):
        _say(
            "   timeline (stage @start +seconds ×cores): "
            + ", ".join(
                f"{n} @{a:.1f} +{d:.1f}" + (f" ×{c:.2f}" if c is not None else "") for n, a, d, c in r["timeline"]
            )
        )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return _child_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="comma-separated item counts")
    parser.add_argument("--overhead-at", type=int, default=1_000_000, help="size of the flow vs direct comparison")
    parser.add_argument("--repeat", type=int, default=1, help="flow/direct pairs at --overhead-at (fastest compared)")
    parser.add_argument("--partition-rows", type=int, default=100_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--naive-items", type=int, default=2_000, help="0 skips the naive reference")
    parser.add_argument("--timeout", type=float, default=25 * 60, help="seconds per child run before it is stopped")
    parser.add_argument("--sample-interval", type=float, default=0.25)
    parser.add_argument("--py-spy", default=None, help="path to py-spy: profile one more flow run at --profile-at")
    parser.add_argument("--profile-at", type=int, default=1_000_000)
    parser.add_argument("--keep-profile", action="store_true", help="copy the raw py-spy stacks to bench/")
    parser.add_argument("--profile-only", action="store_true", help="with --py-spy: only the profiled run")
    parser.add_argument("--keep-profile-to", default=None, help="folder for the raw stacks (default: system temp)")
    parser.add_argument("--workdir", default=None, help="parent of the temporary work dir (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (data, stores, logs)")
    parser.add_argument("--results", default=str(RESULTS_MD), help="Markdown file to overwrite ('' to skip)")
    parser.add_argument("--command", default=None, help="the command to record in the results (e.g. make bench)")
    parser.add_argument(
        "--baseline-ref",
        default=None,
        help="also run the flow of this git ref (a worktree, same .venv) beside this tree's, per size",
    )
    parser.add_argument("--skip-side", action="store_true", help="no detector breakdown or naive reference")
    args = parser.parse_args(argv)
    result = run_benchmark(args)
    text = render(result)
    _say("\n" + text)
    if args.results:
        Path(args.results).write_text(text, encoding="utf-8")
        Path(args.results).with_suffix(".json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
        _say(f"written {args.results}")


def _child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True, choices=["flow", "direct", "naive", "breakdown", "generate"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--source")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--partition-rows", type=int, default=100_000)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--items-partition")
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--sample-interval", type=float, default=0.25)
    args = parser.parse_args(argv)
    fn = {
        "flow": child_sweep,
        "direct": child_sweep,
        "naive": child_naive,
        "breakdown": child_breakdown,
        "generate": child_generate,
    }[args.mode]
    result = fn(args)
    Path(args.out).write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
