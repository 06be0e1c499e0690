"""One lab scenario per finding code: exact code and severity."""

from __future__ import annotations

from collections import Counter

import pytest
from checklab.lab import Lab
from checklab.scenarios import scenario_specs

from conftest import BulkRun
from tlsrpt.check import CODES

E, W, INFO = "error", "warning", "info"

# domain label -> the exact findings (code, severity) expected, nothing more.
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "clean": [],
    # RFC 8460 §3; docs/conformance.md#record-selection: character-strings concatenated
    "split-txt": [],
    "big-txt": [],  # TC bit: the lookup is repeated over TCP
    "sts-cname": [],  # RFC 8461 §3.1; docs/conformance.md#sts-cname: the _mta-sts CNAME is followed
    "shared-one": [],
    "shared-two": [],
    "tlsrpt-missing": [("tlsrpt-record-missing", W)],
    # RFC 8460 §3; docs/conformance.md#record-selection
    "tlsrpt-multiple": [("tlsrpt-record-multiple", E)],
    # RFC 8460 §3; docs/conformance.md#tlsrpt-record-grammar
    "tlsrpt-invalid": [("tlsrpt-record-invalid", E)],
    "tlsrpt-two-rua": [("record-read-differently", W)],
    "rua-mailto-dead": [("tlsrpt-rua-invalid", E), ("tlsrpt-rua-external", W)],
    "rua-https-badcert": [("tlsrpt-rua-invalid", E)],
    "rua-partly-dead": [("tlsrpt-rua-invalid", W), ("tlsrpt-rua-external", W)],
    "sts-missing": [("sts-record-missing", W)],
    # RFC 8461 §3.1; docs/conformance.md#record-selection
    "sts-multiple": [("sts-record-multiple", E)],
    # RFC 8461 §3.1; docs/conformance.md#sts-id; mox rejects the id, postfix-mta-sts-resolver and
    # maddy use it
    "sts-record-bad": [("sts-record-invalid", E), ("sts-policy-rejected-by-senders", E)],
    "policy-unreachable": [("sts-policy-fetch-failed", E)],
    # RFC 8461 §3.3; docs/conformance.md#policy-http-status
    "policy-404": [("sts-policy-fetch-failed", E)],
    # RFC 8461 §3.3; docs/conformance.md#policy-fetch-limits
    "policy-slow": [("sts-policy-fetch-failed", E)],
    # RFC 8461 §3.3; docs/conformance.md#policy-fetch-limits
    "policy-oversized": [("sts-policy-fetch-failed", E)],
    # RFC 8461 §3.3; docs/conformance.md#policy-http-status
    "policy-redirect": [("sts-policy-redirect", E)],
    # RFC 8461 §3.2; docs/conformance.md#policy-media-type
    "policy-html": [("sts-policy-content-type", E)],
    # RFC 8461 §3.2; docs/conformance.md#policy-mx-lines, #policy-max-age
    "policy-invalid": [("sts-policy-invalid", E)],
    "policy-max-age-year": [("sts-policy-rejected-by-senders", E), ("record-read-differently", W)],
    # RFC 8461 §3.3; docs/conformance.md#policy-host-certificate
    "policy-expired-cert": [("sts-policy-webpki-invalid", E)],
    "policy-wrong-name": [("sts-policy-webpki-invalid", E)],
    "policy-untrusted": [("sts-policy-webpki-invalid", E)],
    "mode-testing": [("sts-mode-testing", INFO)],
    "mode-testing-expired": [("mx-certificate-expired", W), ("sts-mode-testing", INFO)],
    "mode-none": [("sts-mode-none", W)],  # RFC 8461 §5; docs/conformance.md#mode-none
    # RFC 8461 §4.1; docs/conformance.md#mx-pattern-matching
    "mx-not-covered": [("sts-mx-not-covered", E)],
    "mx-two-labels": [("sts-mx-not-covered", E)],  # '*' is exactly one label
    "no-mx": [("mx-missing", W), ("sts-record-missing", W)],
    "no-mail": [("mx-missing", E)],
    "null-mx": [("mx-missing", INFO)],
    "mx-servfail": [("dns-lookup-failed", E), ("sts-record-missing", W)],
    "mx-closed": [("mx-unreachable", E)],
    "mx-half-closed": [("mx-unreachable", W)],
    "mx-no-address": [("mx-unreachable", E)],
    "mx-plain": [("mx-starttls-missing", E)],  # RFC 8461 §4; docs/conformance.md#mx-tls, enforce
    "mx-plain-no-policy": [("mx-starttls-missing", W), ("sts-record-missing", W)],
    "mx-tls-broken": [("mx-tls-failed", E)],
    "mx-expired": [("mx-certificate-expired", E)],  # RFC 8461 §4.2; docs/conformance.md#mx-tls
    "mx-expiring": [("mx-certificate-expiring", W)],
    "mx-untrusted": [("mx-certificate-untrusted", E)],
    "mx-untrusted-no-policy": [("mx-certificate-untrusted", INFO), ("sts-record-missing", W)],
    "mx-wrong-name": [("mx-certificate-host-mismatch", E)],
    "mx-old-tls": [("mx-tls-version-old", E)],  # RFC 8461 §7.2; docs/conformance.md#mx-tls
}

# Scenarios behind the validating resolver (Unbound).
EXPECTED_DNSSEC: dict[str, list[tuple[str, str]]] = {
    "dane-ok": [("sts-record-missing", INFO)],  # RFC 7671 §5.1; docs/conformance.md#dane-ee
    "dane-ta": [("sts-record-missing", INFO)],  # RFC 7671 §5.2; docs/conformance.md#dane-ta
    "dane-mismatch": [("dane-tlsa-mismatch", E), ("sts-record-missing", INFO)],
    # RFC 7672 §2.1; docs/conformance.md#dnssec-state
    "dane-bogus": [("dane-dnssec-invalid", E), ("sts-record-missing", W)],
    "dane-bogus-no-tlsrpt": [
        ("dane-dnssec-invalid", E),
        ("sts-record-missing", W),
        ("tlsrpt-record-missing", W),  # DANE is in use, if failing: reports matter
    ],
    # RFC 7672 §2.2; docs/conformance.md#usable-tlsa-records
    "dane-unusable": [("dane-tlsa-unusable", W), ("sts-record-missing", INFO)],
    # RFC 7672 §2.2.3; docs/conformance.md#insecure-tlsa
    "dane-insecure": [("dane-tlsa-insecure", W), ("sts-record-missing", W)],
    "mx-bogus": [("dns-lookup-failed", E), ("sts-record-missing", W)],
    # RFC 7672 §3.2.2; docs/conformance.md#dane-ta: the DANE-TA(2) chain is right but the name is
    # not.
    "dane-ta-wrong-name": [
        ("dane-tlsa-mismatch", E),
        ("mx-certificate-host-mismatch", INFO),
        ("sts-record-missing", INFO),
    ],
    # RFC 7671 §5.1; docs/conformance.md#dane-ee: DANE-EE(3) authenticates without a name check.
    "dane-ee-wrong-name": [("mx-certificate-host-mismatch", INFO), ("sts-record-missing", INFO)],
    # RFC 7672 §2.2.3; docs/conformance.md#tlsa-base-domain: TLSA base domain = the secure CNAME
    # expansion, else the MX name.
    "dane-cname": [("sts-record-missing", INFO)],
    "dane-cname-fallback": [("sts-record-missing", INFO)],
    # RFC 7672 §3.2.2; docs/conformance.md#dane-ta: the expanded name is a DANE-TA reference
    # identifier; MTA-STS senders would still want the MX name (info: no MTA-STS policy here).
    "dane-cname-ta": [("mx-certificate-host-mismatch", INFO), ("sts-record-missing", INFO)],
}


def findings(report: dict) -> Counter[tuple[str, str]]:
    return Counter((f["code"], f["severity"]) for f in report["findings"])


def test_every_scenario_has_an_expectation() -> None:
    labels = {spec.domain.removesuffix(".lab.test") for spec in scenario_specs()}
    assert labels == set(EXPECTED) | set(EXPECTED_DNSSEC)


def test_every_checker_code_has_a_scenario() -> None:
    covered = {
        code
        for table in (EXPECTED, EXPECTED_DNSSEC)
        for items in table.values()
        for code, _ in items
    }
    missing = set(CODES) - covered - {"address-refused", "check-timeout"}  # own tests below
    assert not missing


@pytest.mark.parametrize(("label", "expected"), EXPECTED.items())
def test_scenario(bulk: BulkRun, label: str, expected: list[tuple[str, str]]) -> None:
    report = bulk.reports[f"{label}.lab.test"]
    assert findings(report) == Counter(expected), report["findings"]


@pytest.mark.parametrize(("label", "expected"), EXPECTED_DNSSEC.items())
def test_dnssec_scenario(
    lab: Lab, bulk: BulkRun, label: str, expected: list[tuple[str, str]]
) -> None:
    if lab.unbound is None:
        pytest.skip("unbound is not installed (Debian package, listed in .ci/apt-packages)")
    report = bulk.reports[f"{label}.lab.test"]
    assert findings(report) == Counter(expected), report["findings"]


def test_bulk_exit_status_and_stream(bulk: BulkRun) -> None:
    assert bulk.run.status == 1  # some scenarios have errors
    assert len(bulk.reports) == len(scenario_specs())
    assert all(report["complete"] for report in bulk.reports.values())


def test_shared_mx_probed_once(bulk: BulkRun) -> None:
    """Two domains on one provider MX: one STARTTLS handshake in the run."""
    assert bulk.provider_handshakes == 1
    for label in ("shared-one", "shared-two"):
        (mx,) = bulk.reports[f"{label}.lab.test"]["mx"]
        assert mx["host"] == "mx.provider.lab.test"
        assert mx["probes"][0]["tls_version"] == "TLSv1.3"


def test_every_address_of_the_mx_is_probed(bulk: BulkRun) -> None:
    """IPv4 and IPv6 addresses of an MX are probed separately, with the MX name as SNI."""
    (mx,) = bulk.reports["clean.lab.test"]["mx"]
    assert sorted(p["address"] for p in mx["probes"]) == ["127.77.0.20", "::1"]
    for probe in mx["probes"]:
        assert probe["tls_version"] == "TLSv1.3"
        assert probe["certificate"]["name_matches"] and probe["certificate"]["trusted"]
        assert probe["certificate"]["leaf"]["dns_names"] == ["mx.clean.lab.test"]


def test_findings_name_the_senders_that_fail(bulk: BulkRun) -> None:
    (finding,) = bulk.reports["mx-expired.lab.test"]["findings"]
    assert "RFC-strict senders (e.g. Gmail)" in finding["evidence"]["senders"]["fail"]
    (finding,) = bulk.reports["policy-html.lab.test"]["findings"]
    assert finding["evidence"]["senders"]["accept"] == ["mailauth (ZoneMTA, WildDuck)"]


def test_rua_destinations_reported(bulk: BulkRun) -> None:
    rua = bulk.reports["clean.lab.test"]["tlsrpt"]["rua"]
    assert [(r["uri"], r["ok"]) for r in rua] == [
        ("mailto:tlsrpt@clean.lab.test", True),
        ("https://reports.clean.lab.test/v1", True),
    ]


@pytest.mark.parametrize(
    ("label", "base", "mx_cert"),
    [
        ("dane-cname", "smtp.dane-cname.lab.test", "mx.dane-cname.lab.test"),
        ("dane-cname-ta", "smtp.dane-cname-ta.lab.test", "smtp.dane-cname-ta.lab.test"),
        (
            "dane-cname-fallback",
            "mx.dane-cname-fallback.lab.test",
            "mx.dane-cname-fallback.lab.test",
        ),
        ("dane-ok", "mx.dane-ok.lab.test", "mx.dane-ok.lab.test"),
    ],
)
def test_tlsa_base_domain_of_an_alias(
    lab: Lab, bulk: BulkRun, label: str, base: str, mx_cert: str
) -> None:
    """RFC 7672 §2.2.3 (docs/conformance.md#tlsa-base-domain): TLSA is looked up at the secure CNAME
    expansion of the MX host first; there the records decide, and the alias's
    own TLSA records count only when the expanded name has none."""
    if lab.unbound is None:
        pytest.skip("unbound is not installed (Debian package, listed in .ci/apt-packages)")
    (mx,) = bulk.reports[f"{label}.lab.test"]["mx"]
    assert mx["host"] == f"mx.{label}.lab.test"
    tlsa = mx["tlsa"]
    assert (tlsa["base"], tlsa["name"], tlsa["dane"]) == (base, f"_25._tcp.{base}", True)
    # RFC 7672 §8.1 (docs/conformance.md#dane-sni): the chain judged for DANE is the one served
    # with the TLSA base domain as SNI; the MTA-STS view keeps the MX name.
    assert [(m["sni"], m["authenticated"]) for m in tlsa["matches"]] == [(base, True)]
    assert lab.smtp["starttls"].handshakes[base] >= 1
    assert [p["certificate"]["leaf"]["dns_names"] for p in mx["probes"]] == [[mx_cert]]


def test_dane_ta_name_failure_is_explained(lab: Lab, bulk: BulkRun) -> None:
    """RFC 7672 §3.2.2: the anchor matches, the name does not; the finding says so."""
    if lab.unbound is None:
        pytest.skip("unbound is not installed (Debian package, listed in .ci/apt-packages)")
    report = bulk.reports["dane-ta-wrong-name.lab.test"]
    (finding,) = [f for f in report["findings"] if f["code"] == "dane-tlsa-mismatch"]
    assert "DANE-TA(2) anchor but fails" in finding["message"]
    assert "no matching subjectAltName" in finding["message"]
