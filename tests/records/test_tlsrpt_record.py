"""`_smtp._tls` TXT record (RFC 8460 §3); see docs/conformance.md."""

from __future__ import annotations

import pytest

from tlsrpt.records import (
    check_tlsrpt_name,
    generate_tlsrpt_record,
    parse_tlsrpt_record,
    select_tlsrpt_record,
)


def codes(problems, severity=None):
    return [p.code for p in problems if severity is None or p.severity == severity]


def test_rfc_example_parses():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua=mailto:reports@example.com")
    assert record is not None
    assert record.rua == ("mailto:reports@example.com",)
    assert record.mailto_addresses() == ("reports@example.com",)
    assert problems == ()


@pytest.mark.parametrize(
    "text",
    [
        "v=tlsrptv1;rua=mailto:a@x.test",
        "V=TLSRPTv1;rua=mailto:a@x.test",
        " v=TLSRPTv1;rua=mailto:a@x.test",
        "rua=mailto:a@x.test;v=TLSRPTv1",
        "v=TLSRPTv10;rua=mailto:a@x.test",
        "v=TLSRPTv1 rua=mailto:a@x.test",
        "",
    ],
)
def test_r8460_3_b_version_exact_first_case_sensitive(text):
    record, problems = parse_tlsrpt_record(text)
    assert record is None
    assert codes(problems) == ["tlsrpt-version-invalid"]


def test_r8460_3_b_messages_name_the_cause():
    def message(text):
        return parse_tlsrpt_record(text).problems[0].message

    assert "case-sensitive" in message("V=TLSRPTv1;rua=mailto:a@x.test")
    assert "whitespace" in message(" v=TLSRPTv1;rua=mailto:a@x.test")
    assert "typo" in message("v=TSLRPTv1;rua=mailto:a@x.test")
    assert "quote" in message('"v=TLSRPTv1;rua=mailto:a@x.test"')


@pytest.mark.parametrize("text", ["v=TLSRPTv1", "v=TLSRPTv1;", "v=TLSRPTv1;foo=bar"])
def test_r8460_3_c_rua_required(text):
    record, problems = parse_tlsrpt_record(text)
    assert record is None
    assert codes(problems) == ["tlsrpt-rua-missing"]


@pytest.mark.parametrize(
    "text",
    [
        "v=TLSRPTv1;rua=mailto:a@x.test;",
        "v=TLSRPTv1 ;\trua=mailto:a@x.test",
        "v=TLSRPTv1\t; rua=mailto:a@x.test \t; ",
        "v=TLSRPTv1;rua=mailto:a@x.test ;x=1;",
    ],
)
def test_r8460_3_d_delimiters_with_optional_whitespace(text):
    record, problems = parse_tlsrpt_record(text)
    assert record is not None, problems
    assert record.rua == ("mailto:a@x.test",)
    assert problems == ()


@pytest.mark.parametrize(
    ("text", "code", "position"),
    [
        ("v=TLSRPTv1;;rua=mailto:a@x.test", "tlsrpt-field-empty", 11),
        ("v=TLSRPTv1;rua=mailto:a@x.test; ;", "tlsrpt-field-empty", 32),
        ("v=TLSRPTv1;rua=mailto:a@x.test;;", "tlsrpt-field-empty", 31),
        ("v=TLSRPTv1;rua=mailto:a@x.test\r\n", "tlsrpt-character-invalid", 30),
        ("v=TLSRPTv1;rua=mailto:a@x.test\n;x=1", "tlsrpt-character-invalid", 30),
        ("v=TLSRPTv1;rua=mailto:a@x.test ", "tlsrpt-trailing-whitespace", 30),
        ("v=TLSRPTv1;rua=mailto:tls@exämple.com", "tlsrpt-character-invalid", 28),
    ],
)
def test_r8460_3_d_invalid_delimiting(text, code, position):
    record, problems = parse_tlsrpt_record(text)
    assert record is None
    assert (problems[0].code, problems[0].position) == (code, position)


def test_r8460_3_d_bytes_not_utf8_are_pointed_at():
    (problem,) = select_tlsrpt_record([b"v=TLSRPTv1;rua=mailto:a@x.test\xff"]).problems
    assert problem.code == "tlsrpt-character-invalid"
    assert "0xFF" in problem.message
    assert problem.position == 30


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("v=TLSRPTv1;RUA=mailto:a@x.test", "case-sensitive"),
        ("v=TLSRPTv1;rua =mailto:a@x.test", "whitespace before '='"),
        ("v=TLSRPTv1;rua= mailto:a@x.test", "whitespace after '='"),
    ],
)
def test_r8460_3_e_rua_literal_no_whitespace_around_equals(text, fragment):
    record, problems = parse_tlsrpt_record(text)
    assert record is None
    assert any(fragment in p.message for p in problems), problems


def test_r8460_3_e_lenient_accepts_whitespace_around_equals_with_warning():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua = mailto:a@x.test", strict=False)
    assert record is not None
    assert record.rua == ("mailto:a@x.test",)
    assert codes(problems, "warning") == ["tlsrpt-field-invalid", "tlsrpt-field-invalid"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mailto:a@x.test , https://r.x.test/t", ("mailto:a@x.test", "https://r.x.test/t")),
        ("mailto:a@x.test,https://r.x.test/t", ("mailto:a@x.test", "https://r.x.test/t")),
        ("mailto:a@x.test\t,\thttps://r.x.test/t", ("mailto:a@x.test", "https://r.x.test/t")),
        ("https://tlsrpt.azurewebsites.net/report", ("https://tlsrpt.azurewebsites.net/report",)),
        ("HTTPS://R.X.TEST/t?a=b&c=d#f", ("HTTPS://R.X.TEST/t?a=b&c=d#f",)),
        ("https://[2001:db8::1]:8443/r", ("https://[2001:db8::1]:8443/r",)),
        ("mailto:tls@x.test?subject=tlsrpt", ("mailto:tls@x.test?subject=tlsrpt",)),
    ],
)
def test_r8460_3_f_comma_separated_uri_list(value, expected):
    record, problems = parse_tlsrpt_record(f"v=TLSRPTv1;rua={value}")
    assert record is not None, problems
    assert record.rua == expected
    assert problems == ()


def test_r8460_3_g_encoded_comma_is_one_uri():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua=mailto:a%2Cb@x.test")
    assert record is not None, problems
    assert record.rua == ("mailto:a%2Cb@x.test",)
    assert record.mailto_addresses() == ("a,b@x.test",)


def test_r8460_3_g_encoded_bang_and_semicolon_are_part_of_the_uri():
    record, _ = parse_tlsrpt_record("v=TLSRPTv1;rua=https://r.x.test/a%21b%3Bc")
    assert record is not None
    assert record.https_urls() == ("https://r.x.test/a%21b%3Bc",)


def test_r8460_3_g_raw_comma_splits_the_list():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua=mailto:a,b@x.test")
    assert record is None
    assert [(p.code, p.position) for p in problems] == [
        ("tlsrpt-rua-mailto-invalid", 15),
        ("tlsrpt-rua-uri-invalid", 24),
    ]


def test_r8460_3_g_raw_semicolon_ends_the_field():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua=mailto:a@x.test;b@x.test")
    assert record is None
    assert codes(problems) == ["tlsrpt-field-invalid"]


def test_r8460_3_g_raw_bang_must_be_encoded():
    text = "v=TLSRPTv1;rua=https://r.x.test/a!b"
    record, problems = parse_tlsrpt_record(text)
    assert record is None
    assert [(p.code, p.position) for p in problems] == [("tlsrpt-rua-uri-unencoded", 33)]
    lenient, problems = parse_tlsrpt_record(text, strict=False)
    assert lenient is not None
    assert lenient.rua == ("https://r.x.test/a!b",)
    assert codes(problems, "warning") == ["tlsrpt-rua-uri-unencoded"]


@pytest.mark.parametrize(
    ("value", "warning"),
    [
        ("http://x.test/r", "tlsrpt-rua-http"),
        ("ftp://x.test/r", "tlsrpt-rua-scheme-unsupported"),
    ],
)
def test_r8460_3_h_other_schemes_ignored_one_by_one(value, warning):
    record, problems = parse_tlsrpt_record(f"v=TLSRPTv1;rua={value},mailto:a@x.test")
    assert record is not None
    assert record.rua == ("mailto:a@x.test",)
    assert record.ignored_rua == (value,)
    assert codes(problems) == [warning]


def test_r8460_3_h_no_usable_uri_means_no_destination():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua=http://x.test/r")
    assert record is None
    assert codes(problems) == ["tlsrpt-rua-http", "tlsrpt-rua-no-usable-uri"]


@pytest.mark.parametrize(
    "value",
    [
        "reports@x.test",
        "mailto:",
        "mailto:@x.test",
        "mailto:a@",
        "mailto:a%40",
        "https://",
        "https:///path",
        "https://x.test:port/",
        "https://x.test/a b",
        "https://x.test/%zz",
        "https://x.test/#a#b",
        "1http://x.test/",
        "mailto:a@x.test,,mailto:b@x.test",
        "mailto:a@x.test,",
        "mailto:a@x.test\\",
        "https://x.test/a[b]",
        "mailto:a[b]@x.test",
        "https://[x]/",
    ],
)
def test_r8460_3_i_unparsable_uri_invalidates_strictly(value):
    record, problems = parse_tlsrpt_record(f"v=TLSRPTv1;rua={value}")
    assert record is None
    assert {p.code for p in problems} <= {
        "tlsrpt-rua-uri-invalid",
        "tlsrpt-rua-mailto-invalid",
        "tlsrpt-extension-value-invalid",
        "tlsrpt-field-invalid",
    }


def test_r8460_3_i_lenient_drops_only_the_bad_uri():
    record, problems = parse_tlsrpt_record(
        "v=TLSRPTv1;rua=reports@x.test,mailto:ok@x.test", strict=False
    )
    assert record is not None
    assert record.rua == ("mailto:ok@x.test",)
    assert record.ignored_rua == ("reports@x.test",)
    assert codes(problems, "warning") == ["tlsrpt-rua-uri-invalid"]


def test_r8460_3_i_lenient_with_nothing_usable_is_invalid():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;rua=reports@x.test", strict=False)
    assert record is None
    assert codes(problems, "error") == ["tlsrpt-rua-no-usable-uri"]


@pytest.mark.parametrize(
    "field", ["x_y.z-1=abc", "9=1", "a" * 32 + "=v", "x=!\"#$%&'()*+,-./:<>?@"]
)
def test_r8460_3_j_valid_extensions(field):
    record, problems = parse_tlsrpt_record(f"v=TLSRPTv1;{field};rua=mailto:a@x.test")
    assert record is not None, problems
    name, value = field.split("=", 1)
    assert record.extensions == {name: value}


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("_x=1", "tlsrpt-field-invalid"),
        ("a" * 33 + "=1", "tlsrpt-field-invalid"),
        ("x=", "tlsrpt-extension-value-invalid"),
        ("x=a b", "tlsrpt-extension-value-invalid"),
        ("x=a=b", "tlsrpt-extension-value-invalid"),
        ("novalue", "tlsrpt-field-invalid"),
        ("=v", "tlsrpt-field-invalid"),
    ],
)
def test_r8460_3_j_invalid_extensions(field, code):
    text = f"v=TLSRPTv1;{field};rua=mailto:a@x.test"
    record, problems = parse_tlsrpt_record(text)
    assert record is None
    assert codes(problems) == [code]
    assert problems[0].position == 11 or code == "tlsrpt-extension-value-invalid"
    lenient, problems = parse_tlsrpt_record(text, strict=False)
    assert lenient is not None
    assert lenient.extensions == {}
    assert codes(problems, "warning") == [code]


def test_r8460_3_k_unknown_fields_kept_and_ignored():
    record, problems = parse_tlsrpt_record("v=TLSRPTv1;foo=bar;rua=mailto:a@x.test")
    assert record is not None
    assert record.rua == ("mailto:a@x.test",)
    assert record.extensions == {"foo": "bar"}
    assert problems == ()


def test_duplicate_fields_keep_the_first():
    record, problems = parse_tlsrpt_record(
        "v=TLSRPTv1;rua=mailto:a@x.test;rua=mailto:b@x.test;x=1;x=2;v=TLSRPTv1"
    )
    assert record is not None
    assert record.rua == ("mailto:a@x.test",)
    assert record.extensions == {"x": "1"}
    assert codes(problems) == ["tlsrpt-field-duplicate"] * 3


def test_risky_rua_warnings():
    many = ",".join(f"mailto:r{i}@x.test" for i in range(6))
    record, problems = parse_tlsrpt_record(f"v=TLSRPTv1;rua={many},mailto:r0@x.test")
    assert record is not None
    assert len(record.rua) == 6
    assert codes(problems) == ["tlsrpt-rua-many", "tlsrpt-rua-duplicate"]


@pytest.mark.parametrize(
    ("uri", "external"),
    [
        ("mailto:tls@example.com", False),
        ("mailto:tls@Reports.Example.COM", False),
        ("mailto:tls@example.com.evil.test", True),
        ("mailto:tls@notexample.com", True),
        ("mailto:tls@rua.example.net", True),
        ("https://reports.example.net/tlsrpt", False),
    ],
)
def test_mailto_outside_the_domain_warns(uri, external):
    record, problems = parse_tlsrpt_record(f"v=TLSRPTv1;rua={uri}", domain="example.com.")
    assert record is not None
    assert codes(problems) == (["tlsrpt-rua-external"] if external else [])
    if external:
        assert "no record by which that domain agrees" in problems[0].message


def test_r8460_3_l_non_tlsrpt_rrs_are_dropped():
    result = select_tlsrpt_record(["v=spf1 -all", "v=TLSRPTv1;rua=mailto:a@x.test"])
    assert result.value is not None
    assert result.value.rua == ("mailto:a@x.test",)
    assert result.text == "v=TLSRPTv1;rua=mailto:a@x.test"
    assert result.problems == ()


@pytest.mark.parametrize(
    "rrs",
    [
        ["v=TLSRPTv1;rua=mailto:a@x.test", "v=TLSRPTv1;rua=mailto:a@x.test"],
        ["v=TLSRPTv1;rua=mailto:a@x.test", "v=TLSRPTv1 ;rua=mailto:b@x.test"],
    ],
)
def test_r8460_3_m_more_than_one_candidate_means_no_tlsrpt(rrs):
    result = select_tlsrpt_record(rrs)
    assert result.value is None
    assert result.text is None
    assert codes(result.problems) == ["tlsrpt-record-multiple"]


@pytest.mark.parametrize("rrs", [[], ["v=spf1 -all"], ["v=TLSRPTv1"]])
def test_r8460_3_m_no_candidate_means_no_tlsrpt(rrs):
    result = select_tlsrpt_record(rrs)
    assert result.value is None
    assert "tlsrpt-record-missing" in codes(result.problems, "error")


def test_r8460_3_n_character_strings_concatenated_without_spaces():
    rrs = [[b"v=TLSRPTv1;rua=mailto:tls@exa", b"mple.com"]]
    result = select_tlsrpt_record(rrs)
    assert result.value is not None
    assert result.value.rua == ("mailto:tls@example.com",)


def test_r8460_3_n_prefix_filter_runs_after_concatenation():
    result = select_tlsrpt_record([[b"v=TLS", b"RPTv1;", b"rua=mailto:a@x.test"], [b"v=spf1"]])
    assert result.value is not None
    assert result.text == "v=TLSRPTv1;rua=mailto:a@x.test"


@pytest.mark.parametrize(
    "text", ["v=TLSRPTv1;rua=mailto:a@x.test", "v=TLSRPTv1 ;rua=mailto:a@x.test"]
)
def test_r8460_3_o_whitespace_before_first_semicolon_is_a_candidate(text):
    result = select_tlsrpt_record(["v=spf1 -all", text])
    assert result.value is not None
    assert result.text == text


def test_r8460_3_p_single_invalid_candidate_means_no_tlsrpt():
    result = select_tlsrpt_record(["v=TLSRPTv1;rua="])
    assert result.value is None
    assert result.text == "v=TLSRPTv1;rua="
    assert codes(result.problems) == ["tlsrpt-rua-missing"]


@pytest.mark.parametrize(
    ("rr", "code"),
    [
        ("v=TSLRPTv1;rua=mailto:a@x.test", "tlsrpt-version-typo"),
        ("V=TLSRPTv1;rua=mailto:a@x.test", "tlsrpt-record-ignored"),
        (" v=TLSRPTv1;rua=mailto:a@x.test", "tlsrpt-record-ignored"),
        ("v=TLSRPTv1", "tlsrpt-record-ignored"),
    ],
)
def test_near_misses_are_pointed_out_when_selecting(rr, code):
    result = select_tlsrpt_record([rr])
    assert result.value is None
    assert codes(result.problems) == [code, "tlsrpt-record-missing"]
    assert codes(result.problems, "warning") == [code]


def test_o6_typo_record_beside_a_good_one_is_only_a_warning():
    result = select_tlsrpt_record(
        ["v=TSLRPTv1;rua=mailto:a@x.test", "v=TLSRPTv1;rua=mailto:a@x.test"]
    )
    assert result.value is not None
    assert codes(result.problems) == ["tlsrpt-version-typo"]


def test_legacy_label_and_domain_from_the_owner_name():
    assert check_tlsrpt_name("_smtp._tls.Example.com.") == ("Example.com", ())
    assert check_tlsrpt_name("example.com") == (None, ())
    domain, problems = check_tlsrpt_name("_smtp-tlsrpt.example.com")
    assert domain == "example.com"
    assert codes(problems) == ["tlsrpt-legacy-label"]
    result = select_tlsrpt_record(
        ["v=TLSRPTv1;rua=mailto:a@other.test"], name="_smtp-tlsrpt.example.com."
    )
    assert result.value is not None
    assert codes(result.problems) == ["tlsrpt-legacy-label", "tlsrpt-rua-external"]


def test_d12_g7_big_senders_records():
    for text in (
        "v=TLSRPTv1;rua=https://tlsrpt.azurewebsites.net/report",
        "v=TLSRPTv1;rua=mailto:sts-reports@google.com",
    ):
        record, problems = parse_tlsrpt_record(text)
        assert record is not None
        assert problems == ()


def test_generate_builds_the_rfc_form():
    assert (
        generate_tlsrpt_record(["mailto:tls@example.com", "https://r.example.com/v1"], {"x": "1"})
        == "v=TLSRPTv1;rua=mailto:tls@example.com,https://r.example.com/v1;x=1"
    )


@pytest.mark.parametrize(
    ("rua", "extensions", "fragment"),
    [
        ([], None, "at least one"),
        (["mailto:a,b@x.test"], None, "%2C"),
        (["https://x.test/a;b"], None, "%3B"),
        (["https://x.test/a!"], None, "%21"),
        (["reports@x.test"], None, "not a valid URI"),
        (["http://x.test/r"], None, "mailto: or https:"),
        (["mailto:a@x.test", "mailto:a@x.test"], None, "distinct"),
        (["mailto:a@x.test"], {"rua": "x"}, "extension name"),
        (["mailto:a@x.test"], {"x": "a b"}, "forbidden"),
    ],
)
def test_generate_refuses_bad_parameters(rua, extensions, fragment):
    with pytest.raises(ValueError, match=fragment):
        generate_tlsrpt_record(rua, extensions)
