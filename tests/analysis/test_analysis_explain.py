"""Result type explanations: every IANA-registered type (RFC 8460 §6.6;
docs/conformance.md#result-types) has one, unregistered types get the fallback."""

from __future__ import annotations

import pytest

from tlsrpt.analysis.explain import EXPLANATIONS, explain

IANA_ORDER = [
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "certificate-not-trusted",
    "sts-policy-invalid",
    "sts-webpki-invalid",
    "validation-failure",
    "sts-policy-fetch-error",
]


def test_every_registered_type_is_explained_in_iana_order() -> None:
    assert list(EXPLANATIONS) == IANA_ORDER


@pytest.mark.parametrize("result_type", IANA_ORDER)
def test_explanation_is_complete(result_type: str) -> None:
    e = explain(result_type)
    assert e.result_type == result_type
    assert e.registered
    assert e.title and e.meaning
    assert e.causes and all(c for c in e.causes)
    assert e.fixes and all(f for f in e.fixes)
    assert e.category in {"negotiation", "dane-policy", "sts-policy"}


def test_dane_types_are_not_lost_by_switching_sts_to_enforce() -> None:
    lost = {t for t, e in EXPLANATIONS.items() if e.lost_under_enforce}
    assert lost == set(IANA_ORDER) - {"tlsa-invalid", "dnssec-invalid", "dane-required"}


@pytest.mark.parametrize(
    "result_type", ["", "(empty)", "mtasts-policy-mx-mismatch", "STARTTLS-NOT-SUPPORTED"]
)
def test_unregistered_type_gets_fallback(result_type: str) -> None:
    e = explain(result_type)
    assert e.result_type == result_type
    assert not e.registered
    assert e.category == "unknown"
    assert e.lost_under_enforce  # unexplained: assume the worst
    assert e.causes and e.fixes
