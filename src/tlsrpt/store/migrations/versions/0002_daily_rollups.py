"""Daily roll-ups, back-filled from the stored reports.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

`daily_rollups` counts reports and sessions per (domain, day, organization,
policy type, result type), '' standing for "all" (see tlsrpt.store.schema).
From this revision on the ingest transaction keeps it current; this
migration computes it for the reports stored before.
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


_INSERT = """
    INSERT INTO daily_rollups (domain, day, organization, policy_type, result_type,
                               reports, successful_sessions, failed_sessions)
"""
_POLICY_TYPE = "CASE WHEN p.policy_type = '' THEN '(empty)' ELSE p.policy_type END"
_RESULT_TYPE = "CASE WHEN f.result_type = '' THEN '(empty)' ELSE f.result_type END"

BACKFILL = (
    f"""{_INSERT}
    SELECT p.domain, p.day, r.organization, '', '', COUNT(DISTINCT p.report_pk),
           SUM(p.successful_sessions), SUM(p.failed_sessions)
    FROM policy_results p JOIN reports r ON r.id = p.report_pk
    GROUP BY p.domain, p.day, r.organization
    """,
    f"""{_INSERT}
    SELECT p.domain, p.day, r.organization, {_POLICY_TYPE}, '', COUNT(DISTINCT p.report_pk),
           SUM(p.successful_sessions), SUM(p.failed_sessions)
    FROM policy_results p JOIN reports r ON r.id = p.report_pk
    GROUP BY p.domain, p.day, r.organization, {_POLICY_TYPE}
    """,
    f"""{_INSERT}
    SELECT f.domain, f.day, r.organization, {_POLICY_TYPE}, {_RESULT_TYPE},
           COUNT(DISTINCT f.report_pk), 0, SUM(f.failed_session_count)
    FROM failure_details f
    JOIN policy_results p ON p.report_pk = f.report_pk AND p.ordinal = f.policy_ordinal
    JOIN reports r ON r.id = f.report_pk
    GROUP BY f.domain, f.day, r.organization, {_POLICY_TYPE}, {_RESULT_TYPE}
    """,
)


def upgrade() -> None:
    op.create_table(
        "daily_rollups",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("organization", sa.Text, nullable=False),
        sa.Column("policy_type", sa.Text, nullable=False),
        sa.Column("result_type", sa.Text, nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            "domain",
            "policy_type",
            "result_type",
            "day",
            "organization",
            name="pk_daily_rollups",
        ),
        sqlite_with_rowid=False,
    )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("daily_rollups")
