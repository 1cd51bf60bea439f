"""Worker processes for CPU-bound stage bodies, and handing freed memory back to the system.

Ingest, detection and decisions are CPU-bound Python and NumPy; threads would share one interpreter lock, so
their partitions run in a pool of worker processes (started with `spawn`: safe beside Prefect's threads).
The workers import only the module of the bodies they run (`PRELOAD`), not Prefect.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import pyarrow as pa

from modsweep import resources
from modsweep.config import Settings, get_settings

T = TypeVar("T")
PRELOAD = "modsweep.tasks.bodies"  # what every worker imports when it starts (the partition bodies)
SETTINGS_PREFIX = Settings.model_config["env_prefix"]  # settings come from these environment variables

_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_in_flight = 0  # bodies sent to the pool and not yet returned (queued ones included)
_SETTLED = threading.Condition()


def worker_count() -> int:
    """Worker processes of the pool (MODSWEEP_DETECT_PROCESSES, default one per core)."""
    return get_settings().detect_processes or os.cpu_count() or 1


def cpu_pool() -> ProcessPoolExecutor | None:
    """One pool of worker processes per process (None: run bodies in the calling thread)."""
    global _POOL
    n = worker_count()
    if n <= 1 or multiprocessing.current_process().daemon:  # a daemonic process (a Dask worker) may not fork
        return None
    with _POOL_LOCK:
        if _POOL is None:
            # Every worker starts now and imports the bodies while the first stage runs: a spawn pool would start
            # them one per busy submit, and a worker first used late would make its stage wait for that start-up.
            _POOL = ProcessPoolExecutor(
                max_workers=n,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(PRELOAD,),
            )
            for _ in range(n):
                _POOL.submit(int)
        return _POOL


def start_workers() -> None:
    """Start the pool's worker processes now (they import the bodies in the background), so the first stage that
    needs them does not wait for their start-up."""
    keep_large_blocks_in_the_heap()
    cpu_pool()


def _start_worker(module: str) -> None:
    keep_large_blocks_in_the_heap()
    importlib.import_module(module)


def warm_up_workers(fn: Callable[..., object], *args: Any) -> None:
    """Send `fn(*args)` to each worker without waiting: fills a per-process cache (the detector bank) while the
    flow's process works alone (a gate), instead of at the start of the next stage. A failure is not raised here:
    the body that needs the cache meets it again and raises it."""
    pool = cpu_pool()
    if pool is None:
        return
    for _ in range(worker_count()):
        _send(pool, _discard_result, fn, *args)


def _discard_result(fn: Callable[..., object], *args: Any) -> None:
    fn(*args)


def on_cpu(fn: Callable[..., T], *args: Any, when_idle: bool = False) -> T:
    """Run a CPU-bound body in the pool of worker processes, or here when there is none. `when_idle`: work nothing
    else waits for (the radar) is sent only once a worker has nothing to do, so it never queues ahead of the run's
    next stage."""
    global _POOL
    pool = cpu_pool()
    if pool is None:
        return fn(*args)
    if when_idle:
        workers = worker_count()
        with _SETTLED:
            _SETTLED.wait_for(lambda: _in_flight < workers)
    try:
        return _send(pool, fn, *args).result()
    except BrokenProcessPool:  # a worker died (killed, out of memory): the next attempt gets a fresh pool
        with _POOL_LOCK:
            if _POOL is pool:
                _POOL = None
        raise


def _send(pool: ProcessPoolExecutor, fn: Callable[..., T], *args: Any) -> Future[T]:
    """Every body goes to the pool through here, so `_in_flight` counts what the workers have to do (a warm-up
    too), under the sender's settings."""
    global _in_flight
    with _SETTLED:
        _in_flight += 1
    try:
        future = pool.submit(_body_then_release, _settings_env(), fn, *args)
    except BaseException:
        _settled(None)
        raise
    future.add_done_callback(_settled)
    return future


def _settled(_future: Future[Any] | None) -> None:
    global _in_flight
    with _SETTLED:
        _in_flight -= 1
        _SETTLED.notify_all()


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc() if sys.platform.startswith("linux") else None
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_HEAP_BLOCKS_UP_TO = 32 << 20  # glibc's own ceiling for its dynamic threshold on 64-bit


def keep_large_blocks_in_the_heap() -> None:
    """Serve blocks up to 32 MiB (a partition's NumPy arrays) from glibc's heap instead of fresh mmaps.

    glibc maps a block over its dynamic threshold afresh and unmaps it when freed, so every such array a stage
    makes costs its pages' faults again: ≈ 8% of a detection body's CPU, nearly all of its system time. From the
    heap, freed blocks are reused; `release_freed_memory` still hands free heap pages back after each body."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _HEAP_BLOCKS_UP_TO)


def release_freed_memory() -> None:
    """Hand memory freed by a partition back to the system: Arrow's pool and glibc's malloc keep freed pages for
    reuse, so without this a worker's resident size creeps up partition after partition (≈ 200 MiB each)."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _settings_env() -> dict[str, str]:
    """The environment settings are read from (MODSWEEP_*), as this process has it now."""
    return {k: v for k, v in os.environ.items() if k.startswith(SETTINGS_PREFIX)}


def _follow_settings(env: dict[str, str]) -> None:
    """Make a worker read the settings of the process that sent it work: the pool outlives a change of them (tests
    give every run its own MODSWEEP_HOME), so cached settings and handles are dropped when they differ."""
    if _settings_env() == env:
        return
    for key in _settings_env().keys() - env.keys():
        del os.environ[key]
    os.environ.update(env)
    resources.reset()


def _body_then_release(env: dict[str, str], fn: Callable[..., T], *args: Any) -> T:
    """A body in a worker process under the sender's settings, then its freed memory back to the system (module
    level: picklable)."""
    _follow_settings(env)
    return releasing_memory(fn)(*args)


def releasing_memory(fn: Callable[..., T]) -> Callable[..., T]:
    """A body that reads a whole stage in the flow's process: its freed memory goes back to the system when it
    returns, so the next stage's peak does not stack on what the allocator kept."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            release_freed_memory()

    return run
