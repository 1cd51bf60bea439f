"""Process and machine figures read from /proc: peak RSS (VmHWM) of a process tree, CPU time, load.

Linux only (the benchmark machine). Everything here is cheap enough to call from a sampling thread.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM, VmRSS), in KiB; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size of one process, in KiB."""
    return _status_kib(pid, "VmHWM")


def children(pid: int) -> list[int]:
    """Direct children of a process (every thread's children file)."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    except OSError:
        pass
    return sorted(set(out))


def descendants(pid: int) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        c = todo.pop()
        found.append(c)
        todo += children(c)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def classify(pid: int) -> str:
    """What a descendant of the benchmark process is: a scoring worker, Prefect's API server, or other."""
    cmd = cmdline(pid)
    if "uvicorn" in cmd and "prefect" in cmd:
        return "prefect_server"
    if "resource_tracker" in cmd:
        return "mp_resource_tracker"
    if "multiprocessing" in cmd and "spawn_main" in cmd:
        return "scoring_worker"
    return "other"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (its own threads; not waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    except (OSError, ValueError, IndexError):
        return 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies over every core, from the first line of /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    total = sum(parts[:8])  # without guest time (already counted in user)
    return float(total - idle), float(total)


def load_average() -> tuple[float, float, float]:
    a, b, c = Path("/proc/loadavg").read_text().split()[:3]
    return float(a), float(b), float(c)


def machine() -> dict[str, object]:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown")
    mem_kib = _meminfo_kib("MemTotal")
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "load_average": load_average(),
    }


def _meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def tree_peak_rss(pid: int | None = None) -> dict[str, object]:
    """VmHWM of a process and of each of its live descendants, grouped by kind, in MiB."""
    pid = pid or os.getpid()
    groups: dict[str, list[float]] = {}
    for c in descendants(pid):
        groups.setdefault(classify(c), []).append(round(vm_hwm_kib(c) / 1024, 1))
    parent = round(vm_hwm_kib(pid) / 1024, 1)
    workers = groups.get("scoring_worker", [])
    return {
        "parent_mib": parent,
        "workers_mib": workers,
        "workers_sum_mib": round(sum(workers), 1),
        "parent_plus_workers_mib": round(parent + sum(workers), 1),
        "prefect_server_mib": round(sum(groups.get("prefect_server", [])), 1),
        "other_children_mib": round(sum(groups.get("other", []) + groups.get("mp_resource_tracker", [])), 1),
    }


@dataclass
class Sample:
    t: float  # time.perf_counter()
    machine_busy: float  # jiffies
    machine_total: float
    own_cpu: float  # CPU seconds of this process + scoring workers (+ other live descendants except the API server)
    rss_mib: float  # current RSS of the same set
    server_cpu: float  # CPU seconds of Prefect's API server (a child in ephemeral mode)


@dataclass
class CpuSampler:
    """Samples machine and own-process-tree CPU every `interval` seconds in a daemon thread."""

    interval: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _take(self) -> Sample:
        me = os.getpid()
        kids = descendants(me)
        servers = [c for c in kids if classify(c) == "prefect_server"]
        pids = [me] + [c for c in kids if c not in servers]
        busy, total = machine_cpu()
        return Sample(
            time.perf_counter(),
            busy,
            total,
            sum(cpu_seconds(p) for p in pids),
            sum(_status_kib(p, "VmRSS") for p in pids) / 1024,
            sum(cpu_seconds(p) for p in servers),
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self._take())

    def start(self) -> CpuSampler:
        self.samples.append(self._take())
        self._thread = threading.Thread(target=self._loop, name="bench-cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(self._take())

    def window(self, start: float, end: float) -> dict[str, float] | None:
        """CPU use between two perf_counter times: machine busy share, and cores used by our processes.

        Own CPU counts only live processes: a worker that exited inside the window would be undercounted
        (the scoring pool lives for the whole process, so it does not).
        """
        inside = [s for s in self.samples if start <= s.t <= end]
        before = [s for s in self.samples if s.t < start]
        after = [s for s in self.samples if s.t > end]
        first = before[-1] if before else (inside[0] if inside else None)
        last = after[0] if after else (inside[-1] if inside else None)
        if first is None or last is None or last.t <= first.t:
            return None
        wall = last.t - first.t
        cores = os.cpu_count() or 1
        return {
            "seconds": round(wall, 2),
            "machine_busy_share": round(
                (last.machine_busy - first.machine_busy) / max(last.machine_total - first.machine_total, 1), 3
            ),
            "own_cpu_seconds": round(last.own_cpu - first.own_cpu, 1),
            "server_cpu_seconds": round(last.server_cpu - first.server_cpu, 1),
            "own_cores_used": round((last.own_cpu - first.own_cpu) / wall, 2),
            "own_share_of_cores": round((last.own_cpu - first.own_cpu) / wall / cores, 3),
            "peak_rss_sampled_mib": round(max(s.rss_mib for s in [first, *inside, last]), 1),
        }
