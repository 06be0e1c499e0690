"""Daily roll-ups, back-filled from the stored reports.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

`daily_domains` counts reports and sessions per (domain, day, organization);
`daily_results` per (domain, day, organization, policy type, result type),
where result type '' holds the policy summary counts. From this revision on
the ingest transaction keeps both current; this migration computes them for
reports stored before it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _counts() -> list[sa.Column[int]]:
    return [
        sa.Column(name, sa.BigInteger, nullable=False)
        for name in ("reports", "successful_sessions", "failed_sessions")
    ]


BACKFILL = (
    """
    INSERT INTO daily_domains
        (domain, day, organization, reports, successful_sessions, failed_sessions)
    SELECT p.domain, p.day, r.organization, COUNT(DISTINCT p.report_pk),
           SUM(p.successful_sessions), SUM(p.failed_sessions)
    FROM policy_results p JOIN reports r ON r.id = p.report_pk
    GROUP BY p.domain, p.day, r.organization
    """,
    """
    INSERT INTO daily_results (domain, day, organization, policy_type, result_type,
                               reports, successful_sessions, failed_sessions)
    SELECT p.domain, p.day, r.organization, p.policy_type, '', COUNT(DISTINCT p.report_pk),
           SUM(p.successful_sessions), SUM(p.failed_sessions)
    FROM policy_results p JOIN reports r ON r.id = p.report_pk
    GROUP BY p.domain, p.day, r.organization, p.policy_type
    """,
    """
    INSERT INTO daily_results (domain, day, organization, policy_type, result_type,
                               reports, successful_sessions, failed_sessions)
    SELECT f.domain, f.day, r.organization, p.policy_type, f.result_type,
           COUNT(DISTINCT f.report_pk), 0, SUM(f.failed_session_count)
    FROM failure_details f
    JOIN policy_results p ON p.report_pk = f.report_pk AND p.ordinal = f.policy_ordinal
    JOIN reports r ON r.id = f.report_pk
    GROUP BY f.domain, f.day, r.organization, p.policy_type, f.result_type
    """,
)


def upgrade() -> None:
    op.create_table(
        "daily_domains",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("organization", sa.Text, nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("domain", "day", "organization", name="pk_daily_domains"),
    )
    op.create_table(
        "daily_results",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("organization", sa.Text, nullable=False),
        sa.Column("policy_type", sa.Text, nullable=False),
        sa.Column("result_type", sa.Text, nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            "domain",
            "day",
            "organization",
            "policy_type",
            "result_type",
            name="pk_daily_results",
        ),
    )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("daily_results")
    op.drop_table("daily_domains")
