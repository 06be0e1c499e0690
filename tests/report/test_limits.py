"""Hostile input: limits, gzip bombs, malformed bytes (RFC 8460 §5.2, §7;
docs/conformance.md#size-limits, #untrusted-input)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import pytest

from tlsrpt.report import Limits, ReportError, parse_report
from tlsrpt.report.limits import gunzip


def test_gzip_bomb_is_never_inflated_in_full():
    bomb = gzip.compress(b"{" + b" " * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 300_000
    limits = Limits(max_decompressed_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(ReportError) as info:
            parse_report(bomb, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "decompressed-too-large"
    assert peak < 8 * 1024 * 1024  # far below the 200 MiB it would inflate to


def test_compressed_size_limit(minimal):
    data = json.dumps(minimal).encode()
    with pytest.raises(ReportError) as info:
        parse_report(data, limits=Limits(max_input_bytes=100))
    assert info.value.code == "too-large"


def test_truncated_gzip(minimal):
    data = gzip.compress(json.dumps(minimal).encode())
    with pytest.raises(ReportError) as info:
        parse_report(data[: len(data) // 2])
    assert info.value.code == "gzip-truncated"


def test_corrupt_gzip():
    data = b"\x1f\x8b\x08\x00" + b"\xff" * 40
    with pytest.raises(ReportError) as info:
        parse_report(data)
    assert info.value.code in {"gzip-invalid", "gzip-truncated"}


def test_garbage_after_gzip(minimal):
    data = gzip.compress(json.dumps(minimal).encode()) + b"trailing junk"
    with pytest.raises(ReportError) as info:
        parse_report(data)
    assert info.value.code == "gzip-invalid"
    # zero padding (seen from some archivers) is fine
    assert gunzip(gzip.compress(b"{}") + b"\x00\x00") == b"{}"


def test_zlib_stream_is_not_gzip():
    with pytest.raises(ReportError) as info:
        parse_report(zlib.compress(b'{"a":1}'))
    assert info.value.code == "json-invalid"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty-input"),
        (b"{", "json-invalid"),
        (b"[]", "schema"),
        (b"null", "schema"),
        (b'{"organization-name": "\xff\xfe"}', "not-utf8"),
        (b'{"organization-name": \xff}', "not-utf8"),  # msgspec: "invalid character"
        (b"\x00\x01\x02", "json-invalid"),
    ],
)
def test_malformed(data, code):
    with pytest.raises(ReportError) as info:
        parse_report(data)
    assert info.value.code == code


def test_depth_limit_before_untyped_decode(minimal):
    """Strict mode decodes without a schema (I-JSON check): depth is bounded first."""
    minimal["x-ext"] = json.loads("[" * 100 + "]" * 100)
    data = json.dumps(minimal).encode()
    with pytest.raises(ReportError) as info:
        parse_report(data, strict=True, limits=Limits(max_depth=32))
    assert info.value.code == "too-deep"
    # the typed decode keeps nothing from the unknown member: accepted
    assert parse_report(data).report.report_id == "r-1"
    # brackets inside strings do not count
    minimal["x-ext"] = "[" * 100
    assert parse_report(json.dumps(minimal).encode(), strict=True, limits=Limits(max_depth=32))


def test_very_deep_input_never_recurses():
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ReportError) as info:
        parse_report(deep, strict=True)
    assert info.value.code == "too-deep"
    with pytest.raises(ReportError) as info:
        parse_report(deep)
    assert info.value.code == "schema"  # the typed decoder stops at the first "["
    member = b'{"organization-name": "x", "x": ' + deep + b"}"
    with pytest.raises(ReportError) as info:
        parse_report(member)
    assert info.value.code == "too-deep"  # skipped under msgspec's recursion guard


def test_policy_and_failure_row_limits(minimal):
    minimal["policies"] = minimal["policies"] * 5
    data = json.dumps(minimal).encode()
    with pytest.raises(ReportError) as info:
        parse_report(data, limits=Limits(max_policies=4))
    assert info.value.code == "too-many-policies"
    with pytest.raises(ReportError) as info:
        parse_report(data, limits=Limits(max_failure_details=4))
    assert info.value.code == "too-many-failure-details"
    assert len(parse_report(data).report.policies) == 5


def _counts(minimal, policies, ok, failed, rows):
    """`minimal` with `policies` copies of its policy, each with these
    summary counts and one failure row per count in `rows`."""
    policy = minimal["policies"][0]
    policy["summary"] = {
        "total-successful-session-count": ok,
        "total-failure-session-count": failed,
    }
    row = policy["failure-details"][0]
    policy["failure-details"] = [dict(row, **{"failed-session-count": n}) for n in rows]
    minimal["policies"] = [policy] * policies
    return json.dumps(minimal).encode()


@pytest.mark.parametrize(
    ("policies", "ok", "failed", "rows"),
    [
        (1, 2**40 - 1, 1, [1]),  # the summaries' sessions, at the bound
        (4, 2**38, 0, []),  # ... of several policies together
        (1, 0, 0, [2**39, 2**39]),  # the failure rows' sessions, apart
    ],
)
def test_session_counts_up_to_the_bound_are_plausible(minimal, policies, ok, failed, rows):
    """Limits.max_sessions (2^40): more sessions in one report than the
    whole internet's e-mail of three days is not data; up to it, both paths
    take the report as it is."""
    assert Limits().max_sessions == 2**40
    parsed = parse_report(_counts(minimal, policies, ok, failed, rows)).report
    assert parsed.successful_sessions == policies * ok


@pytest.mark.parametrize(
    ("policies", "ok", "failed", "rows", "reason"),
    [
        (1, 2**40, 1, [1], "1099511627777 sessions in one report"),
        (5, 2**38, 0, [], "1374389534720 sessions in one report"),
        (1, 0, 0, [2**39, 2**39 + 1], "1099511627777 sessions in failure-details rows"),
        (1, 0, 1, [2**53 - 1] * 1025, "sessions in failure-details rows"),  # past 2^63
        (1, 2**53, 0, [], "9007199254740992 sessions"),  # beyond I-JSON: the full path only
        (1, "2000000000000", 0, [], "2000000000000 sessions"),  # a string: the full path
    ],
)
def test_implausible_session_counts_are_refused(minimal, policies, ok, failed, rows, reason):
    data = _counts(minimal, policies, ok, failed, rows)
    for body in (data, gzip.compress(data)):
        with pytest.raises(ReportError) as info:
            parse_report(body)
        assert (info.value.code, info.value.path) == ("count-implausible", "$.policies")
        assert reason in info.value.reason
