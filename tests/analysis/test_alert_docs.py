"""The README's Alerts section: its rule table is the one the code
generates, and its settings example is valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tlsrpt.analysis.alert_rules import RULES, rules_table
from tlsrpt.analysis.alert_settings import parse_alert_settings
from tlsrpt.check.findings import CODES

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Alerts")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_readme_table_is_the_generated_one() -> None:
    assert rules_table() in _section()


def test_every_rule_has_a_row_with_its_defaults() -> None:
    section = _section()
    for code, rule in RULES.items():
        (row,) = [line for line in section.splitlines() if line.startswith(f"| `{code}` |")]
        for param in rule.params:
            assert f"`{param.name}` = {param.shown()}" in row


def test_the_issue_s_rules_exist() -> None:
    required = {
        "sts-policy-changed-without-id-change",
        "mx-set-changed",
        "tlsrpt-record-changed",
        "report-failure-rate",
        "report-new-result-type",
        "report-new-failing-mx",
        "reporter-silent",
        "reports-missing",
        "quarantine-growing",
        "sts-policy-host-certificate-expiring",
        "mx-certificate-expiring",
    }
    assert required <= set(RULES)
    assert "mx-certificate-expiring" in CODES  # the finding and the rule share the code


def test_the_settings_example_is_valid() -> None:
    (example,) = re.findall(r"```toml\n(.*?)```", _section(), re.S)
    settings = parse_alert_settings(tomllib.loads(example)["alerts"], set(CODES))
    shop = settings.for_domain("shop.example.net")
    assert shop.param("mx-certificate-expiring", "days") == (21, 7, 2)
    assert not shop.enabled("reports-missing")
    assert settings.for_domain("other.example").param("report-failure-rate", "threshold") == 0.1
