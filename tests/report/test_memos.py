"""The parser's memos stay small whatever senders write (hostile input:
docs/conformance.md#untrusted-input). Reports repeat dates, domains, addresses and policy
strings day after day, so the parser remembers them; a long text is never
kept, and a full memo starts again."""

from __future__ import annotations

import json
from pathlib import Path

from tlsrpt.report import fast, normalize, parse_report
from tlsrpt.report.limits import DEFAULT_LIMITS
from tlsrpt.report.normalize import memo_room

FIXTURES = Path(__file__).parent.parent / "fixtures" / "reports"


def test_memo_room_refuses_long_keys_and_empties_a_full_memo():
    memo: dict[str, int] = {}
    assert not memo_room(memo, "x" * 257)
    for i in range(3):
        assert memo_room(memo, str(i), entries=3)
        memo[str(i)] = i
    assert memo_room(memo, "3", entries=3)
    assert memo == {}  # emptied, then the new key goes in
    assert memo_room(memo, "y" * 4096, chars=4096)


def test_hostile_texts_are_not_remembered():
    doc = json.loads((FIXTURES / "microsoft-sts-tlsa.json").read_bytes())
    policy = doc["policies"][0]["policy"]
    long_domain = "a" * 20_000 + ".example"
    long_strings = json.dumps(["3 1 1 " + "ab" * 5_000])
    policy["policy-domain"] = long_domain
    policy["policy-string"] = [long_strings]
    body = json.dumps(doc).encode()
    assert fast.decode(body, [], DEFAULT_LIMITS) is not None  # the memoizing path
    parsed = parse_report(body)
    assert parsed.report.policies[0].policy.policy_domain == long_domain
    assert len(parsed.report.policies[0].policy.policy_string[0]) > 10_000  # unwrapped
    assert long_domain not in fast._NORMAL_DOMAINS
    assert long_strings not in normalize._UNWRAPPED

    doc["policies"][0]["failure-details"] = [
        {"result-type": "validation-failure", "failed-session-count": 1, "receiving-ip": "0" * 9999}
    ]
    parsed = parse_report(json.dumps(doc).encode())
    assert "ip-invalid" in [d.code for d in parsed.deviations]
    assert "0" * 9999 not in normalize._IP_FORMS
