"""Shared fixtures: one Prefect test harness per session, an isolated MODSWEEP_HOME per test, PostgreSQL URLs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

PG_URL = os.environ.get("MODSWEEP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def shared_datasets_dir() -> tuple[Path | None, str]:
    """The real labelled data sets (see their DATASETS.md): $MODSWEEP_SHARED_DATASETS if set, else
    `shared/datasets` beside the repository; (None, why) when they are not on this machine."""
    env = os.environ.get("MODSWEEP_SHARED_DATASETS")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"
    if root.is_dir():
        return root, ""
    source = (
        "MODSWEEP_SHARED_DATASETS" if env else "beside the repository (set MODSWEEP_SHARED_DATASETS to point elsewhere)"
    )
    return None, f"the shared labelled data sets are not at {root} ({source})"


@pytest.fixture
def shared_datasets() -> Path:
    """The shared labelled data sets' root; the test is skipped, saying where it looked, when they are absent."""
    root, why = shared_datasets_dir()
    if root is None:
        pytest.skip(why)
    return root


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One ephemeral Prefect API for the whole session (starting one costs ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def modsweep_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MODSWEEP_HOME (SQLite store + lake) for one test."""
    from modsweep import resources

    home = tmp_path / "home"
    monkeypatch.setenv("MODSWEEP_HOME", str(home))
    monkeypatch.delenv("MODSWEEP_DATABASE_URL", raising=False)
    monkeypatch.delenv("MODSWEEP_LAKE_URL", raising=False)
    resources.reset()
    yield home
    resources.reset()


@pytest.fixture(scope="session")
def synthetic_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A small generated day (20,000 rows in 4 partitions) plus a trained model registry, shared by the session."""
    from datetime import date

    from modsweep.cli import TEXT_POLICIES
    from modsweep.registry import save_model
    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.train import MODEL_NAME, read_synthetic_training_set, train_text_policy_model

    root = tmp_path_factory.mktemp("synthetic")
    day = date(2026, 11, 23)
    write_synthetic_day(root / "training", date(2026, 11, 22), 30_000, seed=7, partition_rows=15_000)
    write_synthetic_day(root / "source", day, 20_000, seed=42, partition_rows=5_000)
    texts, labels = read_synthetic_training_set(root / "training", TEXT_POLICIES)
    result = train_text_policy_model(texts, labels, source="synthetic:test")
    models = root / "models"
    save_model(models, MODEL_NAME, result.version, result.model, result.card)
    return {
        "day": day,
        "items": root / "source" / "items",
        "truth": root / "source" / "truth",
        "golden": root / "source" / "golden",
        "models": models,
    }


@pytest.fixture
def sweep_home(modsweep_home: Path, synthetic_day: dict[str, object]) -> Path:
    """An isolated home whose model registry is the session's trained one."""
    modsweep_home.mkdir(parents=True, exist_ok=True)
    (modsweep_home / "models").symlink_to(synthetic_day["models"])  # type: ignore[arg-type]
    return modsweep_home


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test on the embedded SQLite store and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    import uuid
    from urllib.parse import quote

    from sqlalchemy import create_engine, text
    from store_fixtures import postgres_unavailable_reason

    from modsweep import resources

    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"ms_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    monkeypatch.setenv("MODSWEEP_DATABASE_URL", f"{PG_URL}?options={quote(f'-csearch_path={schema}')}")
    resources.reset()
    try:
        yield "postgres"
    finally:
        resources.reset()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
