"""The sweep records strikes and account actions of its stored decisions; re-running the key adds none."""

from __future__ import annotations

import pytest

from modsweep import resources, store
from modsweep.store import lifecycle as ls

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def test_sweep_records_strikes_and_account_actions_once(sweep_home, synthetic_day) -> None:
    from modsweep.flows.daily_sweep import daily_sweep
    from modsweep.run_start import context_of
    from modsweep.tasks.strike_ledger_io import update_strike_ledger

    summary = daily_sweep(
        day=synthetic_day["day"], source=str(synthetic_day["items"]), trigger="manual", requested_by="pytest"
    )
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    struck = run["stage_counts"]["strikes"]
    strikes = ls.strikes_of(engine, day=synthetic_day["day"])
    assert struck["strikes_new"] == len(strikes) > 0 and strikes["strike_id"].is_unique
    decisions = store.fetch_decisions(engine, run_key=summary.run_key).set_index("decision_id")
    assert set(decisions.loc[strikes["decision_id"], "action"]) <= {"remove", "age_restrict", "reduce_reach"}
    accounts = ls.account_decisions(engine, day=synthetic_day["day"])
    assert struck["account_decisions_new"] == len(accounts) > 0
    assert (accounts["automated"] & (accounts["status"] == "active")).any()  # at least one automated account action
    again = update_strike_ledger.fn(context_of(run))  # what a re-run of the key does at this stage
    assert (again["strikes_new"], again["account_decisions_new"]) == (0, 0)
