"""The selection most queries take: a policy domain and a range of UTC days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa


@dataclass(frozen=True, slots=True)
class Window:
    """Policy domain and inclusive UTC day range; None means unbounded."""

    domain: str | None = None
    since: date | None = None
    until: date | None = None

    def where(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.domain is not None:
            clauses.append(table.c.domain == self.domain)
        if self.since is not None:
            clauses.append(table.c.day >= self.since)
        if self.until is not None:
            clauses.append(table.c.day <= self.until)
        return clauses
