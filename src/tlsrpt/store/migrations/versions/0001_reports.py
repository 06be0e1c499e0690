"""Raw inputs and parsed reports.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "raw_inputs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("codec", sa.String(8), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("kind", sa.String(8)),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_detail", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text),
        sa.Column("source_meta", sa.Text),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("processed_at", sa.DateTime),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(40)),
        sa.Column("reason", sa.Text),
        sa.Column("notes", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_raw_inputs"),
        sa.UniqueConstraint("sha256", name="uq_raw_inputs_sha256"),
    )
    quarantined = sa.text("outcome = 'quarantined'")
    op.create_index(
        "ix_raw_inputs_quarantined",
        "raw_inputs",
        ["id"],
        sqlite_where=quarantined,
        postgresql_where=quarantined,
    )

    op.create_table(
        "reports",
        sa.Column("id", Id, primary_key=True),
        sa.Column("raw_id", Id, nullable=False),
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("organization", sa.Text, nullable=False),
        sa.Column("contact_info", sa.Text),
        sa.Column("report_id", sa.Text, nullable=False),
        sa.Column("start_at", sa.DateTime, nullable=False),
        sa.Column("end_at", sa.DateTime, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("submitter", sa.Text),
        sa.Column("header_domain", sa.Text),
        sa.Column("deviations", sa.Text, nullable=False),
        sa.Column("successful_sessions", sa.BigInteger, nullable=False),
        sa.Column("failed_sessions", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.ForeignKeyConstraint(["raw_id"], ["raw_inputs.id"], name="fk_reports_raw_id_raw_inputs"),
        sa.UniqueConstraint("dedup_key", name="uq_reports_dedup_key"),
    )
    op.create_index("ix_reports_raw_id", "reports", ["raw_id"])

    op.create_table(
        "policy_results",
        sa.Column("report_pk", Id, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("policy_type", sa.Text, nullable=False),
        sa.Column("policy_domain", sa.Text),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("policy_strings", sa.Text, nullable=False),
        sa.Column("mx_hosts", sa.Text, nullable=False),
        sa.Column("successful_sessions", sa.BigInteger, nullable=False),
        sa.Column("failed_sessions", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("report_pk", "ordinal", name="pk_policy_results"),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["reports.id"],
            name="fk_policy_results_report_pk_reports",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_policy_results_domain_day", "policy_results", ["domain", "day"])

    op.create_table(
        "failure_details",
        sa.Column("report_pk", Id, nullable=False),
        sa.Column("policy_ordinal", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("ordinal", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("result_type", sa.Text, nullable=False),
        sa.Column("failed_session_count", sa.BigInteger, nullable=False),
        sa.Column("sending_mta_ip", sa.Text),
        sa.Column("receiving_mx_hostname", sa.Text),
        sa.Column("receiving_mx_helo", sa.Text),
        sa.Column("receiving_ip", sa.Text),
        sa.Column("additional_information", sa.Text),
        sa.Column("failure_reason_code", sa.Text),
        sa.PrimaryKeyConstraint(
            "report_pk", "policy_ordinal", "ordinal", name="pk_failure_details"
        ),
        sa.ForeignKeyConstraint(
            ["report_pk", "policy_ordinal"],
            ["policy_results.report_pk", "policy_results.ordinal"],
            name="fk_failure_details_report_pk_policy_ordinal_policy_results",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_failure_details_window",
        "failure_details",
        [
            "domain",
            "day",
            "result_type",
            "receiving_mx_hostname",
            "sending_mta_ip",
            "failed_session_count",
        ],
    )

    op.create_table(
        "report_duplicates",
        sa.Column("raw_id", Id, nullable=False),
        sa.Column("report_pk", Id, nullable=False),
        sa.Column("conflict", sa.Boolean, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("raw_id", "report_pk", name="pk_report_duplicates"),
        sa.ForeignKeyConstraint(
            ["raw_id"], ["raw_inputs.id"], name="fk_report_duplicates_raw_id_raw_inputs"
        ),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["reports.id"],
            name="fk_report_duplicates_report_pk_reports",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_report_duplicates_report_pk", "report_duplicates", ["report_pk"])


def downgrade() -> None:
    for table in ("report_duplicates", "failure_details", "policy_results", "reports"):
        op.drop_table(table)
    op.drop_table("raw_inputs")
