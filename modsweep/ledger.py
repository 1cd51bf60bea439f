"""The run ledger as a run sees it: start, stage counts, gate results, failure with its stage, finish."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from modsweep import store

StageListener = Callable[[str, str, dict[str, Any]], None]
_listeners: list[StageListener] = []


@contextmanager
def stage_events(listener: StageListener) -> Iterator[None]:
    """Call `listener(event, stage, detail)` while inside: 'enter' (a stage starts, detail {}), 'counts' (its
    counts), 'end' (the run closed; stage = its state, detail {'seconds': per stage}). The CLI's progress display."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _notify(event: str, stage: str, detail: dict[str, Any]) -> None:
    for listener in list(_listeners):
        with suppress(Exception):  # a display must never break a run
            listener(event, stage, detail)


class StageCounts(dict[str, Any]):
    """A stage's counts; `written` once the stage has put any in (an empty update counts: "nothing to redo")."""

    written = False

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.written = True
        super().update(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        self.written = True
        super().__setitem__(key, value)


@dataclass
class RunRecorder:
    """Writes one run's ledger row as the run goes, and mirrors key events into the audit log."""

    engine: Engine
    run_id: str
    run_key: str
    stage: str = "start"
    gates: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    _entered: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, engine: Engine, **fields: Any) -> RunRecorder:
        run_id = store.start_run(engine, **fields)
        store.append_audit(
            engine,
            actor=fields.get("requested_by", "system"),
            event="run.started",
            subject=run_id,
            payload={
                "run_key": fields["run_key"],
                "flow": fields["flow"],
                "trigger": fields["trigger"],
                "policy_sha256": fields["policy_sha256"],
            },
        )
        return cls(engine=engine, run_id=run_id, run_key=fields["run_key"])

    def enter(self, stage: str) -> None:
        """Start a stage; the previous one's wall time is kept for the ledger (`outputs.stage_seconds`)."""
        self._close_stage()
        self.stage = stage
        _notify("enter", stage, {})

    @contextmanager
    def running(self, name: str) -> Iterator[StageCounts]:
        """A stage of the run: entered in the ledger (its wall time kept); counts put into the yielded dict are
        recorded when it ends (even none: a resumed stage that redid nothing says so). A failure inside is
        recorded by the run with this stage (and its partition)."""
        self.enter(name)
        counts = StageCounts()
        yield counts
        if counts.written:
            self.record_counts(name, dict(counts))

    def _close_stage(self) -> None:
        now = time.perf_counter()
        self.seconds[self.stage] = round(self.seconds.get(self.stage, 0.0) + now - self._entered, 3)
        self._entered = now

    def record_counts(self, stage: str, counts: dict[str, Any]) -> None:
        self.counts[stage] = counts
        store.update_run(self.engine, self.run_id, stage_counts={stage: counts})
        _notify("counts", stage, counts)

    def record_gates(self, results: list[dict[str, Any]]) -> None:
        self.gates.extend(results)
        store.update_run(self.engine, self.run_id, gate_results=results)

    def audit(self, event: str, payload: dict[str, Any], actor: str = "system") -> None:
        store.append_audit(self.engine, actor=actor, event=event, subject=self.run_id, payload=payload)

    def update(self, **fields: Any) -> None:
        store.update_run(self.engine, self.run_id, **fields)

    def fail(self, exc: BaseException, partition: str | None = None) -> None:
        error = {
            "stage": self.stage,
            "partition": partition,
            "type": type(exc).__name__,
            "message": str(exc)[:4000],
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
        }
        self._close("failed", {"stage": self.stage, "type": type(exc).__name__}, error=error)

    def cancel(self, reason: str) -> None:
        """The run was stopped from outside (SIGTERM, Ctrl-C): recorded as cancelled; re-running its key resumes."""
        error = {"stage": self.stage, "type": "Cancelled", "message": reason}
        self._close("cancelled", {"stage": self.stage, "reason": reason}, error=error)

    def finish(self, outputs: dict[str, Any]) -> None:
        self._close("completed", {"run_key": self.run_key}, outputs=outputs)

    def _close(
        self,
        state: str,
        payload: dict[str, Any],
        error: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> None:
        """End the run in `state`: its last stage's time kept, the ledger row closed (with the stage seconds in its
        outputs), the audit log told (`run.<state>`, `payload` plus the outputs of a completed run)."""
        self._close_stage()
        outputs = {**(outputs or {}), "stage_seconds": self.seconds}
        store.finish_run(self.engine, self.run_id, state, error=error, outputs=outputs)
        if state == "completed":
            payload = {**payload, "outputs": outputs}
        store.append_audit(self.engine, actor="system", event=f"run.{state}", subject=self.run_id, payload=payload)
        detail: dict[str, Any] = {"seconds": dict(self.seconds)}
        if state != "completed":
            detail["stage"] = self.stage
        _notify("end", state, detail)

    @contextmanager
    def after_finish(self, stage: str) -> Iterator[None]:
        """Time work done once the run is closed (its report shows the final state and end time) as `stage`."""
        t0 = time.perf_counter()
        self.stage = stage
        yield
        seconds = round(time.perf_counter() - t0, 3)
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + seconds, 3)
        store.update_run(self.engine, self.run_id, outputs={"stage_seconds": {stage: self.seconds[stage]}})


def findings_of(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings of a run's latest audit (a re-audit replaces the sweep's own), each with a `text` sentence."""
    if "findings" in (run.get("outputs") or {}):
        return list(run["outputs"]["findings"] or [])
    counts = run.get("stage_counts") or {}
    for stage in ("re_audit", "audit"):
        if isinstance(counts.get(stage), dict) and "findings" in counts[stage]:
            return list(counts[stage]["findings"] or [])
    return []
