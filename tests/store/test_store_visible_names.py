"""The admins' list of names kept per process (`tlsrpt.store.visible_names`):
always what `visible_domains` reads, after reports of new domains and
after domains are registered, imported and removed; others read theirs."""

from __future__ import annotations

from typing import Any

from tlsrpt.ingest.model import SourceInfo
from tlsrpt.ingest.pipeline import ingest
from tlsrpt.store.domain_import import import_domains
from tlsrpt.store.engine import Store
from tlsrpt.store.lifecycle import remove_domain
from tlsrpt.store.users import add_domain, add_user, get_user, visible_domains
from tlsrpt.store.visible_names import VisibleNames

FILE = SourceInfo("file", "/reports/in.json")


def test_the_kept_list_follows_every_change(store: Store, make: Any) -> None:
    kept = VisibleNames()
    with store.write() as conn:
        add_user(conn, "admin@example.org", "correct horse battery", admin=True)
        add_user(conn, "c@example.org", "correct horse battery", admin=False)

    def check() -> list[str]:
        with store.read() as conn:
            admin = get_user(conn, "admin@example.org")
            assert admin is not None
            names = kept(conn, admin)
            assert names == visible_domains(conn, admin)
            return names

    assert check() == []
    assert check() is check()  # kept while nothing changed
    policies = [make.policy("b.example", ok=5), make.policy("", ok=1)]
    assert ingest(store, make.json("r1", policies=policies), FILE).outcome == "accepted"
    assert check() == ["b.example"]
    with store.write() as conn:
        add_domain(conn, "a.example")
    assert check() == ["a.example", "b.example"]
    with store.write() as conn:
        import_domains(conn, ["c.example", "d.example"], "c@example.org")
    assert check() == ["a.example", "b.example", "c.example", "d.example"]
    with store.write() as conn:  # one removed, one added: the same count
        remove_domain(conn, "c.example", None)
        add_domain(conn, "e.example")
    assert check() == ["a.example", "b.example", "d.example", "e.example"]
    with store.write() as conn:
        remove_domain(conn, "b.example", None)  # its reports keep it visible
        remove_domain(conn, "a.example", None)
    assert check() == ["b.example", "d.example", "e.example"]
    with store.read() as conn:  # a customer's own list, read each time
        customer = get_user(conn, "c@example.org")
        assert customer is not None
        assert kept(conn, customer) == ["d.example"]
