"""The model registry: versioned models with model cards under `MODSWEEP_HOME/models/<name>/<version>/`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import joblib

MODEL_NAME = "text-policy"  # the registry name of the shared text-policy model (tasks/train.py trains it)


class ModelNotFoundError(FileNotFoundError):
    """No trained model where scoring expected one; the message names the command to run."""


def save_model(
    models_dir: Path, name: str, version: str, model: Any, card: dict[str, Any], *, promote: bool = True
) -> Path:
    """Write model + card atomically; with `promote`, point `latest` (the version runs use) at this version."""
    target = models_dir / name / version
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    joblib.dump(model, staging / "model.joblib", compress=3)
    (staging / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True, default=str))
    if target.exists():  # same version = same training data and parameters: keep the first
        for f in staging.iterdir():
            f.unlink()
        staging.rmdir()
    else:
        os.replace(staging, target)
    if promote:
        promote_model(models_dir, name, version)
    return target


def promote_model(models_dir: Path, name: str, version: str) -> None:
    """Make a registered version the one runs use (`LATEST`), atomically."""
    if not (models_dir / name / version / "model.joblib").is_file():
        raise ModelNotFoundError(
            f"no model {name}@{version} under {models_dir}; `modsweep models list` shows the versions"
        )
    latest = models_dir / name / "LATEST"
    tmp = latest.with_suffix(".tmp")
    tmp.write_text(version)
    os.replace(tmp, latest)


def has_active_model(models_dir: Path, name: str) -> bool:
    """Whether runs have a model to use (`LATEST` names a version)."""
    return (models_dir / name / "LATEST").is_file()


def list_versions(models_dir: Path, name: str) -> list[dict[str, Any]]:
    """Registered versions of a model, oldest first, each with its card's training summary and whether runs use it."""
    folder = models_dir / name
    latest = (folder / "LATEST").read_text().strip() if (folder / "LATEST").is_file() else None
    out = []
    for card_path in sorted(folder.glob("*/card.json"), key=lambda p: p.stat().st_mtime):
        card = json.loads(card_path.read_text())
        data = card.get("training_data") or {}
        out.append(
            {
                "version": card_path.parent.name,
                "active": card_path.parent.name == latest,
                "created_at": card.get("created_at"),
                "rows": data.get("rows"),
                "source": data.get("source"),
                "max_train_rows": (card.get("training_params") or {}).get("max_train_rows"),
            }
        )
    return out


def resolve_version(models_dir: Path, name: str, version: str = "latest") -> str:
    if version != "latest":
        return version
    latest = models_dir / name / "LATEST"
    if not latest.is_file():
        raise ModelNotFoundError(
            f"no trained model {name!r} under {models_dir}; run `modsweep train` first "
            "(or `modsweep demo`, which trains on synthetic data)"
        )
    return latest.read_text().strip()


def load_card(models_dir: Path, name: str, version: str = "latest") -> dict[str, Any]:
    """The model card of a name and version ('latest' by default), without loading the model."""
    version = resolve_version(models_dir, name, version)
    path = models_dir / name / version / "card.json"
    if not path.is_file():
        raise ModelNotFoundError(f"model {name}@{version} is missing under {models_dir}; run `modsweep train`")
    return json.loads(path.read_text())


def load_model(models_dir: Path, name: str, version: str = "latest") -> tuple[Any, dict[str, Any]]:
    """(model, card) for a name and version ('latest' by default)."""
    version = resolve_version(models_dir, name, version)
    path = models_dir / name / version
    if not (path / "model.joblib").is_file():
        raise ModelNotFoundError(f"model {name}@{version} is missing under {models_dir}; run `modsweep train`")
    card = json.loads((path / "card.json").read_text())
    return joblib.load(path / "model.joblib"), card
