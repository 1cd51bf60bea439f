"""ORM models of the SQL store (DESIGN §2, §5): run ledger, decisions, review tasks, metrics, audit log.

The initial Alembic revision (``migrations/versions/0001_initial.py``) creates exactly these tables;
``tests/test_store.py`` checks that the two never drift apart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

RUN_TRIGGERS: tuple[str, ...] = ("schedule", "manual", "surge", "backfill", "shadow")
RUN_STATES: tuple[str, ...] = ("running", "completed", "failed", "cancelled")
TASK_STATUSES: tuple[str, ...] = ("open", "claimed", "decided", "expired", "carried_over")
REVIEW_LABELS: tuple[str, ...] = ("violating", "benign")

# Deterministic constraint names, so later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        # Naive values are taken to be UTC already (the pipeline only produces UTC).
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _json() -> JSON:
    # none_as_null: Python None is stored as SQL NULL, not the JSON literal 'null'.
    return JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base sharing one MetaData with a naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f'"{column}" IN ({quoted})'


class Run(Base):
    """The run ledger: one row per flow run."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("trigger", RUN_TRIGGERS), name="trigger"),
        CheckConstraint(_in("state", RUN_STATES), name="state"),
        Index(None, "flow", "started_at"),
    )

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(255), index=True)
    flow: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(255))
    parameters: Mapped[dict[str, Any]] = mapped_column(_json())
    policy_pack: Mapped[str] = mapped_column(String(255))
    policy_version: Mapped[str] = mapped_column(String(100))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(100))
    input_fingerprint: Mapped[str | None] = mapped_column(String(255))
    stage_counts: Mapped[dict[str, Any]] = mapped_column(_json())
    gate_results: Mapped[list[Any]] = mapped_column(_json())
    outputs: Mapped[dict[str, Any]] = mapped_column(_json())
    state: Mapped[str] = mapped_column(String(20))
    error: Mapped[dict[str, Any] | None] = mapped_column(_json())
    prefect_flow_run_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Decision(Base):
    """Enforcement decisions, one per run key × item × policy (``decision_id`` is deterministic)."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index(None, "item_id"),
        Index(None, "day", "policy_id"),
        Index(None, "run_key"),
    )

    decision_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(255))
    run_id: Mapped[str] = mapped_column(String(36))
    item_id: Mapped[str] = mapped_column(String(255))
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    automated: Mapped[bool] = mapped_column(Boolean())
    score: Mapped[float] = mapped_column(Float())
    threshold: Mapped[float] = mapped_column(Float())
    region: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    item_type: Mapped[str | None] = mapped_column(String(32))
    views: Mapped[int | None] = mapped_column(BigInteger())
    user_reports: Mapped[int | None] = mapped_column(Integer())
    day: Mapped[dt.date] = mapped_column(Date())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decision_visibility: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(100))
    category_specification: Mapped[list[Any] | None] = mapped_column(_json())
    automated_detection: Mapped[bool] = mapped_column(Boolean())
    automated_decision: Mapped[str] = mapped_column(String(64))
    territorial_scope: Mapped[list[Any] | None] = mapped_column(_json())
    # `reversed` once an appeal, a mass revert or the breaker undid it (see `reversals`); the row stays.
    status: Mapped[str] = mapped_column(String(16), server_default="active")


class ReviewTask(Base):
    """Human review tasks and their outcomes (``task_id`` is deterministic)."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        CheckConstraint(f"label IS NULL OR {_in('label', REVIEW_LABELS)}", name="label"),
        Index(None, "status", "queue"),
        Index(None, "item_id"),
        Index(None, "run_key"),
    )

    task_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(255))
    policy_id: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(32))
    stratum: Mapped[str] = mapped_column(String(255))
    inclusion_prob: Mapped[float] = mapped_column(Float())
    replica: Mapped[int] = mapped_column(SmallInteger())
    priority: Mapped[float] = mapped_column(Float())
    score: Mapped[float] = mapped_column(Float())
    action: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    views: Mapped[int] = mapped_column(BigInteger())
    due_by: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reviewer_id: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(16))
    final_action: Mapped[str | None] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(36))
    run_key: Mapped[str] = mapped_column(String(255))
    day: Mapped[dt.date | None] = mapped_column(Date())
    carry_over_reason: Mapped[str | None] = mapped_column(String(255))


class Metric(Base):
    """Tidy metric rows (one value per run key × day × policy × region × metric), upserted."""

    __tablename__ = "metrics"
    __table_args__ = (
        UniqueConstraint("run_key", "day", "policy_id", "region", "metric"),
        Index(None, "day", "policy_id"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    run_key: Mapped[str] = mapped_column(String(255))
    run_id: Mapped[str] = mapped_column(String(36))
    day: Mapped[dt.date] = mapped_column(Date())
    policy_id: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float())
    ci_low: Mapped[float | None] = mapped_column(Float())
    ci_high: Mapped[float | None] = mapped_column(Float())
    n: Mapped[int] = mapped_column(BigInteger())


class AuditEntry(Base):
    """Append-only, hash-chained audit log. ``seq`` is assigned by the appender (it is part of the hash)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(_json())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class PolicyAutomation(Base):
    """Circuit-breaker state per policy: `paused` routes its automated actions to human review."""

    __tablename__ = "policy_automation"
    __table_args__ = (CheckConstraint("state IN ('paused', 'enabled')", name="state"),)

    policy_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text())
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


# ------------------------------------------------------- the enforcement lifecycle (DESIGN §10, issue #17)

STRIKE_STATUSES: tuple[str, ...] = ("active", "expired", "removed")
ACCOUNT_ACTIONS: tuple[str, ...] = ("warn", "feature_restrict", "suspend", "terminate")
ACCOUNT_DECISION_STATUSES: tuple[str, ...] = ("active", "pending_review", "rejected", "lifted", "ended")
APPEAL_STATUSES: tuple[str, ...] = ("open", "upheld", "overturned", "rejected")
REVERSAL_CAUSES: tuple[str, ...] = ("appeal", "revert", "breaker")


class Strike(Base):
    """One strike per enforced decision (``strike_id`` = decision id), against a pseudonymous author."""

    __tablename__ = "strikes"
    __table_args__ = (
        CheckConstraint(_in("status", STRIKE_STATUSES), name="status"),
        Index(None, "author_id", "status"),
        Index(None, "day"),
    )

    strike_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(128))
    author_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(100))
    item_id: Mapped[str] = mapped_column(String(255))
    weight: Mapped[float] = mapped_column(Float())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    removed_reason: Mapped[str | None] = mapped_column(Text())
    run_key: Mapped[str] = mapped_column(String(255))
    day: Mapped[dt.date] = mapped_column(Date())


class AccountDecision(Base):
    """An account action (warn … terminate) taken because an author's active strike weight crossed a threshold."""

    __tablename__ = "account_decisions"
    __table_args__ = (
        CheckConstraint(_in("action", ACCOUNT_ACTIONS), name="action"),
        CheckConstraint(_in("status", ACCOUNT_DECISION_STATUSES), name="status"),
        Index(None, "author_id", "status"),
        Index(None, "day"),
    )

    account_decision_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    author_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    automated: Mapped[bool] = mapped_column(Boolean())
    active_weight: Mapped[float] = mapped_column(Float())
    threshold: Mapped[float] = mapped_column(Float())
    features: Mapped[list[Any] | None] = mapped_column(_json())
    end_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    policy_id: Mapped[str] = mapped_column(String(100))  # the policy of the strike that crossed the threshold
    decision_id: Mapped[str] = mapped_column(String(128))  # that strike's decision
    region: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(100))
    territorial_scope: Mapped[list[Any] | None] = mapped_column(_json())
    decision_account: Mapped[str | None] = mapped_column(String(64))
    decision_provision: Mapped[str | None] = mapped_column(String(64))
    account_type: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    day: Mapped[dt.date] = mapped_column(Date())
    run_key: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text())
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lifted_reason: Mapped[str | None] = mapped_column(Text())


class Appeal(Base):
    """A user's appeal against one enforced decision (one per decision); decided through a review task."""

    __tablename__ = "appeals"
    __table_args__ = (
        CheckConstraint(_in("status", APPEAL_STATUSES), name="status"),
        UniqueConstraint("decision_id"),
        Index(None, "status"),
    )

    appeal_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[str] = mapped_column(String(255))
    policy_id: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(16))
    automated: Mapped[bool] = mapped_column(Boolean())
    appellant: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    statement: Mapped[str] = mapped_column(Text())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_by: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str] = mapped_column(String(128))
    original_reviewer: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(255))


class Reversal(Base):
    """A decision undone (by an appeal, a mass revert or the breaker); the decision row itself is kept."""

    __tablename__ = "reversals"
    __table_args__ = (CheckConstraint(_in("cause", REVERSAL_CAUSES), name="cause"), Index(None, "revert_id"))

    decision_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reversed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text())
    cause: Mapped[str] = mapped_column(String(16))
    appeal_id: Mapped[str | None] = mapped_column(String(128))
    revert_id: Mapped[str | None] = mapped_column(String(128))


class RevertEvent(Base):
    """One mass revert (`modsweep revert`): its filter, who asked and why, and how far it got."""

    __tablename__ = "revert_events"
    __table_args__ = (CheckConstraint("state IN ('running', 'completed')", name="state"),)

    revert_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    filter: Mapped[dict[str, Any]] = mapped_column(_json())
    reason: Mapped[str] = mapped_column(Text())
    requested_by: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(20))
    matched: Mapped[int] = mapped_column(BigInteger())
    reversed: Mapped[int] = mapped_column(BigInteger())
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Trend(Base):
    """One emerging-risk signal of a day (the radar, DESIGN §11): tidy, one row per run × region × language × kind
    × signal; `overlap`, `examples`, `accounts` and `patch` are JSON text (the lake's `trends` rows)."""

    __tablename__ = "trends"
    __table_args__ = (Index(None, "day", "region"),)

    trend_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(255))
    day: Mapped[dt.date] = mapped_column(Date())
    region: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(Text())
    label: Mapped[str] = mapped_column(Text())
    volume: Mapped[int] = mapped_column(BigInteger())
    expected: Mapped[float] = mapped_column(Float())
    z: Mapped[float] = mapped_column(Float())
    q_value: Mapped[float] = mapped_column(Float())
    reach: Mapped[int] = mapped_column(BigInteger())
    authors: Mapped[int] = mapped_column(BigInteger())
    young_share: Mapped[float] = mapped_column(Float())
    top_policy: Mapped[str | None] = mapped_column(String(100))
    top_overlap: Mapped[float] = mapped_column(Float())
    overlap: Mapped[str] = mapped_column(Text())
    same_as: Mapped[str | None] = mapped_column(Text())
    rank_reach: Mapped[int] = mapped_column(Integer())
    rank_risk: Mapped[int] = mapped_column(Integer())
    examples: Mapped[str] = mapped_column(Text())
    accounts: Mapped[str] = mapped_column(Text())
    suggestion: Mapped[str | None] = mapped_column(Text())
    patch: Mapped[str | None] = mapped_column(Text())
