"""Account tables (SQLAlchemy Core), on the store's one `MetaData`.

- `users`: dashboard and API users; `password_hash` is an argon2id hash
  (None for a user who only uses API tokens); `is_admin` users see every
  domain; a user with `disabled_at` set can neither log in nor use a token.
- `api_tokens`: bearer tokens, stored as the SHA-256 of the token (the
  token itself is shown once, when created); a token stops working at
  `expires_at` (never when NULL) or once `revoked_at` is set.
- `domains`: the policy domains registered with `tlsrpt domain add`.
- `domain_owners`: which non-admin user sees which domain (a hosting
  provider's customers).
- `web_sessions`: dashboard logins, keyed by the SHA-256 of the session
  cookie, with the session's CSRF token and expiry.

Created by migration 0003, lifecycle columns by 0005
(`tlsrpt/store/migrations/versions`).
"""

from __future__ import annotations

import sqlalchemy as sa

from tlsrpt.store.schema import Id, metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # stored lower-case
    sa.Column("password_hash", sa.Text),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("disabled_at", sa.DateTime),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
    sa.Index(None, "user_id"),
)

domains = sa.Table(
    "domains",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

domain_owners = sa.Table(
    "domain_owners",
    metadata,
    sa.Column(
        "domain", sa.Text, sa.ForeignKey("domains.domain", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "user_id"),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Index(None, "user_id"),
)
