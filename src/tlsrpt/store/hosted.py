"""Hosted MTA-STS policies (`tlsrpt.mtasts`): tables and SQL.

- `hosted_policies`: one row per domain whose policy this server serves,
  with the number of its current version.
- `hosted_policy_versions`: every version ever published, never changed
  or deleted: mode, mx patterns (a JSON array), max_age, policy id, the
  policy text exactly as served, when and by whom it was made, and a note
  (e.g. `promote --force: ...`).

Not tied to `domains` by a foreign key: unregistering a domain
(`tlsrpt domain remove`) does not stop serving its policy, which senders
may have cached in `enforce` mode. Created by migration 0011.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.mtasts.versions import PolicyVersion
from tlsrpt.store.accounts import domains
from tlsrpt.store.schema import metadata
from tlsrpt.store.sums import AnyRow

hosted_policies = sa.Table(
    "hosted_policies",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

hosted_policy_versions = sa.Table(
    "hosted_policy_versions",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("mx", sa.Text, nullable=False),  # JSON array of patterns
    sa.Column("max_age", sa.BigInteger, nullable=False),
    sa.Column("policy_id", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

_V = hosted_policy_versions
_COLUMNS = (
    _V.c.domain,
    _V.c.version,
    _V.c.mode,
    _V.c.mx,
    _V.c.max_age,
    _V.c.policy_id,
    _V.c.text,
    _V.c.created_at,
    _V.c.created_by,
    _V.c.note,
)
# Built once: the watcher asks after every check, in its write transaction
# (see `tlsrpt.store.watch`).
_CURRENT_VERSION = (
    sa.select(*_COLUMNS)
    .join(
        hosted_policies,
        sa.and_(
            hosted_policies.c.domain == _V.c.domain,
            hosted_policies.c.current_version == _V.c.version,
        ),
    )
    .where(hosted_policies.c.domain == sa.bindparam("b_domain"))
)


def _naive(moment: datetime) -> datetime:
    """Stored times are naive UTC, as everywhere in the schema."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _version(row: AnyRow) -> PolicyVersion:
    domain, number, mode, mx, max_age, pid, text, created_at, created_by, note = row
    return PolicyVersion(
        domain=str(domain),
        version=int(number),
        mode=mode,
        mx=tuple(orjson.loads(str(mx))),
        max_age=int(max_age),
        id=str(pid),
        text=str(text),
        created_at=created_at.replace(tzinfo=UTC),
        created_by=str(created_by),
        note=str(note),
    )


def _searchable(domain: str) -> bool:
    # PostgreSQL text cannot hold NUL, and would refuse the query.
    return bool(domain) and "\x00" not in domain


def is_registered(conn: Connection, domain: str) -> bool:
    """Registered with `tlsrpt domain add`."""
    if not _searchable(domain):
        return False
    query = sa.select(domains.c.domain).where(domains.c.domain == domain)
    return conn.execute(query).first() is not None


def current_version(conn: Connection, domain: str) -> PolicyVersion | None:
    """The policy served for `domain` now, or None when it is not hosted:
    two primary-key lookups (one join)."""
    if not _searchable(domain):
        return None
    row = conn.execute(_CURRENT_VERSION, {"b_domain": domain}).first()
    return _version(row) if row is not None else None


def is_hosted(conn: Connection, domain: str) -> bool:
    if not _searchable(domain):
        return False
    query = sa.select(hosted_policies.c.domain).where(hosted_policies.c.domain == domain)
    return conn.execute(query).first() is not None


def history(conn: Connection, domain: str) -> list[PolicyVersion]:
    """Every version of the domain's hosted policy, oldest first (empty
    when it was never hosted)."""
    if not _searchable(domain):
        return []
    query = sa.select(*_COLUMNS).where(_V.c.domain == domain).order_by(_V.c.version)
    return [_version(row) for row in conn.execute(query)]


def hosted_domains(conn: Connection) -> list[str]:
    """Every domain with a hosted policy, sorted."""
    return sorted(conn.scalars(sa.select(hosted_policies.c.domain)))


def publish(conn: Connection, version: PolicyVersion) -> None:
    """Store `version` and make it the current one. Call inside a write
    transaction that also read the history it follows: writers are
    serialized, so its number is still free."""
    conn.execute(
        _V.insert().values(
            domain=version.domain,
            version=version.version,
            mode=version.mode,
            mx=orjson.dumps(list(version.mx)).decode(),
            max_age=version.max_age,
            policy_id=version.id,
            text=version.text,
            created_at=_naive(version.created_at),
            created_by=version.created_by,
            note=version.note,
        )
    )
    at = _naive(version.created_at)
    h = hosted_policies
    updated = conn.execute(
        h.update()
        .where(h.c.domain == version.domain)
        .values(current_version=version.version, updated_at=at)
    )
    if updated.rowcount == 0:
        conn.execute(
            h.insert().values(
                domain=version.domain,
                current_version=version.version,
                created_at=at,
                updated_at=at,
            )
        )
