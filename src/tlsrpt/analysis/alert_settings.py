"""The `[alerts]` settings: thresholds, per-rule enable/disable and
per-domain overrides, read from the TOML table by a pure function that
names the place and the reason of every error.

```toml
[alerts]
cooldown = "2h"                     # a re-open within this re-uses the alert; "0": none
[alerts.rules.report-failure-rate]
threshold = 0.1
[alerts.rules.sts-mode-none]        # a checker finding code
enabled = false
[alerts.domains."example.com"]
enabled = true
[alerts.domains."example.com".rules.mx-certificate-expiring]
days = [21, 7]
```

A value is looked up in the domain's table, then the global one, then the
rule's default (`tlsrpt.analysis.alert_rules`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tlsrpt.analysis.alert_rules import (
    DAYS_LIST,
    DURATION,
    FACTOR,
    INT,
    RATE,
    RULES,
    Param,
)
from tlsrpt.analysis.durations import parse_duration
from tlsrpt.domains import normalize_domain

DEFAULT_COOLDOWN = timedelta(hours=2)


class AlertSettingsError(ValueError):
    """The `[alerts]` table is malformed; the message names where and why."""


@dataclass(frozen=True, slots=True)
class RuleOverride:
    enabled: bool | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DomainOverride:
    enabled: bool | None = None
    cooldown: timedelta | None = None
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DomainRules:
    """The settings in force for one domain."""

    enabled_all: bool
    cooldown: timedelta
    overrides: tuple[Mapping[str, RuleOverride], ...]  # the domain's first, then global

    def enabled(self, code: str) -> bool:
        if not self.enabled_all:
            return False
        for level in self.overrides:
            found = level.get(code)
            if found is not None and found.enabled is not None:
                return found.enabled
        return True

    def param(self, code: str, name: str) -> Any:
        for level in self.overrides:
            found = level.get(code)
            if found is not None and name in found.params:
                return found.params[name]
        param = RULES[code].param(name)
        return parse_duration(param.default) if param.kind == DURATION else param.default


@dataclass(frozen=True, slots=True)
class AlertSettings:
    enabled: bool = True
    cooldown: timedelta = DEFAULT_COOLDOWN
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)
    domains: Mapping[str, DomainOverride] = field(default_factory=dict)

    def for_domain(self, domain: str) -> DomainRules:
        own = self.domains.get(domain.rstrip(".").lower())
        if own is None:
            return DomainRules(self.enabled, self.cooldown, (self.rules,))
        return DomainRules(
            self.enabled if own.enabled is None else own.enabled,
            self.cooldown if own.cooldown is None else own.cooldown,
            (own.rules, self.rules),
        )

    def largest(self, code: str, name: str) -> Any:
        """The largest value of a parameter over every domain (e.g. how far
        ahead the checker must look for expiring certificates)."""
        values = [self.for_domain(d).param(code, name) for d in self.domains]
        values.append(self.for_domain("").param(code, name))
        return max(max(v) if isinstance(v, tuple) else v for v in values)


def checker_expiry_days(settings: AlertSettings) -> int:
    """`expiry_warning_days` for the checker, so that it reports every MX
    certificate inside the largest `days` threshold (it reports those with
    fewer whole days left than this)."""
    return int(settings.largest("mx-certificate-expiring", "days")) + 1


# --- parsing ---------------------------------------------------------------


def _table(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AlertSettingsError(f"{path}: must be a table, not {value!r}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise AlertSettingsError(f"{path}: must be true or false, not {value!r}")
    return value


def _duration(value: Any, path: str, zero: bool = False) -> timedelta:
    """A duration longer than 0 (`zero`: or 0)."""
    try:
        delta = parse_duration(value)
    except (ValueError, TypeError, AttributeError):
        raise AlertSettingsError(
            f"{path}: {value!r} is not a duration (write e.g. 90s, 30m, 48h, 7d or 2w)"
        ) from None
    if delta <= timedelta(0) and not (zero and delta == timedelta(0)):
        raise AlertSettingsError(f"{path}: must be longer than 0")
    return delta


def _cooldown(value: Any, path: str) -> timedelta:
    """0 is no cooldown: a resolve is notified at the evaluation that finds
    it, and a new occurrence is a new alert, notified again."""
    return _duration(value, path, zero=True)


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlertSettingsError(f"{path}: must be a number, not {value!r}")
    return float(value)


def _param(param: Param, value: Any, path: str) -> Any:
    if param.kind == INT:
        if isinstance(value, bool) or not isinstance(value, int) or value < param.minimum:
            raise AlertSettingsError(
                f"{path}: must be a whole number of at least {param.minimum}, not {value!r}"
            )
        return value
    if param.kind == RATE:
        number = _number(value, path)
        if not 0.0 <= number <= 1.0:
            raise AlertSettingsError(f"{path}: must be a rate from 0 to 1, not {value!r}")
        return number
    if param.kind == FACTOR:
        number = _number(value, path)
        if number < 1.0:
            raise AlertSettingsError(f"{path}: must be 1 or more, not {value!r}")
        return number
    if param.kind == DURATION:
        return _duration(value, path)
    assert param.kind == DAYS_LIST
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value)
    ):
        raise AlertSettingsError(
            f"{path}: must be a list of whole numbers of days of at least 1, e.g. [30, 14, 7, 1]"
        )
    if len(set(value)) != len(value):
        raise AlertSettingsError(f"{path}: lists a day twice: {value!r}")
    return tuple(sorted(value, reverse=True))


def _rule(code: str, raw: Any, path: str, finding_codes: Collection[str]) -> RuleOverride:
    table = _table(raw, path)
    rule = RULES.get(code)
    if rule is None and code not in finding_codes:
        raise AlertSettingsError(
            f"{path}: no alert rule {code!r} (the rules are in the README's Alerts section; "
            "checker finding codes are rules too)"
        )
    params = {p.name: p for p in rule.params} if rule is not None else {}
    enabled, values = None, {}
    for key, value in table.items():
        if key == "enabled":
            enabled = _bool(value, f"{path}.enabled")
        elif key in params:
            values[key] = _param(params[key], value, f"{path}.{key}")
        else:
            known = ", ".join(["enabled", *params]) if params else "enabled"
            raise AlertSettingsError(f"{path}: unknown key {key!r} (known: {known})")
    return RuleOverride(enabled, values)


def _rules(raw: Any, path: str, finding_codes: Collection[str]) -> dict[str, RuleOverride]:
    return {
        code: _rule(code, value, f"{path}.{code}", finding_codes)
        for code, value in _table(raw, path).items()
    }


def _domain(raw: Any, path: str, finding_codes: Collection[str]) -> DomainOverride:
    table = _table(raw, path)
    enabled, cooldown, rules = None, None, {}
    for key, value in table.items():
        if key == "enabled":
            enabled = _bool(value, f"{path}.enabled")
        elif key == "cooldown":
            cooldown = _cooldown(value, f"{path}.cooldown")
        elif key == "rules":
            rules = _rules(value, f"{path}.rules", finding_codes)
        else:
            raise AlertSettingsError(
                f"{path}: unknown key {key!r} (known: enabled, cooldown, rules)"
            )
    return DomainOverride(enabled, cooldown, rules)


def _check_combinations(settings: AlertSettings) -> None:
    for domain in ["", *settings.domains]:
        rules = settings.for_domain(domain)
        where = f'alerts.domains."{domain}"' if domain else "alerts"
        regular = rules.param("reporter-silent", "regular_days")
        if rules.param("reporter-silent", "min_days") > regular:
            raise AlertSettingsError(
                f"{where}: reporter-silent min_days must not exceed regular_days ({regular})"
            )


def parse_alert_settings(
    raw: Mapping[str, Any] | None, finding_codes: Collection[str] = ()
) -> AlertSettings:
    """The `[alerts]` table as settings. `finding_codes`: the checker's
    codes, which may be configured as rules too (enable/disable)."""
    if raw is None:
        return AlertSettings()
    table = _table(raw, "alerts")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "enabled":
            values["enabled"] = _bool(value, "alerts.enabled")
        elif key == "cooldown":
            values["cooldown"] = _cooldown(value, "alerts.cooldown")
        elif key == "rules":
            values["rules"] = _rules(value, "alerts.rules", finding_codes)
        elif key == "domains":
            domains: dict[str, DomainOverride] = {}
            for name, body in _table(value, "alerts.domains").items():
                normalized = normalize_domain(str(name))
                if not normalized or "." not in normalized:
                    raise AlertSettingsError(f"alerts.domains: {name!r} is not a domain name")
                if normalized in domains:
                    raise AlertSettingsError(f"alerts.domains: {name!r} is given twice")
                domains[normalized] = _domain(body, f'alerts.domains."{name}"', finding_codes)
            values["domains"] = domains
        else:
            raise AlertSettingsError(
                f"alerts: unknown key {key!r} (known: enabled, cooldown, rules, domains)"
            )
    settings = AlertSettings(**values)
    _check_combinations(settings)
    return settings
