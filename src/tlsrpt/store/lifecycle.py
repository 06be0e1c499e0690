"""Account lifecycle over `tlsrpt.store.accounts`: list, remove, disable and
re-enable users, change passwords; list and revoke API tokens; list,
remove and (re)assign registered domains.

What cuts someone off takes effect on their next request: tokens and
sessions are checked against the database every time
(`tlsrpt.store.users.user_for_token`, `get_session`). Disabling a user or
changing their password also deletes their dashboard sessions; removing a
user deletes their tokens, sessions and domain assignments with them
(explicitly, not only by the foreign keys' ON DELETE CASCADE).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.accounts import api_tokens, domain_owners, domains, users, web_sessions
from tlsrpt.store.sums import AnyRow
from tlsrpt.store.users import (
    AccountError,
    hash_password,
    normalize_domain,
    normalize_email,
    utc_now,
)

TokenState = Literal["active", "expired", "revoked", "user-disabled"]


def _user_row(conn: Connection, email: str) -> AnyRow:
    email = normalize_email(email)
    row = conn.execute(
        sa.select(users.c.id, users.c.email, users.c.disabled_at).where(users.c.email == email)
    ).first()
    if row is None:
        raise AccountError(f"no user {email}")
    return row


def has_users(conn: Connection) -> bool:
    return conn.execute(sa.select(users.c.id).limit(1)).first() is not None


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    admin: bool
    created_at: datetime
    disabled_at: datetime | None
    active_tokens: int
    domains: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "admin": self.admin,
            "disabled": self.disabled_at is not None,
            "created_at": self.created_at,
            "disabled_at": self.disabled_at,
            "active_tokens": self.active_tokens,
            "domains": list(self.domains),
        }


def list_users(conn: Connection) -> list[UserInfo]:
    """Every user by e-mail, with their usable tokens and assigned domains."""
    now = utc_now()
    active = (
        sa.select(api_tokens.c.user_id, sa.func.count())
        .where(
            api_tokens.c.revoked_at.is_(None),
            sa.or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
        )
        .group_by(api_tokens.c.user_id)
    )
    tokens = {int(uid): int(n) for uid, n in conn.execute(active)}
    owned: dict[int, list[str]] = defaultdict(list)
    for domain, uid in conn.execute(
        sa.select(domain_owners.c.domain, domain_owners.c.user_id).order_by(domain_owners.c.domain)
    ):
        owned[int(uid)].append(domain)
    query = sa.select(
        users.c.id, users.c.email, users.c.is_admin, users.c.created_at, users.c.disabled_at
    ).order_by(users.c.email)
    return [
        UserInfo(
            int(row.id),
            row.email,
            bool(row.is_admin),
            row.created_at,
            row.disabled_at,
            tokens.get(int(row.id), 0),
            tuple(owned.get(int(row.id), ())),
        )
        for row in conn.execute(query)
    ]


def _end_sessions(conn: Connection, user_id: int) -> int:
    return conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id)).rowcount


@dataclass(frozen=True, slots=True)
class Removed:
    email: str
    tokens: int
    sessions: int
    domains: tuple[str, ...]


def remove_user(conn: Connection, email: str) -> Removed:
    """Delete a user with their tokens, sessions and domain assignments
    (the domains stay registered). Their reports are not theirs: they stay."""
    row = _user_row(conn, email)
    uid = int(row.id)
    owned = tuple(
        conn.scalars(
            sa.select(domain_owners.c.domain)
            .where(domain_owners.c.user_id == uid)
            .order_by(domain_owners.c.domain)
        )
    )
    tokens = conn.execute(api_tokens.delete().where(api_tokens.c.user_id == uid)).rowcount
    sessions = _end_sessions(conn, uid)
    conn.execute(domain_owners.delete().where(domain_owners.c.user_id == uid))
    conn.execute(users.delete().where(users.c.id == uid))
    return Removed(row.email, tokens, sessions, owned)


def set_disabled(conn: Connection, email: str, disabled: bool) -> tuple[str, bool, int]:
    """Disable (or enable again) a user: (e-mail, whether anything changed,
    sessions ended). A disabled user's tokens and sessions stop working at
    once and their login is refused; enabling gives the tokens back (not
    the sessions: they are deleted)."""
    row = _user_row(conn, email)
    uid = int(row.id)
    changed = (row.disabled_at is None) == disabled
    if changed:
        conn.execute(
            users.update()
            .where(users.c.id == uid)
            .values(disabled_at=utc_now() if disabled else None)
        )
    ended = _end_sessions(conn, uid) if disabled else 0
    return row.email, changed, ended


def set_admin(conn: Connection, email: str, admin: bool) -> tuple[str, bool]:
    """Make a user an admin (who sees and manages everything) or take that
    away: (e-mail, whether anything changed). Their sessions go on, with
    the new role from their next request on (`get_session` reads it)."""
    row = _user_row(conn, email)
    current = conn.scalar(sa.select(users.c.is_admin).where(users.c.id == row.id))
    if bool(current) == admin:
        return row.email, False
    conn.execute(users.update().where(users.c.id == row.id).values(is_admin=admin))
    return row.email, True


def set_password(conn: Connection, email: str, password: str) -> tuple[str, int]:
    """A new password; every dashboard session of the user ends (a leaked
    password must not leave a session behind). Returns (e-mail, sessions
    ended). API tokens are not touched: revoke them apart."""
    row = _user_row(conn, email)
    hashed = hash_password(password)
    conn.execute(users.update().where(users.c.id == row.id).values(password_hash=hashed))
    return row.email, _end_sessions(conn, int(row.id))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    email: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: TokenState

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "state": self.state,
        }


def _state(revoked: datetime | None, expires: datetime | None, disabled: bool) -> TokenState:
    if revoked is not None:
        return "revoked"
    if expires is not None and expires <= utc_now():
        return "expired"
    return "user-disabled" if disabled else "active"


def list_tokens(conn: Connection, email: str | None = None) -> list[TokenInfo]:
    """Tokens (never their text, which is not stored), oldest first; of one
    user when `email` is given."""
    query = (
        sa.select(
            api_tokens.c.id,
            users.c.email,
            api_tokens.c.created_at,
            api_tokens.c.expires_at,
            api_tokens.c.revoked_at,
            users.c.disabled_at,
        )
        .join(users, users.c.id == api_tokens.c.user_id)
        .order_by(api_tokens.c.id)
    )
    if email is not None:
        query = query.where(users.c.id == _user_row(conn, email).id)
    return [
        TokenInfo(
            int(r.id),
            r.email,
            r.created_at,
            r.expires_at,
            r.revoked_at,
            _state(r.revoked_at, r.expires_at, r.disabled_at is not None),
        )
        for r in conn.execute(query)
    ]


def revoke_tokens(
    conn: Connection, ids: list[int], email: str | None = None
) -> tuple[list[int], list[int]]:
    """Revoke tokens by id: (revoked now, revoked before). All or nothing:
    an unknown id refuses the whole call; with `email`, so does another
    user's token (reported exactly like an unknown one)."""
    query = sa.select(api_tokens.c.id, api_tokens.c.revoked_at).where(api_tokens.c.id.in_(ids))
    if email is not None:
        query = query.where(api_tokens.c.user_id == _user_row(conn, email).id)
    rows = {int(r.id): r.revoked_at for r in conn.execute(query)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise AccountError(f"no token {missing[0]} (see `tlsrpt token list`)")
    fresh = [i for i in ids if rows[i] is None]
    if fresh:
        conn.execute(
            api_tokens.update().where(api_tokens.c.id.in_(fresh)).values(revoked_at=utc_now())
        )
    return fresh, [i for i in ids if rows[i] is not None]


def _owners(conn: Connection, names: list[str] | None = None) -> dict[str, list[str]]:
    query = (
        sa.select(domain_owners.c.domain, users.c.email)
        .join(users, users.c.id == domain_owners.c.user_id)
        .order_by(users.c.email)
    )
    if names is not None:
        query = query.where(domain_owners.c.domain.in_(names))
    owners: dict[str, list[str]] = defaultdict(list)
    for domain, email in conn.execute(query):
        owners[domain].append(email)
    return owners


def _containing(text: str) -> sa.ColumnElement[bool]:
    """Registered names holding `text` (lower-cased like every stored name;
    `%` and `_` match themselves)."""
    return domains.c.domain.contains(text.lower(), autoescape=True) if text else sa.true()


def list_domains(
    conn: Connection, search: str = "", limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Registered domains by name, with the users they are assigned to;
    with `search`, those whose name holds it; `limit` and `offset` page."""
    query = (
        sa.select(domains.c.domain, domains.c.created_at)
        .where(_containing(search))
        .order_by(domains.c.domain)
        .limit(limit)
        .offset(offset)
    )
    rows = conn.execute(query).all()
    owners = _owners(conn, [name for name, _ in rows]) if limit is not None else _owners(conn)
    return [
        {"domain": name, "owners": owners.get(name, []), "created_at": created}
        for name, created in rows
    ]


def count_domains(conn: Connection, search: str = "") -> int:
    """How many registered domains `list_domains` lists with `search`."""
    query = sa.select(sa.func.count()).select_from(domains).where(_containing(search))
    return int(conn.scalar(query) or 0)


def _registered(conn: Connection, name: str) -> bool:
    query = sa.select(domains.c.domain).where(domains.c.domain == name)
    return conn.execute(query).first() is not None


def remove_domain(conn: Connection, domain: str, owner: str | None = None) -> tuple[str, bool]:
    """Unregister a domain (and every assignment of it), or with `owner`
    only take it from that user. Its reports stay, so an admin still sees
    a domain with reports. Returns (name, whether anything changed)."""
    name = normalize_domain(domain)
    if owner is not None:
        uid = _user_row(conn, owner).id
        gone = conn.execute(
            domain_owners.delete().where(
                domain_owners.c.domain == name, domain_owners.c.user_id == uid
            )
        ).rowcount
        return name, gone > 0
    if not _registered(conn, name):
        return name, False
    conn.execute(domain_owners.delete().where(domain_owners.c.domain == name))
    conn.execute(domains.delete().where(domains.c.domain == name))
    return name, True


def assign_domain(conn: Connection, domain: str, emails: list[str]) -> tuple[str, list[str], bool]:
    """Give a domain to exactly these users (registering it if need be);
    users who had it and are not listed lose it. An empty list takes it
    from everyone. Returns (name, owners, whether anything changed)."""
    name = normalize_domain(domain)
    wanted = {int(_user_row(conn, e).id) for e in emails}
    changed = False
    if not _registered(conn, name):
        conn.execute(domains.insert().values(domain=name, created_at=utc_now()))
        changed = True
    current = set(
        map(
            int,
            conn.scalars(sa.select(domain_owners.c.user_id).where(domain_owners.c.domain == name)),
        )
    )
    if current - wanted:
        conn.execute(
            domain_owners.delete().where(
                domain_owners.c.domain == name, domain_owners.c.user_id.in_(current - wanted)
            )
        )
    if wanted - current:
        conn.execute(
            domain_owners.insert(), [{"domain": name, "user_id": u} for u in wanted - current]
        )
    changed |= current != wanted
    return name, _owners(conn, [name]).get(name, []), changed
