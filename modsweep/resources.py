"""Process-wide handles built once from settings: the store engine, the lake, packs and detector banks."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from modsweep.config import get_settings
from modsweep.lake import Lake
from modsweep.policy import PolicyPack, load_pack
from modsweep.registry import load_model
from modsweep.store import make_engine, upgrade_schema

if TYPE_CHECKING:
    from modsweep.tasks.detect import DetectorBank

_lock = threading.Lock()
log = logging.getLogger("modsweep.resources")


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    upgrade_schema(engine)
    return engine


def store_engine() -> Engine:
    """The store named by settings, migrated to the newest schema on first use."""
    with _lock:
        return _engine_for(get_settings().sqlalchemy_url)


def lake(root: str | None = None) -> Lake:
    return Lake(root or get_settings().lake_root)


@lru_cache(maxsize=8)
def pack(name: str, profile: str, model_version: str = "latest") -> PolicyPack:
    """A pack with its profile, auto@ bands resolved from the model card of `model_version` (when it has any)."""
    loaded = load_pack(name, profile)
    if not any(p.has_auto_bands for p in loaded.spec.policies):
        return loaded
    from modsweep.registry import load_card
    from modsweep.tasks.train import MODEL_NAME

    card = None if model_version == "none" else load_card(get_settings().models_dir, MODEL_NAME, model_version)
    resolved = loaded.with_model_thresholds(card, None if card is None else card.get("version"))
    for note in resolved.threshold_notes:  # every process loads the pack: a run says these once (flows/sweep.py)
        log.info("%s", note)
    return resolved


@lru_cache(maxsize=4)
def bank_for(
    name: str, profile: str, models_dir: str, model_version: str, pack_sha256: str | None = None
) -> DetectorBank:
    """A pack's detectors with one model version, compiled once per process (and per pack content)."""
    from pathlib import Path

    from modsweep.tasks.detect import build_detector_bank
    from modsweep.tasks.train import MODEL_NAME

    p = pack(name, profile, model_version)
    if pack_sha256 is not None and p.sha256 != pack_sha256:  # the pack file changed since this process loaded it
        pack.cache_clear()
        p = pack(name, profile, model_version)
    needs_model = any(d.kind in ("classifier", "aigc") for pol in p.policies() for d in pol.detectors)
    if not needs_model or model_version == "none":
        return build_detector_bank(p, None, None)
    model, card = load_model(Path(models_dir), MODEL_NAME, model_version)
    return build_detector_bank(p, model, card.get("version"))


def skipped_detectors(name: str, profile: str, models_dir: str, model_version: str) -> list[dict[str, Any]]:
    """The pack's classifier detectors that a run with this model version skips (their label is not in the
    model), read from the model card: what the detection stage's banks skip, without loading the model."""
    from pathlib import Path

    from modsweep.registry import load_card
    from modsweep.tasks.detect import skipped_classifiers
    from modsweep.tasks.train import MODEL_NAME

    if model_version == "none":
        return []
    card = load_card(Path(models_dir or get_settings().models_dir), MODEL_NAME, model_version)
    return skipped_classifiers(load_pack(name, profile), list(card.get("labels", [])), card.get("version", model_version))


def model_version_for(name: str, profile: str) -> str:
    """The model version a run will use: the registry's latest, or 'none' when the pack needs no model."""
    from modsweep.registry import resolve_version
    from modsweep.tasks.train import MODEL_NAME

    p = pack(name, profile)
    if not any(d.kind == "classifier" for pol in p.policies() for d in pol.detectors):
        return "none"
    return resolve_version(get_settings().models_dir, MODEL_NAME)


def detector_bank(name: str, profile: str, model_version: str = "latest") -> DetectorBank:
    """The pack's detectors with a model version ('latest' by default), compiled once per process."""
    with _lock:
        version = model_version_for(name, profile) if model_version == "latest" else model_version
        return bank_for(name, profile, str(get_settings().models_dir.resolve()), version)


def reset() -> None:
    """Forget cached handles (tests change settings between runs)."""
    _engine_for.cache_clear()
    pack.cache_clear()
    bank_for.cache_clear()
    get_settings.cache_clear()
