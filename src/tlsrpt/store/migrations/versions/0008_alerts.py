"""Alerts: their lifecycle, mutes, notification events, evaluation marks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

See tlsrpt.store.alerts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FIRING: sa.ColumnClause[str] = sa.literal_column("'firing'")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", Id, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("phase", sa.String(10), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("fix", sa.Text),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("level", sa.Integer),
        sa.Column("notified", sa.Boolean, nullable=False),
        sa.Column("notified_level", sa.Integer),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("acked_at", sa.DateTime),
        sa.Column("acked_by", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_domain_phase", "alerts", ["domain", "phase"])
    op.create_index("ix_alerts_phase_resolved_at", "alerts", ["phase", "resolved_at"])
    op.create_index(
        "uq_alerts_firing",
        "alerts",
        ["domain", "rule", "subject"],
        unique=True,
        sqlite_where=sa.column("phase") == FIRING,
        postgresql_where=sa.column("phase") == FIRING,
    )
    op.create_table(
        "alert_mutes",
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.Text),
        sa.PrimaryKeyConstraint("domain", "rule", name="pk_alert_mutes"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_events",
        sa.Column("id", Id, nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("alert_id", Id, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("level", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sa.UniqueConstraint("key", name="uq_alert_events_key"),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name="fk_alert_events_alert_id_alerts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])
    op.create_table(
        "alert_marks",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_alert_marks"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("alert_marks")
    op.drop_index("ix_alert_events_alert_id", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_mutes")
    op.drop_index("uq_alerts_firing", table_name="alerts")
    op.drop_index("ix_alerts_phase_resolved_at", table_name="alerts")
    op.drop_index("ix_alerts_domain_phase", table_name="alerts")
    op.drop_table("alerts")
