"""`modsweep approve RUN`: answer a run whose automated removals exceed MODSWEEP_REMOVAL_CEILING.

Two cases. A run that stopped holding them (no Prefect server could take an answer): the answer is recorded
(audit log `removals.approval.answer`, with who gave it, and the held run's ledger row), then the run's key is
re-run here; it resumes from what the lake holds and the approval stage applies the answer. A run paused on a
Prefect server: the answer resumes that flow run through Prefect's API.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from modsweep.cli_common import console, engine, fail

HELD_ERROR = "ApprovalRequired"


def approve_command(run: str, by: str, reject: bool, note: str) -> Any:
    """Record the answer and complete the run (returns the resumed run's summary, or None when a paused flow
    run on a server was resumed)."""
    from modsweep import store
    from modsweep.tasks.pipeline import APPROVAL_ANSWER_EVENT

    if not by.strip():
        raise fail("--by: say who decides (recorded in the ledger and the audit log)")
    try:
        record = store.get_run(engine(), run)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if record is None:
        raise fail(f"no run matches {run!r}; `modsweep history --state failed` lists runs holding removals")
    answer = {"approve": not reject, "approver": by, "note": note}
    if record["state"] == "running" and _paused_on_server(record.get("prefect_flow_run_id")):
        from prefect.flow_runs import resume_flow_run

        resume_flow_run(record["prefect_flow_run_id"], run_input=answer)
        console.print(
            f"run {record['run_id']}: answer sent ({'apply' if answer['approve'] else 'send to review'}); "
            "its flow run resumes on the server"
        )
        return None
    if (record.get("error") or {}).get("type") != HELD_ERROR:
        raise fail(f"run {record['run_id']} is {record['state']} and holds no removals awaiting approval")
    payload = {"approve": answer["approve"], "note": note, "run_id": record["run_id"]}
    store.append_audit(engine(), actor=by, event=APPROVAL_ANSWER_EVENT, subject=record["run_key"], payload=payload)
    store.update_run(engine(), record["run_id"], outputs={"approval": {"pending": False, "answer": answer}})
    verb = "applying the held removals" if answer["approve"] else "sending the held removals to human review"
    console.print(f"run {record['run_id']}: answer by {by} recorded; {verb} and completing the run")
    return resume_run(record)


def _paused_on_server(flow_run_id: str | None) -> bool:
    """Whether the flow run is paused on a Prefect server this process can reach (never the ephemeral API)."""
    from prefect.settings import PREFECT_API_URL

    if not flow_run_id or not PREFECT_API_URL.value():
        return False
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state is not None and state.is_paused()


def resume_run(record: dict[str, Any]) -> Any:
    """Run the recorded run's key again with its parameters (the lake's committed stages are reused)."""
    p = record["parameters"]
    common = {
        "source": p["source"],
        "pack": p["pack"],
        "profile": p["profile"],
        "requested_by": record["requested_by"],
        "simulate_reviews_from": p.get("simulate_reviews_from"),
        "golden_set_from": p.get("golden_set_from"),
    }
    if record["flow"] == "daily-sweep":
        from modsweep.flows.daily_sweep import daily_sweep

        return daily_sweep(day=date.fromisoformat(p["day"]), trigger=record["trigger"], **common)
    if record["flow"] == "surge-run":
        from modsweep.flows.surge_run import surge_run

        return surge_run(
            regions=p["regions"],
            since=datetime.fromisoformat(p["since"]),
            until=datetime.fromisoformat(p["until"]),
            **common,
        )
    raise fail(f"run {record['run_id']} is a {record['flow']} run, which cannot be resumed from here")
