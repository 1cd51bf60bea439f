"""Circuit-breaker state: which policies have automated enforcement paused, and why.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the policy_automation table (existing data is untouched)."""
    op.create_table(
        "policy_automation",
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("policy_id", name="pk_policy_automation"),
        sa.CheckConstraint("state IN ('paused', 'enabled')", name="ck_policy_automation_state"),
    )


def downgrade() -> None:
    op.drop_table("policy_automation")
