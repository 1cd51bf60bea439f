"""Initial schema: run ledger, decisions, review tasks, metrics, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    # modsweep.store.models.UTCDateTime on the Python side; a plain timestamptz / DATETIME in the database.
    return sa.DateTime(timezone=True)


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def upgrade() -> None:
    """Create the five store tables and their indexes."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("parameters", _json(), nullable=False),
        sa.Column("policy_pack", sa.String(255), nullable=False),
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("input_fingerprint", sa.String(255), nullable=True),
        sa.Column("stage_counts", _json(), nullable=False),
        sa.Column("gate_results", _json(), nullable=False),
        sa.Column("outputs", _json(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("error", _json(), nullable=True),
        sa.Column("prefect_flow_run_id", sa.String(64), nullable=True),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "\"trigger\" IN ('schedule', 'manual', 'surge', 'backfill', 'shadow')", name=op.f("ck_runs_trigger")
        ),
        sa.CheckConstraint("\"state\" IN ('running', 'completed', 'failed', 'cancelled')", name=op.f("ck_runs_state")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_run_key"), "runs", ["run_key"])
    op.create_index(op.f("ix_runs_flow_started_at"), "runs", ["flow", "started_at"])

    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("item_id", sa.String(255), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("item_type", sa.String(32), nullable=True),
        sa.Column("views", sa.BigInteger(), nullable=True),
        sa.Column("user_reports", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("decided_at", _ts(), nullable=False),
        sa.Column("decision_visibility", sa.String(100), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("category_specification", _json(), nullable=True),
        sa.Column("automated_detection", sa.Boolean(), nullable=False),
        sa.Column("automated_decision", sa.String(64), nullable=False),
        sa.Column("territorial_scope", _json(), nullable=True),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_item_id"), "decisions", ["item_id"])
    op.create_index(op.f("ix_decisions_day_policy_id"), "decisions", ["day", "policy_id"])
    op.create_index(op.f("ix_decisions_run_key"), "decisions", ["run_key"])

    op.create_table(
        "review_tasks",
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(255), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("stratum", sa.String(255), nullable=False),
        sa.Column("inclusion_prob", sa.Float(), nullable=False),
        sa.Column("replica", sa.SmallInteger(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("due_by", _ts(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("claimed_at", _ts(), nullable=True),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.Column("reviewer_id", sa.String(64), nullable=True),
        sa.Column("label", sa.String(16), nullable=True),
        sa.Column("final_action", sa.String(32), nullable=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("carry_over_reason", sa.String(255), nullable=True),
        sa.CheckConstraint(
            "\"status\" IN ('open', 'claimed', 'decided', 'expired', 'carried_over')",
            name=op.f("ck_review_tasks_status"),
        ),
        sa.CheckConstraint("label IS NULL OR \"label\" IN ('violating', 'benign')", name=op.f("ck_review_tasks_label")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_review_tasks")),
    )
    op.create_index(op.f("ix_review_tasks_status_queue"), "review_tasks", ["status", "queue"])
    op.create_index(op.f("ix_review_tasks_item_id"), "review_tasks", ["item_id"])
    op.create_index(op.f("ix_review_tasks_run_key"), "review_tasks", ["run_key"])

    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint(
            "run_key",
            "day",
            "policy_id",
            "region",
            "metric",
            name=op.f("uq_metrics_run_key_day_policy_id_region_metric"),
        ),
    )
    op.create_index(op.f("ix_metrics_day_policy_id"), "metrics", ["day", "policy_id"])

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", _ts(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )


def downgrade() -> None:
    """Drop every store table (and its data)."""
    for table in ("audit_log", "metrics", "review_tasks", "decisions", "runs"):
        op.drop_table(table)
