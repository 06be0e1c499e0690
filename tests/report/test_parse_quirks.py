"""Real-world quirks (docs/conformance.md#sender-quirks): accepted leniently,
each returned as a deviation; strict mode rejects the RFC violations."""

from __future__ import annotations

import json

import pytest

from tlsrpt.report import Limits, ReportError, parse_report


def codes(parsed) -> list[str]:
    return [d.code for d in parsed.deviations]


def test_google_omits_failure_details(fixture_bytes):
    """Google; RFC 8460 §4.4; docs/conformance.md#absent-failure-details: absent failure-details is
    [] and not a violation."""
    parsed = parse_report(fixture_bytes("google-sts-success.json"), strict=True)
    assert codes(parsed) == ["failure-details-missing"]
    assert parsed.deviations[0].violation is False
    policy = parsed.report.policies[0].policy
    # Google; docs/conformance.md#policy-string
    assert policy.policy_string[:3] == ["version: STSv1", "mode: testing", "max_age: 86400"]
    assert parsed.report.policies[0].failure_details == []


def test_microsoft_tlsa_double_encoded_and_no_mx_host(fixture_bytes):
    """Microsoft; docs/conformance.md#policy-domain, #policy-string, #mx-host,
    #absent-failure-details."""
    parsed = parse_report(fixture_bytes("microsoft-sts-tlsa.json"))
    assert "mx-host-missing" in codes(parsed)
    assert "policy-string-json-encoded" in codes(parsed)
    tlsa = parsed.report.policies[1].policy
    assert tlsa.policy_type == "tlsa"
    assert len(tlsa.policy_string) == 2
    assert tlsa.policy_string[0].startswith("3 1 1 0B9F")
    assert parsed.report.policies[0].policy.mx_host == []
    with pytest.raises(ReportError) as info:
        parse_report(fixture_bytes("microsoft-sts-tlsa.json"), strict=True)
    assert info.value.code == "strict-violation"


def test_microsoft_datetimes_without_offset(fixture_bytes):
    """Microsoft; RFC 8460 §4.4; docs/conformance.md#date-times: assumed UTC, flagged."""
    parsed = parse_report(fixture_bytes("microsoft-no-offset.json"))
    assert codes(parsed).count("datetime-no-offset") == 2
    assert parsed.report.date_range.start_datetime.tzinfo is not None
    assert parsed.report.date_range.start_datetime.isoformat() == "2025-03-03T00:00:00+00:00"
    with pytest.raises(ReportError, match="datetime-no-offset"):
        parse_report(fixture_bytes("microsoft-no-offset.json"), strict=True)


def test_microsoft_fetch_error_without_mx_or_ip(fixture_bytes):
    """Microsoft; RFC 8460 §4.4; docs/conformance.md#optional-failure-members: only result-type and
    failed-session-count are required."""
    parsed = parse_report(fixture_bytes("microsoft-fetch-error.json"))
    detail = parsed.report.policies[0].failure_details[0]
    assert detail.result_type == "sts-policy-fetch-error"
    assert detail.sending_mta_ip is None and detail.receiving_mx_hostname is None
    # Microsoft; docs/conformance.md#de-duplication, empty domain part
    assert parsed.report.report_id == "133854336001112223+"
    assert "policy-string-missing" in codes(parsed)


def test_mailru_next_midnight_and_go_error(fixture_bytes):
    """Mail.ru; RFC 8460 §4.1; docs/conformance.md#policy-string, #optional-failure-members,
    #date-range."""
    parsed = parse_report(fixture_bytes("mailru-fetch-error.json"))
    assert "end-datetime-next-midnight" in codes(parsed)
    dr = parsed.report.date_range
    assert dr.end_exclusive == dr.end_datetime  # already exclusive
    reason = parsed.report.policies[0].failure_details[0].failure_reason_code
    assert reason is not None and reason.startswith("unable to do http request")
    assert "policy-string-missing" in codes(parsed) and "mx-host-missing" in codes(parsed)


def test_postfix_no_policy_domain(fixture_bytes):
    """Postfix with libtlsrpt; docs/conformance.md#policy-domain: policy-domain absent on
    no-policy-found (parsedmarc rejected this)."""
    parsed = parse_report(fixture_bytes("postfix-no-policy-domain.json"))
    assert parsed.report.policies[0].policy.policy_domain is None
    assert parsed.report.policy_domains == []
    assert codes(parsed) == ["policy-domain-missing"]


def test_contact_info_null(fixture_bytes):
    """docs/conformance.md#contact-info: contact-info null, policy-string [] and mx-host [] for
    no-policy-found."""
    parsed = parse_report(fixture_bytes("contact-null.json"))
    assert parsed.report.contact_info is None
    assert set(codes(parsed)) == {"contact-info-null", "end-datetime-next-midnight"}


def test_rfc_example_string_mx_host_and_noncanonical_ipv6(fixture_bytes):
    """RFC 8460 App. B, §4.4, EID 6241; docs/conformance.md#mx-host, #ip-addresses."""
    parsed = parse_report(fixture_bytes("rfc-style-string-mx.json"))
    assert parsed.report.policies[0].policy.mx_host == ["*.mail.example.org"]
    assert codes(parsed).count("ip-not-canonical") == 2
    ips = [f.sending_mta_ip for f in parsed.report.policies[0].failure_details]
    assert ips == ["2001:db8:abcd:12::1", "2001:db8:abcd:13::1", "198.51.100.62"]
    assert "mx-host-not-array" in codes(parsed)


def test_prose_key_names(fixture_bytes):
    """RFC 8460 §4.4; docs/conformance.md#template-keys: mx-host-pattern and additional-info-uri are
    read, flagged, legal."""
    parsed = parse_report(fixture_bytes("prose-keys.json"), strict=True)
    assert parsed.report.policies[0].policy.mx_host == ["mx.example.org"]
    detail = parsed.report.policies[0].failure_details[0]
    assert detail.additional_information == "https://prose.example/tls/1"
    assert set(codes(parsed)) == {"mx-host-pattern-key", "additional-info-uri-key"}


def test_numbers_as_strings(fixture_bytes):
    parsed = parse_report(fixture_bytes("numbers-as-strings.json"))
    assert parsed.report.successful_sessions == 17
    assert parsed.report.failed_sessions == 2
    assert parsed.report.policies[0].failure_details[0].failed_session_count == 2
    assert codes(parsed).count("number-as-string") == 3


def test_empty_ip_strings(fixture_bytes):
    """docs/conformance.md#sender-quirks: Google sent sending-mta-ip "" (broke INET columns)."""
    parsed = parse_report(fixture_bytes("empty-ips.json"))
    detail = parsed.report.policies[0].failure_details[0]
    assert detail.sending_mta_ip is None and detail.receiving_ip is None
    assert codes(parsed).count("empty-value") == 2


def test_utf8_bom(fixture_bytes):
    parsed = parse_report(fixture_bytes("bom.json"))
    assert codes(parsed)[0] == "utf8-bom"
    assert parsed.report.report_id == "bom-report-1"


def test_unknown_types_kept_never_fatal(fixture_bytes):
    """RFC 8460 §4.4, §6.6; docs/conformance.md#policy-type, #result-types: unknown policy and
    result types are kept."""
    parsed = parse_report(fixture_bytes("unknown-types.json"))
    assert parsed.report.policies[0].policy.policy_type == "sts-v2"
    assert parsed.report.policies[0].failure_details[0].result_type == "quantum-decoherence"
    assert {"policy-type-unknown", "result-type-unregistered"} <= set(codes(parsed))


def test_hostile_strings_kept_verbatim(fixture_bytes):
    """Attacker-controlled text is data: stored as given, rendered escaped elsewhere."""
    parsed = parse_report(fixture_bytes("hostile-strings.json"))
    r = parsed.report
    assert r.organization_name == "<script>alert('org')</script>"
    detail = r.policies[0].failure_details[0]
    assert detail.receiving_mx_hostname == "\x00\x1b[31mred\x1b[0m"
    assert detail.additional_information == "javascript:alert(3)"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda r: r.__setitem__("contact-info", ""), "empty-value"),
        (lambda r: r.pop("contact-info"), "contact-info-missing"),
        (lambda r: r.__setitem__("report-id", 12345), "report-id-not-string"),
        (lambda r: r.__setitem__("policies", r["policies"][0]), "policies-not-array"),
        (
            lambda r: r["policies"][0]["policy"].__setitem__("policy-type", "STS"),
            "policy-type-case",
        ),
        (
            lambda r: r["policies"][0]["failure-details"][0].__setitem__(
                "result-type", "Certificate-Expired"
            ),
            "result-type-case",
        ),
        (
            lambda r: r["policies"][0]["failure-details"][0].__setitem__("receiving-ip", None),
            "null-value",
        ),
        (
            lambda r: r["policies"][0]["failure-details"][0].__setitem__(
                "sending-mta-ip", "010.0.0.1"
            ),
            "ip-invalid",
        ),
        (
            lambda r: r["policies"][0].__setitem__("failure-details", None),
            "null-value",
        ),
        (lambda r: r["policies"][0]["summary"].pop("total-failure-session-count"), "count-missing"),
        (
            lambda r: r["policies"][0]["summary"].__setitem__("total-failure-session-count", 1.0),
            "number-not-integer",
        ),
        (
            lambda r: r["date-range"].__setitem__("end-datetime", "2025-03-31T00:00:00Z"),
            "date-range-inverted",
        ),
        (
            lambda r: r["date-range"].__setitem__("start-datetime", "2025-04-01T00:00Z"),
            "datetime-not-rfc3339",
        ),
        (
            lambda r: r["policies"][0]["policy"].__setitem__("policy-domain", "bücher.example"),
            "policy-domain-u-label",
        ),
        (
            lambda r: r["policies"][0]["policy"].__setitem__("policy-string", "version: STSv1"),
            "policy-string-not-array",
        ),
    ],
)
def test_violations_lenient_vs_strict(minimal, mutate, code):
    mutate(minimal)
    data = json.dumps(minimal).encode()
    parsed = parse_report(data)
    assert code in codes(parsed)
    with pytest.raises(ReportError) as info:
        parse_report(data, strict=True)
    assert info.value.code == "strict-violation"
    assert code in info.value.reason


def test_count_beyond_ijson_is_a_violation_where_plausible(minimal):
    """A count beyond 2^53-1 is implausible with the default bound
    (`count-implausible`, tests/report/test_limits.py); under a higher one it
    is kept with a `number-too-large` violation (RFC 7493 §2.2)."""
    minimal["policies"][0]["summary"]["total-successful-session-count"] = 2**60
    data = json.dumps(minimal).encode()
    limits = Limits(max_sessions=2**62)
    parsed = parse_report(data, limits=limits)
    assert "number-too-large" in codes(parsed)
    assert parsed.report.successful_sessions == 2**60
    with pytest.raises(ReportError) as info:
        parse_report(data, strict=True, limits=limits)
    assert info.value.code == "strict-violation"
    with pytest.raises(ReportError) as info:
        parse_report(data)
    assert info.value.code == "count-implausible"


def test_inverted_range_with_usual_end_second(minimal):
    minimal["date-range"] = {
        "start-datetime": "2025-04-02T00:00:00Z",
        "end-datetime": "2025-04-01T23:59:59Z",
    }
    assert "date-range-inverted" in codes(parse_report(json.dumps(minimal).encode()))


def test_tlsa_policy_string_as_semicolon_string(minimal):
    """RFC 8460 §4; docs/conformance.md#policy-string: the §4 prose form, TLSA RRs separated by
    semicolons."""
    minimal["policies"][0]["policy"] = {
        "policy-type": "tlsa",
        "policy-string": "3 1 1 AA; 2 0 1 BB",
        "policy-domain": "mx.example.org",
    }
    parsed = parse_report(json.dumps(minimal).encode())
    assert parsed.report.policies[0].policy.policy_string == ["3 1 1 AA", "2 0 1 BB"]


def test_domain_normalized(minimal):
    minimal["policies"][0]["policy"]["policy-domain"] = "Example.ORG."
    assert parse_report(json.dumps(minimal).encode()).report.policy_domains == ["example.org"]


def test_duplicate_keys_strict_only(minimal):
    """RFC 8460 §4; docs/conformance.md#i-json: I-JSON has unique member names."""
    data = (
        json.dumps(minimal)
        .encode()
        .replace(b'"report-id": "r-1"', b'"report-id": "r-0", "report-id": "r-1"')
    )
    assert parse_report(data).report.report_id == "r-1"
    with pytest.raises(ReportError) as info:
        parse_report(data, strict=True)
    assert info.value.code == "duplicate-key"


def test_null_text_inside_strings_is_not_a_null(minimal):
    """`null` in a string sends the parser looking for null members: it finds none."""
    minimal["policies"][0]["failure-details"][0]["failure-reason-code"] = "null pointer"
    parsed = parse_report(json.dumps(minimal).encode(), strict=True)
    assert parsed.deviations == []


def test_null_row_members_are_located(minimal):
    row = minimal["policies"][0]["failure-details"][0]
    row["receiving-mx-helo"] = None
    row["additional-info-uri"] = None
    minimal["contact-info"] = None
    parsed = parse_report(json.dumps(minimal).encode())
    paths = {d.path for d in parsed.deviations if d.code == "null-value"}
    assert paths == {
        "$.policies[0].failure-details[0].receiving-mx-helo",
        "$.policies[0].failure-details[0].additional-info-uri",
    }
    assert "contact-info-null" in codes(parsed)
    assert parsed.report.policies[0].failure_details[0].receiving_mx_helo is None
