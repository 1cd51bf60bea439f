"""The one settings object (environment prefix ``MODSWEEP_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob modsweep reads from the environment; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="MODSWEEP_", env_file=None, extra="ignore")

    home: Path = Field(default=Path(".modsweep"), description="State directory: lake, SQLite store, models, reports")
    database_url: SecretStr | None = Field(default=None, description="SQLAlchemy URL; SQLite under home if unset")
    lake_url: str | None = Field(default=None, description="Parquet lake root (path or fsspec URL); home/lake if unset")
    partition_rows: int = Field(default=100_000, ge=1_000, description="Rows per source partition written by generate")
    max_workers: int = Field(default=2, ge=1, description="Concurrent task runs (thread pool)")
    run_key_lock: bool = Field(
        default=False,
        description="Runs hold a Prefect lock per run key (needs a Prefect server; set by infra/start-prefect-server.sh and `modsweep serve`)",
    )
    dask_address: str | None = Field(
        default=None,
        description="Dask scheduler (tcp://host:8786): run the flows' tasks on that cluster (extra `dask`)",
    )
    detect_processes: int = Field(
        default=0,
        ge=0,
        description="Worker processes for the CPU-bound stages: ingest, detection, decisions (0: one per core; 1: in the task's thread)",
    )
    embedding_threads: int = Field(
        default=0,
        ge=0,
        description="torch threads of the optional embedding stage (0: one in a worker process, torch's own default elsewhere)",
    )
    gate_batch_rows: int = Field(
        default=500_000,
        ge=0,
        description="Rows per Great Expectations call when a gate checks a stage's partitions (0: one call per partition)",
    )
    quarantine_ceiling: float = Field(default=0.05, ge=0, le=1, description="Max quarantined share before a run fails")
    unreadable_files: Literal["quarantine", "fail"] = Field(
        default="quarantine",
        description="A source file that cannot be parsed (corrupt, truncated): quarantine it whole and go on, or fail the run",
    )
    max_item_chars: int = Field(default=1_000_000, description="Longer text fields are quarantined as oversize")
    detect_chunk_rows: int = Field(
        default=25_000,
        ge=0,
        description="Rows featurised and scored at a time within a partition: bounds a worker's memory (0: the whole partition)",
    )
    max_scoring_chars: int = Field(default=20_000, description="Text is truncated to this for scoring (flagged)")
    review_capacity_per_queue: int = Field(default=500, ge=0, description="Daily review tasks per queue")
    qa_half_width: float = Field(default=0.1, gt=0, lt=0.5, description="Target 95% CI half-width per QA stratum")
    qa_floor: int = Field(default=20, ge=0, description="Minimum QA sample per stratum")
    qa_cap: int = Field(default=200, ge=1, description="Maximum QA sample per stratum")
    prevalence_sample_size: int = Field(default=200, ge=0, description="Views-proportional sample per policy per run")
    golden_rate: float = Field(
        default=0.02, ge=0, le=1, description="Golden (known-label) tasks per QA/prevalence task"
    )
    double_review_share: float = Field(default=0.1, ge=0, le=1, description="Share of QA tasks given to two reviewers")
    removal_ceiling: int = Field(
        default=5_000, ge=0, description="Automated removals per policy × region before a run asks for approval"
    )
    approval_timeout_seconds: int = Field(default=3_600, ge=1, description="How long a paused run waits for approval")
    approval_wait: Literal["auto", "pause", "hold", "review"] = Field(
        default="auto",
        description="Removals over the ceiling: `pause` the flow run for an answer through Prefect (UI, `modsweep approve`), `hold` them (the run stops before enforcing anything; `modsweep approve RUN` answers and completes it), or `review` (send them to human review at once and complete); `auto`: pause on a Prefect server (PREFECT_API_URL), hold at a terminal, review otherwise (no server, no terminal: nobody could answer)",
    )
    reviewer_accuracy: float = Field(
        default=0.95, ge=0.5, le=1, description="Simulated reviewers' recall on violations"
    )
    reviewer_false_positive_rate: float = Field(
        default=0.002, ge=0, le=0.5, description="Simulated reviewers' error on benign items"
    )
    trends: bool = Field(
        default=True, description="Run the emerging-risk radar in every sweep (`modsweep trends` runs it on demand)"
    )
    trends_window_days: int = Field(
        default=14, ge=1, le=90, description="Earlier days the radar's baseline reads (their daily aggregates)"
    )
    trends_fdr: float = Field(
        default=0.05, gt=0, lt=1, description="False-discovery rate the radar controls across a day's candidate signals"
    )
    hmac_key: SecretStr = Field(
        default=SecretStr("modsweep-dev-hmac-key-NOT-FOR-PRODUCTION"),
        description="Key of the author pseudonyms in review exports (HMAC-SHA256)",
    )

    @property
    def lake_root(self) -> str:
        return self.lake_url or str((self.home / "lake").resolve())

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.home / 'modsweep.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
