"""Terminal output of `tlsrpt watch` and `tlsrpt history`.

Everything shown comes from the watched domains' DNS, policy hosts and
certificates, which anyone can fill with escape sequences: every value is
printed as a rich `Text` (no markup) after control and format characters
(bidi overrides included) became visible escapes.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from tlsrpt.watch.changes import Change

_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def clean(text: object) -> str:
    """`text` with every control or format character as a visible escape."""
    out = []
    for char in str(text):
        if unicodedata.category(char) in _INVISIBLE:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%MZ") if moment else "never"


def counts_text(counts: dict[str, int]) -> str:
    parts = [
        f"{n} {name}{'s' if n != 1 else ''}"
        for name in ("error", "warning", "info")
        if (n := counts.get(name, 0))
    ]
    return ", ".join(parts) or "no findings"


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def counts_line(counts: dict[str, int], note: str) -> Text:
    """`1 error, 2 warnings  note`, coloured by the worst severity."""
    worst = next((s for s in ("error", "warning") if counts.get(s)), None)
    line = Text(counts_text(counts), style=_STYLE.get(worst or "", ""))
    if note:
        line.append(f"  {clean(note)}", style="default")
    return line


def head_line(domain: str, counts: dict[str, int], note: str) -> Text:
    line = Text(clean(domain), style="bold")
    line.append("  ")
    line.append_text(counts_line(counts, note))
    return line


def print_changes(out: Console, changes: Iterable[Change], indent: str = "  ") -> None:
    for change in changes:
        out.print(Text(f"{indent}{clean(change.summary)}"))


def print_outcome(out: Console, outcome: Any) -> None:
    """One check of `tlsrpt watch` (a `tlsrpt.watch.watcher.CheckOutcome`)."""
    if outcome.error is not None:
        out.print(Text(f"{clean(outcome.domain)}  error: {clean(outcome.error)}", style="red"))
        return
    if outcome.lease_lost:
        note = "not stored: another watcher took the domain over"
        out.print(Text(f"{clean(outcome.domain)}  {note}", style="yellow"))
        return
    if outcome.first:
        note = "(first check)"
    elif outcome.changes:
        n = len(outcome.changes)
        note = f"{n} change{'s' if n != 1 else ''}"
    elif outcome.new_state:
        note = "changed (details only)"
    else:
        note = "unchanged"
    out.print(head_line(outcome.domain, outcome.counts, note))
    print_changes(out, outcome.changes)
