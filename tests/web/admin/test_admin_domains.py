"""The admin console's domains: add, remove, assign to an owner and take
back, the paged and searchable list, the owner view, and the bulk import
of a pasted or uploaded list with its per-line summary."""

from __future__ import annotations

import re

from tests.web.admin.conftest import ADMIN, CUSTOMER, Browser

from tlsrpt.store.engine import Store
from tlsrpt.store.lifecycle import list_domains
from tlsrpt.store.users import add_domain
from tlsrpt.web.dashboard.admin_domains import PAGE_SIZE


def _registered(store: Store) -> dict[str, list[str]]:
    with store.read() as conn:
        return {d["domain"]: d["owners"] for d in list_domains(conn)}


def test_add_assign_unassign_remove(admin: Browser, customer: Browser, people: Store) -> None:
    answer = admin.post("/admin/domains", {"domain": " Shop.Example. "})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/domains?")
    page = admin.client.get(answer.headers["location"]).text
    assert "shop.example: added" in page and 'data-domain="shop.example"' in page
    assert _registered(people) == {"shop.example": []}
    assert "shop.example" not in customer.client.get("/").text

    assert (
        admin.post(
            "/admin/domains/assign", {"domain": "shop.example", "owner": CUSTOMER}
        ).status_code
        == 303
    )
    assert _registered(people) == {"shop.example": [CUSTOMER]}
    assert "shop.example" in customer.client.get("/").text  # the customer sees it now
    owners = admin.client.get("/admin/owners").text
    assert f'data-owner="{CUSTOMER}"' in owners and "1 domain<" in owners

    answer = admin.post(
        "/admin/domains/unassign", {"domain": "shop.example", "owner": CUSTOMER, "back": "owners"}
    )
    assert answer.headers["location"].startswith("/admin/owners?")
    assert _registered(people) == {"shop.example": []}
    assert customer.client.get("/domains/shop.example").status_code == 404

    assert admin.post("/admin/domains/remove", {"domain": "shop.example"}).status_code == 303
    assert _registered(people) == {}


def test_refusals_name_the_problem(admin: Browser, people: Store) -> None:
    bad = admin.post("/admin/domains", {"domain": "not a domain"})
    assert bad.status_code == 400 and "is not a domain name" in bad.text
    nobody = admin.post("/admin/domains/assign", {"domain": "a.example", "owner": "no@example.org"})
    assert nobody.status_code == 400 and "no user no@example.org" in nobody.text
    assert _registered(people) == {}  # the failed assignment registered nothing


def test_the_list_pages_and_searches(admin: Browser, people: Store) -> None:
    names = [f"d{i:04d}.example" for i in range(PAGE_SIZE + 5)]
    with people.write() as conn:
        for name in names:
            add_domain(conn, name)
    first = admin.client.get("/admin/domains").text
    assert f"{len(names)} registered domains" in first
    rows = re.findall(r'<tr data-domain="([^"]+)"', first)
    assert rows == sorted(names)[:PAGE_SIZE]
    second = admin.client.get("/admin/domains?page=2").text
    assert re.findall(r'<tr data-domain="([^"]+)"', second) == sorted(names)[PAGE_SIZE:]
    found = admin.client.get("/admin/domains", params={"q": "D0007"}).text
    assert re.findall(r'<tr data-domain="([^"]+)"', found) == ["d0007.example"]
    # `%` and `_` are matched as themselves (no registered name holds them),
    # not as patterns matching every name.
    for pattern in ("%", "_", "d%7"):
        literal = admin.client.get("/admin/domains", params={"q": pattern}).text
        assert re.findall(r'<tr data-domain="([^"]+)"', literal) == []
        assert "0 registered domains containing" in literal


LIST = """# customers of the Berlin office
Alpha.Example

beta.example   # a comment after the name
not a domain
alpha.example.
under_score.example
registered.example
"""


def test_import_a_pasted_list(admin: Browser, people: Store) -> None:
    with people.write() as conn:
        add_domain(conn, "registered.example")
    answer = admin.post("/admin/domains/import", {"domains": LIST, "owner": CUSTOMER})
    assert answer.status_code == 200
    page = answer.text
    counts = dict(re.findall(r'data-field="(\w+)"><strong>([\d,]+)</strong>', page))
    assert counts == {
        "added": "2",
        "registered": "1",
        "repeated": "1",
        "invalid": "2",
        "assigned": "3",
    }
    outcomes = dict(
        re.findall(
            r'data-line="(\d+)">.*?<span class="badge">(\w+)</span>',
            page.split('id="import-lines"')[1],
        )
    )
    assert outcomes == {
        "2": "added",
        "4": "added",
        "5": "invalid",
        "6": "repeated",
        "7": "invalid",
        "8": "registered",
    }
    assert "named on line 2 already" in page
    assert _registered(people) == {
        "alpha.example": [CUSTOMER],
        "beta.example": [CUSTOMER],
        "registered.example": [CUSTOMER],
    }


def test_import_an_uploaded_file(admin: Browser, people: Store) -> None:
    data = "\ufefffile-one.example\r\nfile-two.example\r\n".encode()
    answer = admin.post("/admin/domains/import", files={"file": ("list.txt", data, "text/plain")})
    assert answer.status_code == 200
    assert set(_registered(people)) == {"file-one.example", "file-two.example"}
    latin = admin.post(
        "/admin/domains/import", files={"file": ("l.txt", b"caf\xe9.example", "text/plain")}
    )
    assert latin.status_code == 400 and "not UTF-8 text" in latin.text


def test_an_import_for_an_unknown_owner_writes_nothing(admin: Browser, people: Store) -> None:
    answer = admin.post(
        "/admin/domains/import", {"domains": "a.example\n", "owner": "no@example.org"}
    )
    assert answer.status_code == 400
    assert "Nothing imported: no user no@example.org" in answer.text
    empty = admin.post("/admin/domains/import", {"domains": "# only a comment\n\n"})
    assert empty.status_code == 400 and "the list is empty" in empty.text
    assert _registered(people) == {}


def test_ten_thousand_lines(admin: Browser, people: Store) -> None:
    names = [f"customer-{i}.example" for i in range(10_000)]
    answer = admin.post("/admin/domains/import", {"domains": "\n".join(names), "owner": CUSTOMER})
    assert answer.status_code == 200
    assert '<li data-field="added"><strong>10,000</strong>' in answer.text
    assert "Every line's result is listed for lists of up to 2,000 lines" in answer.text
    registered = _registered(people)
    assert len(registered) == 10_000 and registered["customer-9999.example"] == [CUSTOMER]
    assert ADMIN not in answer.text.split("</header>")[1]  # only the owner named
