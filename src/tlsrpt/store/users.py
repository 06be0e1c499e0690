"""Account operations over `tlsrpt.store.accounts`: users, API tokens,
domain ownership, dashboard sessions, and which domains a user may see.

Secrets are never stored: passwords as argon2id hashes (argon2-cffi's
defaults), API tokens and session ids as SHA-256 of 32 random bytes (they
carry 256 bits of entropy, so a fast hash is enough and lookups stay exact).

Every check reads the database, nothing is cached: a revoked or expired
token, or a disabled user, is refused from the next request on. Listing,
removing, disabling and the like are in `tlsrpt.store.lifecycle`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from tlsrpt.domains import DomainError
from tlsrpt.domains import normalize_domain as domain_name
from tlsrpt.store.accounts import api_tokens, domain_owners, domains, users, web_sessions
from tlsrpt.store.schema import daily_rollups
from tlsrpt.store.schema import reported_domains as reported
from tlsrpt.store.sums import AnyRow

SESSION_LIFETIME = timedelta(hours=12)
TOKEN_PREFIX = "tlsrpt_"  # noqa: S105 (a prefix, not a secret)

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a login takes the same
# time whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(Exception):
    """An account operation cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    is_admin: bool


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, host = email.partition("@")
    if not local or not host or " " in email:
        raise AccountError(f"{email!r} is not an e-mail address")
    return email


def normalize_domain(domain: str) -> str:
    try:
        return domain_name(domain, "ldh")
    except DomainError:
        raise AccountError(f"{domain!r} is not a domain name") from None


def _user(row: AnyRow | None) -> User | None:
    return User(int(row[0]), row[1], bool(row[2])) if row is not None else None


_USER = (users.c.id, users.c.email, users.c.is_admin)


def get_user(conn: Connection, email: str) -> User | None:
    query = sa.select(*_USER).where(users.c.email == normalize_email(email))
    return _user(conn.execute(query).first())


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable password."""
    if len(password) < 8:
        raise AccountError("the password must have at least 8 characters")
    return _hasher.hash(password)


def add_user(conn: Connection, email: str, password: str | None, *, admin: bool) -> User:
    email = normalize_email(email)
    if get_user(conn, email) is not None:
        raise AccountError(f"user {email} already exists")
    hashed = hash_password(password) if password is not None else None
    pk = conn.execute(
        users.insert().values(
            email=email, password_hash=hashed, is_admin=admin, created_at=utc_now()
        )
    ).inserted_primary_key
    assert pk is not None
    return User(int(pk[0]), email, admin)


def authenticate(conn: Connection, email: str, password: str) -> User | None:
    """The user whose e-mail and password these are, or None (also for a
    disabled user, whose password is checked all the same: same time)."""
    try:
        email = normalize_email(email)
    except AccountError:
        email = ""
    row = conn.execute(
        sa.select(*_USER, users.c.password_hash, users.c.disabled_at).where(users.c.email == email)
    ).first()
    stored = row[3] if row is not None and row[3] else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return _user(row) if row is not None and row[3] and row[4] is None else None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: the only time its text is known."""

    id: int
    email: str
    token: str
    expires_at: datetime | None


_DURATION = re.compile(r"(\d{1,6})([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_expiry(text: str, now: datetime) -> datetime:
    """A token's expiry as written by a person, as naive UTC: a duration
    from `now` (naive UTC) such as 12h, 90d or 4w, a UTC day (2027-01-31:
    at its start) or a time (2027-01-31T12:00:00Z)."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if duration:
        return now + int(duration.group(1)) * _UNITS[duration.group(2)]
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise AccountError(
            "expected a duration (90d, 12h, 4w), YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def issue_token(conn: Connection, email: str, expires_at: datetime | None = None) -> IssuedToken:
    """A new API token for the user, valid until `expires_at` (naive UTC;
    None: until revoked); only its hash is stored."""
    row = conn.execute(
        sa.select(users.c.id, users.c.disabled_at).where(users.c.email == normalize_email(email))
    ).first()
    if row is None:
        raise AccountError(f"no user {normalize_email(email)} (add it with `tlsrpt user add`)")
    if row[1] is not None:
        raise AccountError(f"user {normalize_email(email)} is disabled")
    now = utc_now()
    if expires_at is not None and expires_at <= now:
        raise AccountError(f"the expiry {expires_at:%Y-%m-%d %H:%M:%S} UTC is not in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    pk = conn.execute(
        api_tokens.insert().values(
            user_id=row[0], token_sha256=_sha256(token), created_at=now, expires_at=expires_at
        )
    ).inserted_primary_key
    assert pk is not None
    return IssuedToken(int(pk[0]), normalize_email(email), token, expires_at)


def create_token(conn: Connection, email: str) -> str:
    """A new API token for the user that does not expire."""
    return issue_token(conn, email).token


def user_for_token(conn: Connection, token: str) -> User | None:
    """The user a token acts as; None when the token is unknown, revoked
    or expired, or its user disabled."""
    now = utc_now()
    query = (
        sa.select(*_USER)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(
            api_tokens.c.token_sha256 == _sha256(token),
            api_tokens.c.revoked_at.is_(None),
            sa.or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            users.c.disabled_at.is_(None),
        )
    )
    return _user(conn.execute(query).first())


def add_domain(conn: Connection, domain: str, owner: str | None = None) -> tuple[str, bool]:
    """Register `domain` (and give it to `owner`). Returns the normalized
    name and whether anything changed."""
    name = normalize_domain(domain)
    changed = False
    if conn.execute(sa.select(domains.c.domain).where(domains.c.domain == name)).first() is None:
        conn.execute(domains.insert().values(domain=name, created_at=utc_now()))
        changed = True
    if owner is not None:
        user = get_user(conn, owner)
        if user is None:
            raise AccountError(f"no user {normalize_email(owner)} (add it with `tlsrpt user add`)")
        owned = sa.select(domain_owners.c.domain).where(
            domain_owners.c.domain == name, domain_owners.c.user_id == user.id
        )
        if conn.execute(owned).first() is None:
            conn.execute(domain_owners.insert().values(domain=name, user_id=user.id))
            changed = True
    return name, changed


def visible_domains(conn: Connection, user: User) -> list[str]:
    """The policy domains a user may see, sorted: for an admin every
    registered domain and every domain with reports; for anyone else the
    domains assigned to them."""
    if not user.is_admin:
        query = sa.select(domain_owners.c.domain).where(domain_owners.c.user_id == user.id)
        return sorted(conn.scalars(query).all())
    # One statement: the union and its order in the database, fetched at
    # once (10,000 names: half the time of two lists merged in Python).
    # Code-point order, as Python sorts: SQLite compares UTF-8 bytes,
    # PostgreSQL does with the "C" collation.
    union = sa.union(sa.select(reported.c.domain), sa.select(domains.c.domain)).subquery()
    key = union.c.domain if conn.dialect.name == "sqlite" else sa.collate(union.c.domain, "C")
    names = conn.scalars(sa.select(union.c.domain).order_by(key)).all()
    return [n for n in names if n]  # "": reports whose policy domain was not attributed


def reported_domains(conn: Connection) -> list[str]:
    """Every policy domain with reports, sorted."""
    return list(conn.scalars(sa.select(reported.c.domain).order_by(reported.c.domain)).all())


def domain_exists(conn: Connection, domain: str) -> bool:
    """Reported on or registered: two primary-key lookups. Stored names
    never hold NUL (PostgreSQL text cannot), so a name with one is unknown
    without asking — PostgreSQL would refuse the query."""
    if "\x00" in domain:
        return False
    reported = sa.select(daily_rollups.c.domain).where(daily_rollups.c.domain == domain).limit(1)
    registered = sa.select(domains.c.domain).where(domains.c.domain == domain)
    return domain != "" and (
        conn.execute(reported).first() is not None or conn.execute(registered).first() is not None
    )


def can_see(conn: Connection, user: User, domain: str) -> bool:
    """The user may see the domain and, for an admin, it exists."""
    if "\x00" in domain:  # never stored (see domain_exists)
        return False
    if user.is_admin:
        return domain_exists(conn, domain)
    query = sa.select(domain_owners.c.domain).where(
        domain_owners.c.user_id == user.id, domain_owners.c.domain == domain
    )
    return conn.execute(query).first() is not None


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str


def start_session(conn: Connection, user: User) -> tuple[str, Session]:
    """A new dashboard session: (cookie value, session)."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utc_now()
    conn.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
    conn.execute(
        web_sessions.insert().values(
            id_sha256=_sha256(cookie),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return cookie, Session(user, csrf)


def get_session(conn: Connection, cookie: str) -> Session | None:
    query = (
        sa.select(*_USER, web_sessions.c.csrf_token)
        .join(web_sessions, web_sessions.c.user_id == users.c.id)
        .where(
            web_sessions.c.id_sha256 == _sha256(cookie),
            web_sessions.c.expires_at > utc_now(),
            users.c.disabled_at.is_(None),  # disabling ends sessions; this closes any race
        )
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return Session(User(int(row[0]), row[1], bool(row[2])), row[3])


def end_session(conn: Connection, cookie: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.id_sha256 == _sha256(cookie)))
