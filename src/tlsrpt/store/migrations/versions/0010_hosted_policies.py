"""Hosted MTA-STS policies: the served version per domain and every
version ever published.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

See tlsrpt.store.hosted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosted_policies",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("domain", name="pk_hosted_policies"),
    )
    op.create_table(
        "hosted_policy_versions",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("mx", sa.Text, nullable=False),
        sa.Column("max_age", sa.BigInteger, nullable=False),
        sa.Column("policy_id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("domain", "version", name="pk_hosted_policy_versions"),
    )


def downgrade() -> None:
    op.drop_table("hosted_policy_versions")
    op.drop_table("hosted_policies")
