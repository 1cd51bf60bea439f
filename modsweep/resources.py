"""Process-wide handles built once from settings: the store engine, the lake and packs (detector banks: tasks/banks.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import Engine

from modsweep.config import get_settings
from modsweep.lake import Lake
from modsweep.policy import PolicyPack, load_pack
from modsweep.registry import MODEL_NAME, load_card, resolve_version
from modsweep.store import make_engine, upgrade_schema

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
    card = None if model_version == "none" else load_card(get_settings().models_dir, MODEL_NAME, model_version)
    resolved = loaded.with_model_thresholds(card, None if card is None else card.get("version"))
    for note in resolved.threshold_notes:  # every process loads the pack: a run says these once (flows/sweep.py)
        log.info("%s", note)
    return resolved


def model_version_for(name: str, profile: str) -> str:
    """The model version a run will use: the registry's latest, or 'none' when the pack needs no model."""
    p = pack(name, profile)
    if not any(d.kind == "classifier" for pol in p.policies() for d in pol.detectors):
        return "none"
    return resolve_version(get_settings().models_dir, MODEL_NAME)


_on_reset: list[Callable[[], None]] = []


def on_reset(forget: Callable[[], None]) -> None:
    """Have `reset()` also call `forget` (caches kept outside the core, e.g. the task layer's detector banks)."""
    _on_reset.append(forget)


def reset() -> None:
    """Forget cached handles (tests change settings between runs)."""
    _engine_for.cache_clear()
    pack.cache_clear()
    for forget in _on_reset:
        forget()
    get_settings.cache_clear()
