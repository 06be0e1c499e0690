"""Retention: the keys of pruned reports, and the indexes the prune reads.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09

See tlsrpt.store.schema (`pruned_reports`) and tlsrpt.store.retention.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pruned_reports",
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("dedup_key", name="pk_pruned_reports"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_reports_day_id", "reports", ["day", "id"])
    op.create_index(
        "ix_raw_inputs_outcome_received_at_id", "raw_inputs", ["outcome", "received_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_raw_inputs_outcome_received_at_id", table_name="raw_inputs")
    op.drop_index("ix_reports_day_id", table_name="reports")
    op.drop_table("pruned_reports")
