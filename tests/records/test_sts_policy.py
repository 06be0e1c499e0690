"""`mta-sts.txt` policy (RFC 8461 §3.2); see docs/conformance.md#mta-sts-policy-file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tlsrpt.records import MAX_AGE_LIMIT, generate_sts_policy, parse_sts_policy

RFC_EXAMPLE = (
    "version: STSv1\n"
    "mode: enforce\n"
    "mx: mail.example.com\n"
    "mx: *.example.net\n"
    "mx: backupmx.example.com\n"
    "max_age: 604800\n"
)
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def codes(problems, severity=None):
    return [p.code for p in problems if severity is None or p.severity == severity]


def policy(*lines, end="\n"):
    return "".join(line + end for line in lines)


BASE = ("version: STSv1", "mode: enforce", "mx: mail.example.com", "max_age: 604800")


def test_rfc_example():
    parsed, problems = parse_sts_policy(RFC_EXAMPLE, strict=True)
    assert parsed is not None
    assert parsed.mode == "enforce"
    assert parsed.max_age == 604800
    assert parsed.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")
    assert problems == ()


@pytest.mark.parametrize(
    "data",
    [
        RFC_EXAMPLE.replace("\n", "\r\n"),
        RFC_EXAMPLE.rstrip("\n"),
        RFC_EXAMPLE.encode(),
        RFC_EXAMPLE.replace("\n", "\r\n", 2).encode(),
        RFC_EXAMPLE.replace(": ", ":").replace("\n", " \t\n"),
        RFC_EXAMPLE.replace(": ", ":\t "),
    ],
)
def test_r8461_3_2_h_line_ends_and_whitespace(data):
    parsed, problems = parse_sts_policy(data, strict=True)
    assert parsed is not None, problems
    assert parsed.mx == ("mail.example.com", "*.example.net", "backupmx.example.com")
    assert problems == ()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (policy(*BASE) + "\n", "sts-policy-blank-line"),
        ("\n" + policy(*BASE), "sts-policy-blank-line"),
        (policy(*BASE[:2], "  ", *BASE[2:]), "sts-policy-blank-line"),
        (policy(*BASE, "<html>"), "sts-policy-line-invalid"),
        (policy(*BASE, " x: y"), "sts-policy-key-invalid"),
        (policy(*BASE, "x : y"), "sts-policy-key-invalid"),
        (policy(*BASE, "_x: y"), "sts-policy-key-invalid"),
        (policy(*BASE, "x:"), "sts-policy-value-invalid"),
        (policy(*BASE, "mx: mail.example.net."), "sts-policy-mx-trailing-dot"),
    ],
)
def test_r8461_3_2_h_errors_unless_tolerant(data, code):
    """A widely used sender rejects each of these (mox; for blank lines also
    maddy; docs/conformance.md#sender-compatibility), so the default reading
    is as strict as the RFC; the tolerant reading skips them with a warning."""
    strict, problems = parse_sts_policy(data, strict=True)
    assert strict is None
    assert code in codes(problems, "error")
    default, problems = parse_sts_policy(data)
    assert default is None
    assert code in codes(problems, "error")
    tolerant, problems = parse_sts_policy(data, tolerant=True)
    assert tolerant is not None, problems
    assert code in codes(problems, "warning")
    assert codes(problems, "error") == []


@pytest.mark.parametrize("key", ["-x", ".x", "-"])
def test_key_starting_with_dash_or_dot_is_only_a_warning_by_default(key):
    """No sender in the table rejects it (mox's key check lets '-' and '.'
    through), so only the strict reading makes it an error."""
    data = policy(*BASE, f"{key}: y")
    default, problems = parse_sts_policy(data)
    assert default is not None
    assert codes(problems, "warning") == ["sts-policy-key-invalid"]
    assert codes(problems, "error") == []
    assert parse_sts_policy(data, strict=True).value is None


def test_tolerant_mode_is_never_stricter_than_strict_mode():
    assert parse_sts_policy(RFC_EXAMPLE, tolerant=True, strict=True).problems == ()
    data = policy(*BASE) + "\n"
    assert parse_sts_policy(data, strict=True, tolerant=True).value is None


def test_trailing_dot_is_removed_in_tolerant_mode():
    parsed, _ = parse_sts_policy(policy(*BASE[:3], "mx: mx2.example.com.", BASE[3]), tolerant=True)
    assert parsed is not None
    assert parsed.mx == ("mail.example.com", "mx2.example.com")


def test_lone_cr_is_a_control_character():
    parsed, problems = parse_sts_policy("version: STSv1\rmode: enforce\nmx: a.b\nmax_age: 86400\n")
    assert parsed is None
    assert "sts-policy-line-invalid" in codes(problems)


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (BASE[1:], "sts-policy-version-missing"),
        (("version: stsv1", *BASE[1:]), "sts-policy-version-invalid"),
        (("version: STSv2", *BASE[1:]), "sts-policy-version-invalid"),
        (("version:STSv1x", *BASE[1:]), "sts-policy-version-invalid"),
        ((BASE[0], *BASE[2:]), "sts-policy-mode-missing"),
        ((BASE[0], "mode: Enforce", *BASE[2:]), "sts-policy-mode-invalid"),
        ((BASE[0], "mode: enforced", *BASE[2:]), "sts-policy-mode-invalid"),
        (BASE[:3], "sts-policy-max-age-missing"),
        ((*BASE[:3], "max_age: 99999999999"), "sts-policy-max-age-invalid"),
        ((*BASE[:3], "max_age: -1"), "sts-policy-max-age-invalid"),
        ((*BASE[:3], "max_age: 1 day"), "sts-policy-max-age-invalid"),
        ((*BASE[:3], "max_age: "), "sts-policy-max-age-invalid"),
        ((*BASE[:2], BASE[3]), "sts-policy-mx-missing"),
        ((*BASE[:2], "mx: a.test, b.test", BASE[3]), "sts-policy-mx-invalid"),
        ((*BASE[:2], "mx: *example.com", BASE[3]), "sts-policy-mx-invalid"),
        ((*BASE[:2], "mx: a.*.example.com", BASE[3]), "sts-policy-mx-invalid"),
        ((*BASE[:2], "mx: *", BASE[3]), "sts-policy-mx-invalid"),
        ((*BASE[:2], "mx: münchen.de", BASE[3]), "sts-policy-mx-invalid"),
        ((*BASE[:2], "mx:", BASE[3]), "sts-policy-mx-invalid"),
    ],
)
def test_r8461_3_2_c_to_g_required_fields_and_values(lines, code):
    parsed, problems = parse_sts_policy(policy(*lines))
    assert parsed is None
    assert code in codes(problems, "error")


def test_r8461_3_2_c_case_hint():
    _, problems = parse_sts_policy(policy("version: stsv1", *BASE[1:]))
    assert "case-sensitive" in problems[0].message
    _, problems = parse_sts_policy(policy(BASE[0], "Mode: enforce", *BASE[2:]))
    assert "did you mean 'mode'" in problems[0].message


def test_r8461_3_2_f_mx_optional_in_mode_none():
    parsed, problems = parse_sts_policy(policy("version: STSv1", "mode: none", "max_age: 86400"))
    assert parsed is not None
    assert parsed.mx == ()
    assert codes(problems) == ["sts-policy-mode-none"]


@pytest.mark.parametrize(
    ("value", "expected", "warning"),
    [
        ("0", 0, "sts-policy-max-age-short"),
        ("86399", 86399, "sts-policy-max-age-short"),
        ("86400", 86400, None),
        ("31557600", 31557600, None),
        ("0000604800", 604800, None),
    ],
)
def test_r8461_3_2_e_max_age_range(value, expected, warning):
    parsed, problems = parse_sts_policy(policy(*BASE[:3], f"max_age: {value}"), strict=True)
    assert parsed is not None
    assert parsed.max_age == expected
    assert codes(problems) == ([warning] if warning else [])


@pytest.mark.parametrize("value", ["31557601", "40000000", "9999999999"])
def test_r8461_3_2_e_max_age_above_one_year_is_an_error_and_clamped_when_tolerant(value):
    """postfix-mta-sts-resolver and checkdmarc reject such a policy, so by
    default it is an error; the tolerant reading clamps it (EID 7282)."""
    data = policy(*BASE[:3], f"max_age: {value}")
    for strict in (True, False):
        parsed, problems = parse_sts_policy(data, strict=strict)
        assert parsed is None
        assert codes(problems, "error") == ["sts-policy-max-age-too-large"]
    parsed, problems = parse_sts_policy(data, tolerant=True)
    assert parsed is not None
    assert parsed.max_age == MAX_AGE_LIMIT
    assert codes(problems) == ["sts-policy-max-age-clamped"]


def test_r8461_3_2_i_unknown_keys_ignored_duplicates_keep_first():
    data = policy(*BASE[:1], "mode: testing", "mode: enforce", *BASE[2:], "foo: bar baz", "foo: 2")
    parsed, problems = parse_sts_policy(data, strict=True)
    assert parsed is not None
    assert parsed.mode == "testing"
    assert parsed.extensions == {"foo": "bar baz"}
    assert codes(problems) == [
        "sts-policy-mode-testing",
        "sts-policy-duplicate-key",
        "sts-policy-unknown-key",
        "sts-policy-duplicate-key",
    ]


def test_r8461_3_2_i_invalid_first_value_is_not_replaced_by_a_later_one():
    parsed, problems = parse_sts_policy(policy(BASE[0], "mode: bogus", *BASE[1:]))
    assert parsed is None
    assert codes(problems, "error") == ["sts-policy-mode-invalid"]


def test_r8461_3_2_f_mx_repeated_and_duplicates_warned():
    data = policy(*BASE[:3], "mx: MAIL.example.com", "mx: *.example.net", BASE[3])
    parsed, problems = parse_sts_policy(data)
    assert parsed is not None
    assert parsed.mx == ("mail.example.com", "*.example.net")
    assert codes(problems) == ["sts-policy-mx-duplicate"]


def test_risky_values_warn():
    data = policy("version: STSv1", "mode: testing", "mx: 192.0.2.25", "max_age: 3600")
    parsed, problems = parse_sts_policy(data, strict=True)
    assert parsed is not None
    assert codes(problems) == [
        "sts-policy-mode-testing",
        "sts-policy-mx-ip-address",
        "sts-policy-max-age-short",
    ]


def test_positions_point_into_the_text():
    data = policy(*BASE[:2], "mx: a.*.b", BASE[3])
    _, problems = parse_sts_policy(data)
    (problem,) = problems
    assert data[problem.position :].startswith("a.*.b")


def test_r8461_3_3_f_64_kib_limit():
    padding = "x: " + "a" * 100 + "\n"
    data = policy(*BASE) + padding * ((65536 - len(policy(*BASE))) // len(padding))
    assert parse_sts_policy(data.encode()).value is not None
    too_big = (data + "y" * (65537 - len(data))).encode()
    parsed, problems = parse_sts_policy(too_big)
    assert parsed is None
    assert codes(problems) == ["sts-policy-too-large"]


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + policy(*BASE).encode(),
        policy(*BASE).encode() + b"x: \xff\n",
        policy(*BASE) + "x: \udcff\n",
    ],
)
def test_encoding_problems(data):
    parsed, problems = parse_sts_policy(data)
    assert parsed is None
    assert codes(problems) == ["sts-policy-encoding"]


def test_utf8_extension_values_are_allowed():
    parsed, problems = parse_sts_policy(policy(*BASE, "note: grüße"), strict=True)
    assert parsed is not None
    assert parsed.extensions == {"note": "grüße"}
    assert codes(problems) == ["sts-policy-unknown-key"]


def test_empty_input():
    parsed, problems = parse_sts_policy(b"")
    assert parsed is None
    assert codes(problems) == [
        "sts-policy-version-missing",
        "sts-policy-mode-missing",
        "sts-policy-max-age-missing",
        "sts-policy-mx-missing",
    ]


def test_generate_rfc_form_with_crlf():
    text = generate_sts_policy("enforce", ["mail.example.com", "*.example.net"], 604800)
    assert text == (
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
        "mx: *.example.net\r\nmax_age: 604800\r\n"
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": "Enforce", "mx": ["a.b"]}, "mode"),
        ({"mode": "enforce", "mx": []}, "at least one mx"),
        ({"mode": "enforce", "mx": ["a.*.b"]}, "leftmost"),
        ({"mode": "enforce", "mx": ["a.b", "A.b"]}, "distinct"),
        ({"mode": "enforce", "mx": ["a.b"], "max_age": MAX_AGE_LIMIT + 1}, "max_age"),
        ({"mode": "enforce", "mx": ["a.b"], "max_age": -1}, "max_age"),
        ({"mode": "enforce", "mx": ["a.b"], "extensions": {"mx": "c.d"}}, "extension key"),
        ({"mode": "enforce", "mx": ["a.b"], "extensions": {"x": " y"}}, "surrounding"),
    ],
)
def test_generate_refuses_bad_parameters(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        generate_sts_policy(**kwargs)


def _corpus_sts_policy_strings():
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*.json*")):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        report = json.loads(data.decode("utf-8-sig"))
        for entry in report.get("policies", []):
            pol = entry.get("policy", {})
            if pol.get("policy-type") == "sts" and pol.get("policy-string"):
                found.append(pytest.param(pol["policy-string"], id=path.name))
    return found


@pytest.mark.parametrize("lines", _corpus_sts_policy_strings())
def test_policy_strings_in_the_corpus_reports_are_valid_policies(lines):
    """Real reporters echo the policy they applied line by line (RFC 8460
    §4.5); joined with CRLF each one must be a valid policy."""
    parsed, problems = parse_sts_policy("\r\n".join(lines), strict=True)
    assert parsed is not None, problems
    assert len(parsed.mx) == sum(line.startswith("mx:") for line in lines)
