"""The snapshot of a check: shape, canonical form, digest stability (pure;
facts built by hand, certificates by trustme)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import orjson
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tlsrpt.check import DomainFacts, evaluate
from tlsrpt.check.facts import MxEntry, MxHostFacts
from tlsrpt.check.net import Resolution
from tlsrpt.check.policy_fetch import FetchFailure, PolicyFetch
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.smtp_probe import SmtpProbe
from tlsrpt.check.tlsa import TlsaRecord
from tlsrpt.watch.snapshot import (
    canonical,
    certificate,
    digest,
    earliest_not_after,
    severity_counts,
    stable_message,
    take_snapshot,
)
from tlsrpt.watch.watcher import check_result

D = "example.com"
MX1, MX2 = "mx1.example.com", "mx2.example.com"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
POLICY = f"version: STSv1\nmode: enforce\nmx: {MX2}\nmx: {MX1}\nmax_age: 86400\n".encode()


@dataclasses.dataclass
class Pki:
    ca: trustme.CA
    intermediate: trustme.CA

    def chain(self, name: str, not_after: dt.datetime) -> tuple[bytes, ...]:
        leaf = self.intermediate.issue_cert(
            name, not_before=NOW - dt.timedelta(days=60), not_after=not_after
        )
        return tuple(
            x509.load_pem_x509_certificate(pem.bytes()).public_bytes(Encoding.DER)
            for pem in leaf.cert_chain_pems
        )

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())]


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = trustme.CA()
    return Pki(ca, ca.create_child_ca())


def answer(name: str, rdtype: str, *records: Any, status: DnsStatus = DnsStatus.OK) -> DnsAnswer:
    return DnsAnswer(
        name, rdtype, status if records or status != DnsStatus.OK else DnsStatus.NODATA, records
    )


def resolution(host: str, *addresses: str) -> Resolution:
    v4 = tuple(a for a in addresses if ":" not in a)
    v6 = tuple(a for a in addresses if ":" in a)
    return Resolution(host, answer(host, "A", *v4), answer(host, "AAAA", *v6), addresses, ())


def probe(host: str, address: str, chain: tuple[bytes, ...], version: str = "TLSv1.3") -> SmtpProbe:
    return SmtpProbe(
        host,
        address,
        25,
        banner="220 ok",
        banner_code=220,
        capabilities=("STARTTLS",),
        starttls_offered=True,
        tls_version=version,
        chain=chain,
        elapsed=0.123,
    )


def facts(pki: Pki, mx1_expiry: dt.datetime, **changes: Any) -> DomainFacts:
    chain1 = pki.chain(MX1, mx1_expiry)
    chain2 = pki.chain(MX2, NOW + dt.timedelta(days=300))
    policy_chain = pki.chain(f"mta-sts.{D}", NOW + dt.timedelta(days=50))
    mx1 = MxHostFacts(
        MX1,
        resolution(MX1, "192.0.2.1", "2001:db8::1"),
        (probe(MX1, "2001:db8::1", chain1), probe(MX1, "192.0.2.1", chain1, "TLSv1.2")),
        answer(f"_25._tcp.{MX1}", "TLSA", status=DnsStatus.NXDOMAIN),
    )
    mx2 = MxHostFacts(
        MX2,
        resolution(MX2, "192.0.2.2"),
        (probe(MX2, "192.0.2.2", chain2),),
        answer(f"_25._tcp.{MX2}", "TLSA", TlsaRecord(3, 1, 1, b"\xab" * 32)),
    )
    base = DomainFacts(
        D,
        tlsrpt=answer(f"_smtp._tls.{D}", "TXT", (b"v=TLSRPTv1; rua=mailto:tls@example.com",)),
        sts=answer(f"_mta-sts.{D}", "TXT", (b"v=STSv1; id=20261201",)),
        mx=answer(D, "MX", (20, MX2), (10, MX1)),
        policy=PolicyFetch(
            f"https://mta-sts.{D}/.well-known/mta-sts.txt",
            f"mta-sts.{D}",
            resolution(f"mta-sts.{D}", "192.0.2.10"),
            None,
            None,
            status=200,
            content_type="text/plain",
            body=POLICY,
            size=len(POLICY),
            elapsed=0.5,
            certificate=policy_chain[0],
        ),
        mx_hosts=(MxEntry(20, mx2), MxEntry(10, mx1)),
        elapsed=1.5,
    )
    return dataclasses.replace(base, **changes)


def snap(pki: Pki, f: DomainFacts, now: dt.datetime = NOW) -> dict[str, Any]:
    return take_snapshot(f, evaluate(f, pki.anchors, now))


def test_shape_of_a_snapshot(pki: Pki) -> None:
    expiry = NOW + dt.timedelta(days=100)
    f = facts(pki, expiry)
    s = snap(pki, f)
    assert set(s) == {"tlsrpt", "sts", "policy", "mx", "findings"}
    assert s["tlsrpt"] == {"records": ["v=TLSRPTv1; rua=mailto:tls@example.com"], "status": "ok"}
    assert s["sts"] == {"records": ["v=STSv1; id=20261201"], "status": "ok", "id": "20261201"}
    policy = s["policy"]
    assert policy["text"] == POLICY.decode()
    assert (policy["status"], policy["error"], policy["mode"], policy["max_age"]) == (
        200,
        None,
        "enforce",
        86400,
    )
    assert policy["mx"] == [MX1, MX2]  # sorted
    assert policy["certificate"]["sans"] == [f"mta-sts.{D}"]
    assert [(m["host"], m["preference"]) for m in s["mx"]] == [(MX1, 10), (MX2, 20)]
    mx1 = s["mx"][0]
    assert mx1["addresses"] == ["192.0.2.1", "2001:db8::1"]
    assert [t["address"] for t in mx1["tls"]] == ["192.0.2.1", "2001:db8::1"]
    tls = mx1["tls"][0]
    assert (tls["starttls"], tls["tls_version"], tls["error"]) == (True, "TLSv1.2", None)
    leaf = f.mx_hosts[1].facts.probes[0].chain[0]  # type: ignore[index]
    cert = tls["certificate"]
    assert cert["sha256"] == hashlib.sha256(leaf).hexdigest()
    assert cert["sans"] == [MX1]
    assert cert["not_after"] == expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "CN=" in cert["issuer"] or "O=" in cert["issuer"]
    assert set(cert) == {"subject", "sans", "issuer", "not_after", "sha256"}
    assert (mx1["tlsa"], mx1["tlsa_status"]) == ([], "nxdomain")
    assert s["mx"][1]["tlsa"] == ["3 1 1 " + "AB" * 32]
    # unsigned TLSA records: the only finding, about MX2's TLSA name
    assert [(x["code"], x["severity"], x["subject"]) for x in s["findings"]] == [
        ("dane-tlsa-insecure", "warning", f"_25._tcp.{MX2}")
    ]
    assert earliest_not_after(s) == (NOW + dt.timedelta(days=50)).replace(microsecond=0)
    # canonical: sorted keys, no spaces; the digest is of those bytes
    assert canonical(s).startswith(b'{"findings":[{"code":"dane-tlsa-insecure","message":')
    assert b'"mx":[{"addresses":["192.0.2.1","2001:db8::1"],"host":"mx1.example.com"' in canonical(
        s
    )
    reordered = dict(reversed(list(s.items())))
    assert canonical(reordered) == canonical(s) and orjson.loads(canonical(s)) == s
    assert digest(s) == hashlib.sha256(canonical(s)).hexdigest()


def test_digest_ignores_elapsed_times_and_day_counts(pki: Pki) -> None:
    """An expiring certificate's finding says "in N days": the count is left
    out, so day after day the same facts give the same digest."""
    f = facts(pki, NOW + dt.timedelta(days=10, hours=1))
    today, tomorrow = (
        snap(pki, f),
        snap(pki, dataclasses.replace(f, elapsed=9.9), NOW + dt.timedelta(days=1)),
    )
    (expiring,) = [x for x in today["findings"] if x["code"] == "mx-certificate-expiring"]
    (finding,) = [
        x for x in evaluate(f, pki.anchors, NOW).findings if x.code == "mx-certificate-expiring"
    ]
    assert "in 10 days" in finding.message
    assert expiring["message"] == finding.message.removesuffix(", in 10 days")
    assert expiring["subject"] == MX1
    assert digest(today) == digest(tomorrow)
    assert severity_counts(today) == {"error": 0, "warning": 2, "info": 0}


def test_a_changed_fact_changes_the_digest(pki: Pki) -> None:
    f = facts(pki, NOW + dt.timedelta(days=100))
    renewed = facts(pki, NOW + dt.timedelta(days=100))  # same names and expiry, a new key
    assert digest(snap(pki, f)) != digest(snap(pki, renewed))


def test_failed_lookups_are_one_state(pki: Pki) -> None:
    """SERVFAIL and a timeout are both "error": a flaky resolver does not
    make a new snapshot every time it fails differently."""
    f = facts(pki, NOW + dt.timedelta(days=100))
    servfail = dataclasses.replace(
        f, tlsrpt=DnsAnswer(f"_smtp._tls.{D}", "TXT", DnsStatus.SERVFAIL, error="SERVFAIL")
    )
    timeout = dataclasses.replace(
        f, tlsrpt=DnsAnswer(f"_smtp._tls.{D}", "TXT", DnsStatus.TIMEOUT, error="timed out")
    )
    a, b = snap(pki, servfail), snap(pki, timeout)
    assert a["tlsrpt"] == {"records": [], "status": "error"}
    assert a["tlsrpt"] == b["tlsrpt"]


def test_a_failed_policy_fetch_and_a_failed_probe(pki: Pki) -> None:
    f = facts(pki, NOW + dt.timedelta(days=100))
    assert f.policy is not None and f.mx_hosts is not None
    failed_policy = dataclasses.replace(
        f.policy,
        failure=FetchFailure.CONNECT,
        error="192.0.2.10: Connection refused",
        status=None,
        content_type=None,
        body=None,
        certificate=None,
    )
    broken = SmtpProbe(MX2, "192.0.2.2", 25, connect_error="Connection refused")
    mx2 = dataclasses.replace(f.mx_hosts[0].facts, probes=(broken,))
    s = snap(
        pki,
        dataclasses.replace(f, policy=failed_policy, mx_hosts=(MxEntry(20, mx2), f.mx_hosts[1])),
    )
    assert s["policy"]["error"] == "192.0.2.10: Connection refused"
    assert (s["policy"]["text"], s["policy"]["mode"], s["policy"]["certificate"]) == (
        None,
        None,
        None,
    )
    assert s["mx"][1]["tls"] == [
        {
            "address": "192.0.2.2",
            "starttls": False,
            "tls_version": None,
            "error": "Connection refused",
            "certificate": None,
        }
    ]
    assert {(x["code"], x["subject"]) for x in s["findings"]} >= {
        ("sts-policy-fetch-failed", None),
        ("mx-unreachable", MX2),
    }


def test_nothing_gathered() -> None:
    s = take_snapshot(DomainFacts(D), evaluate(DomainFacts(D), [], NOW))
    assert s == {
        "tlsrpt": {"records": [], "status": None},
        "sts": {"records": [], "status": None, "id": None},
        "policy": None,
        "mx": [],
        "findings": [],
    }
    assert earliest_not_after(s) is None


def test_probing_disabled_is_not_a_tls_failure(pki: Pki) -> None:
    f = facts(pki, NOW + dt.timedelta(days=100))
    assert f.mx_hosts is not None
    unprobed = tuple(
        dataclasses.replace(e, facts=dataclasses.replace(e.facts, probes=None)) for e in f.mx_hosts
    )
    s = snap(pki, dataclasses.replace(f, mx_hosts=unprobed, probe_enabled=False))
    assert [m["tls"] for m in s["mx"]] == [None, None]


@pytest.mark.parametrize(
    ("message", "stable"),
    [
        (
            "the certificate of MX mx.example.com expires on 2026-12-11, in 10 days",
            "the certificate of MX mx.example.com expires on 2026-12-11",
        ),
        (
            "the certificate of MX mx.example.com expired on 2026-11-29 (2 days ago); senders fail",
            "the certificate of MX mx.example.com expired on 2026-11-29; senders fail",
        ),
        ("expires on 2026-12-02, in 1 days", "expires on 2026-12-02"),
        ("expired on 2026-11-30 (1 day ago)", "expired on 2026-11-30"),
        ("MX mx.example.com has no address", "MX mx.example.com has no address"),
    ],
)
def test_stable_message(message: str, stable: str) -> None:
    assert stable_message(message) == stable


def test_certificate_that_does_not_parse() -> None:
    assert certificate(b"not a certificate") is None
    assert certificate(None) is None


@pytest.mark.parametrize(
    ("counts", "result"),
    [
        ({"error": 1, "warning": 2, "info": 0}, "error"),
        ({"error": 0, "warning": 1, "info": 3}, "warning"),
        ({"error": 0, "warning": 0, "info": 5}, "ok"),
        ({}, "ok"),
    ],
)
def test_a_check_counts_in_the_metrics_by_its_worst_finding(
    counts: dict[str, int], result: str
) -> None:
    assert check_result(counts) == result
