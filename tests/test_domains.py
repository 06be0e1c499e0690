"""The one domain normaliser (`tlsrpt.domains`) and its three modes."""

from __future__ import annotations

import pytest

from tlsrpt.domains import (
    DomainError,
    ip_literal,
    is_normal_domain,
    normalize_domain,
    read_domain_list,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        (" Example.COM. ", "example.com"),
        ("example.com..", "example.com"),
        ("Bücher.Example", "bücher.example"),  # a U-label stays: the report parser flags it
        ("localhost", "localhost"),
        ("", ""),
    ],
)
def test_fold_drops_space_final_dots_and_case_and_refuses_nothing(text: str, folded: str) -> None:
    assert normalize_domain(text) == folded
    assert normalize_domain(text, "fold") == folded


def test_ldh_refuses_what_an_account_cannot_register() -> None:
    assert normalize_domain(" Mail-1.Example.ORG. ", "ldh") == "mail-1.example.org"
    for bad in ("localhost", "a..example", "exa mple.com", "a_b.example", "x" * 64 + ".com"):
        with pytest.raises(DomainError, match="is not a domain name"):
            normalize_domain(bad, "ldh")


def test_idna_returns_a_labels_and_says_why_it_refuses() -> None:
    assert normalize_domain("Bücher.Example.", "idna") == "xn--bcher-kva.example"
    with pytest.raises(DomainError, match="IP address"):
        normalize_domain("192.0.2.1", "idna")
    with pytest.raises(DomainError, match="needs a dot"):
        normalize_domain("localhost", "idna")
    with pytest.raises(DomainError, match="is not a domain name"):
        normalize_domain("user@example.com", "idna")


def test_is_normal_domain_is_true_only_for_fixed_points() -> None:
    for text in ("example.com", "a-b.example"):
        assert is_normal_domain(text) and normalize_domain(text) == text
    for text in ("Example.com", "example.com.", " example.com", "bücher.example", ""):
        assert not is_normal_domain(text)


def test_ip_literal_reads_the_forms_found_where_a_host_belongs() -> None:
    assert ip_literal("[IPv6:2001:db8::1]") == "2001:db8::1"
    assert ip_literal("192.0.2.1.") == "192.0.2.1"
    assert ip_literal("mail.example.com") is None


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown domain mode"):
        normalize_domain("example.com", "upper")  # type: ignore[arg-type]


def test_read_domain_list_skips_blanks_and_comments_and_names_each_line() -> None:
    text = "# header\n\n Example.COM. \nbad name\nexample.com # again\nlocalhost\r\nb.example"
    listed = read_domain_list(text)
    assert [(e.line, e.text, e.name, e.error, e.repeat_of) for e in listed] == [
        (3, "Example.COM.", "example.com", None, None),
        (4, "bad name", None, "is not a domain name", None),
        (5, "example.com", "example.com", None, 3),
        (6, "localhost", None, "is not a domain name", None),
        (7, "b.example", "b.example", None, None),
    ]
    assert read_domain_list("") == read_domain_list("# nothing\n\n") == []
