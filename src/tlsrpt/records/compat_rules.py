"""The sender-compatibility table: which real implementations reject, or read
differently, which records and policies.

Each fact comes from the implementation's public source and test suite; the
`source` of every outcome names the repository and file (and the test) where
it was read. docs/conformance.md#sender-compatibility shows the same table;
tests/records/test_compat.py has, per rule, an input that triggers it and one
that does not. An implementation missing from a rule's outcomes has no
documented behaviour for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tlsrpt.records import compat_triggers as t
from tlsrpt.records.compat_triggers import Kind, Trigger

Verdict = Literal["accept", "reject", "reads-differently"]
Role = Literal["grammar", "sender", "checker"]


@dataclass(frozen=True, slots=True)
class Implementation:
    key: str
    name: str
    role: Role  # a sender's rejection costs protection; a checker's only confuses
    kinds: tuple[Kind, ...]
    repository: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    how: str  # what the implementation does, e.g. "uses the first"
    source: str  # file (and test) in the implementation's repository


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: Kind
    title: str
    trigger: Trigger
    rfc: str  # the RFC reading
    outcomes: Mapping[str, Outcome]
    example: str  # an input that triggers the rule
    codes: tuple[str, ...] = ()  # tlsrpt parser codes the rule stands for


RFC = "rfc"
POSTFIX = "postfix-mta-sts-resolver"
MOX = "mox"
MADDY = "maddy"
CHECKDMARC = "checkdmarc"
MIMECAST = "mimecast"

IMPLEMENTATIONS: tuple[Implementation, ...] = (
    Implementation(
        RFC,
        "RFC grammar",
        "grammar",
        ("tlsrpt-record", "sts-record", "sts-policy"),
        "RFC 8460 §3, RFC 8461 §3.1-3.2",
        "tlsrpt's strict parser",
    ),
    Implementation(
        POSTFIX,
        "postfix-mta-sts-resolver",
        "sender",
        ("sts-record", "sts-policy"),
        "Snawoot/postfix-mta-sts-resolver",
        "the MTA-STS source of Postfix senders",
    ),
    Implementation(
        MOX,
        "mox",
        "sender",
        ("tlsrpt-record", "sts-record", "sts-policy"),
        "mjl-/mox",
    ),
    Implementation(
        MADDY,
        "maddy",
        "sender",
        ("sts-record", "sts-policy"),
        "foxcpp/maddy",
    ),
    Implementation(
        CHECKDMARC,
        "checkdmarc",
        "checker",
        ("tlsrpt-record", "sts-record", "sts-policy"),
        "domainaware/checkdmarc",
        "a domain checker, not a sender; 5.x releases were stricter",
    ),
    Implementation(
        MIMECAST,
        "mimecast/mta-sts",
        "sender",
        ("tlsrpt-record", "sts-record", "sts-policy"),
        "mimecast/mta-sts",
        "Mimecast's Java library, default Config",
    ),
)
BY_KEY = {i.key: i for i in IMPLEMENTATIONS}

# Source files, relative to each repository.
_PF_RES = "postfix_mta_sts_resolver/resolver.py"
_PF_UTILS = "postfix_mta_sts_resolver/utils.py"
_PF_TESTS = "tests/test_resolver.py with tests/nginx.conf"
_MOX_P = "mtasts/parse.go, mtasts/parse_test.go"
_MOX_R = "tlsrpt/parse.go, tlsrpt/parse_test.go"
_MADDY = "internal/mtasts/mtasts.go, internal/mtasts/mtasts_test.go"
_CD_P = "checkdmarc/mta_sts.py, tests/test_mta_sts.py"
_CD_R = "checkdmarc/smtp_tls_reporting.py, tests/test_smtp_tls_reporting.py"
_MC_POLICY = "assets/StsPolicy.java, util/Pair.java"
_MC_TXT = "assets/StsDnsTxt.java"


def _o(verdict: Verdict, how: str, source: str) -> Outcome:
    return Outcome(verdict, how, source)


_ALL_REJECT_POLICY = {
    POSTFIX: _o("reject", "rejects the policy", _PF_RES),
    MOX: _o("reject", "rejects the policy", _MOX_P),
    MADDY: _o("reject", "rejects the policy", _MADDY),
    CHECKDMARC: _o("reject", "reports a syntax error", _CD_P),
}
_IGNORED_EXTENSION = {
    POSTFIX: _o("accept", "ignores the unknown key", _PF_UTILS),
    MADDY: _o("accept", "ignores the unknown key", "internal/mtasts/mtasts.go (readPolicy)"),
    CHECKDMARC: _o("accept", "ignores the unknown key with a warning", _CD_P),
    MIMECAST: _o("accept", "ignores the line", _MC_POLICY),
}

POLICY_RULES: tuple[Rule, ...] = (
    Rule(
        "policy-max-age-over-limit",
        "sts-policy",
        "max_age above 31557600",
        t.policy_max_age_over_limit,
        "at most 31557600 (§3.2); the ABNF admits 10 digits (EID 7282)",
        {
            POSTFIX: _o(
                "reject",
                "rejects the policy (fetch error)",
                f"{_PF_RES}; {_PF_TESTS}: bad-policy6.loc, max_age 31557601",
            ),
            MOX: _o(
                "reads-differently",
                "caches the policy for the full max_age",
                "mtasts/parse.go (xmaxage), mtastsdb/db.go (ValidEnd)",
            ),
            MADDY: _o(
                "reads-differently",
                "caches the policy for the full max_age",
                "internal/mtasts/mtasts.go (readPolicy), internal/mtasts/cache.go",
            ),
            CHECKDMARC: _o(
                "reject", "reports a syntax error", f"{_CD_P} (testParseMtaStsPolicyTooLargeMaxAge)"
            ),
            MIMECAST: _o(
                "accept",
                "uses 31557600, with a warning",
                f"{_MC_POLICY}; test/.../assets/StsPolicyTest.java (overMax)",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 40000000\n",
        ("sts-policy-max-age-too-large", "sts-policy-max-age-clamped"),
    ),
    Rule(
        "policy-max-age-over-int32",
        "sts-policy",
        "max_age above 2147483647",
        t.policy_max_age_over_int32,
        "at most 31557600 (§3.2)",
        {
            POSTFIX: _o("reject", "rejects the policy (fetch error)", _PF_RES),
            MOX: _o("reject", "rejects the policy (32-bit ParseInt)", "mtasts/parse.go (xmaxage)"),
            MADDY: _o(
                "reads-differently",
                "caches the policy for the full max_age",
                "internal/mtasts/mtasts.go (strconv.Atoi)",
            ),
            CHECKDMARC: _o("reject", "reports a syntax error", _CD_P),
            MIMECAST: _o(
                "reject",
                "rejects the policy (Integer.parseInt fails)",
                "assets/StsPolicy.java (makePolicy), config/Config.java",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 9999999999\n",
        ("sts-policy-max-age-too-large", "sts-policy-max-age-clamped"),
    ),
    Rule(
        "policy-empty-line",
        "sts-policy",
        "an empty line",
        t.policy_empty_line,
        "invalid: the grammar has no empty line (§3.2)",
        {
            POSTFIX: _o("accept", "skips the line", _PF_UTILS),
            MOX: _o("reject", "rejects the policy", "mtasts/parse.go (xkey)"),
            MADDY: _o("reject", "rejects the policy (invalid field)", _MADDY),
            CHECKDMARC: _o("accept", "skips the line", "checkdmarc/mta_sts.py"),
            MIMECAST: _o(
                "accept",
                "skips the line, with a warning",
                "assets/StsPolicyValidator.java (validateLine), config/Config.java",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n\n",
        ("sts-policy-blank-line",),
    ),
    Rule(
        "policy-whitespace-line",
        "sts-policy",
        "a line of only spaces or tabs",
        t.policy_whitespace_line,
        "invalid: the grammar has no blank line (§3.2)",
        {
            POSTFIX: _o("accept", "skips the line", _PF_UTILS),
            MOX: _o("reject", "rejects the policy", "mtasts/parse.go (xkey)"),
            MADDY: _o("reject", "rejects the policy (invalid field)", _MADDY),
            CHECKDMARC: _o("reject", "reports 'not a key: value pair'", "checkdmarc/mta_sts.py"),
            MIMECAST: _o("accept", "skips the line", _MC_POLICY),
        },
        "version: STSv1\nmode: enforce\n \nmx: mail.example.com\nmax_age: 604800\n",
        ("sts-policy-blank-line",),
    ),
    Rule(
        "policy-line-without-colon",
        "sts-policy",
        "a line without ':'",
        t.policy_line_without_colon,
        "invalid: every line is key ':' value (§3.2)",
        {
            POSTFIX: _o("accept", "ignores the line", _PF_UTILS),
            MOX: _o("reject", "rejects the policy", _MOX_P),
            MADDY: _o("reject", "rejects the policy (invalid field)", f"{_MADDY} ('mode none')"),
            CHECKDMARC: _o(
                "reject",
                "reports 'not a key: value pair'",
                f"{_CD_P} (testParseMtaStsPolicyBadKeyValue)",
            ),
            MIMECAST: _o("accept", "ignores the line", _MC_POLICY),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\nextra\n",
        ("sts-policy-line-invalid",),
    ),
    Rule(
        "policy-extension-value-invalid",
        "sts-policy",
        "an extension value that is empty or holds a tab",
        t.policy_extension_value_invalid,
        "invalid: an extension value is 1 or more visible characters and spaces (§3.2)",
        {
            **_IGNORED_EXTENSION,
            MOX: _o("reject", "rejects the policy", f"{_MOX_P} ('empty extension', 'ext:')"),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\next:\n",
        ("sts-policy-value-invalid",),
    ),
    Rule(
        "policy-value-with-colon",
        "sts-policy",
        "an extension value holding ':'",
        t.policy_value_with_colon,
        "valid: ':' is a visible character (§3.2)",
        {
            POSTFIX: _o("accept", "ignores the unknown key", _PF_UTILS),
            MOX: _o("accept", "ignores the unknown key", "mtasts/parse.go (xpolicyvalue)"),
            MADDY: _o(
                "reject",
                "rejects the policy (a line must split into exactly two parts at ':')",
                "internal/mtasts/mtasts.go (readPolicy)",
            ),
            CHECKDMARC: _o(
                "accept",
                "ignores the unknown key (5.x: 'not a key: value pair')",
                "checkdmarc/mta_sts.py (split at the first ':')",
            ),
            MIMECAST: _o("accept", "ignores the line", "util/Pair.java"),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n"
        "url: https://example.com/\n",
    ),
    Rule(
        "policy-key-too-long",
        "sts-policy",
        "a key over 32 characters",
        t.policy_key_too_long,
        "invalid: a key is 1 to 32 characters (§3.2)",
        {
            **_IGNORED_EXTENSION,
            MOX: _o("reject", "rejects the policy", f"{_MOX_P} ('long extension name')"),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n"
        "a12345678901234567890123456789012: 1\n",
        ("sts-policy-key-invalid",),
    ),
    Rule(
        "policy-key-invalid",
        "sts-policy",
        "a key starting with '_' or holding other characters than letters, digits, '_-.'",
        t.policy_key_invalid,
        "invalid: a key starts with a letter or digit (§3.2)",
        {
            **_IGNORED_EXTENSION,
            MOX: _o("reject", "rejects the policy", f"{_MOX_P} ('bad ext name', '_bad:test')"),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n_bad: test\n",
        ("sts-policy-key-invalid",),
    ),
    Rule(
        "policy-key-leading-punct",
        "sts-policy",
        "a key starting with '-' or '.'",
        t.policy_key_leading_punct,
        "invalid: a key starts with a letter or digit (§3.2)",
        {
            **_IGNORED_EXTENSION,
            MOX: _o(
                "accept",
                "ignores the unknown key ('-' and '.' pass its key check)",
                "mtasts/parse.go (xkey)",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n-x: 1\n",
        ("sts-policy-key-invalid",),
    ),
    Rule(
        "policy-mx-trailing-dot",
        "sts-policy",
        "an mx pattern with a trailing dot",
        t.policy_mx_trailing_dot,
        "invalid: an mx is a Domain without a final dot (§3.2, RFC 5321 §4.1.2)",
        {
            POSTFIX: _o("accept", "keeps the pattern as written", _PF_UTILS),
            MOX: _o("reject", "rejects the policy", "mtasts/parse.go (xdomain)"),
            MADDY: _o("accept", "keeps the pattern as written", "internal/mtasts/mtasts.go"),
            CHECKDMARC: _o("reject", "reports an invalid mx value", "checkdmarc/mta_sts.py"),
            MIMECAST: _o(
                "reads-differently",
                "keeps it as a pattern that matches no MX host name",
                "assets/StsPolicy.java (matchMx), assets/DnsRecord.java",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com.\nmax_age: 604800\n",
        ("sts-policy-mx-trailing-dot",),
    ),
    Rule(
        "policy-key-repeated",
        "sts-policy",
        "version, mode or max_age given twice, differently",
        t.policy_key_repeated,
        "the first one is used (§3.2)",
        {
            POSTFIX: _o("accept", "uses the first (older releases: the last)", _PF_UTILS),
            MOX: _o("accept", "uses the first", "mtasts/parse.go (ParsePolicy)"),
            MADDY: _o(
                "reads-differently", "uses the last", "internal/mtasts/mtasts.go (readPolicy)"
            ),
            CHECKDMARC: _o(
                "accept",
                "uses the first, with a warning",
                f"{_CD_P} (testParseMtaStsPolicyDuplicateKey)",
            ),
            MIMECAST: _o(
                "reads-differently",
                "uses the first mode but the last max_age",
                "assets/StsPolicy.java (makePolicy)",
            ),
        },
        "version: STSv1\nmode: testing\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n",
        ("sts-policy-duplicate-key",),
    ),
    Rule(
        "policy-version",
        "sts-policy",
        "no 'version: STSv1' line",
        t.policy_version,
        "invalid: version STSv1 is required (§3.2)",
        {
            **_ALL_REJECT_POLICY,
            MIMECAST: _o("accept", "does not check the version", "assets/StsPolicy.java (isValid)"),
        },
        "version: STSv2\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n",
        ("sts-policy-version-missing", "sts-policy-version-invalid"),
    ),
    Rule(
        "policy-mode",
        "sts-policy",
        "no valid mode",
        t.policy_mode,
        "invalid: mode is enforce, testing or none (§3.2)",
        {
            **_ALL_REJECT_POLICY,
            POSTFIX: _o("reject", "rejects the policy", f"{_PF_RES}; {_PF_TESTS}: bad-policy7/8"),
            MIMECAST: _o(
                "reject",
                "treats it as mode none (no policy)",
                "assets/StsPolicy.java; test/.../assets/StsPolicyTest.java (invalidMode)",
            ),
        },
        "version: STSv1\nmode: pretend\nmx: mail.example.com\nmax_age: 604800\n",
        ("sts-policy-mode-missing", "sts-policy-mode-invalid"),
    ),
    Rule(
        "policy-max-age-missing",
        "sts-policy",
        "no max_age line",
        t.policy_max_age_missing,
        "invalid: max_age is required (§3.2)",
        {
            **_ALL_REJECT_POLICY,
            MIMECAST: _o(
                "reads-differently",
                "uses its minimum: 86400 s in testing, 604800 s in enforce",
                "assets/StsPolicy.java; test/.../assets/StsPolicyTest.java (invalidMaxAge)",
            ),
        },
        "version: STSv1\nmode: testing\nmx: mail.example.com\n",
        ("sts-policy-max-age-missing",),
    ),
    Rule(
        "policy-max-age-not-digits",
        "sts-policy",
        "a max_age that is not digits",
        t.policy_max_age_not_digits,
        "invalid: max_age is 1 to 10 digits (§3.2)",
        {
            **_ALL_REJECT_POLICY,
            POSTFIX: _o("reject", "rejects the policy", f"{_PF_RES}; {_PF_TESTS}: bad-policy5"),
            MIMECAST: _o(
                "reject",
                "rejects the policy (Integer.parseInt fails)",
                "assets/StsPolicy.java (makePolicy)",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 1w\n",
        ("sts-policy-max-age-invalid",),
    ),
    Rule(
        "policy-max-age-too-long",
        "sts-policy",
        "a max_age of more than 10 digits",
        t.policy_max_age_too_long,
        "invalid: max_age is 1 to 10 digits (§3.2)",
        {
            **_ALL_REJECT_POLICY,
            POSTFIX: _o("reject", "rejects the policy (above 31557600)", _PF_RES),
            MADDY: _o(
                "reads-differently",
                "caches the policy for the full max_age",
                "internal/mtasts/mtasts.go (strconv.Atoi)",
            ),
            MIMECAST: _o(
                "reject",
                "rejects the policy (Integer.parseInt fails)",
                "assets/StsPolicy.java (makePolicy)",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 99999999999\n",
        ("sts-policy-max-age-invalid",),
    ),
    Rule(
        "policy-mx-missing",
        "sts-policy",
        "no mx line in mode enforce or testing",
        t.policy_mx_missing,
        "invalid: at least one mx unless the mode is none (§3.2)",
        {
            **_ALL_REJECT_POLICY,
            POSTFIX: _o("reject", "rejects the policy", f"{_PF_RES}; {_PF_TESTS}: bad-policy2"),
            MIMECAST: _o("reject", "rejects the policy", "assets/StsPolicy.java (isValid)"),
        },
        "version: STSv1\nmode: enforce\nmax_age: 604800\n",
        ("sts-policy-mx-missing",),
    ),
    Rule(
        "policy-mx-invalid",
        "sts-policy",
        "an mx that is not a host name or '*.' domain",
        t.policy_mx_invalid,
        "invalid: the whole policy is rejected (§3.2)",
        {
            POSTFIX: _o(
                "reads-differently", "keeps the line as a pattern without checking it", _PF_UTILS
            ),
            MOX: _o("reject", "rejects the policy", f"{_MOX_P} ('bad mx')"),
            MADDY: _o(
                "reads-differently",
                "keeps the line as a pattern without checking it",
                "internal/mtasts/mtasts.go (readPolicy, Match)",
            ),
            CHECKDMARC: _o(
                "reject",
                "reports an invalid mx value",
                f"{_CD_P} (testParseMtaStsPolicyInvalidMxPatterns)",
            ),
            MIMECAST: _o(
                "reads-differently",
                "skips a line with '*' not in front, keeps other patterns unchecked",
                "util/Pair.java (isValid), assets/StsPolicy.java",
            ),
        },
        "version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmax_age: 604800\n",
        ("sts-policy-mx-invalid",),
    ),
)

_MOX_REC_REJECT = _o("reject", "rejects the record", _MOX_P)
_CD_REC_REJECT = _o("reject", "reports a syntax error", _CD_P)
_ACCEPT_PF_REC = _o("accept", "ignores the field", f"{_PF_UTILS} (parse_mta_sts_record)")
_ACCEPT_MADDY_REC = _o("accept", "ignores the field", "internal/mtasts/mtasts.go (readDNSRecord)")
_ACCEPT_MC_REC = _o("accept", "ignores the field", _MC_TXT)

STS_RECORD_RULES: tuple[Rule, ...] = (
    Rule(
        "sts-record-extension-value-empty",
        "sts-record",
        "a field with an empty value",
        t.txt_extension_value_empty,
        "invalid: a value is 1 or more characters (§3.1)",
        {
            POSTFIX: _ACCEPT_PF_REC,
            MADDY: _ACCEPT_MADDY_REC,
            MIMECAST: _ACCEPT_MC_REC,
            MOX: _o("reject", "rejects the record", f"{_MOX_P} ('empty value in extension')"),
            CHECKDMARC: _CD_REC_REJECT,
        },
        "v=STSv1; id=20240101; ext=",
        ("sts-record-extension-value-invalid",),
    ),
    Rule(
        "sts-record-name-too-long",
        "sts-record",
        "a field name over 32 characters",
        t.txt_name_too_long,
        "invalid: a field name is 1 to 32 characters (§3.1)",
        {
            POSTFIX: _ACCEPT_PF_REC,
            MADDY: _ACCEPT_MADDY_REC,
            MIMECAST: _ACCEPT_MC_REC,
            MOX: _o("reject", "rejects the record", f"{_MOX_P} ('extension name too long')"),
            CHECKDMARC: _CD_REC_REJECT,
        },
        "v=STSv1; id=20240101; a12345678901234567890123456789012=1",
        ("sts-record-field-invalid",),
    ),
    Rule(
        "sts-record-name-invalid",
        "sts-record",
        "a field name starting with '_' or holding characters outside letters, digits, '_-.'",
        t.txt_name_invalid,
        "invalid: a field name starts with a letter or digit (§3.1)",
        {
            POSTFIX: _ACCEPT_PF_REC,
            MADDY: _ACCEPT_MADDY_REC,
            MIMECAST: _ACCEPT_MC_REC,
            MOX: _o("reject", "rejects the record", f"{_MOX_P} ('invalid extension name', '1%')"),
            CHECKDMARC: _CD_REC_REJECT,
        },
        "v=STSv1; id=20240101; _ext=1",
        ("sts-record-field-invalid",),
    ),
    Rule(
        "sts-record-name-leading-punct",
        "sts-record",
        "a field name starting with '-' or '.'",
        t.txt_name_leading_punct,
        "invalid: a field name starts with a letter or digit (§3.1)",
        {
            POSTFIX: _ACCEPT_PF_REC,
            MADDY: _ACCEPT_MADDY_REC,
            MIMECAST: _ACCEPT_MC_REC,
            MOX: _o(
                "accept",
                "ignores the field ('-' and '.' pass its name check)",
                "mtasts/parse.go (xkey)",
            ),
            CHECKDMARC: _CD_REC_REJECT,
        },
        "v=STSv1; id=20240101; -ext=1",
        ("sts-record-field-invalid",),
    ),
    Rule(
        "sts-record-field-empty",
        "sts-record",
        "two ';' with nothing between them",
        t.txt_field_empty,
        "invalid: only one trailing ';' is allowed (§3.1)",
        {
            POSTFIX: _o("accept", "skips it", f"{_PF_UTILS}; tests/test_utils.py (';;;')"),
            MADDY: _o("accept", "skips it", "internal/mtasts/mtasts.go (readDNSRecord)"),
            MIMECAST: _o("accept", "skips it", _MC_TXT),
            MOX: _o("reject", "rejects the record", f"{_MOX_P} ('additional semicolon')"),
            CHECKDMARC: _CD_REC_REJECT,
        },
        "v=STSv1; id=20240101;;",
        ("sts-record-field-empty",),
    ),
    Rule(
        "sts-record-trailing-whitespace",
        "sts-record",
        "whitespace at the end without a ';'",
        t.txt_trailing_whitespace,
        "invalid: whitespace only around ';' (§3.1)",
        {
            POSTFIX: _o("accept", "strips it", _PF_UTILS),
            MADDY: _o("accept", "strips it", "internal/mtasts/mtasts.go (readDNSRecord)"),
            MIMECAST: _o("accept", "strips it", _MC_TXT),
            MOX: _o("reject", "rejects the record (leftover characters)", "mtasts/parse.go"),
            CHECKDMARC: _CD_REC_REJECT,
        },
        "v=STSv1; id=20240101 ",
        ("sts-record-trailing-whitespace",),
    ),
    Rule(
        "sts-record-id-invalid",
        "sts-record",
        "an id that is not 1-32 letters and digits",
        t.sts_id_invalid,
        "invalid: id is 1 to 32 letters and digits (§3.1)",
        {
            POSTFIX: _o("accept", "uses it as written", f"{_PF_RES} (resolve)"),
            MADDY: _o("accept", "uses it as written", _MADDY),
            MIMECAST: _o("accept", "uses it as written", "assets/StsRecord.java (isValid)"),
            MOX: _o("reject", "rejects the record", f"{_MOX_P} ('invalid id', 'test-123')"),
            CHECKDMARC: _o(
                "reject", "reports an invalid id", f"{_CD_P} (testParseMtaStsRecordIdTooLong)"
            ),
        },
        "v=STSv1; id=2024-01-01",
        ("sts-record-id-invalid",),
    ),
    Rule(
        "sts-record-id-repeated",
        "sts-record",
        "id= given twice, differently",
        t.sts_id_repeated,
        "the first one is used (§3.2, applied to the record)",
        {
            POSTFIX: _o(
                "accept",
                "uses the first (older releases: the last)",
                f"{_PF_UTILS} (parse_mta_sts_record)",
            ),
            MOX: _o("accept", "uses the first", "mtasts/parse.go (ParseRecord)"),
            MADDY: _o(
                "reads-differently", "uses the last", "internal/mtasts/mtasts.go (readDNSRecord)"
            ),
            CHECKDMARC: _o(
                "accept",
                "uses the first, with a warning",
                f"{_CD_P} (testParseMtaStsRecordDuplicateTag)",
            ),
            MIMECAST: _o("reads-differently", "uses the last", f"{_MC_TXT} (a map of fields)"),
        },
        "v=STSv1; id=20240101; id=20240202",
        ("sts-record-field-duplicate",),
    ),
    Rule(
        "sts-record-other-txt",
        "sts-record",
        "another TXT record beside the MTA-STS one",
        t.sts_other_txt,
        "records not starting with v=STSv1 are discarded (§3.1)",
        {
            POSTFIX: _o("accept", "discards it", f"{_PF_RES} (resolve)"),
            MOX: _o("accept", "discards it", "mtasts/mtasts.go (LookupRecord)"),
            MADDY: _o(
                "reject",
                "applies no policy unless exactly one TXT record exists",
                "internal/mtasts/cache.go (fetch)",
            ),
            CHECKDMARC: _o(
                "accept",
                "discards it, with a warning (5.x: an error)",
                f"{_CD_P} (testUnrelatedTxtRecordDiscardedWithWarning)",
            ),
        },
        "site-verification=abc\nv=STSv1; id=20240101",
    ),
)

_MOX_RPT = _o("reject", "rejects the record", _MOX_R)
_MC_RPT = _o("accept", "ignores the field", f"{_MC_TXT}, assets/StsReport.java")

TLSRPT_RECORD_RULES: tuple[Rule, ...] = (
    Rule(
        "tlsrpt-rua-repeated",
        "tlsrpt-record",
        "rua= given twice, differently",
        t.tlsrpt_rua_repeated,
        "RFC 8460 §3 is silent; tlsrpt uses the first, as RFC 8461 §3.2 does",
        {
            MOX: _o(
                "reads-differently",
                "uses both",
                f"{_MOX_R} (good: 'rua=mailto:x@…; rua=mailto:y@…')",
            ),
            CHECKDMARC: _o(
                "accept",
                "uses the first, with a warning (5.x: rejects the record)",
                f"{_CD_R} (testParseSmtpTlsReportingDuplicateTag)",
            ),
            MIMECAST: _o("reads-differently", "uses the last", f"{_MC_TXT} (a map of fields)"),
        },
        "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
        ("tlsrpt-field-duplicate",),
    ),
    Rule(
        "tlsrpt-rua-spaces",
        "tlsrpt-record",
        "spaces inside the rua list",
        t.tlsrpt_rua_spaces,
        "allowed around ',' (§3: *WSP \",\" *WSP)",
        {
            MOX: _o("accept", "reads every URI", f"{_MOX_R} (good: '… , \\t\\t https://…')"),
            CHECKDMARC: _o(
                "accept",
                "reads every URI",
                f"{_CD_R} (testParseSmtpTlsReportingWhitespaceAroundURICommas)",
            ),
            MIMECAST: _o(
                "reads-differently",
                "splits fields at spaces: keeps only the first URI",
                f"{_MC_TXT} (StringTokenizer on ';' and ' ')",
            ),
        },
        "v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/",
    ),
    Rule(
        "tlsrpt-extension-value-empty",
        "tlsrpt-record",
        "a field with an empty value",
        t.txt_extension_value_empty,
        "invalid: a value is 1 or more characters (§3)",
        {
            MOX: _o("reject", "rejects the record", f"{_MOX_R} ('empty value in extension')"),
            MIMECAST: _MC_RPT,
        },
        "v=TLSRPTv1; rua=mailto:a@example.com; ext=",
        ("tlsrpt-extension-value-invalid",),
    ),
    Rule(
        "tlsrpt-name-too-long",
        "tlsrpt-record",
        "a field name over 32 characters",
        t.txt_name_too_long,
        "invalid: a field name is 1 to 32 characters (§3)",
        {
            MOX: _o("reject", "rejects the record", f"{_MOX_R} ('extension name too long')"),
            MIMECAST: _MC_RPT,
        },
        "v=TLSRPTv1; rua=mailto:a@example.com; a12345678901234567890123456789012=1",
        ("tlsrpt-field-invalid",),
    ),
    Rule(
        "tlsrpt-name-invalid",
        "tlsrpt-record",
        "a field name starting with '_' or holding characters outside letters, digits, '_-.'",
        t.txt_name_invalid,
        "invalid: a field name starts with a letter or digit (§3)",
        {
            MOX: _o("reject", "rejects the record", f"{_MOX_R} ('invalid extension name')"),
            MIMECAST: _MC_RPT,
        },
        "v=TLSRPTv1; rua=mailto:a@example.com; 1%=a",
        ("tlsrpt-field-invalid",),
    ),
    Rule(
        "tlsrpt-field-empty",
        "tlsrpt-record",
        "two ';' with nothing between them",
        t.txt_field_empty,
        "invalid: only one trailing ';' is allowed (§3)",
        {
            MOX: _o("reject", "rejects the record", f"{_MOX_R} ('additional semicolon')"),
            MIMECAST: _o("accept", "skips it", _MC_TXT),
        },
        "v=TLSRPTv1; rua=mailto:a@example.com;;",
        ("tlsrpt-field-empty",),
    ),
)

RULES: tuple[Rule, ...] = POLICY_RULES + STS_RECORD_RULES + TLSRPT_RECORD_RULES
