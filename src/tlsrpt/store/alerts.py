"""Alerts in the database: their lifecycle (`apply_transitions`, inside the
caller's transaction, returning the notification events it recorded),
mutes, acknowledgements, and the lists people read.

Times are stored as naive UTC (as everywhere in the store) and come back
as aware UTC. An event's idempotency key is `alert-<id>-<n>`, n counting
the alert's notifications: stable for one transition, unique across them.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tlsrpt.analysis.alert_model import (
    FIRING,
    NOTIFY_FIRING,
    OPEN,
    REOPEN,
    RESOLVE,
    RESOLVED,
    RESOLVING,
    SETTLE,
    UPDATE,
    AlertEvent,
    AlertState,
    Condition,
    Transition,
)
from tlsrpt.analysis.alert_rules import rule_source
from tlsrpt.store.accounts import domain_owners
from tlsrpt.store.alert_reads import any_of
from tlsrpt.store.schema import FIRING_PHASE, alert_events, alert_marks, alert_mutes, alerts
from tlsrpt.store.users import User

_CHUNK = 500  # values per IN list


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _state(row: Any) -> AlertState:
    return AlertState(
        id=int(row.id),
        rule=row.rule,
        subject=row.subject,
        phase=row.phase,
        severity=row.severity,
        summary=row.summary,
        explanation=row.explanation,
        fix=row.fix,
        evidence=orjson.loads(row.evidence),
        level=row.level,
        notified=bool(row.notified),
        notified_level=row.notified_level,
        first_seen=row.first_seen.replace(tzinfo=UTC),
        resolved_at=_aware(row.resolved_at),
        events=int(row.events),
    )


@functools.lru_cache(maxsize=8)
def _current_of_one(sources: tuple[str, ...] | None) -> sa.Select[Any]:
    """The firing and resolving alerts of one domain (`b_domain`), built
    once: the watcher reads them after every check, in its write
    transaction (see `tlsrpt.store.watch`)."""
    query = sa.select(alerts).where(
        alerts.c.domain == sa.bindparam("b_domain"), alerts.c.phase.in_((FIRING, RESOLVING))
    )
    if sources is not None:
        query = query.where(alerts.c.source.in_(sources))
    return query.order_by(alerts.c.id)


def current_alerts(
    conn: Connection, domains: Sequence[str], sources: Collection[str] | None = None
) -> dict[str, list[AlertState]]:
    """The firing and resolving alerts of `domains` (of `sources` only, if
    given), per domain."""
    out: dict[str, list[AlertState]] = {d: [] for d in domains}
    if len(out) == 1:
        (domain,) = out
        query = _current_of_one(None if sources is None else tuple(sorted(sources)))
        out[domain] = [_state(row) for row in conn.execute(query, {"b_domain": domain})]
        return out
    for chunk in _chunks(list(dict.fromkeys(domains))):
        query = sa.select(alerts).where(
            any_of(conn, alerts.c.domain, chunk), alerts.c.phase.in_((FIRING, RESOLVING))
        )
        if sources is not None:
            query = query.where(alerts.c.source.in_(list(sources)))
        for row in conn.execute(query.order_by(alerts.c.id)):
            out[row.domain].append(_state(row))
    return out


def open_rules(conn: Connection, source: str) -> dict[str, set[str]]:
    """Per domain, the rules of a source with firing or resolving alerts."""
    query = (
        sa.select(alerts.c.domain, alerts.c.rule)
        .where(alerts.c.phase.in_((FIRING, RESOLVING)), alerts.c.source == source)
        .distinct()
    )
    out: dict[str, set[str]] = {}
    for domain, rule in conn.execute(query):
        out.setdefault(domain, set()).add(rule)
    return out


_MUTES_OF_ONE = sa.select(alert_mutes.c.domain, alert_mutes.c.rule, alert_mutes.c.until).where(
    alert_mutes.c.domain == sa.bindparam("b_domain"),
    alert_mutes.c.until > sa.bindparam("b_now", type_=alert_mutes.c.until.type),
)  # built once, as `_current_of_one`


def active_mutes(
    conn: Connection, domains: Sequence[str], now: datetime
) -> dict[str, dict[str, datetime]]:
    """Mutes in force: domain -> rule -> until."""
    out: dict[str, dict[str, datetime]] = {}
    unique = list(dict.fromkeys(domains))
    if len(unique) == 1:  # after every check: the statement built once
        found: Iterable[Any] = [
            conn.execute(_MUTES_OF_ONE, {"b_domain": unique[0], "b_now": _naive(now)})
        ]
    else:
        columns = (alert_mutes.c.domain, alert_mutes.c.rule, alert_mutes.c.until)
        found = (  # one statement at a time
            conn.execute(
                sa.select(*columns).where(
                    any_of(conn, alert_mutes.c.domain, chunk), alert_mutes.c.until > _naive(now)
                )
            )
            for chunk in _chunks(unique)
        )
    for rows in found:
        for domain, rule, until in rows:
            out.setdefault(domain, {})[rule] = until.replace(tzinfo=UTC)
    return out


def _fields(condition: Condition) -> dict[str, Any]:
    return {
        "severity": condition.severity,
        "summary": condition.summary,
        "explanation": condition.explanation,
        "fix": condition.fix,
        "evidence": orjson.dumps(condition.evidence, default=str).decode(),
        "level": condition.level,
    }


def _insert(conn: Connection, domain: str, condition: Condition, now: datetime) -> int | None:
    """Open an alert; None when one is firing already (another process
    opened it first: the partial unique index decides)."""
    values = {
        "domain": domain,
        "rule": condition.rule,
        "subject": condition.subject,
        "source": rule_source(condition.rule),
        "phase": FIRING,
        "notified": False,
        "notified_level": None,
        "events": 0,
        "first_seen": _naive(now),
        "last_seen": _naive(now),
        **_fields(condition),
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(alerts)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["domain", "rule", "subject"], index_where=alerts.c.phase == FIRING_PHASE
        )
        .returning(alerts.c.id)
    )
    return conn.execute(statement).scalar()


def _update(conn: Connection, alert_id: int, phase: str, values: dict[str, Any]) -> bool:
    statement = (
        alerts.update().where(alerts.c.id == alert_id, alerts.c.phase == phase).values(**values)
    )
    return conn.execute(statement).rowcount == 1


def _apply_one(conn: Connection, domain: str, t: Transition, now: datetime) -> int | None:
    """Carry out one transition; the alert's id, or None when the alert was
    not in the phase the plan expected (changed meanwhile: nothing done)."""
    stamp = _naive(now)
    if t.kind == OPEN:
        assert t.condition is not None
        return _insert(conn, domain, t.condition, now)
    assert t.alert_id is not None
    if t.kind in (UPDATE, REOPEN):
        assert t.condition is not None
        values = {**_fields(t.condition), "last_seen": stamp, "phase": FIRING, "resolved_at": None}
        if t.notify is None and t.level is not None:
            values["notified_level"] = t.level  # re-armed: the level rose
        done = _update(conn, t.alert_id, FIRING if t.kind == UPDATE else RESOLVING, values)
    elif t.kind == RESOLVE:
        done = _update(conn, t.alert_id, FIRING, {"phase": RESOLVING, "resolved_at": stamp})
    elif t.kind == SETTLE:
        done = _update(conn, t.alert_id, RESOLVING, {"phase": RESOLVED})
    else:  # NOTIFY: a firing alert announced late
        done = (
            conn.execute(
                sa.select(alerts.c.id).where(alerts.c.id == t.alert_id, alerts.c.phase == FIRING)
            ).first()
            is not None
        )
    return t.alert_id if done else None


def _event(conn: Connection, alert_id: int, t: Transition, now: datetime) -> AlertEvent | None:
    assert t.notify is not None
    values: dict[str, Any] = {"events": alerts.c.events + 1}
    if t.notify == NOTIFY_FIRING:
        values.update(notified=True, notified_level=t.level)
    conn.execute(alerts.update().where(alerts.c.id == alert_id).values(**values))
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one()
    key = f"alert-{alert_id}-{row.events}"
    payload = alert_detail(row)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(alert_events)
        .values(
            key=key,
            alert_id=alert_id,
            kind=t.notify,
            level=t.level,
            created_at=_naive(now),
            payload=orjson.dumps(payload).decode(),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(alert_events.c.id)
    )
    event_id = conn.execute(statement).scalar()
    if event_id is None:
        return None
    return AlertEvent(int(event_id), key, t.notify, alert_id, now, payload, int(row.events))


def apply_transitions(
    conn: Connection, domain: str, transitions: Sequence[Transition], now: datetime
) -> list[AlertEvent]:
    """Carry out a plan (`tlsrpt.watch.lifecycle.plan`) for one domain in the
    caller's transaction; the notification events recorded, in order. The
    caller may write its outbox from them in the same transaction.

    Rows are changed in the order of their ids (new alerts last), as every
    writer here does, so two transactions changing the same alerts wait for
    each other rather than deadlock. A transition whose alert changed
    meanwhile (another transaction settled it, say) is not carried out;
    when its condition holds, a new alert opens instead, unannounced: the
    next sweep announces it unless its rule is muted."""
    events = []
    ordered = sorted(transitions, key=lambda t: (t.alert_id is None, t.alert_id or 0))
    for transition in ordered:
        alert_id = _apply_one(conn, domain, transition, now)
        if alert_id is None and transition.kind in (UPDATE, REOPEN):
            assert transition.condition is not None
            _insert(conn, domain, transition.condition, now)
            continue
        if alert_id is not None and transition.notify is not None:
            event = _event(conn, alert_id, transition, now)
            events += [event] if event is not None else []
    return events


def sweep_candidates(conn: Connection) -> dict[str, list[AlertState]]:
    """Alerts time alone may move: resolving ones (their cooldown may have
    passed) and firing ones never announced (their mute may have ended)."""
    query = sa.select(alerts).where(
        sa.or_(
            alerts.c.phase == RESOLVING,
            sa.and_(alerts.c.phase == FIRING, alerts.c.notified == sa.false()),
        )
    )
    out: dict[str, list[AlertState]] = {}
    for row in conn.execute(query.order_by(alerts.c.id)):
        out.setdefault(row.domain, []).append(_state(row))
    return out


def event_sequence(key: str) -> int:
    """n of an event's idempotency key `alert-<id>-<n>`."""
    return int(key.rsplit("-", 1)[1])


def events_since(conn: Connection, after_id: int = 0, limit: int = 1000) -> list[AlertEvent]:
    query = (
        sa.select(alert_events)
        .where(alert_events.c.id > after_id)
        .order_by(alert_events.c.id)
        .limit(limit)
    )
    return [
        AlertEvent(
            int(r.id),
            r.key,
            r.kind,
            int(r.alert_id),
            r.created_at.replace(tzinfo=UTC),
            orjson.loads(r.payload),
            event_sequence(r.key),
        )
        for r in conn.execute(query)
    ]


# --- what people read ---------------------------------------------------------


def alert_json(row: Any) -> dict[str, Any]:
    """The alert as the CLI and API show it (timestamps ISO 8601, UTC, `Z`)."""
    return {
        "id": int(row.id),
        "domain": row.domain or None,
        "rule": row.rule,
        "severity": row.severity,
        "state": "firing" if row.phase == FIRING else "resolved",
        "subject": row.subject or None,
        "summary": row.summary,
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
        "resolved_at": _iso(row.resolved_at),
        "acked_at": _iso(row.acked_at),
    }


def alert_detail(row: Any) -> dict[str, Any]:
    """`alert_json` with what a notification or a detail view adds."""
    return {
        **alert_json(row),
        "level": row.level,
        "explanation": row.explanation,
        "fix": row.fix,
        "evidence": orjson.loads(row.evidence),
    }


@dataclass(frozen=True, slots=True)
class AlertFilter:
    include_resolved: bool = False
    domain: str | None = None
    limit: int = 1000
    resolved_since: datetime | None = None  # with include_resolved: only those resolved since


def _listed(
    conn: Connection, query: sa.Select[Any], selection: AlertFilter
) -> list[dict[str, Any]]:
    if not selection.include_resolved:
        query = query.where(alerts.c.phase == FIRING)
    elif selection.resolved_since is not None:
        since = _naive(selection.resolved_since)
        query = query.where(sa.or_(alerts.c.phase == FIRING, alerts.c.resolved_at >= since))
    if selection.domain is not None:
        query = query.where(alerts.c.domain == selection.domain)
    # Firing first, then the newest.
    order = sa.case((alerts.c.phase == FIRING, 0), else_=1)
    query = query.order_by(order, alerts.c.last_seen.desc(), alerts.c.id.desc())
    return [alert_json(row) for row in conn.execute(query.limit(selection.limit))]


def list_alerts(conn: Connection, selection: AlertFilter = AlertFilter()) -> list[dict[str, Any]]:
    """Every alert (an operator's view: the CLI)."""
    return _listed(conn, sa.select(alerts), selection)


def alerts_for_user(
    conn: Connection, user: User, selection: AlertFilter = AlertFilter()
) -> list[dict[str, Any]]:
    """The alerts a user may see, by the rule reports follow
    (`tlsrpt.store.users.visible_domains`): an admin sees every alert, any
    other user those of the domains given to them."""
    query = sa.select(alerts)
    if not user.is_admin:
        owned = sa.select(domain_owners.c.domain).where(domain_owners.c.user_id == user.id)
        query = query.where(alerts.c.domain.in_(owned))
    return _listed(conn, query, selection)


def get_alert(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else alert_detail(row)


def ack(conn: Connection, alert_id: int, by: str | None, now: datetime) -> dict[str, Any] | None:
    """Mark an alert as seen (it changes no notification); None when there
    is no such alert."""
    done = conn.execute(
        alerts.update().where(alerts.c.id == alert_id).values(acked_at=_naive(now), acked_by=by)
    ).rowcount
    return get_alert(conn, alert_id) if done else None


def mute(
    conn: Connection, domain: str, rule: str, until: datetime, now: datetime, by: str | None = None
) -> None:
    """Mute a rule of a domain until `until` (a second mute replaces it)."""
    conn.execute(
        alert_mutes.delete().where(alert_mutes.c.domain == domain, alert_mutes.c.rule == rule)
    )
    conn.execute(
        alert_mutes.insert().values(
            domain=domain, rule=rule, until=_naive(until), created_at=_naive(now), created_by=by
        )
    )


def unmute(conn: Connection, domain: str, rule: str) -> bool:
    statement = alert_mutes.delete().where(
        alert_mutes.c.domain == domain, alert_mutes.c.rule == rule
    )
    return conn.execute(statement).rowcount > 0


def list_mutes(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    query = (
        sa.select(alert_mutes)
        .where(alert_mutes.c.until > _naive(now))
        .order_by(alert_mutes.c.domain, alert_mutes.c.rule)
    )
    return [
        {
            "domain": row.domain or None,
            "rule": row.rule,
            "until": _iso(row.until),
            "created_at": _iso(row.created_at),
            "created_by": row.created_by,
        }
        for row in conn.execute(query)
    ]


def firing_count(conn: Connection, now: datetime) -> int:
    """Firing alerts that are not muted (what `tlsrpt watch --once` exits 1 on)."""
    muted = sa.exists().where(
        alert_mutes.c.domain == alerts.c.domain,
        alert_mutes.c.rule == alerts.c.rule,
        alert_mutes.c.until > _naive(now),
    )
    query = sa.select(sa.func.count()).select_from(alerts).where(alerts.c.phase == FIRING, ~muted)
    return int(conn.execute(query).scalar_one())


def changed_since(conn: Connection, since: datetime) -> tuple[int, int]:
    """Alerts opened at or after `since` (new ones, not re-opened within
    their cooldown), and alerts resolved at or after it that have not
    fired again since."""
    moment = _naive(since)
    opened = sa.select(sa.func.count()).select_from(alerts).where(alerts.c.first_seen >= moment)
    resolved = (
        sa.select(sa.func.count())
        .select_from(alerts)
        .where(alerts.c.phase != FIRING, alerts.c.resolved_at >= moment)
    )
    return int(conn.execute(opened).scalar_one()), int(conn.execute(resolved).scalar_one())


# --- evaluation marks -----------------------------------------------------------


def marks(conn: Connection) -> dict[str, int]:
    return {
        name: int(value)
        for name, value in conn.execute(sa.select(alert_marks.c.name, alert_marks.c.value))
    }


def advance_mark(conn: Connection, name: str, old: int | None, new: int, now: datetime) -> bool:
    """Move a mark from `old` (None: not set yet) to `new`; False when
    another process moved it first (compare and set)."""
    if old is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(alert_marks)
            .values(name=name, value=new, updated_at=_naive(now))
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(alert_marks.c.name)
        )
        return conn.execute(statement).first() is not None
    statement = (
        alert_marks.update()
        .where(alert_marks.c.name == name, alert_marks.c.value == old)
        .values(value=new, updated_at=_naive(now))
    )
    return conn.execute(statement).rowcount == 1
