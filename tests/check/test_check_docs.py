"""The README's finding-code table lists exactly the checker's codes."""

from __future__ import annotations

import re
from pathlib import Path

from tlsrpt.check import CODES

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Domain checker (`tlsrpt check`)")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_readme_table_matches_the_codes() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \| ([^|]+) \|$", _section(), re.M)
    documented = {code: (when.strip(), severity.strip()) for code, severity, when in rows}
    assert documented == CODES


def test_issue_codes_all_exist() -> None:
    """The codes required, spelled exactly."""
    required = [
        "tlsrpt-record-missing",
        "tlsrpt-record-multiple",
        "tlsrpt-record-invalid",
        "tlsrpt-rua-invalid",
        "sts-record-missing",
        "sts-record-multiple",
        "sts-record-invalid",
        "sts-policy-fetch-failed",
        "sts-policy-redirect",
        "sts-policy-content-type",
        "sts-policy-invalid",
        "sts-policy-webpki-invalid",
        "sts-mode-testing",
        "sts-mode-none",
        "sts-mx-not-covered",
        "mx-missing",
        "mx-unreachable",
        "mx-starttls-missing",
        "mx-certificate-expired",
        "mx-certificate-expiring",
        "mx-certificate-untrusted",
        "mx-certificate-host-mismatch",
        "mx-tls-version-old",
        "dane-tlsa-mismatch",
        "dane-dnssec-invalid",
    ]
    assert set(required) <= set(CODES)
