"""Rate limits: the token buckets the instances of `tlsrpt serve` share.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

See tlsrpt.store.schema (`rate_limits`) and tlsrpt.store.rate_limits.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("granted", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("rule", "client", name="pk_rate_limits"),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        # no WAL for counters a crash may as well refill: a request's upsert
        # then never waits for a disk flush
        op.execute("ALTER TABLE rate_limits SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("rate_limits")
