"""Work a server does once before it answers, so that the first page after
a start is not the one that pays for it:

- FastAPI builds each included router's routes (every endpoint's and
  dependency's signature) on the first request that is matched against
  them: over a second for this app, measured on the first overview after
  a restart. A path no route serves is matched against every route.
- Jinja compiles a template on its first render: every dashboard
  template is loaded (compiled and kept by the environment's cache).
- The database pool opens its first connection.

Then what lives is frozen (`tlsrpt.web.heap.settle`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import BaseRoute

from tlsrpt.store import reads
from tlsrpt.store.engine import Store
from tlsrpt.store.url import StoreError
from tlsrpt.web.dashboard.render import templates
from tlsrpt.web.heap import settle

log = logging.getLogger(__name__)
NOWHERE = "/\x00warm-up"  # no route serves it (a NUL never reaches a route)


def warm_routes(routes: list[BaseRoute]) -> int:
    """Matches a path no route serves against every route (building them);
    returns how many routes matched it (0)."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": NOWHERE,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    return sum(route.matches(dict(scope))[0].value > 0 for route in routes)


def warm_templates() -> list[str]:
    """Every dashboard template, compiled; returns their names."""
    env = templates().env
    names = env.list_templates(extensions=["html"])
    for name in names:
        env.get_template(name)
    return names


def warm_store(store: Store) -> bool:
    """A first connection in the pool (and the overview's first read).
    A database that is down or not migrated yet is no reason not to start:
    `/readyz` says so; returns whether the read worked."""
    try:
        with store.read() as conn:
            reads.last_report_pk(conn)
    except (SQLAlchemyError, StoreError) as exc:
        log.info("warm-up: no first read of the database (%s)", type(exc).__name__)
        return False
    return True


def warm_up(routes: list[BaseRoute], store: Store) -> None:
    warm_routes(routes)
    warm_templates()
    warm_store(store)
    settle()
