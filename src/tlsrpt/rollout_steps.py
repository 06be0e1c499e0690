"""The guided rollout's steps, taken: promote one ramp step or roll back,
in the caller's write transaction. The decisions are `tlsrpt.mtasts`'s
(`plan_promotion`, `plan_rollback`), the verdict the read model's (as of
`now`'s UTC day, the one the dashboard, the API and `tlsrpt summary`
show); the new version is stored with `tlsrpt.store.hosted.publish`. What
`tlsrpt mta-sts promote|rollback` and the dashboard's buttons do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from tlsrpt.mtasts import (
    PolicyVersion,
    Promotion,
    Rollback,
    new_version,
    plan_promotion,
    plan_rollback,
)
from tlsrpt.store.hosted import publish
from tlsrpt.store.readiness_reads import domain_readiness


def promote(
    conn: Connection,
    history: Sequence[PolicyVersion],
    now: datetime,
    created_by: str,
    *,
    force: bool = False,
) -> tuple[Promotion, PolicyVersion | None]:
    """Promote the domain of `history` (oldest first, read in this
    transaction) one ramp step when allowed; the decision and the version
    published (None when refused or at the last step). Raises
    `tlsrpt.mtasts.PolicyError` when the version cannot be made."""
    current = history[-1]
    readiness = domain_readiness(conn, current.domain, now.astimezone(UTC).date())
    promotion = plan_promotion(history, readiness, now, force=force)
    if promotion.change is None:
        return promotion, None
    version = new_version(current.domain, history, promotion.change, now=now, created_by=created_by)
    publish(conn, version)
    return promotion, version


def rollback(
    conn: Connection, history: Sequence[PolicyVersion], now: datetime, created_by: str
) -> tuple[Rollback, PolicyVersion | None]:
    """Publish `mode: none` with the longest max_age ever published (RFC
    8461 §8.3); None when the policy is off already."""
    plan = plan_rollback(history, now)
    if plan.change is None:
        return plan, None
    current = history[-1]
    version = new_version(current.domain, history, plan.change, now=now, created_by=created_by)
    publish(conn, version)
    return plan, version
