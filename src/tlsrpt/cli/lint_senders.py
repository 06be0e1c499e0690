"""The "which senders would reject this?" part of `tlsrpt lint`: adds the
sender-compatibility problems to the parse and prints the per-implementation
verdicts (docs/conformance.md#sender-compatibility)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rich.text import Text

from tlsrpt.cli.output import console
from tlsrpt.records import Compat, Parsed, Selected, parse_sts_policy

_VERDICT_STYLE = {"accept": "green", "reject": "bold red", "reads-differently": "yellow"}


def _shown(text: str) -> str:
    """No control, format (bidi) or other invisible character reaches the
    terminal: they are shown as escapes."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


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
        extra = tuple(dataclasses.replace(p, severity="warning") for p in extra)
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
    console.print(Text("  senders:", "cyan"))
    width = max(len(v.implementation) for v in compat.verdicts)
    for verdict in compat.verdicts:
        console.print(
            Text.assemble(
                f"    {verdict.implementation:<{width}}  ",
                (f"{verdict.verdict:<17}", _VERDICT_STYLE[verdict.verdict]),
                " ",
                _shown(verdict.reason),
            )
        )
    rows = summary(read) if read is not None else []
    if rows:
        console.print(Text("  read by the senders that apply it as:", "cyan"))
        for label, shown in rows:
            console.print(Text.assemble(("    " + label + ": ", "cyan"), _shown(shown)))
