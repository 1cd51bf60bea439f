"""A run's start: its ledger row and its context, built in one place (a sweep starting; a re-audit rebuilding the
context of a recorded run).

Apart from `modsweep/ledger.py` so that importing the ledger (the CLI does, for progress) stays cheap: this
module loads packs and the model registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from modsweep import resources
from modsweep.config import get_settings
from modsweep.ledger import RunRecorder
from modsweep.runs import RunContext, code_version, day_window, input_fingerprint, make_run_key


def run_context(
    *,
    run_id: str,
    run_key: str,
    flow: str,
    window: tuple[datetime, datetime],
    regions: Sequence[str] | None,
    pack: str,
    profile: str,
    policy_sha256: str,
    model_version: str,
    golden_dir: str | None,
) -> RunContext:
    """The one constructor of a run's context (a sweep starting, a re-audit rebuilding it from the ledger)."""
    settings = get_settings()
    return RunContext(
        run_id=run_id,
        run_key=run_key,
        flow=flow,
        day=window[0].date(),
        window_start=window[0],
        window_end=window[1],
        regions=tuple(sorted(regions)) if regions else None,
        pack=pack,
        profile=profile,
        policy_sha256=policy_sha256,
        seed=run_key,
        lake_root=settings.lake_root,
        model_version=model_version,
        golden_dir=golden_dir,
        models_dir=str(settings.models_dir.resolve()),
    )


def start_run(
    *,
    flow: str,
    window: tuple[datetime, datetime],
    regions: list[str] | None,
    files: list[Any],
    pack: str,
    profile: str,
    trigger: str,
    requested_by: str,
    parameters: dict[str, Any],
    golden_dir: str | None,
    prefect_flow_run_id: str | None,
) -> tuple[RunContext, RunRecorder]:
    """Record a run's start in the ledger (pack, model, code and input versions) and build its context."""
    policy_pack = resources.pack(pack, profile)
    model_version = resources.model_version_for(pack, profile)
    run_key = make_run_key(flow, window, regions, policy_pack.sha256, profile)
    recorder = RunRecorder.start(
        resources.store_engine(),
        run_key=run_key,
        flow=flow,
        trigger=trigger,
        requested_by=requested_by,
        parameters={**parameters, "source_files": len(files), "model_version": model_version},
        policy_pack=policy_pack.name,
        policy_version=policy_pack.version,
        policy_sha256=policy_pack.sha256,
        code_version=code_version(),
        input_fingerprint=input_fingerprint(files),
        prefect_flow_run_id=prefect_flow_run_id,
    )
    ctx = run_context(
        run_id=recorder.run_id,
        run_key=run_key,
        flow=flow,
        window=window,
        regions=regions,
        pack=pack,
        profile=profile,
        policy_sha256=policy_pack.sha256,
        model_version=model_version,
        golden_dir=golden_dir,
    )
    return ctx, recorder


def context_of(record: dict[str, Any]) -> RunContext:
    """The context a recorded run had, rebuilt from its ledger entry."""
    params = record["parameters"]
    if "day" in params:
        window = day_window(date.fromisoformat(params["day"]))
    else:
        window = (datetime.fromisoformat(params["since"]), datetime.fromisoformat(params["until"]))
    return run_context(
        run_id=record["run_id"],
        run_key=record["run_key"],
        flow=record["flow"],
        window=window,
        regions=params.get("regions") or None,
        pack=params["pack"],
        profile=params["profile"],
        policy_sha256=record["policy_sha256"],
        model_version=params.get("model_version", "latest"),
        golden_dir=params.get("golden_set_from"),
    )
