"""The hosted MTA-STS policy host through a real uvicorn server on
loopback: the policy byte for byte for `Host: mta-sts.DOMAIN` only, and the
on-demand TLS question."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trustme

from tlsrpt.check.policy_fetch import fetch_policy
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.safety import AddressPolicy
from tlsrpt.check.trust import Trust
from tlsrpt.mtasts import Change, PolicyVersion, new_version
from tlsrpt.records import parse_sts_policy
from tlsrpt.store.engine import open_store
from tlsrpt.store.hosted import history, publish
from tlsrpt.store.users import add_domain
from tlsrpt.web import policy_host

from .conftest import Running

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PATH = "/.well-known/mta-sts.txt"


def _host(db_url: str, domain: str, mode: str = "testing", **kw: object) -> PolicyVersion:
    with open_store(db_url) as store, store.write() as conn:
        add_domain(conn, domain)
        before = history(conn, domain)
        change = Change(mode, ("mx1." + domain, "*.mx." + domain), 86400)  # type: ignore[arg-type]
        version = new_version(domain, before, change, now=T0, created_by="test")
        publish(conn, version)
    return version


@pytest.fixture
def hosted(db_url: str, server: Running) -> tuple[Running, PolicyVersion]:
    return server, _host(db_url, "example.com")


def test_the_policy_is_served_byte_for_byte_for_its_host(
    hosted: tuple[Running, PolicyVersion],
) -> None:
    server, version = hosted
    for host in ["mta-sts.example.com", "MTA-STS.Example.COM", "mta-sts.example.com.:443"]:
        r = httpx.get(server.base_url + PATH, headers={"Host": host})
        assert r.status_code == 200, host
        assert r.content == version.text.encode()
        assert b"\r\n" in r.content and b"\n" not in r.content.replace(b"\r\n", b"")
        assert r.headers["content-type"] == "text/plain"  # RFC 8461 §3.2
        assert r.headers["cache-control"] == "max-age=300"  # kept by the security headers
        assert r.headers["etag"] == f'"{version.id}"'
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "location" not in r.headers
    policy, problems = parse_sts_policy(r.content, strict=True)
    assert policy is not None and policy.mx == version.mx, problems


def test_other_hosts_and_unhosted_domains_get_404(
    db_url: str, hosted: tuple[Running, PolicyVersion]
) -> None:
    server, _ = hosted
    with open_store(db_url) as store, store.write() as conn:
        add_domain(conn, "registered.example")  # registered, not hosted
    for host in [
        "example.com",
        "127.0.0.1",
        "tlsrpt.provider.example",
        "mta-sts.registered.example",
        "mta-sts.other.example",
        "www.mta-sts.example.com",
        "mta-sts.example.com.evil.example",
    ]:
        r = httpx.get(server.base_url + PATH, headers={"Host": host})
        assert r.status_code == 404, host
        assert b"STSv1" not in r.content
        assert r.headers["cache-control"] == "no-store"


def test_head_and_conditional_get(hosted: tuple[Running, PolicyVersion]) -> None:
    server, version = hosted
    headers = {"Host": "mta-sts.example.com"}
    head = httpx.head(server.base_url + PATH, headers=headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(version.text.encode()))
    assert head.headers["etag"] == f'"{version.id}"'
    again = httpx.get(
        server.base_url + PATH, headers={**headers, "If-None-Match": f'"{version.id}"'}
    )
    assert again.status_code == 304 and again.content == b""
    stale = httpx.get(server.base_url + PATH, headers={**headers, "If-None-Match": '"old1"'})
    assert stale.status_code == 200
    post = httpx.post(server.base_url + PATH, headers=headers, content=b"x")
    assert post.status_code == 405


def test_a_new_version_is_served_at_once(
    db_url: str, hosted: tuple[Running, PolicyVersion]
) -> None:
    server, first = hosted
    second = _host(db_url, "example.com", "enforce")
    r = httpx.get(server.base_url + PATH, headers={"Host": "mta-sts.example.com"})
    assert r.content == second.text.encode() != first.text.encode()
    assert r.headers["etag"] == f'"{second.id}"' and second.id != first.id


def test_on_demand_tls_asks_whether_a_name_is_hosted(
    db_url: str, hosted: tuple[Running, PolicyVersion]
) -> None:
    server, _ = hosted
    url = server.base_url + "/v1/mta-sts/allowed"
    ok = httpx.get(url, params={"domain": "mta-sts.example.com"})
    assert ok.status_code == 200 and ok.json() == {"allowed": True, "domain": "example.com"}
    assert httpx.get(url, params={"domain": "MTA-STS.example.com."}).status_code == 200
    for name in ["example.com", "mta-sts.other.example", "www.example.com", "mta-sts.", "x" * 300]:
        r = httpx.get(url, params={"domain": name})
        assert r.status_code == 404, name
        assert r.headers["content-type"] == "application/problem+json"
    assert httpx.get(url).status_code == 422  # no domain parameter: named, as problem details
    assert httpx.get(url, params={"domain": "x" * 301}).status_code == 422


def test_the_rate_limiter_covers_the_policy_host(
    db_url: str, monkeypatch: pytest.MonkeyPatch, make_server: Callable[..., Running]
) -> None:
    monkeypatch.setattr(policy_host, "POLICY_BURST", 3)
    monkeypatch.setattr(policy_host, "POLICY_RATE", 0.001)
    server = make_server()
    _host(db_url, "example.com")
    headers = {"Host": "mta-sts.example.com"}
    answers = [httpx.get(server.base_url + PATH, headers=headers) for _ in range(3)]
    answers.append(httpx.head(server.base_url + PATH, headers=headers))  # shares the bucket
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) > 0
    assert answers[-1].headers["x-frame-options"] == "DENY"
    # other paths are not affected
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_the_checker_fetches_the_hosted_policy_as_senders_do(
    db_url: str, tmp_path: Path, make_server: Callable[..., Running]
) -> None:
    """`tlsrpt check`'s RFC 8461 §3.3 fetch (WebPKI for mta-sts.DOMAIN,
    SNI, no redirect, status 200, text/plain) against `serve` with TLS:
    the policy it gets is the stored one and draws no finding."""
    ca = trustme.CA()
    cert = ca.issue_cert("mta-sts.example.com")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(keyfile))
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    ca.cert_pem.write_to_path(str(cafile))
    server = make_server(certfile=str(certfile), keyfile=str(keyfile))
    version = _host(db_url, "example.com", "enforce")
    port = int(server.base_url.rsplit(":", 1)[1])

    class Loopback:  # the fetch's only DNS need: mta-sts.example.com is 127.0.0.1
        async def addresses(self, host: str) -> tuple[DnsAnswer, DnsAnswer]:
            return (
                DnsAnswer(host, "A", DnsStatus.OK, ("127.0.0.1",)),
                DnsAnswer(host, "AAAA", DnsStatus.NODATA),
            )

    trust = Trust.load(str(cafile), include_system=False)
    fetched = asyncio.run(
        fetch_policy(
            Loopback(), AddressPolicy(allow_private=True), trust.webpki, "example.com", port, 10
        )  # type: ignore[arg-type]
    )
    assert fetched.failure is None, fetched.error
    assert (fetched.status, fetched.content_type, fetched.location) == (200, "text/plain", None)
    assert fetched.body == version.text.encode()
    parsed, problems = parse_sts_policy(fetched.body, strict=True)
    assert parsed is not None and parsed.mode == "enforce"
    assert [p for p in problems if p.severity == "error"] == []
