"""Sender compatibility (tlsrpt.records.compat): every rule with the input that
triggers it and a near miss that does not, per implementation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tlsrpt.records import parse_sts_policy, sender_compat
from tlsrpt.records.compat import Compat
from tlsrpt.records.compat_rules import BY_KEY, IMPLEMENTATIONS, RFC, RULES, Rule

CONFORMANCE = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n"
GOOD_STS = "v=STSv1; id=20240101;"
GOOD_TLSRPT = "v=TLSRPTv1; rua=mailto:a@example.com"
KEY32 = "a" + "1" * 31

# For each rule: an input that is valid for every implementation and comes as
# close as possible to triggering the rule without doing so.
NEAR_MISS = {
    "policy-max-age-over-limit": GOOD_POLICY.replace("604800", "31557600"),
    "policy-max-age-over-int32": GOOD_POLICY.replace("604800", "31557600"),
    "policy-empty-line": GOOD_POLICY.replace("\n", "\r\n"),
    "policy-whitespace-line": GOOD_POLICY.replace("mode: enforce\n", "mode: enforce  \n"),
    "policy-line-without-colon": GOOD_POLICY + "ext: a",
    "policy-extension-value-invalid": GOOD_POLICY + "ext: a  b\n",
    "policy-value-with-colon": GOOD_POLICY + "url: https%3A//example.com/\n",
    "policy-key-too-long": GOOD_POLICY + f"{KEY32}: 1\n",
    "policy-key-invalid": GOOD_POLICY + "a_b.c-d: 1\n",
    "policy-key-leading-punct": GOOD_POLICY + "a-b: 1\n",
    "policy-mx-trailing-dot": GOOD_POLICY.replace("mail.example.com", "mail.example.com \t"),
    "policy-key-repeated": GOOD_POLICY + "mode: enforce\n",
    "policy-version": GOOD_POLICY,
    "policy-mode": GOOD_POLICY.replace("enforce", "testing"),
    "policy-max-age-missing": GOOD_POLICY,
    "policy-max-age-not-digits": GOOD_POLICY.replace("604800", "0"),
    "policy-max-age-too-long": GOOD_POLICY.replace("604800", "0000604800"),
    "policy-mx-missing": "version: STSv1\nmode: none\nmax_age: 604800\n",
    "policy-mx-invalid": GOOD_POLICY.replace("mail.example.com", "*.example.com"),
    "sts-record-extension-value-empty": GOOD_STS + " ext=1",
    "sts-record-name-too-long": GOOD_STS + f" {KEY32}=1",
    "sts-record-name-invalid": GOOD_STS + " a_b=1",
    "sts-record-name-leading-punct": GOOD_STS + " a-b=1",
    "sts-record-field-empty": GOOD_STS + " ",
    "sts-record-trailing-whitespace": "v=STSv1; id=20240101 ;",
    "sts-record-id-invalid": "v=STSv1; id=" + "A1" * 16,
    "sts-record-id-repeated": "v=STSv1; id=20240101; id=20240101",
    "sts-record-other-txt": GOOD_STS,
    "tlsrpt-rua-repeated": GOOD_TLSRPT + "; rua=mailto:a@example.com",
    "tlsrpt-rua-spaces": "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/",
    "tlsrpt-extension-value-empty": GOOD_TLSRPT + "; ext=1",
    "tlsrpt-name-too-long": GOOD_TLSRPT + f"; {KEY32}=1",
    "tlsrpt-name-invalid": GOOD_TLSRPT + "; a_b=1",
    "tlsrpt-field-empty": GOOD_TLSRPT + ";",
}


def run(rule_kind: str, text: str) -> Compat:
    """Record examples with several lines are several TXT RRs at one name,
    the last being the record."""
    if rule_kind != "sts-policy" and "\n" in text:
        rrs = text.split("\n")
        return sender_compat(rule_kind, rrs[-1], txt_rrs=rrs)  # type: ignore[arg-type]
    return sender_compat(rule_kind, text)  # type: ignore[arg-type]


def verdicts(compat: Compat) -> dict[str, str]:
    return {v.implementation: v.verdict for v in compat.verdicts}


def rule_id(rule: Rule) -> str:
    return rule.id


def test_every_rule_has_a_near_miss_and_a_unique_id():
    assert sorted(NEAR_MISS) == sorted(r.id for r in RULES)
    assert len({r.id for r in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_example_triggers_exactly_its_rule(rule):
    compat = run(rule.kind, rule.example)
    assert compat.rules == (rule.id,)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_near_miss_triggers_nothing_and_every_implementation_accepts(rule):
    compat = run(rule.kind, NEAR_MISS[rule.id])
    assert compat.rules == ()
    assert set(verdicts(compat).values()) == {"accept"}, compat.verdicts
    assert compat.problems == ()


def _cases() -> list[object]:
    cases = []
    for rule in RULES:
        for impl in IMPLEMENTATIONS:
            if impl.key != RFC and rule.kind in impl.kinds:
                cases.append(pytest.param(rule, impl.key, id=f"{rule.id}-{impl.key}"))
    return cases


@pytest.mark.parametrize(("rule", "key"), _cases())
def test_each_implementation_on_the_triggering_input(rule, key):
    """The implementation's verdict on the rule's example is the one the
    table documents; without a documented behaviour it is "accept"."""
    compat = run(rule.kind, rule.example)
    name = BY_KEY[key].name
    outcome = rule.outcomes.get(key)
    verdict = next(v for v in compat.verdicts if v.implementation == name)
    assert verdict.verdict == (outcome.verdict if outcome else "accept")
    if outcome:
        assert outcome.how in verdict.reason
    else:
        assert verdict.reason == "no documented difference for this input"


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_rule_outcomes_cite_a_source_and_name_only_known_implementations(rule):
    assert rule.outcomes
    for key, outcome in rule.outcomes.items():
        assert key in BY_KEY
        assert key != RFC
        assert rule.kind in BY_KEY[key].kinds
        assert re.search(r"\.(py|go|java|conf)\b", outcome.source), outcome.source


# --- the cases the brief names, written out -----------------------------------


def test_max_age_over_one_year_is_rejected_by_postfix_and_checkdmarc():
    compat = sender_compat("sts-policy", GOOD_POLICY.replace("604800", "31557601"))
    assert verdicts(compat) == {
        "RFC grammar": "reject",
        "postfix-mta-sts-resolver": "reject",
        "mox": "reads-differently",
        "maddy": "reads-differently",
        "checkdmarc": "reject",
        "mimecast/mta-sts": "accept",
    }
    rejected = [p for p in compat.problems if p.code == "sts-policy-rejected-by-senders"]
    assert len(rejected) == 1
    assert rejected[0].severity == "error"
    assert "rejected by postfix-mta-sts-resolver," in rejected[0].message
    assert "mimecast/mta-sts uses 31557600" in rejected[0].message
    text = GOOD_POLICY.replace("604800", "31557601")
    assert text[rejected[0].position :].startswith("31557601")
    # the limit itself is fine for everyone
    assert sender_compat("sts-policy", GOOD_POLICY.replace("604800", "31557600")).problems == ()


def test_max_age_beyond_32_bits_is_also_rejected_by_mox_and_mimecast():
    compat = sender_compat("sts-policy", GOOD_POLICY.replace("604800", "2147483648"))
    assert verdicts(compat)["mox"] == "reject"
    assert verdicts(compat)["mimecast/mta-sts"] == "reject"
    assert verdicts(compat)["maddy"] == "reads-differently"
    below = sender_compat("sts-policy", GOOD_POLICY.replace("604800", "2147483647"))
    assert verdicts(below)["mox"] == "reads-differently"


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ("ext:\n", "policy-extension-value-invalid"),
        (f"{KEY32}x: 1\n", "policy-key-too-long"),
        ("_ext: 1\n", "policy-key-invalid"),
        ("\n", "policy-empty-line"),
    ],
)
def test_mox_rejects_what_the_other_senders_skip(extra, rule):
    compat = sender_compat("sts-policy", GOOD_POLICY + extra)
    assert compat.rules == (rule,)
    found = verdicts(compat)
    assert found["mox"] == "reject"
    assert found["postfix-mta-sts-resolver"] == "accept"
    assert found["mimecast/mta-sts"] == "accept"
    assert [p.code for p in compat.problems] == ["sts-policy-rejected-by-senders"]
    assert "rejected by mox" in compat.problems[0].message
    # and the default policy parse makes each of them an error
    parsed, problems = parse_sts_policy(GOOD_POLICY + extra)
    assert parsed is None
    assert any(p.severity == "error" for p in problems)


def test_blank_line_is_also_rejected_by_maddy():
    compat = sender_compat(
        "sts-policy", GOOD_POLICY.replace("mode: enforce\n", "mode: enforce\n\n")
    )
    assert verdicts(compat)["maddy"] == "reject"
    assert "rejected by mox, maddy" in compat.problems[0].message


def test_two_rua_fields_warn_naming_who_uses_which():
    compat = sender_compat(
        "tlsrpt-record", "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com"
    )
    assert [(p.code, p.severity) for p in compat.problems] == [
        ("record-read-differently", "warning")
    ]
    message = compat.problems[0].message
    assert "mox uses both" in message
    assert "checkdmarc uses the first" in message
    assert "mimecast/mta-sts uses the last" in message
    assert verdicts(compat)["RFC grammar"] == "accept"
    assert compat.covered == frozenset({"tlsrpt-field-duplicate"})


def test_a_tlsrpt_record_never_draws_the_sts_rejection_code():
    compat = sender_compat("tlsrpt-record", GOOD_TLSRPT + "; ext=")
    assert verdicts(compat)["mox"] == "reject"
    assert compat.problems == ()


def test_reject_wins_over_a_different_reading():
    text = GOOD_POLICY.replace("604800", "40000000") + "_ext: 1\n"
    compat = sender_compat("sts-policy", text)
    assert set(compat.rules) == {"policy-max-age-over-limit", "policy-key-invalid"}
    assert verdicts(compat)["mox"] == "reject"
    assert "caches the policy" in next(
        v.reason for v in compat.verdicts if v.implementation == "mox"
    )
    # mox rejects it anyway, so it is not named as reading it differently
    read = [p.message for p in compat.problems if p.code == "record-read-differently"]
    assert len(read) == 1
    assert "maddy caches the policy" in read[0]
    assert "mox" not in read[0]


def test_input_invalid_beyond_the_table_is_rejected_by_everyone_without_problems():
    compat = sender_compat("sts-policy", "version: STSv1\nmode: enforce\nmx: a\x01b\nmax_age: 1\n")
    assert set(verdicts(compat).values()) == {"reject"}
    assert compat.problems == ()
    assert "invalid beyond the documented differences" in compat.verdicts[1].reason


def test_version_is_not_checked_by_mimecast():
    compat = sender_compat("sts-policy", GOOD_POLICY.replace("STSv1", "STSv2"))
    assert verdicts(compat)["mimecast/mta-sts"] == "accept"
    assert verdicts(compat)["mox"] == "reject"
    assert [p.code for p in compat.problems] == ["sts-policy-rejected-by-senders"]


def test_record_rules_use_every_rr_at_the_name():
    rrs = ["google-site-verification=x", GOOD_STS]
    compat = sender_compat("sts-record", GOOD_STS, txt_rrs=rrs)
    assert compat.rules == ("sts-record-other-txt",)
    assert verdicts(compat)["maddy"] == "reject"
    assert verdicts(compat)["RFC grammar"] == "accept"
    none = sender_compat("sts-record", None, txt_rrs=[GOOD_STS, GOOD_STS])
    assert set(verdicts(none).values()) == {"reject"}


def test_bytes_and_unknown_kind():
    assert sender_compat("sts-policy", (GOOD_POLICY + "\n").encode()).rules == (
        "policy-empty-line",
    )
    with pytest.raises(ValueError, match="kind must be one of"):
        sender_compat("dmarc-record", "v=DMARC1")  # type: ignore[arg-type]


def test_verdict_json_shape():
    compat = sender_compat("sts-record", GOOD_STS)
    assert compat.verdicts[0].to_json() == {
        "implementation": "RFC grammar",
        "verdict": "accept",
        "reason": "valid under the grammar",
    }
    assert [v.implementation for v in compat.verdicts] == [
        "RFC grammar",
        "postfix-mta-sts-resolver",
        "mox",
        "maddy",
        "checkdmarc",
        "mimecast/mta-sts",
    ]


def test_docs_table_lists_every_rule_and_source():
    text = CONFORMANCE.read_text(encoding="utf-8")
    section = text.split("### Sender compatibility", 1)[1].split("\n## ", 1)[0]
    for rule in RULES:
        assert f"`{rule.id}`" in section, rule.id
    for impl in IMPLEMENTATIONS[1:]:
        assert impl.repository in section, impl.repository


def test_hostile_sizes_do_not_crash():
    """A max_age of thousands of digits is never converted to an integer
    (Python refuses more than 4300 digits), and a 64 KiB policy of blank lines
    is evaluated."""
    compat = sender_compat("sts-policy", GOOD_POLICY.replace("604800", "9" * 5000))
    assert compat.rules == ("policy-max-age-too-long",)
    assert len(next(v.reason for v in compat.verdicts if v.implementation == "mox")) < 300
    compat = sender_compat("sts-policy", (GOOD_POLICY + "\n" * 65000).encode())
    assert compat.rules == ("policy-empty-line",)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("sts-record", "v=STSv1; id=1; e\udcff=1"),
        ("sts-record", "v=STSv1; id=\udcff"),
        ("tlsrpt-record", "v=TLSRPTv1; rua=mailto:a@b; rua=mailto:\udcff@b"),
        ("tlsrpt-record", "v=TLSRPTv1; rua=mailto:a@b, \x1b[2J"),
    ],
)
def test_reasons_and_messages_escape_what_they_quote(kind, text):
    """Bytes that are not UTF-8 (kept as lone surrogates) and control
    characters are quoted escaped, so JSON and terminals get plain text."""
    compat = sender_compat(kind, text)
    shown = [v.reason for v in compat.verdicts] + [p.message for p in compat.problems]
    for line in shown:
        line.encode("utf-8")  # no lone surrogate left
        assert "\x1b" not in line
