"""Property tests: generate -> parse returns the parameters; any input into
any parser gives only documented results (never an exception)."""

from __future__ import annotations

import itertools

import dns.rdata
import dns.rdataclass
import dns.rdatatype
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.records import (
    CODES,
    MAX_AGE_LIMIT,
    generate_sts_policy,
    generate_sts_record,
    generate_tlsrpt_record,
    match_mx,
    parse_sts_policy,
    parse_sts_record,
    parse_tlsrpt_record,
    select_sts_record,
    select_tlsrpt_record,
    txt_presentation,
)

label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
domain = st.lists(label, min_size=2, max_size=4).map(".".join)
local = st.from_regex(r"\A[a-z0-9._+-]{1,12}\Z")
mailto = st.builds(
    lambda user, extra, host: f"mailto:{user}{extra}@{host}",
    local,
    st.sampled_from(["", "%2C", "%21x", "%3B"]),
    domain,
)
https = st.builds(
    lambda host, path, query: f"https://{host}/{path}{query}",
    domain,
    st.from_regex(r"\A[A-Za-z0-9._~/%-]{0,15}\Z").filter(
        lambda p: "%" not in p.replace("%2C", "").replace("%21", "")
    ),
    st.sampled_from(["", "?a=b", "?a=b&c=%21"]),
)
rua_list = st.lists(st.one_of(mailto, https), min_size=1, max_size=7, unique=True)
ext_name = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}\Z")
ext_value = st.from_regex(r"\A[\x21-\x3a\x3c\x3e-\x7e]{1,20}\Z")


def extensions(reserved):
    return st.dictionaries(ext_name.filter(lambda n: n not in reserved), ext_value, max_size=3)


def chunked(text, cuts):
    """Split `text` into character-strings at the given cut points."""
    data = text.encode()
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


def check_result(result, text_length):
    """The invariants every parser result keeps."""
    has_error = any(p.severity == "error" for p in result.problems)
    assert (result.value is None) == has_error
    for problem in result.problems:
        assert problem.code in CODES, problem
        assert problem.severity in ("error", "warning")
        assert problem.message
        assert problem.position is None or 0 <= problem.position <= text_length


@given(rua_list, extensions({"v", "rua"}), st.lists(st.integers(0, 400), max_size=4))
def test_tlsrpt_generate_parse_round_trip(rua, ext, cuts):
    text = generate_tlsrpt_record(rua, ext)
    record, _ = parse_tlsrpt_record(text)
    assert record is not None
    assert record.rua == tuple(rua)
    assert record.extensions == ext
    assert record.ignored_rua == ()
    rrs = ["v=spf1 -all", chunked(text, cuts), b"google-site-verification=abc"]
    selected = select_tlsrpt_record(rrs)
    assert selected.value == record
    assert selected.text == text


@given(st.from_regex(r"\A[A-Za-z0-9]{1,32}\Z"), extensions({"v", "id"}))
def test_sts_record_generate_parse_round_trip(policy_id, ext):
    text = generate_sts_record(policy_id, ext)
    record, problems = parse_sts_record(text)
    assert record is not None
    assert (record.id, record.extensions) == (policy_id, ext)
    assert problems == ()
    assert select_sts_record([text, "v=spf1 -all"]).value == record


mx_pattern = st.builds(lambda wild, name: ("*." if wild else "") + name, st.booleans(), domain)
policy_ext_value = (
    st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=20)
    .map(lambda v: v.strip(" \x85\xa0"))
    .filter(lambda v: v and not any(c.isspace() and c != " " for c in v))
)


@given(
    st.sampled_from(["enforce", "testing", "none"]),
    st.lists(mx_pattern, max_size=5, unique_by=str.lower),
    st.integers(0, MAX_AGE_LIMIT),
    st.dictionaries(
        ext_name.filter(lambda n: n not in ("version", "mode", "max_age", "mx")),
        policy_ext_value,
        max_size=3,
    ),
    st.booleans(),
)
def test_sts_policy_generate_parse_round_trip(mode, mx, max_age, ext, lf_only):
    if not mx and mode != "none":
        mx = ["mail.example.com"]
    text = generate_sts_policy(mode, mx, max_age, ext)
    if lf_only:
        text = text.replace("\r\n", "\n")
    parsed, problems = parse_sts_policy(text.encode(), strict=True)
    assert parsed is not None, problems
    assert (parsed.mode, parsed.mx, parsed.max_age, parsed.extensions) == (
        mode,
        tuple(mx),
        max_age,
        ext,
    )
    assert {p.severity for p in problems} <= {"warning"}


@given(st.text(max_size=300))
def test_txt_presentation_round_trip(value):
    text = txt_presentation(value)
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
    assert all(len(s) <= 255 for s in rdata.strings)
    assert b"".join(rdata.strings) == value.encode()


tokens = st.lists(
    st.sampled_from(
        [
            "v=TLSRPTv1",
            "v=STSv1",
            ";",
            " ",
            "\t",
            "rua=",
            "id=",
            "mailto:",
            "https://",
            "http://",
            "a",
            "@",
            "x.test",
            ",",
            "=",
            "%2C",
            "%",
            "!",
            "é",
            "\r\n",
            "*",
            "x_y",
            "version: STSv1",
            "mode: ",
            "enforce",
            "mx: ",
            "max_age: ",
            "86400",
            "\n",
            ":",
        ]
    ),
    max_size=25,
).map("".join)
any_text = st.one_of(st.text(max_size=200), tokens)


@given(any_text, st.booleans(), st.sampled_from([None, "x.test", ""]))
def test_any_text_into_the_record_parsers(text, strict, dom):
    check_result(parse_tlsrpt_record(text, strict=strict, domain=dom), len(text))
    check_result(parse_sts_record(text, strict=strict), len(text))


@given(st.one_of(any_text, st.binary(max_size=300), tokens.map(str.encode)), st.booleans())
def test_anything_into_the_policy_parser(data, strict):
    result = parse_sts_policy(data, strict=strict)
    check_result(result, len(data))


@given(
    st.lists(
        st.one_of(
            any_text,
            st.binary(max_size=80),
            st.lists(st.one_of(st.binary(max_size=40), tokens.map(str.encode)), max_size=4),
        ),
        max_size=5,
    ),
    st.sampled_from([None, "_smtp._tls.x.test", "_smtp-tlsrpt.x.test.", "x"]),
)
def test_any_rrset_into_the_selectors(rrs, name):
    for result in (select_tlsrpt_record(rrs, name=name), select_sts_record(rrs)):
        length = len(result.text) if result.text is not None else 0
        check_result(result, length)
        assert (result.text is None) == any(
            p.code.endswith(("-record-missing", "-record-multiple")) for p in result.problems
        )


def reference_covered(host, patterns):
    """RFC 8461 §4.1 restated label by label."""
    h = host.lower().removesuffix(".").split(".")
    for pattern in patterns:
        p = pattern.lower().removesuffix(".").split(".")
        if p == h or (p[0] == "*" and 1 < len(p) == len(h) and p[1:] == h[1:] and "*" not in p[1:]):
            return True
    return False


@given(
    st.lists(label, min_size=1, max_size=4),
    st.lists(
        st.tuples(st.sampled_from(["same", "wild", "drop", "add", "wild-add"]), label),
        max_size=4,
    ),
    st.booleans(),
)
def test_match_mx_agrees_with_a_label_by_label_reference(labels, variants, dotted):
    host = ".".join(labels) + ("." if dotted else "")
    patterns = []
    for kind, extra in variants:
        parts = {
            "same": labels,
            "wild": ["*", *labels[1:]],
            "drop": labels[1:] or [extra],
            "add": [extra, *labels],
            "wild-add": ["*", extra, *labels[1:]],
        }[kind]
        patterns.append(".".join(parts).upper() if extra.startswith("a") else ".".join(parts))
    match = match_mx(host, patterns)
    assert match.covered == reference_covered(host, patterns)
    if match.covered:
        assert match.pattern in patterns
    assert match.reason


@given(st.text(max_size=60), st.lists(st.text(max_size=60), max_size=4))
def test_match_mx_never_raises(host, patterns):
    match = match_mx(host, patterns)
    assert isinstance(match.covered, bool)
    assert match.reason
