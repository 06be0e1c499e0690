"""What the domain page shows beside the reports' analysis: every failure
group explained with what was published on its day
(`tlsrpt.analysis.failure_context`, template `_failure_context.html`), and
where the domain is in its MTA-STS rollout with the next step
(`tlsrpt.mtasts.status`, template `_rollout.html`; its admin buttons are
`tlsrpt.web.dashboard.rollout_pages`). One call from the page's handler,
in its read transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from tlsrpt.analysis.period import Period
from tlsrpt.analysis.readiness import Readiness
from tlsrpt.mtasts import PublishSettings, rollout_status
from tlsrpt.store import reads

GROUPS_SHOWN = 50  # failure groups on the page, newest day first


def domain_extras(
    conn: Connection,
    domain: str,
    period: Period,
    readiness: Readiness,
    state: Any,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The template context of both partials. `readiness` is the verdict
    as of today (the one `tlsrpt mta-sts promote` asks); `state` is the
    app's state, whose `settings` give the records' public URL."""
    settings: PublishSettings = state.settings.publish
    now = now or datetime.now(UTC)
    explained = reads.explained_failures(conn, domain, period)
    history = reads.hosted_history(conn, domain)
    return {
        "explained": explained[:GROUPS_SHOWN],
        "explained_total": len(explained),
        "rollout": rollout_status(domain, history, readiness, now, settings),
    }
