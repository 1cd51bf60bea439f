"""Capture every log record of this process (all loggers, any level) and read Prefect's own records of a run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ListHandler(logging.Handler):
    """Keeps every record it sees, formatted with its traceback (exceptions can leak secrets too)."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self._fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        try:
            self.lines.append(self._fmt.format(record))
        except Exception as exc:  # a record that cannot be formatted is itself worth seeing
            self.lines.append(f"{record.name} UNFORMATTABLE {record.msg!r} {record.args!r}: {exc}")

    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def capture_all_logs(level: int = logging.DEBUG, only: tuple[str, ...] = ()) -> Iterator[ListHandler]:
    """Every logger at `level`, one handler on the root and on each logger that does not propagate; with `only`,
    just those loggers and their children (logging every SQL statement at INFO costs seconds per sweep)."""
    # `from prefect import flow` imports prefect.main lazily, and that import re-runs Prefect's logging setup
    # (dictConfig), which would drop the handlers attached here: have it happen first.
    import prefect.main  # noqa: F401

    handler = ListHandler()
    root = logging.getLogger()
    if only:
        loggers = [logging.getLogger(name) for name in only]
        attached = loggers
    else:
        loggers = [root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
        attached = [lg for lg in loggers if lg is root or not lg.propagate]
    old_levels = {lg: lg.level for lg in loggers}
    for lg in loggers:
        lg.setLevel(level)
    for lg in attached:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg in attached:
            lg.removeHandler(handler)
        for lg, old in old_levels.items():
            lg.setLevel(old)


def task_runs(flow_run_id: str, name: str | None = None) -> list[Any]:
    """Prefect's task runs of one flow run (optionally those of one task), from the API."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return [r for r in runs if name is None or r.name.startswith(f"{name}-")]


def prefect_logs(flow_run_id: str) -> list[str]:
    """The log lines Prefect's API holds for one flow run (flow and task runs)."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    lines: list[str] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            page = client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(flow_run_id)])), limit=200, offset=offset
            )
            lines += [f"{log.name} {log.level} {log.message}" for log in page]
            if len(page) < 200:
                return lines
            offset += len(page)
