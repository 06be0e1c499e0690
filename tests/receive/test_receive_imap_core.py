"""The IMAP poller's pure parts: UIDs past the watermark, lock keys,
destinations and configuration checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsrpt.receive.imap import ImapConfig, destination, lock_key, new_uids


@given(st.lists(st.integers(min_value=1, max_value=10_000), unique=True), st.integers(0, 10_000))
def test_new_uids_are_exactly_those_above_the_watermark_in_order(
    uids: list[int], last: int
) -> None:
    got = new_uids(uids, last)
    assert got == sorted(got)
    assert set(got) == {u for u in uids if u > last}


def test_search_answer_below_the_watermark_is_ignored() -> None:
    """RFC 9051 §6.4.8: `UID 8:*` answers UID 7 when 7 is the highest."""
    assert new_uids([7], 7) == []


@given(st.text(), st.text())
def test_lock_keys_are_signed_64_bit_and_stable(a: str, b: str) -> None:
    assert -(2**63) <= lock_key(a) < 2**63
    assert lock_key(a) == lock_key(a)
    if a != b:
        assert lock_key(a) != lock_key(b)  # a 64-bit collision would be news


def test_mailbox_names_user_host_port_and_folder() -> None:
    config = ImapConfig(host="imap.example.com", user="u@example.com", password="p")
    assert config.mailbox == "u@example.com@imap.example.com:993/INBOX"
    starttls = ImapConfig(host="h", user="u", password="p", tls="starttls", folder="TLSRPT")
    assert starttls.mailbox == "u@h:143/TLSRPT"


def test_destination_by_outcome() -> None:
    config = ImapConfig(host="h", user="u", password="p", archive_folder="A", invalid_folder="I")
    assert destination("accepted", config) == "A"
    assert destination("duplicate", config) == "A"
    assert destination("quarantined", config) == "I"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "copy"}, "IMAP mode 'copy' is not one of move, read-only"),
        ({"tls": "none"}, "IMAP TLS mode 'none' is not one of imaps, starttls"),
        ({"poll_interval_s": 0}, "poll interval must be positive"),
        ({"archive_folder": "INBOX"}, "cannot be its own archive or invalid"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ImapConfig(host="h", user="u", password="p", **options)  # type: ignore[arg-type]


def test_read_only_mode_may_read_any_folder() -> None:
    ImapConfig(host="h", user="u", password="p", mode="read-only", folder="Archive")
