"""The enforcement lifecycle (DESIGN §10): strikes, account decisions, appeals, reversals, revert events, and a
status on decisions (`reversed` once undone; the row itself is kept).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f'"{column}" IN ({quoted})'


def upgrade() -> None:
    """Add the lifecycle tables and decisions.status (existing decisions are `active`)."""
    op.add_column("decisions", sa.Column("status", sa.String(16), nullable=False, server_default="active"))
    op.create_table(
        "strikes",
        sa.Column("strike_id", sa.String(128), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("item_id", sa.String(255), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("removed_at", _ts(), nullable=True),
        sa.Column("removed_reason", sa.Text(), nullable=True),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("strike_id", name="pk_strikes"),
        sa.CheckConstraint(_in("status", ("active", "expired", "removed")), name="ck_strikes_status"),
    )
    op.create_index("ix_strikes_author_id_status", "strikes", ["author_id", "status"])
    op.create_index("ix_strikes_day", "strikes", ["day"])
    op.create_table(
        "account_decisions",
        sa.Column("account_decision_id", sa.String(128), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("active_weight", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("features", _json(), nullable=True),
        sa.Column("end_date", _ts(), nullable=True),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("territorial_scope", _json(), nullable=True),
        sa.Column("decision_account", sa.String(64), nullable=True),
        sa.Column("decision_provision", sa.String(64), nullable=True),
        sa.Column("account_type", sa.String(32), nullable=False),
        sa.Column("decided_at", _ts(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lifted_at", _ts(), nullable=True),
        sa.Column("lifted_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("account_decision_id", name="pk_account_decisions"),
        sa.CheckConstraint(
            _in("action", ("warn", "feature_restrict", "suspend", "terminate")), name="ck_account_decisions_action"
        ),
        sa.CheckConstraint(
            _in("status", ("active", "pending_review", "rejected", "lifted", "ended")),
            name="ck_account_decisions_status",
        ),
    )
    op.create_index("ix_account_decisions_author_id_status", "account_decisions", ["author_id", "status"])
    op.create_index("ix_account_decisions_day", "account_decisions", ["day"])
    op.create_table(
        "appeals",
        sa.Column("appeal_id", sa.String(128), nullable=False),
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(255), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("appellant", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("due_by", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("original_reviewer", sa.String(64), nullable=True),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("source_file", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("appeal_id", name="pk_appeals"),
        sa.UniqueConstraint("decision_id", name="uq_appeals_decision_id"),
        sa.CheckConstraint(_in("status", ("open", "upheld", "overturned", "rejected")), name="ck_appeals_status"),
    )
    op.create_index("ix_appeals_status", "appeals", ["status"])
    op.create_table(
        "reversals",
        sa.Column("decision_id", sa.String(128), nullable=False),
        sa.Column("reversed_at", _ts(), nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("appeal_id", sa.String(128), nullable=True),
        sa.Column("revert_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("decision_id", name="pk_reversals"),
        sa.CheckConstraint(_in("cause", ("appeal", "revert", "breaker")), name="ck_reversals_cause"),
    )
    op.create_index("ix_reversals_revert_id", "reversals", ["revert_id"])
    op.create_table(
        "revert_events",
        sa.Column("revert_id", sa.String(128), nullable=False),
        sa.Column("filter", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("reversed", sa.BigInteger(), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("revert_id", name="pk_revert_events"),
        sa.CheckConstraint("state IN ('running', 'completed')", name="ck_revert_events_state"),
    )


def downgrade() -> None:
    for table in ("revert_events", "reversals", "appeals", "account_decisions", "strikes"):
        op.drop_table(table)
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("status")
