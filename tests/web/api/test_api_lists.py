"""The lists a page at a time: reports (filtered by domain, organization,
period and result type), a domain's failure details and the quarantine.
Paging with a small `limit` and each `next_cursor` yields exactly the rows
of one large page, in the same order, once each; the filters select
exactly the demo reports an independent computation over the generated
reports selects; a customer pages only through their own domain; a cursor
the list did not give is a 404."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import orjson
import pytest

from tlsrpt.demo import demo_reports

from .conftest import World


def _json(answer: Any) -> Any:
    assert answer.status_code == 200, answer.text
    return orjson.loads(answer.content)


def _all_pages(world: World, path: str, token: str, key: str, **params: object) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    for _ in range(1000):
        body = _json(world.get(path, token, **params, **({"cursor": cursor} if cursor else {})))
        rows += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("the cursors never ended")


def _expected(world: World, **match: Any) -> Counter[tuple[str, str]]:
    """(day, organization) of the generated reports matching every filter."""
    found: Counter[tuple[str, str]] = Counter()
    since = match.get("since", world.end - timedelta(days=world.days - 1))
    for report in demo_reports(world.end, world.days):
        day = report.date_range.start_datetime.date()
        policy = report.policies[0]
        types = {f.result_type for f in policy.failure_details}
        if (
            since <= day <= match.get("until", world.end)
            and match.get("domain", policy.policy.policy_domain) == policy.policy.policy_domain
            and match.get("org", report.organization_name) == report.organization_name
            and ("result_type" not in match or match["result_type"] in types)
        ):
            found[(day.isoformat(), report.organization_name)] += 1
    return found


def test_report_pages_join_up_to_the_whole_list(world: World) -> None:
    params = {"days": world.days, "until": world.end}
    whole = _json(world.get("/api/v1/reports", world.admin_token, **params, limit=5000))
    assert whole["next_cursor"] is None
    paged = _all_pages(world, "/api/v1/reports", world.admin_token, "reports", **params, limit=37)
    assert [r["id"] for r in paged] == [r["id"] for r in whole["reports"]]
    assert len({r["id"] for r in paged}) == len(paged) == sum(_expected(world).values())
    assert [r["id"] for r in paged] == sorted((r["id"] for r in paged), reverse=True)


@pytest.mark.parametrize(
    "match",
    [
        {"org": "Microsoft Corporation"},
        {"domain": "shop.example.net", "result_type": "certificate-expired"},
        {"result_type": "validation-failure", "since_days": 40, "until_days": 20},
        {"org": "Google Inc.", "domain": "example.com", "since_days": 3},
    ],
)
def test_report_filters_select_what_the_generated_reports_say(
    world: World, match: dict[str, Any]
) -> None:
    match = dict(match)
    if "since_days" in match:
        match["since"] = world.end - timedelta(days=match.pop("since_days"))
    if "until_days" in match:
        match["until"] = world.end - timedelta(days=match.pop("until_days"))
    params = {"days": world.days, "until": world.end, **match, "limit": 11}
    rows = _all_pages(world, "/api/v1/reports", world.admin_token, "reports", **params)
    assert Counter((r["day"], r["organization"]) for r in rows) == _expected(world, **match)
    assert rows, "a filter that selects nothing proves little"


def test_a_customer_pages_only_through_their_domain(world: World) -> None:
    token = world.customer_token
    params = {"days": world.days, "until": world.end, "limit": 13}
    rows = _all_pages(world, "/api/v1/reports", token, "reports", **params)
    assert rows and all(r["domains"] == ["shop.example.net"] for r in rows)
    assert len(rows) == sum(_expected(world, domain="shop.example.net").values())
    # a cursor of the admin's list leads only to the customer's rows
    admin = _json(world.get("/api/v1/reports", world.admin_token, **params))
    after = _json(world.get("/api/v1/reports", token, **params, cursor=admin["next_cursor"]))
    assert all(r["domains"] == ["shop.example.net"] for r in after["reports"])
    assert world.get("/api/v1/reports", token, domain="example.com").status_code == 404
    missing = world.get("/api/v1/domains/example.com/failures", token, limit=1)
    assert missing.status_code == 404


def test_failure_pages_join_up_to_the_whole_list(world: World) -> None:
    path = "/api/v1/domains/mail.example.org/failures"
    params = {"days": world.days, "until": world.end}
    whole = _json(world.get(path, world.admin_token, **params, limit=100_000))
    assert whole["next_cursor"] is None and len(whole["failures"]) > 20
    paged = _all_pages(world, path, world.admin_token, "failures", **params, limit=7)
    assert paged == whole["failures"]
    days = [f["day"] for f in paged]
    assert days == sorted(days, reverse=True)
    expected = sum(
        len(r.policies[0].failure_details)
        for r in demo_reports(world.end, world.days)
        if r.policies[0].policy.policy_domain == "mail.example.org"
    )
    assert len(paged) == expected
    shop = "/api/v1/domains/shop.example.net/failures"
    typed = _all_pages(
        world, shop, world.admin_token, "failures", **params, result_type="certificate-expired"
    )
    assert typed and all(f["result_type"] == "certificate-expired" for f in typed)
    assert len(typed) < len(_all_pages(world, shop, world.admin_token, "failures", **params))


def test_quarantine_pages(world: World) -> None:
    whole = _json(world.get("/api/v1/quarantine", world.admin_token))
    paged = _all_pages(world, "/api/v1/quarantine", world.admin_token, "quarantined", limit=1)
    assert paged == whole["quarantined"] and paged
    assert world.get("/api/v1/quarantine", world.customer_token).status_code == 403


def test_a_cursor_the_list_did_not_give_names_no_page(world: World) -> None:
    reports = _json(world.get("/api/v1/reports", world.admin_token, limit=1))
    for path in ("/api/v1/quarantine", "/api/v1/domains/example.com/failures"):
        answer = world.get(path, world.admin_token, cursor=reports["next_cursor"])
        assert answer.status_code == 404, path
    for cursor in ("NUL", "!!", "W10", "WyJyZXBvcnRzIiwiMSJd"):
        answer = world.get("/api/v1/reports", world.admin_token, cursor=cursor)
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
