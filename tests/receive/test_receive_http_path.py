"""`POST /v1/reports/DOMAIN`: the receiver with the recipient domain named
in the path (a domain owner's `rua=https://HOST/v1/reports/DOMAIN`).
Real uvicorn, httpx client, SQLite."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from tlsrpt.store.engine import open_store
from tlsrpt.store.schema import policy_results, raw_inputs

FIXTURE = Path(__file__).parent.parent / "fixtures" / "reports" / "postfix-dane-mx-host.json"
GZIP = {"content-type": "application/tlsrpt+gzip"}


def _report(report_id: str) -> bytes:
    doc = copy.deepcopy(orjson.loads(FIXTURE.read_bytes()))
    doc["report-id"] = report_id
    return gzip.compress(orjson.dumps(doc))


def _post(srv: Any, path: str, body: bytes) -> httpx.Response:
    return httpx.post(srv.base_url + path, content=body, headers=GZIP, timeout=30)


def _stored(srv: Any) -> tuple[list[tuple[Any, ...]], list[Any]]:
    p = policy_results
    with open_store(srv.settings.database_url) as store, store.read() as conn:
        query = sa.select(p.c.report_pk, p.c.domain, p.c.attribution).order_by("report_pk")
        policies = [tuple(r) for r in conn.execute(query)]
        metas = [orjson.loads(m) for m in conn.scalars(sa.select(raw_inputs.c.source_meta))]
    return policies, metas


def test_the_path_names_the_recipient_domain(server: Any) -> None:
    plain = _post(server, "/v1/reports", _report("plain"))
    named = _post(server, "/v1/reports/Customer.Example.", _report("named"))
    idn = _post(server, "/v1/reports/b%C3%BCcher.example", _report("idn"))
    assert (plain.status_code, named.status_code, idn.status_code) == (201, 201, 201)
    policies, metas = _stored(server)
    (p1,), (p2,), (p3,) = (r.json()["report_ids"] for r in (plain, named, idn))
    assert policies == [
        (p1, "mx1.provider.example", "reported"),
        (p1, "", "unknown"),
        (p2, "customer.example", "receiver-path"),
        (p2, "customer.example", "receiver-path"),
        (p3, "xn--bcher-kva.example", "receiver-path"),  # RFC 8460 §3: A-labels
        (p3, "xn--bcher-kva.example", "receiver-path"),
    ]
    assert [m.get("receiver_domain") for m in metas] == [
        None,
        "customer.example",
        "xn--bcher-kva.example",
    ]


def test_a_path_naming_no_domain_is_404_and_stores_nothing(server: Any) -> None:
    for path in ("/v1/reports/nodots", "/v1/reports/a%2Fb.example", "/v1/reports/a b.example"):
        r = _post(server, path, _report("bad"))
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"] == "no report receiver here: the path names no domain"
    assert _stored(server) == ([], [])
    # other methods are not the receiver
    assert httpx.get(server.base_url + "/v1/reports/customer.example").status_code in (404, 405)


def test_the_rate_limit_counts_both_paths_as_one(make_server: Any) -> None:
    running = make_server(reports_rate_burst=3, reports_rate_per_s=1)
    paths = ["/v1/reports", "/v1/reports/a.example"] * 5
    codes = [_post(running, path, _report(f"r{n}")).status_code for n, path in enumerate(paths)]
    assert codes[:3] == [201, 201, 201]
    refused = {path for path, code in zip(paths, codes, strict=True) if code == 429}
    assert refused == {"/v1/reports", "/v1/reports/a.example"}


def test_openapi_describes_the_path(server: Any) -> None:
    paths = httpx.get(server.base_url + "/openapi.json").json()["paths"]
    named = paths["/v1/reports/{domain}"]["post"]
    assert named["operationId"] == "receive_report_for_domain"
    assert "404" in named["responses"] and "201" in named["responses"]
