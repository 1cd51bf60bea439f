"""Detector banks: a pack's detectors compiled with one model version, built once per process.

Kept in the task layer (not in `modsweep.resources`): building a bank needs the detectors of tasks/detect.py,
and the core never imports the task layer.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from modsweep import resources
from modsweep.config import get_settings
from modsweep.policy import load_pack
from modsweep.registry import MODEL_NAME, load_card, load_model
from modsweep.tasks.detect import DetectorBank, build_detector_bank, skipped_classifiers

_lock = threading.Lock()


@lru_cache(maxsize=4)
def bank_for(
    name: str, profile: str, models_dir: str, model_version: str, pack_sha256: str | None = None
) -> DetectorBank:
    """A pack's detectors with one model version, compiled once per process (and per pack content)."""
    p = resources.pack(name, profile, model_version)
    if pack_sha256 is not None and p.sha256 != pack_sha256:  # the pack file changed since this process loaded it
        resources.pack.cache_clear()
        p = resources.pack(name, profile, model_version)
    needs_model = any(d.kind in ("classifier", "aigc") for pol in p.policies() for d in pol.detectors)
    if not needs_model or model_version == "none":
        return build_detector_bank(p, None, None)
    model, card = load_model(Path(models_dir), MODEL_NAME, model_version)
    return build_detector_bank(p, model, card.get("version"))


def skipped_detectors(name: str, profile: str, models_dir: str, model_version: str) -> list[dict[str, Any]]:
    """The pack's classifier detectors that a run with this model version skips (their label is not in the
    model), read from the model card: what the detection stage's banks skip, without loading the model."""
    if model_version == "none":
        return []
    card = load_card(Path(models_dir or get_settings().models_dir), MODEL_NAME, model_version)
    return skipped_classifiers(
        load_pack(name, profile), list(card.get("labels", [])), card.get("version", model_version)
    )


def detector_bank(name: str, profile: str, model_version: str = "latest") -> DetectorBank:
    """The pack's detectors with a model version ('latest' by default), compiled once per process."""
    with _lock:
        version = resources.model_version_for(name, profile) if model_version == "latest" else model_version
        return bank_for(name, profile, str(get_settings().models_dir.resolve()), version)


resources.on_reset(bank_for.cache_clear)
