"""The pure evaluation: gathered facts -> findings, without any network."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import pytest
from checklab.pki import CertKind, LabPki
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tlsrpt.check import CODES, DomainFacts, Severity, evaluate
from tlsrpt.check.certs import parse_chain, spki_der
from tlsrpt.check.evaluate_dane import dane_state, evaluate_dane
from tlsrpt.check.facts import MxEntry, MxHostFacts, RuaCheck
from tlsrpt.check.net import Resolution, TlsConnect
from tlsrpt.check.policy_fetch import FetchFailure, PolicyFetch
from tlsrpt.check.resolver import DnsAnswer, DnsStatus
from tlsrpt.check.smtp_probe import SmtpProbe
from tlsrpt.check.tlsa import TlsaRecord
from tlsrpt.records import CODES as RECORD_CODES
from tlsrpt.records import parse_sts_policy, parse_sts_record, parse_tlsrpt_record

NOW = dt.datetime.now(dt.UTC)
D = "example.com"
MXH = "mx.example.com"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def anchors(pki: LabPki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(pki.ca.cert_pem.bytes())]


# --- builders -----------------------------------------------------------------


def answer(
    name: str,
    rdtype: str,
    *records: Any,
    status: DnsStatus | None = None,
    secure: bool = False,
    bogus: bool = False,
) -> DnsAnswer:
    if status is None:
        status = DnsStatus.OK if records else DnsStatus.NODATA
    return DnsAnswer(
        name,
        rdtype,
        status,
        tuple(records),
        secure=secure,
        bogus=bogus,
        error="SERVFAIL" if status == DnsStatus.SERVFAIL else None,
    )


def resolution(host: str, *ips: str, refused: Sequence[tuple[str, str]] = ()) -> Resolution:
    v4 = [ip for ip in ips if ":" not in ip] + [ip for ip, _ in refused]
    v6 = [ip for ip in ips if ":" in ip]
    return Resolution(
        host, answer(host, "A", *v4), answer(host, "AAAA", *v6), tuple(ips), tuple(refused)
    )


def probe(
    pki: LabPki | None,
    kind: CertKind = CertKind.VALID,
    address: str = "192.0.2.1",
    starttls: bool = True,
    version: str = "TLSv1.3",
    reachable: bool = True,
) -> SmtpProbe:
    if not reachable:
        return SmtpProbe(MXH, address, 25, connect_error="Connection refused")
    if not starttls:
        return SmtpProbe(
            MXH, address, 25, banner="220 hi", banner_code=220, capabilities=("SIZE 1000",)
        )
    chain = tuple(pki.chain_der(MXH, kind)) if pki else ()
    return SmtpProbe(
        MXH,
        address,
        25,
        banner="220 hi",
        banner_code=220,
        capabilities=("STARTTLS",),
        starttls_offered=True,
        tls_version=version,
        chain=chain,
    )


def policy(
    mode: str = "enforce",
    mx: Sequence[str] = (MXH,),
    status: int = 200,
    content_type: str | None = "text/plain",
    body: bytes | None = None,
    failure: FetchFailure | None = None,
    location: str | None = None,
) -> PolicyFetch:
    if body is None:
        body = (
            f"version: STSv1\nmode: {mode}\n"
            + "".join(f"mx: {m}\n" for m in mx)
            + "max_age: 604800\n"
        ).encode()
    return PolicyFetch(
        f"https://mta-sts.{D}/.well-known/mta-sts.txt",
        f"mta-sts.{D}",
        None,
        failure,
        "boom" if failure else None,
        status=status,
        content_type=content_type,
        location=location,
        body=None if failure else body,
        size=len(body),
    )


def facts(
    *,
    tlsrpt: Sequence[str] | None = (f"v=TLSRPTv1; rua=mailto:tls@{D}",),
    sts: Sequence[str] | None = ("v=STSv1; id=1",),
    fetch: PolicyFetch | None = None,
    probes: Sequence[SmtpProbe] | None = (),
    tlsa: DnsAnswer | None = None,
    mx_secure: bool = False,
    rua: Sequence[RuaCheck] | None = None,
    timed_out: bool = False,
) -> DomainFacts:
    addresses = [p.address for p in probes] if probes else ["192.0.2.1"]
    host = MxHostFacts(
        MXH,
        resolution(MXH, *addresses),
        tuple(probes) if probes is not None else None,
        tlsa or answer(f"_25._tcp.{MXH}", "TLSA"),
    )
    if rua is None:
        rua = [RuaCheck(f"mailto:tls@{D}", D, mx=answer(D, "MX", (10, MXH)))]
    return DomainFacts(
        D,
        tlsrpt=answer(f"_smtp._tls.{D}", "TXT", *((t,) for t in tlsrpt or ())),
        sts=answer(f"_mta-sts.{D}", "TXT", *((t,) for t in sts or ())),
        mx=answer(D, "MX", (10, MXH), secure=mx_secure),
        policy=fetch if fetch is not None else (policy() if sts else None),
        mx_hosts=(MxEntry(10, host),),
        rua=tuple(rua),
        probe_enabled=probes is not None,
        timed_out=timed_out,
        budget=60,
    )


def codes(
    f: DomainFacts, anchors: Sequence[x509.Certificate] = (), **kw: Any
) -> set[tuple[str, str]]:
    report = evaluate(f, anchors, NOW, **kw)
    return {(x.code, x.severity.value) for x in report.findings}


# --- severity by delivery impact ----------------------------------------------

MODES = {
    "enforce": dict(fetch=policy("enforce")),
    "testing": dict(fetch=policy("testing")),
    "none": dict(fetch=policy("none", mx=())),
    "no-policy": dict(sts=None),
}


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (CertKind.EXPIRED, "mx-certificate-expired"),
        (CertKind.UNTRUSTED, "mx-certificate-untrusted"),
        (CertKind.WRONG_NAME, "mx-certificate-host-mismatch"),
    ],
)
@pytest.mark.parametrize(
    ("mode", "severity"),
    [("enforce", "error"), ("testing", "warning"), ("none", "info"), ("no-policy", "info")],
)
def test_certificate_severity_follows_the_policy(
    pki: LabPki,
    anchors: list[x509.Certificate],
    kind: CertKind,
    code: str,
    mode: str,
    severity: str,
) -> None:
    found = codes(facts(probes=[probe(pki, kind)], **MODES[mode]), anchors)
    assert (code, severity) in found
    assert {c for c, _ in found} & {
        "mx-certificate-expired",
        "mx-certificate-untrusted",
        "mx-certificate-host-mismatch",
    } == {code}


@pytest.mark.parametrize(
    ("mode", "dane", "severity"),
    [
        ("enforce", False, "error"),
        ("testing", False, "warning"),
        ("none", False, "warning"),
        ("no-policy", False, "warning"),
        ("no-policy", True, "error"),
        ("testing", True, "error"),
    ],
)
@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda pki: probe(pki, starttls=False), "mx-starttls-missing"),
        (lambda pki: probe(pki, version="TLSv1"), "mx-tls-version-old"),
        (
            lambda pki: SmtpProbe(
                MXH,
                "192.0.2.1",
                25,
                banner_code=220,
                starttls_offered=True,
                capabilities=("STARTTLS",),
                tls_error="alert",
            ),
            "mx-tls-failed",
        ),
    ],
)
def test_transport_severity(
    pki: LabPki,
    anchors: list[x509.Certificate],
    mode: str,
    dane: bool,
    severity: str,
    build: Any,
    code: str,
) -> None:
    tlsa = answer("_25._tcp." + MXH, "TLSA", TlsaRecord(3, 1, 1, bytes(32)), secure=dane)
    found = codes(facts(probes=[build(pki)], tlsa=tlsa, mx_secure=dane, **MODES[mode]), anchors)
    assert (code, severity) in found


@pytest.mark.parametrize(
    ("mode", "severity"), [("enforce", "warning"), ("testing", "warning"), ("no-policy", "info")]
)
def test_expiring_threshold(
    pki: LabPki, anchors: list[x509.Certificate], mode: str, severity: str
) -> None:
    f = facts(probes=[probe(pki, CertKind.EXPIRING)], **MODES[mode])
    assert ("mx-certificate-expiring", severity) in codes(f, anchors)
    assert not any(
        c == "mx-certificate-expiring" for c, _ in codes(f, anchors, expiry_warning_days=3)
    )


def test_unreachable_escalates_only_when_nothing_answers(pki: LabPki) -> None:
    down = probe(None, reachable=False)
    assert ("mx-unreachable", "error") in codes(facts(probes=[down]))
    up = probe(pki, address="192.0.2.2")
    assert ("mx-unreachable", "warning") in codes(facts(probes=[down, up]))
    assert not any(c == "mx-unreachable" for c, _ in codes(facts(probes=None)))


# --- DANE ---------------------------------------------------------------------


def _tlsa(pki: LabPki, data: bytes | None = None, **kw: Any) -> DnsAnswer:
    if data is None:
        leaf = parse_chain(pki.chain_der(MXH, CertKind.EXPIRED)[:1])[0][0]
        data = hashlib.sha256(spki_der(leaf)).digest()
    return answer(f"_25._tcp.{MXH}", "TLSA", TlsaRecord(3, 1, 1, data), **kw)


def test_dane_ee_authenticates_an_expired_certificate(
    pki: LabPki, anchors: list[x509.Certificate]
) -> None:
    """RFC 7671 §5.1; docs/conformance.md#dane-ee: no dane finding; the expiry stays an (info)
    certificate fact."""
    found = codes(
        facts(
            sts=None,
            probes=[probe(pki, CertKind.EXPIRED)],
            tlsa=_tlsa(pki, secure=True),
            mx_secure=True,
        ),
        anchors,
    )
    assert found == {("mx-certificate-expired", "info"), ("sts-record-missing", "info")}


@pytest.mark.parametrize(
    ("tlsa_kw", "mx_secure", "expected"),
    [
        ({"secure": True}, False, ("dane-tlsa-insecure", "info")),
        ({"secure": False}, True, ("dane-tlsa-insecure", "warning")),
        ({"status": DnsStatus.SERVFAIL, "bogus": True}, True, ("dane-dnssec-invalid", "error")),
        ({"status": DnsStatus.SERVFAIL}, True, ("dane-dnssec-invalid", "error")),
        ({"status": DnsStatus.SERVFAIL, "bogus": True}, False, None),
    ],
)
def test_dane_dnssec_states(
    pki: LabPki,
    anchors: list[x509.Certificate],
    tlsa_kw: dict[str, Any],
    mx_secure: bool,
    expected: tuple[str, str] | None,
) -> None:
    found = codes(
        facts(
            probes=[probe(pki, CertKind.EXPIRED)], tlsa=_tlsa(pki, **tlsa_kw), mx_secure=mx_secure
        ),
        anchors,
    )
    dane = {f for f in found if f[0].startswith("dane-")}
    assert dane == ({expected} if expected else set())


def test_dane_mismatch_fix_is_the_served_key(pki: LabPki) -> None:
    f = facts(
        sts=None, probes=[probe(pki)], tlsa=_tlsa(pki, bytes(32), secure=True), mx_secure=True
    )
    (mismatch,) = [x for x in evaluate(f, [], NOW).findings if x.code == "dane-tlsa-mismatch"]
    assert mismatch.severity == Severity.ERROR
    assert mismatch.fix is not None and re.search(r"IN TLSA 3 1 1 [0-9a-f]{64}", mismatch.fix)


# --- MTA-STS policy fetch -------------------------------------------------------


@pytest.mark.parametrize(
    ("fetch", "code"),
    [
        (policy(failure=FetchFailure.CONNECT), "sts-policy-fetch-failed"),
        (policy(failure=FetchFailure.TIMEOUT), "sts-policy-fetch-failed"),
        (policy(failure=FetchFailure.DNS), "sts-policy-fetch-failed"),
        (policy(failure=FetchFailure.OVERSIZE), "sts-policy-fetch-failed"),
        (policy(failure=FetchFailure.TLS), "sts-policy-fetch-failed"),
        (policy(failure=FetchFailure.WEBPKI), "sts-policy-webpki-invalid"),
        (policy(status=302, location="https://x.test/"), "sts-policy-redirect"),
        (policy(status=404), "sts-policy-fetch-failed"),
        (policy(status=204), "sts-policy-fetch-failed"),
        (policy(content_type="text/html"), "sts-policy-content-type"),
        (policy(content_type=None), "sts-policy-content-type"),
        (policy(body=b"version: STSv1\nmode: enforce\n"), "sts-policy-invalid"),
        (policy(body=b"\xef\xbb\xbfversion: STSv1\n"), "sts-policy-invalid"),
    ],
)
def test_policy_fetch_outcomes(fetch: PolicyFetch, code: str) -> None:
    found = codes(facts(fetch=fetch, probes=None))
    assert (code, "error") in found


def test_lenient_senders_named() -> None:
    f = facts(fetch=policy(status=204), probes=None)
    (finding,) = [x for x in evaluate(f, [], NOW).findings]
    assert finding.evidence["senders"]["accept"] == ["mailauth (ZoneMTA, WildDuck)"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; charset=utf-8", "TEXT/PLAIN", "text/plain;charset=us-ascii; foo=bar"],
)
def test_plain_text_variants_accepted(content_type: str) -> None:
    """RFC 8461 §3.2; docs/conformance.md#policy-media-type: parameters do not matter."""
    assert codes(facts(fetch=policy(content_type=content_type), probes=None)) == set()


def test_wildcard_depth_names_the_senders() -> None:
    f = facts(fetch=policy(mx=("*.com",)), probes=None)
    (finding,) = evaluate(f, [], NOW).findings
    assert finding.code == "sts-mx-not-covered" and finding.severity == Severity.ERROR
    assert "exactly one label" in finding.message
    assert "Postfix with postfix-mta-sts-resolver" in finding.evidence["senders"]["accept"]
    assert "RFC-strict senders (e.g. Gmail)" in finding.evidence["senders"]["fail"]


# --- testing preview --------------------------------------------------------------


def test_testing_mode_lists_what_enforce_breaks(
    pki: LabPki, anchors: list[x509.Certificate]
) -> None:
    f = facts(fetch=policy("testing", mx=("mx.other.test",)), probes=[probe(pki, CertKind.EXPIRED)])
    report = evaluate(f, anchors, NOW)
    (preview,) = [x for x in report.findings if x.code == "sts-mode-testing"]
    assert preview.evidence["would_break"] == ["sts-mx-not-covered", "mx-certificate-expired"]
    assert preview.fix is None


def test_testing_mode_clean_offers_the_enforce_policy(
    pki: LabPki, anchors: list[x509.Certificate]
) -> None:
    report = evaluate(facts(fetch=policy("testing"), probes=[probe(pki)]), anchors, NOW)
    (preview,) = report.findings
    assert preview.code == "sts-mode-testing" and preview.severity == Severity.INFO
    assert preview.fix is not None and "mode: enforce" in preview.fix


# --- TLS-RPT and rua --------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "works"),
    [
        (RuaCheck("mailto:a@r.test", "r.test", mx=answer("r.test", "MX", (0, "."))), False),
        (
            RuaCheck(
                "mailto:a@r.test", "r.test", mx=answer("r.test", "MX", status=DnsStatus.NXDOMAIN)
            ),
            False,
        ),
        (
            RuaCheck(
                "mailto:a@r.test",
                "r.test",
                mx=answer("r.test", "MX"),
                addresses=resolution("r.test", "192.0.2.9"),
            ),
            True,
        ),
        (
            RuaCheck(
                "mailto:a@r.test",
                "r.test",
                mx=answer("r.test", "MX"),
                addresses=resolution("r.test"),
            ),
            False,
        ),
        (
            RuaCheck(
                "mailto:a@r.test", "r.test", mx=answer("r.test", "MX", status=DnsStatus.SERVFAIL)
            ),
            None,
        ),
        (
            RuaCheck(
                "https://r.test/",
                "r.test",
                tls=TlsConnect(
                    "r.test",
                    443,
                    resolution("r.test", "192.0.2.9"),
                    "192.0.2.9",
                    None,
                    "certificate has expired",
                    None,
                    0.1,
                ),
            ),
            False,
        ),
        (
            RuaCheck(
                "https://r.test/",
                "r.test",
                tls=TlsConnect(
                    "r.test",
                    443,
                    resolution("r.test", "192.0.2.9"),
                    "192.0.2.9",
                    None,
                    None,
                    "TLSv1.3",
                    0.1,
                ),
            ),
            True,
        ),
    ],
)
def test_rua_destinations(check: RuaCheck, works: bool | None) -> None:
    uri = check.uri
    f = facts(tlsrpt=(f"v=TLSRPTv1; rua={uri}",), rua=[check], probes=None)
    found = {c for c in codes(f) if c[0] == "tlsrpt-rua-invalid"}
    assert found == ({("tlsrpt-rua-invalid", "error")} if works is False else set())


def test_tlsrpt_missing_severity_depends_on_policy() -> None:
    assert ("tlsrpt-record-missing", "warning") in codes(facts(tlsrpt=None, probes=None))
    assert ("tlsrpt-record-missing", "info") in codes(facts(tlsrpt=None, sts=None, probes=None))


@pytest.mark.parametrize(
    ("mx_secure", "severity"),
    [(True, "warning"), (False, "info")],
)
def test_tlsrpt_missing_with_bogus_tlsa(pki: LabPki, mx_secure: bool, severity: str) -> None:
    """A DNSSEC-bogus TLSA lookup behind a signed MX means the domain uses DANE
    (and fails it, RFC 7672 §2.1): no TLS-RPT record is then a warning. Behind
    an unsigned MX senders never ask for TLSA, so DANE is not in use."""
    tlsa = _tlsa(pki, status=DnsStatus.SERVFAIL, bogus=True)
    found = codes(facts(tlsrpt=None, sts=None, probes=None, tlsa=tlsa, mx_secure=mx_secure))
    assert ("tlsrpt-record-missing", severity) in found


def _txt_value(fix: str) -> str:
    match = re.search(r'IN TXT "(.*)"', fix)
    assert match, fix
    return match.group(1)


@pytest.mark.parametrize(
    "record",
    [
        "v=TLSRPTv1;",
        "v=TLSRPTv1; rua=mailto:a@x.test; rua",
        "v=TLSRPTv1; rua=tls@example.com",
        "v=TLSRPTv1;;rua=mailto:a@example.com",
    ],
)
def test_tlsrpt_fix_is_a_valid_record(record: str) -> None:
    report = evaluate(facts(tlsrpt=(record,), probes=None), [], NOW)
    fixes = [
        f.fix for f in report.findings if f.code in ("tlsrpt-record-invalid", "tlsrpt-rua-invalid")
    ]
    assert fixes and fixes[0]
    assert parse_tlsrpt_record(_txt_value(fixes[0])).valid


@pytest.mark.parametrize("records", [("v=STSv1; id=a-b",), ("v=STSv1; id=1", "v=STSv1; id=2")])
def test_sts_record_fix_is_valid(records: tuple[str, ...]) -> None:
    report = evaluate(facts(sts=records, probes=None), [], NOW)
    (finding,) = [f for f in report.findings if f.code.startswith("sts-record-")]
    assert finding.severity == Severity.ERROR
    assert parse_sts_record(_txt_value(finding.fix or "")).valid


def test_policy_fix_is_valid_and_covers_the_mx() -> None:
    report = evaluate(facts(fetch=policy(mx=("mail.example.net",)), probes=None), [], NOW)
    (finding,) = report.findings
    policy_text = (finding.fix or "").split("# then")[0].split("\n", 1)[1]
    parsed = parse_sts_policy(policy_text).value
    assert parsed is not None and parsed.covers(MXH).covered
    assert parse_sts_record(_txt_value(finding.fix or "")).valid


def test_timeout_with_nothing_gathered() -> None:
    report = evaluate(DomainFacts(D, timed_out=True, budget=1.0), [], NOW)
    assert [(f.code, f.severity) for f in report.findings] == [("check-timeout", Severity.WARNING)]
    assert not report.complete


# --- robustness: any combination of facts evaluates --------------------------------

TXT_TLSRPT = st.sampled_from(
    [
        f"v=TLSRPTv1; rua=mailto:tls@{D}",
        "v=TLSRPTv1;",
        "v=TSLRPTv1; rua=mailto:a@b.c",
        "v=TLSRPTv1; rua=https://r.example/v1,http://x",
        "v=spf1 -all",
        "v=TLSRPTv1 ;rua=x",
        "v=TLSRPTv1; rua=mailto:a@other.example; x=\u00e9",
    ]
)
TXT_STS = st.sampled_from(
    [
        "v=STSv1; id=1",
        "v=STSv1; id=",
        "v=STSv1;id=abc;id=def",
        "v=STSv1",
        "v=spf1 -all",
        "V=STSv1; id=1",
    ]
)
STATUS = st.sampled_from(list(DnsStatus))
FETCH = st.one_of(
    st.none(),
    st.builds(
        policy,
        mode=st.sampled_from(["enforce", "testing", "none", "bogus"]),
        mx=st.lists(
            st.sampled_from([MXH, "*.example.com", "*.com", "x.test"]), max_size=3, unique=True
        ),
        status=st.sampled_from([200, 200, 301, 404]),
        content_type=st.sampled_from(["text/plain", "text/html", None]),
    ),
    st.builds(policy, failure=st.sampled_from(list(FetchFailure))),
    st.builds(policy, body=st.binary(max_size=200)),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tlsrpt=st.lists(TXT_TLSRPT, max_size=3),
    sts=st.lists(TXT_STS, max_size=2),
    fetch=FETCH,
    kinds=st.lists(st.sampled_from(list(CertKind)[:5]), max_size=2),
    starttls=st.booleans(),
    tlsa_status=STATUS,
    secure=st.booleans(),
    mx_secure=st.booleans(),
    timed_out=st.booleans(),
)
def test_any_facts_evaluate(
    pki: LabPki,
    anchors: list[x509.Certificate],
    tlsrpt: list[str],
    sts: list[str],
    fetch: PolicyFetch | None,
    kinds: list[CertKind],
    starttls: bool,
    tlsa_status: DnsStatus,
    secure: bool,
    mx_secure: bool,
    timed_out: bool,
) -> None:
    probes = [
        probe(pki, kind, address=f"192.0.2.{i + 1}", starttls=starttls)
        for i, kind in enumerate(kinds)
    ]
    tlsa = answer(
        f"_25._tcp.{MXH}",
        "TLSA",
        TlsaRecord(3, 1, 1, bytes(32)),
        status=tlsa_status,
        secure=secure,
        bogus=tlsa_status == DnsStatus.SERVFAIL,
    )
    f = facts(
        tlsrpt=tlsrpt,
        sts=sts,
        fetch=fetch,
        probes=probes,
        tlsa=tlsa,
        mx_secure=mx_secure,
        timed_out=timed_out,
    )
    report = evaluate(f, anchors, NOW)
    for finding in report.findings:
        assert finding.code in CODES or finding.code in RECORD_CODES
        assert finding.severity in Severity
        assert finding.message
    report.to_json()  # serialisable shape
    assert report.has_error == any(x.severity == Severity.ERROR for x in report.findings)


# --- DANE: TLSA base domain of an MX alias (RFC 7672 §2.2.3) --------------------

ALIAS_TARGET = "smtp.provider.example"


def _alias_host(
    pki: LabPki,
    expanded_tlsa: DnsAnswer | None,
    chain_secure: bool = True,
    original: DnsAnswer | None = None,
) -> MxHostFacts:
    a = DnsAnswer(
        MXH, "A", DnsStatus.OK, ("192.0.2.1",), secure=chain_secure, cnames=(ALIAS_TARGET,)
    )
    aaaa = DnsAnswer(MXH, "AAAA", DnsStatus.NODATA, secure=chain_secure, cnames=(ALIAS_TARGET,))
    return MxHostFacts(
        MXH,
        Resolution(MXH, a, aaaa, ("192.0.2.1",), ()),
        (probe(pki),),
        original or answer(f"_25._tcp.{MXH}", "TLSA", secure=True),
        expanded_tlsa,
    )


def _ee(pki: LabPki, name: str, right: bool = True, **kw: Any) -> DnsAnswer:
    leaf = parse_chain(pki.chain_der(MXH, CertKind.VALID)[:1])[0][0]
    data = hashlib.sha256(spki_der(leaf)).digest() if right else bytes(32)
    return answer(f"_25._tcp.{name}", "TLSA", TlsaRecord(3, 1, 1, data), **kw)


@pytest.mark.parametrize(
    ("expanded", "chain_secure", "base"),
    [
        # Secure records at the expanded name: it is the base domain.
        ({"secure": True}, True, ALIAS_TARGET),
        # A failed lookup there is never "no TLSA" (RFC 7672 §2.1).
        ({"status": DnsStatus.SERVFAIL, "bogus": True}, True, ALIAS_TARGET),
        # Nothing, or nothing secure, there: the MX host name.
        ({"status": DnsStatus.NXDOMAIN, "secure": True}, True, MXH),
        ({"secure": False}, True, MXH),
        # An insecure CNAME chain: the expansion is not used at all.
        ({"secure": True}, False, MXH),
    ],
)
def test_tlsa_base_domain(
    pki: LabPki, expanded: dict[str, Any], chain_secure: bool, base: str
) -> None:
    original = _ee(pki, MXH, right=False, secure=True)
    host = _alias_host(pki, _ee(pki, ALIAS_TARGET, **expanded), chain_secure, original)
    if not chain_secure:
        assert host.resolution is not None and host.resolution.expanded is None
    state = dane_state(host, mx_secure=True)
    assert state.base == base
    assert state.tlsa is (host.tlsa_expanded if base == ALIAS_TARGET else host.tlsa)
    assert state.reference_names == tuple(dict.fromkeys((base, MXH)))


def test_dane_ta_accepts_the_expanded_name(pki: LabPki) -> None:
    """RFC 7672 §3.2.2: with DANE-TA(2) the server certificate may name the TLSA
    base domain (the CNAME-expanded MX name) instead of the MX host name."""
    chain = pki.chain_der(ALIAS_TARGET, CertKind.VALID)  # names only the expanded name
    anchor = parse_chain(chain[1:2])[0][0]
    ta = TlsaRecord(2, 0, 1, hashlib.sha256(anchor.public_bytes(Encoding.DER)).digest())
    tlsa = answer(f"_25._tcp.{ALIAS_TARGET}", "TLSA", ta, secure=True)
    served = dataclasses.replace(probe(pki), chain=tuple(chain))
    host = dataclasses.replace(_alias_host(pki, tlsa), probes=(served,))
    state = dane_state(host, mx_secure=True)
    findings, section = evaluate_dane(MXH, state, host.probes, NOW)
    assert findings == [] and section is not None
    assert section["matches"][0]["authenticated"]
    # The same chain for the MX name alone (no alias) fails the name check.
    alone = dane_state(
        dataclasses.replace(host, resolution=resolution(MXH, "192.0.2.1"), tlsa=tlsa), True
    )
    (mismatch,) = evaluate_dane(MXH, alone, host.probes, NOW)[0]
    assert mismatch.code == "dane-tlsa-mismatch"


def _literal_mx_facts(*hosts: str, sts: bool = False) -> DomainFacts:
    entries = []
    for preference, host in enumerate(hosts):
        literal = host if ":" in host or host[0].isdigit() else None
        res = (
            Resolution(host, None, None, (), ((host, f"{host} is refused"),), literal)
            if literal
            else resolution(host, "192.0.2.1")
        )
        entries.append(MxEntry(preference, MxHostFacts(host, res, None, None)))
    return DomainFacts(
        D,
        tlsrpt=answer(f"_smtp._tls.{D}", "TXT", (f"v=TLSRPTv1; rua=mailto:tls@{D}",)),
        sts=answer(f"_mta-sts.{D}", "TXT", *((("v=STSv1; id=1",),) if sts else ())),
        mx=answer(D, "MX", *((i, h) for i, h in enumerate(hosts))),
        policy=policy(mx=hosts) if sts else None,
        mx_hosts=tuple(entries),
        rua=(RuaCheck(f"mailto:tls@{D}", D, mx=answer(D, "MX", (10, MXH))),),
        probe_enabled=False,
    )


def test_policy_fix_leaves_out_address_mx_targets() -> None:
    """An IP address as MX target cannot be a policy pattern: the fix lists the
    real host names, or is left out, instead of failing the whole run."""
    report = evaluate(_literal_mx_facts("fec0::1", MXH), [], NOW)
    (missing,) = [f for f in report.findings if f.code == "sts-record-missing"]
    assert missing.fix is not None
    assert f"mx: {MXH}" in missing.fix and "fec0" not in missing.fix
    report = evaluate(_literal_mx_facts("fec0::1", "10.0.0.1"), [], NOW)
    (missing,) = [f for f in report.findings if f.code == "sts-record-missing"]
    assert missing.fix is None
    refused = [f for f in report.findings if f.code == "address-refused"]
    assert [f.message.split(",")[0] for f in refused] == [
        "MX fec0::1 is an IP address",
        "MX 10.0.0.1 is an IP address",
    ]


def test_public_address_as_mx_is_unreachable() -> None:
    """An allowed (public) address as MX target is not probed: senders look the
    name up and find nothing, so it is an unreachable MX."""
    res = Resolution("192.0.2.7", None, None, ("192.0.2.7",), (), "192.0.2.7")
    f = dataclasses.replace(
        _literal_mx_facts(MXH),
        mx=answer(D, "MX", (10, "192.0.2.7")),
        mx_hosts=(MxEntry(10, MxHostFacts("192.0.2.7", res, None, None)),),
        probe_enabled=True,
    )
    report = evaluate(f, [], NOW)
    (finding,) = [x for x in report.findings if x.code == "mx-unreachable"]
    assert finding.severity == Severity.ERROR  # the only MX: nothing answers
    assert "is an IP address, not a host name" in finding.message
    assert report.mx[0]["addresses"] == ["192.0.2.7"] and report.mx[0]["probes"] is None


# --- sender compatibility (docs/conformance.md#sender-compatibility) -----------


def test_policy_rejected_by_some_senders_is_an_error_and_still_evaluated() -> None:
    """A blank line: mox and maddy reject the policy, postfix-mta-sts-resolver
    applies it, so the checker reports who rejects it and still checks what
    the others apply (here: coverage)."""
    body = b"version: STSv1\nmode: enforce\nmx: other.example.net\n\nmax_age: 604800\n"
    report = evaluate(facts(fetch=policy(body=body), probes=None), [], NOW)
    found = {(x.code, x.severity.value) for x in report.findings}
    assert ("sts-policy-rejected-by-senders", "error") in found
    assert ("sts-mx-not-covered", "error") in found  # the tolerant reading was applied
    assert "sts-policy-blank-line" not in {x.code for x in report.findings}  # restated
    assert "sts-policy-invalid" not in {x.code for x in report.findings}
    (rejected,) = [x for x in report.findings if x.code == "sts-policy-rejected-by-senders"]
    assert "rejected by mox, maddy" in rejected.message
    assert rejected.evidence["rejected_by"] == ["RFC grammar", "mox", "maddy"]
    verdicts = {v["implementation"]: v["verdict"] for v in rejected.evidence["implementations"]}
    assert verdicts["postfix-mta-sts-resolver"] == "accept"


def test_policy_max_age_over_a_year() -> None:
    body = b"version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 40000000\n"
    found = codes(facts(fetch=policy(body=body), probes=None))
    assert found == {
        ("sts-policy-rejected-by-senders", "error"),
        ("record-read-differently", "warning"),
    }


def test_two_rua_fields_are_read_differently() -> None:
    record = f"v=TLSRPTv1; rua=mailto:a@{D}; rua=mailto:b@{D}"
    report = evaluate(facts(tlsrpt=(record,), probes=None), [], NOW)
    assert {(x.code, x.severity.value) for x in report.findings} == {
        ("record-read-differently", "warning")
    }
    (finding,) = report.findings
    assert "mox uses both" in finding.message
    assert "checkdmarc uses the first" in finding.message
    assert "mimecast/mta-sts uses the last" in finding.message


def test_sts_record_with_two_ids_and_a_clean_record() -> None:
    found = codes(facts(sts=("v=STSv1; id=1; id=2",), probes=None))
    assert found == {("record-read-differently", "warning")}
    assert codes(facts(probes=None)) == set()
