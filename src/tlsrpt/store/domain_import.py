"""Registering many domains at once (a hosting provider's customer list):
one query per chunk to find the names already registered, one bulk insert
per chunk for the rest, and the same for their owner. What one domain at a
time does (`tlsrpt.store.users.add_domain`) this does for a list, in the
caller's transaction: all of it or none."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store.accounts import domain_owners, domains
from tlsrpt.store.users import AccountError, get_user, normalize_domain, normalize_email, utc_now

CHUNK = 500  # names per IN (...) and per insert: far below every driver's parameter limit


@dataclass(frozen=True, slots=True)
class DomainImport:
    """What an import changed: names newly registered, names that were
    registered already, and names newly given to the owner."""

    added: frozenset[str]
    existing: frozenset[str]
    assigned: frozenset[str]


def _chunks(names: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(names), CHUNK):
        yield names[start : start + CHUNK]


def import_domains(
    conn: Connection, names: Sequence[str], owner: str | None = None
) -> DomainImport:
    """Register `names` (normalised again here, duplicates ignored) and,
    with `owner`, give every one of them to that user."""
    wanted = list(dict.fromkeys(normalize_domain(n) for n in names))
    owner_id: int | None = None
    if owner is not None:
        user = get_user(conn, owner)
        if user is None:
            raise AccountError(f"no user {normalize_email(owner)}")
        owner_id = user.id
    existing: set[str] = set()
    owned: set[str] = set()
    for chunk in _chunks(wanted):
        existing.update(
            conn.scalars(sa.select(domains.c.domain).where(domains.c.domain.in_(chunk)))
        )
        if owner_id is not None:
            owned.update(
                conn.scalars(
                    sa.select(domain_owners.c.domain).where(
                        domain_owners.c.user_id == owner_id, domain_owners.c.domain.in_(chunk)
                    )
                )
            )
    now = utc_now()
    added = [n for n in wanted if n not in existing]
    for chunk in _chunks(added):
        conn.execute(domains.insert(), [{"domain": n, "created_at": now} for n in chunk])
    assigned = [n for n in wanted if n not in owned] if owner_id is not None else []
    for chunk in _chunks(assigned):
        conn.execute(domain_owners.insert(), [{"domain": n, "user_id": owner_id} for n in chunk])
    return DomainImport(frozenset(added), frozenset(existing), frozenset(assigned))
