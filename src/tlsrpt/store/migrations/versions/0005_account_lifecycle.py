"""Account lifecycle: disabled users, token expiry and revocation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

See tlsrpt.store.accounts: `users.disabled_at`, `api_tokens.expires_at`
and `api_tokens.revoked_at` (all NULL for what exists already: enabled
users, tokens that never expire and are not revoked).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", sa.DateTime))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime))
    op.add_column("api_tokens", sa.Column("revoked_at", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
