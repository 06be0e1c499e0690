"""`_mta-sts` TXT record (RFC 8461 §3.1); see docs/conformance.md."""

from __future__ import annotations

import pytest

from tlsrpt.records import generate_sts_record, parse_sts_record, select_sts_record


def codes(problems, severity=None):
    return [p.code for p in problems if severity is None or p.severity == severity]


@pytest.mark.parametrize(
    ("text", "policy_id"),
    [
        ("v=STSv1; id=20160831085700Z;", "20160831085700Z"),
        ("v=STSv1;id=abc", "abc"),
        ("v=STSv1 ;\tid=A1", "A1"),
        ("v=STSv1;id=" + "a" * 32, "a" * 32),
    ],
)
def test_valid_records(text, policy_id):
    record, problems = parse_sts_record(text)
    assert record is not None, problems
    assert record.id == policy_id
    assert problems == ()


def test_r8461_3_1_b_non_ascii_is_invalid():
    record, problems = parse_sts_record("v=STSv1; id=abc; x=é")
    assert record is None
    assert [(p.code, p.position) for p in problems] == [("sts-record-character-invalid", 19)]


@pytest.mark.parametrize(
    "text", ["id=1;v=STSv1", "v=stsv1; id=1", "V=STSv1; id=1", " v=STSv1; id=1", "v=STSv2; id=1"]
)
def test_r8461_3_1_c_version_first_case_sensitive(text):
    record, problems = parse_sts_record(text)
    assert record is None
    assert codes(problems) == ["sts-record-version-invalid"]


def test_r8461_3_1_c_other_fields_in_any_order():
    record, problems = parse_sts_record("v=STSv1;ext=1;id=abc")
    assert record is not None
    assert (record.id, record.extensions) == ("abc", {"ext": "1"})
    assert problems == ()


@pytest.mark.parametrize("value", ["2016-08-31", "a_b", "a" * 33, "", "ab c"])
def test_r8461_3_1_d_id_is_1_to_32_alphanumerics(value):
    record, problems = parse_sts_record(f"v=STSv1; id={value}")
    assert record is None
    assert codes(problems, "error")[0] in (
        "sts-record-id-invalid",
        "sts-record-trailing-whitespace",
    )
    if value and " " not in value:
        assert problems[0].position == 12


@pytest.mark.parametrize("text", ["v=STSv1", "v=STSv1;", "v=STSv1; ext=1", "v=STSv1; ID=abc"])
def test_r8461_3_1_d_id_is_required(text):
    record, problems = parse_sts_record(text)
    assert record is None
    assert codes(problems) == ["sts-record-id-missing"]


def test_id_hint_for_wrong_case():
    (problem,) = parse_sts_record("v=STSv1; ID=abc").problems
    assert "case-sensitive" in problem.message
    assert problem.position == 9


def test_r8461_3_2_x_duplicates_keep_the_first():
    record, problems = parse_sts_record("v=STSv1;id=a;id=b")
    assert record is not None
    assert record.id == "a"
    assert [(p.code, p.severity, p.position) for p in problems] == [
        ("sts-record-field-duplicate", "warning", 13)
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("v=STSv1;;id=a", "sts-record-field-empty"),
        ("v=STSv1;id=a;x=", "sts-record-extension-value-invalid"),
        ("v=STSv1;id=a;_x=1", "sts-record-field-invalid"),
        ("v=STSv1;id=a ", "sts-record-trailing-whitespace"),
    ],
)
def test_grammar_violations_strict_and_lenient(text, code):
    record, problems = parse_sts_record(text)
    assert record is None
    assert codes(problems) == [code]
    lenient, problems = parse_sts_record(text, strict=False)
    assert lenient is not None
    assert lenient.id == "a"
    assert codes(problems, "warning") == [code]


def test_r8461_3_1_f_selection():
    good = "v=STSv1; id=20160831085700Z;"
    result = select_sts_record(["v=spf1 -all", good])
    assert result.value is not None
    assert result.text == good
    assert codes(select_sts_record([good, good]).problems) == ["sts-record-multiple"]
    assert codes(select_sts_record(["v=spf1 -all"]).problems) == ["sts-record-missing"]
    single_invalid = select_sts_record(["v=STSv1; id=2016-08-31"])
    assert single_invalid.value is None
    assert codes(single_invalid.problems) == ["sts-record-id-invalid"]


def test_eid_6285_whitespace_before_the_semicolon_is_a_candidate():
    result = select_sts_record(["v=STSv1 ; id=abc"])
    assert result.value is not None


def test_near_miss_is_pointed_out():
    result = select_sts_record(["v=stsv1; id=abc"])
    assert codes(result.problems) == ["sts-record-ignored", "sts-record-missing"]


def test_r8461_3_1_h_character_strings_concatenated():
    result = select_sts_record([(b"v=STSv1; id=2016", b"0831085700Z")])
    assert result.value is not None
    assert result.value.id == "20160831085700Z"


def test_generate():
    assert generate_sts_record("20240101T000000") == "v=STSv1; id=20240101T000000"
    assert generate_sts_record("a", {"x-y": "1"}) == "v=STSv1; id=a; x-y=1"
    for bad_id in ("", "a-b", "a" * 33):
        with pytest.raises(ValueError, match="letters and digits"):
            generate_sts_record(bad_id)
    with pytest.raises(ValueError, match="extension name"):
        generate_sts_record("a", {"id": "b"})
    with pytest.raises(ValueError, match="forbidden"):
        generate_sts_record("a", {"x": "a;b"})
