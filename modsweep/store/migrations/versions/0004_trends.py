"""The emerging-risk radar's trends (one row per run × region × language × kind × signal).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the trends table (existing data is untouched)."""
    op.create_table(
        "trends",
        sa.Column("trend_id", sa.String(64), nullable=False),
        sa.Column("run_key", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("z", sa.Float(), nullable=False),
        sa.Column("q_value", sa.Float(), nullable=False),
        sa.Column("reach", sa.BigInteger(), nullable=False),
        sa.Column("authors", sa.BigInteger(), nullable=False),
        sa.Column("young_share", sa.Float(), nullable=False),
        sa.Column("top_policy", sa.String(100), nullable=True),
        sa.Column("top_overlap", sa.Float(), nullable=False),
        sa.Column("overlap", sa.Text(), nullable=False),
        sa.Column("same_as", sa.Text(), nullable=True),
        sa.Column("rank_reach", sa.Integer(), nullable=False),
        sa.Column("rank_risk", sa.Integer(), nullable=False),
        sa.Column("examples", sa.Text(), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.Column("suggestion", sa.Text(), nullable=True),
        sa.Column("patch", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("trend_id", name="pk_trends"),
    )
    op.create_index("ix_trends_day_region", "trends", ["day", "region"])


def downgrade() -> None:
    op.drop_index("ix_trends_day_region", table_name="trends")
    op.drop_table("trends")
