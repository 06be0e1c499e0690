"""The alerts page: GET /alerts (firing first, then those resolved in the
last 30 days; `?domain=` narrows it to one domain), and its two actions,
POST /alerts/{id}/ack and POST /alerts/{id}/mute (the alert's rule for its
domain, for 7 days). Both actions are forms with the session's CSRF token
(403 without it); an alert the user may not see is a 404, whether it is
another customer's or does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Connection

from tlsrpt.store import reads
from tlsrpt.store.alerts import AlertFilter, ack, active_mutes, alerts_for_user, mute
from tlsrpt.store.engine import Store
from tlsrpt.store.users import Session
from tlsrpt.web.dashboard.deps import SessionDep, StoreDep, require_csrf
from tlsrpt.web.dashboard.render import NotFound, page

RESOLVED_DAYS = 30  # resolved alerts shown
MUTE_DAYS = 7  # what the mute button holds back
ALERT_LIMIT = 1000  # rows on the page
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Csrf = Annotated[str, Form(max_length=128)]
Action = Callable[[Connection, Session, dict[str, Any]], None]


def _now() -> datetime:
    return datetime.now(UTC)


def _back(domain: str) -> str:
    """The alerts page the action came from."""
    return "/alerts" + (f"?domain={quote(domain, safe='')}" if domain else "")


def alert_list(
    request: Request,
    store: StoreDep,
    session: SessionDep,
    domain: Annotated[str, Query(max_length=253)] = "",
) -> HTMLResponse:
    domain = domain.strip()
    now = _now()
    selection = AlertFilter(
        include_resolved=True,
        domain=domain or None,
        limit=ALERT_LIMIT,
        resolved_since=now - timedelta(days=RESOLVED_DAYS),
    )
    with store.read() as conn:
        if domain and not reads.is_visible(conn, session.user, domain):
            raise NotFound(session, f"domain {domain}")
        rows = alerts_for_user(conn, session.user, selection)
        mutes = active_mutes(conn, [r["domain"] or "" for r in rows], now)
    items = [(row, mutes.get(row["domain"] or "", {}).get(row["rule"])) for row in rows]
    return page(
        request,
        "alerts.html",
        session=session,
        firing=[i for i in items if i[0]["state"] == "firing"],
        resolved=[i for i in items if i[0]["state"] != "firing"],
        domain=domain,
        resolved_days=RESOLVED_DAYS,
        mute_days=MUTE_DAYS,
        limit=ALERT_LIMIT,
        total=len(rows),
    )


def _act(
    request: Request, store: Store, session: Session, alert_id: int, csrf: str, action: Action
) -> Response:
    require_csrf(session, csrf)
    with store.write() as conn:
        alert = reads.visible_alert(conn, session.user, alert_id)
        if alert is None:
            raise NotFound(session, f"alert {alert_id}")
        action(conn, session, alert)
    return RedirectResponse(_back(request.query_params.get("domain", "")), status_code=303)


def _ack(conn: Connection, session: Session, alert: dict[str, Any]) -> None:
    ack(conn, alert["id"], session.user.email, _now())


def _mute(conn: Connection, session: Session, alert: dict[str, Any]) -> None:
    now = _now()
    until = now + timedelta(days=MUTE_DAYS)
    mute(conn, alert["domain"] or "", alert["rule"], until, now, session.user.email)


def ack_alert(
    request: Request, store: StoreDep, session: SessionDep, alert_id: AlertId, csrf: Csrf = ""
) -> Response:
    return _act(request, store, session, alert_id, csrf, _ack)


def mute_alert(
    request: Request, store: StoreDep, session: SessionDep, alert_id: AlertId, csrf: Csrf = ""
) -> Response:
    return _act(request, store, session, alert_id, csrf, _mute)
