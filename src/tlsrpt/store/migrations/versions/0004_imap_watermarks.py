"""IMAP watermarks: how far a read-only IMAP poller has read each mailbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

See tlsrpt.receive.imap.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imap_watermarks",
        sa.Column("mailbox", sa.Text, nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("last_uid", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name="pk_imap_watermarks"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("imap_watermarks")
