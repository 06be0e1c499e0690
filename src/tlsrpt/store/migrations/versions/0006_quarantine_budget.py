"""Quarantine budget: per UTC day and client address, what the HTTP
receiver quarantined and what it refused once over the budget.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

See tlsrpt.store.budget.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine_budget",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("inputs", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("refused_inputs", sa.BigInteger, nullable=False),
        sa.Column("refused_bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "client", name="pk_quarantine_budget"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("quarantine_budget")
