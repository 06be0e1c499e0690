"""The readiness thresholds and the large senders they look for (the
verdict itself: tests/analysis/test_analysis_verdict.py and the store's
readiness reads)."""

from __future__ import annotations

import pytest

from tlsrpt.analysis.readiness import ReadinessConfig, large_senders_in


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        ReadinessConfig().min_days = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("organizations", "expected"),
    [
        (["Google Inc."], ("Google",)),
        (["MICROSOFT CORPORATION", "Mail.Ru"], ("Microsoft", "Mail.ru")),
        (["Yahoo Inc", "google.com"], ("Google", "Yahoo")),
        (["mx.egressif.io", "refluxstop.de"], ()),
        ([], ()),
    ],
)
def test_large_senders_recognised_from_organization_names(
    organizations: list[str], expected: tuple[str, ...]
) -> None:
    assert large_senders_in(organizations, ReadinessConfig()) == expected
