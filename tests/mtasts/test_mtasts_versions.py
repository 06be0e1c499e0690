"""Policy versions and ids (RFC 8461 §3.1, §3.2): pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tlsrpt.mtasts import Change, PolicyError, edit_mx, new_version, policy_id
from tlsrpt.records import parse_sts_policy, parse_sts_record

T0 = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


def test_policy_id_is_the_utc_time_and_the_version() -> None:
    assert policy_id(T0, 1) == "20261207T120000Z1"
    # another offset, the same instant: the same id
    paris = T0.astimezone(timezone(timedelta(hours=1)))
    assert policy_id(paris, 12) == "20261207T120000Z12"
    # a naive time is taken as UTC
    assert policy_id(T0.replace(tzinfo=None), 3) == "20261207T120000Z3"


def test_ids_are_valid_and_distinct_even_within_one_second_or_with_the_clock_back() -> None:
    moments = [T0, T0, T0 - timedelta(days=400), T0 + timedelta(microseconds=1)]
    history = []
    for moment in moments * 5:
        history.append(
            new_version(
                "example.com",
                history,
                Change("testing", ("mx.example.com",), 86400),
                now=moment,
                created_by="t",
            )
        )
    ids = [v.id for v in history]
    assert len(set(ids)) == len(ids) == 20
    for value in ids:
        assert 1 <= len(value) <= 32 and value.isalnum() and value.isascii()
        record, problems = parse_sts_record(f"v=STSv1; id={value}")
        assert record is not None and record.id == value, problems
    assert [v.version for v in history] == list(range(1, 21))


def test_a_huge_version_number_still_fits_32_characters_or_is_refused() -> None:
    assert len(policy_id(T0, 10**15)) == 32
    with pytest.raises(PolicyError, match="1-32"):
        policy_id(T0, 10**16)
    with pytest.raises(PolicyError):
        policy_id(T0, 0)


@pytest.mark.parametrize("mode", ["testing", "enforce", "none"])
def test_text_has_crlf_lines_and_is_valid_for_a_strict_parser(mode: str) -> None:
    change = Change(mode, ("mx1.example.com", "*.mx.example.com"), 604800)  # type: ignore[arg-type]
    version = new_version("example.com", [], change, now=T0, created_by="t")
    assert version.text.endswith("\r\n")
    assert version.text.count("\r\n") == version.text.count("\n") == 5
    policy, problems = parse_sts_policy(version.text.encode(), strict=True)
    assert policy is not None, problems
    assert not [p for p in problems if p.severity == "error"]
    assert (policy.mode, policy.mx, policy.max_age) == (mode, version.mx, 604800)
    assert version.text.startswith("version: STSv1\r\n")


def test_patterns_are_checked_lowercased_and_trailing_dots_dropped() -> None:
    version = new_version(
        "example.com",
        [],
        Change("testing", ("MX1.Example.COM.", "*.mx.example.com"), 86400),
        now=T0,
        created_by="t",
    )
    assert version.mx == ("mx1.example.com", "*.mx.example.com")
    for bad, reason in [
        (("mx.*.example.com",), "leftmost"),
        (("a.example.com", "A.example.com"), "twice"),
        (("mx..example.com",), "label"),
        (("bücher.example",), "A-labels"),
    ]:
        with pytest.raises(PolicyError, match=reason):
            new_version("example.com", [], Change("testing", bad, 86400), now=T0, created_by="t")


def test_limits_of_a_version() -> None:
    with pytest.raises(PolicyError, match="at least one mx"):
        new_version("example.com", [], Change("enforce", (), 86400), now=T0, created_by="t")
    with pytest.raises(PolicyError, match="31557600"):
        new_version(
            "example.com",
            [],
            Change("testing", ("mx.example.com",), 31557601),
            now=T0,
            created_by="t",
        )
    with pytest.raises(PolicyError, match="mode"):
        new_version(
            "example.com", [], Change("strict", ("mx.example.com",), 1), now=T0, created_by="t"
        )  # type: ignore[arg-type]
    # mode none needs no pattern
    off = new_version("example.com", [], Change("none", (), 86400), now=T0, created_by="t")
    assert off.text == "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"


def test_edit_mx() -> None:
    current = ("mx1.example.com", "mx2.example.com")
    assert edit_mx(current, add=["MX3.example.com"]) == (*current, "mx3.example.com")
    assert edit_mx(current, remove=["mx1.example.com."]) == ("mx2.example.com",)
    assert edit_mx(current, replace=["*.example.net"]) == ("*.example.net",)
    with pytest.raises(PolicyError, match="not in the policy"):
        edit_mx(current, remove=["mx9.example.com"])
    with pytest.raises(PolicyError, match="already"):
        edit_mx(current, add=["mx2.example.com"])
    with pytest.raises(PolicyError, match="alone"):
        edit_mx(current, replace=["a.example"], add=["b.example"])
