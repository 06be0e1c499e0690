"""The notification outbox, and a day index on the roll-ups for /metrics.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

See tlsrpt.store.schema (`outbox`) and tlsrpt.store.outbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", Id, nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.Text, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("domain", sa.Text),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("digest_day", sa.Date),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("last_attempt_at", sa.DateTime),
        sa.Column("delivered_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    )
    op.create_index("ix_outbox_state_due_at", "outbox", ["state", "due_at"])
    op.create_index("ix_outbox_alert_id", "outbox", ["alert_id"])
    op.create_index(
        "ix_daily_rollups_day", "daily_rollups", ["day", "policy_type", "result_type", "domain"]
    )


def downgrade() -> None:
    op.drop_index("ix_daily_rollups_day", table_name="daily_rollups")
    op.drop_table("outbox")
