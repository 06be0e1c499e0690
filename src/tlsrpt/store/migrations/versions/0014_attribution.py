"""Attribution: how each policy result's domain was found.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

See tlsrpt.store.schema (`policy_results.attribution`) and
tlsrpt.report.attribution. Stored rows were filed under their own
policy-domain, or, when they had none, under the domain named by the
deviation recorded with the report (`policy-domain-inferred`): that
deviation says which source it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The deviation messages ingest writes for a policy-domain it inferred,
# by attribution (tlsrpt.report.attribution; earlier versions wrote the
# first three).
_INFERRED = {
    "policy-domain taken from the TLS-Report-Domain header": "report-domain-header",
    "policy-domain taken from the Subject": "subject",
    "policy-domain taken from the file name": "file-name",
    "policy-domain taken from the receiver path": "receiver-path",
    "policy-domain taken from the sts policy of the report": "sts-policy-of-report",
}


def upgrade() -> None:
    op.add_column(
        "policy_results",
        sa.Column("attribution", sa.String(32), nullable=False, server_default="reported"),
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    import orjson

    p = sa.table(
        "policy_results",
        sa.column("report_pk"),
        sa.column("ordinal"),
        sa.column("policy_domain"),
        sa.column("domain"),
        sa.column("attribution"),
    )
    r = sa.table("reports", sa.column("id"), sa.column("deviations"))
    missing = sa.or_(p.c.policy_domain.is_(None), sa.func.trim(p.c.policy_domain) == "")
    query = (
        sa.select(p.c.report_pk, p.c.ordinal, p.c.domain, r.c.deviations)
        .join(r, r.c.id == p.c.report_pk)
        .where(missing)
    )
    found: dict[str, list[dict[str, int]]] = {}
    for report_pk, ordinal, domain, deviations in conn.execute(query):
        how = "unknown"
        if domain:
            path = f"$.policies[{ordinal}].policy.policy-domain"
            how = "report-domain-header"  # the first source tried
            for dev in orjson.loads(deviations or "[]"):
                if dev.get("path") == path and dev.get("message") in _INFERRED:
                    how = _INFERRED[dev["message"]]
        found.setdefault(how, []).append({"pk": report_pk, "ord": ordinal})
    for how, keys in found.items():
        conn.execute(
            p.update()
            .where(p.c.report_pk == sa.bindparam("pk"), p.c.ordinal == sa.bindparam("ord"))
            .values(attribution=how),
            keys,
        )


def downgrade() -> None:
    op.drop_column("policy_results", "attribution")  # SQLite 3.35+: in place
