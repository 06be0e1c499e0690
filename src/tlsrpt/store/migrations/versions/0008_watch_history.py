"""Watching: the check schedule (with leases) and the snapshot history.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07

See tlsrpt.store.schema (`watch_schedule`, `watch_snapshots`) and
tlsrpt.store.watch.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watch_schedule",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("next_due", sa.DateTime, nullable=False),
        sa.Column("interval_s", sa.Integer),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("last_checked_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("domain", name="pk_watch_schedule"),
        sa.ForeignKeyConstraint(
            ["domain"],
            ["domains.domain"],
            name="fk_watch_schedule_domain_domains",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_watch_schedule_next_due", "watch_schedule", ["next_due"])
    op.create_table(
        "watch_snapshots",
        sa.Column("id", Id, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("keepalive", sa.Boolean, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("warnings", sa.Integer, nullable=False),
        sa.Column("earliest_not_after", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_watch_snapshots"),
    )
    op.create_index("ix_watch_snapshots_domain_id", "watch_snapshots", ["domain", "id"])


def downgrade() -> None:
    op.drop_table("watch_snapshots")
    op.drop_table("watch_schedule")
