"""The "which senders would reject this?" part of `tlsrpt lint`: adds the
sender-compatibility problems to the parse and prints the per-implementation
verdicts (docs/conformance.md#sender-compatibility)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tlsrpt.cli.output import say
from tlsrpt.records import Compat, Parsed, Selected, parse_sts_policy
from tlsrpt.severity import Severity

_VERDICT_STYLE = {"accept": "green", "reject": "bold red", "reads-differently": "yellow"}


def with_senders(
    kind: str,
    data: str | bytes,
    result: Parsed[Any] | Selected[Any],
    compat: Compat,
    *,
    lenient: bool,
) -> tuple[bool, Parsed[Any]]:
    """(valid, parse with the compatibility problems appended). A sender's
    rejection is an error unless `lenient` (then a warning, like every other
    tolerated fault). For a policy that is invalid, the value is what the most
    tolerant senders read, so the output still shows it."""
    extra = compat.problems
    if lenient:
        extra = tuple(dataclasses.replace(p, severity=Severity.WARNING) for p in extra)
    valid = result.value is not None and not any(p.severity == "error" for p in extra)
    value = result.value
    if value is None and kind == "sts-policy":
        value = parse_sts_policy(data, tolerant=True).value
    # A parser warning that a compatibility problem restates is dropped.
    restated = {(p.position, code) for p in extra for code in compat.covered}
    own = [
        p for p in result.problems if p.severity == "error" or (p.position, p.code) not in restated
    ]
    return valid, Parsed(value, (*own, *extra))


def print_senders(
    compat: Compat, read: Any, summary: Callable[[Any], list[tuple[str, str]]]
) -> None:
    """The verdicts, one line per implementation; then, for an invalid input
    that some implementations still read, what they read."""
    say("  senders:", style="cyan")
    width = max(len(v.implementation) for v in compat.verdicts)
    for verdict in compat.verdicts:
        say(
            f"    {verdict.implementation:<{width}}  ",
            (f"{verdict.verdict:<17}", _VERDICT_STYLE[verdict.verdict]),
            " ",
            verdict.reason,
        )
    rows = summary(read) if read is not None else []
    if rows:
        say("  read by the senders that apply it as:", style="cyan")
        for label, shown in rows:
            say(("    " + label + ": ", "cyan"), shown)
