"""Per-domain daily roll-up without the organization split, back-filled.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

`domain_days` (see tlsrpt.store.schema) holds the counts of `daily_rollups`
summed over organizations, per (policy type, domain, day): what the overview
and the domain list read. From this revision on the ingest transaction
keeps it current; this migration computes it from the roll-ups stored
before, exactly (tlsrpt.store.domain_days.rebuild, which reads only
`daily_rollups` and the columns created here). `reported_domains` lists
every policy domain with roll-ups.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tlsrpt.store.domain_days import rebuild

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_days",
        sa.Column("policy_type", sa.Text, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        *(
            sa.Column(name, sa.BigInteger, nullable=False)
            for name in ("reports", "successful_sessions", "failed_sessions")
        ),
        sa.PrimaryKeyConstraint("policy_type", "domain", "day", "part", name="pk_domain_days"),
        sqlite_with_rowid=False,
    )
    rebuild(op.get_bind())
    op.create_table(
        "reported_domains",
        sa.Column("domain", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("domain", name="pk_reported_domains"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO reported_domains (domain) "
        "SELECT DISTINCT domain FROM domain_days ORDER BY domain"
    )


def downgrade() -> None:
    op.drop_table("reported_domains")
    op.drop_table("domain_days")
