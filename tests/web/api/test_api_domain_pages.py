"""`GET /api/v1/domains` a page at a time (SQLite and PostgreSQL): walking
`next_cursor` in every order gives every domain once, in the order the full
list implies; search narrows by name; a forged cursor is a 404 problem (no such page); and
the handlers are plain functions a test calls directly."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tlsrpt.store.users import User
from tlsrpt.web.api import routes

END = "2026-11-28"
VERDICTS = ["ready", "not-ready", "insufficient-data"]


def _body(world: Any, **params: object) -> Any:
    answer = world.get("/api/v1/domains", world.admin_token, days=30, until=END, **params)
    assert answer.status_code == 200, answer.text
    return orjson.loads(answer.content)


def _walk(world: Any, **params: object) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        body = _body(world, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        assert len(body["domains"]) <= 2
        seen += body["domains"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert body["total"] == len(seen)
            return seen


def _expected(items: list[dict[str, Any]], sort: str) -> list[str]:
    def key(d: dict[str, Any]) -> tuple[Any, ...]:
        if sort == "failure_rate":
            r = d["failure_rate"]
            return (1, 0.0, d["domain"]) if r is None else (0, -r, d["domain"])
        if sort == "verdict":
            return (VERDICTS.index(d["readiness"]["verdict"]), d["domain"])
        return (d["domain"],)  # alerts: the demo has none firing, so by name

    return [d["domain"] for d in sorted(items, key=key)]


@pytest.mark.parametrize("sort", ["name", "failure_rate", "verdict", "alerts"])
def test_pages_walk_every_domain_once_in_order(world: Any, sort: str) -> None:
    full = _body(world, limit=1000)
    assert full["next_cursor"] is None and full["total"] == len(full["domains"]) >= 5
    walked = _walk(world, sort=sort)
    assert [d["domain"] for d in walked] == _expected(full["domains"], sort)
    assert {d["domain"]: d for d in walked} == {d["domain"]: d for d in full["domains"]}


def test_search_narrows_by_name_in_any_case(world: Any) -> None:
    body = _body(world, q="EXAMPLE.NET")
    assert [d["domain"] for d in body["domains"]] == ["shop.example.net"]
    assert body["total"] == 1 and body["next_cursor"] is None
    assert _body(world, q="<none>")["domains"] == []


def test_a_cursor_not_given_out_is_refused(world: Any) -> None:
    name_cursor = _body(world, limit=1)["next_cursor"]
    for cursor in ("not-base64!", "W10", name_cursor):  # W10: "[]"
        answer = world.get("/api/v1/domains", world.admin_token, cursor=cursor, sort="failure_rate")
        assert answer.status_code == 404, cursor
        assert answer.headers["content-type"] == "application/problem+json"
    assert world.get("/api/v1/domains", world.admin_token, limit=0).status_code == 422
    assert world.get("/api/v1/domains", world.admin_token, sort="size").status_code == 422


def test_csv_pages_carry_the_next_cursor(world: Any) -> None:
    answer = world.get("/api/v1/domains", world.admin_token, limit=1, format="csv")
    assert answer.status_code == 200
    assert len(answer.text.strip().splitlines()) == 2  # header and one domain
    assert answer.headers["x-next-cursor"] == _body(world, limit=1)["next_cursor"]


def test_handlers_are_plain_functions(world: Any) -> None:
    admin = User(0, "admin@example.com", True)
    assert routes.me(admin) == {"email": "admin@example.com", "admin": True}
    answer = routes.domain_summary(world.store, admin, "example.com", days=30, until=None)
    assert orjson.loads(answer.body)["domain"] == "example.com"
