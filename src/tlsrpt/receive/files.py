"""File sources: report files, e-mail files, mbox files, Maildir folders.

`discover(paths)` expands the user's paths, in a stable order, into
entries: a named file is always imported; a directory is walked
recursively, taking files named like reports or mail (.json, .json.gz, .gz,
.eml, .mbox, ...) and files without such a name whose first bytes look like
a report, a message or an mbox. A directory holding `cur/` and `new/` is a
Maildir: every message in them is taken. Anything passed over is listed
with the reason, never silently.

`read_entry(entry)` yields the inputs of one entry: one for a file, one per
message for an mbox.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tlsrpt.ingest.model import RawInput, SourceInfo
from tlsrpt.report.limits import is_gzip
from tlsrpt.report.parse import BOM

# A file over this size is not read at all: no parser limit comes close.
MAX_FILE_BYTES = 64 * 1024 * 1024

REPORT_SUFFIXES = (".json", ".gz", ".gzip", ".eml", ".msg", ".mbox", ".mbx")
MBOX_SUFFIXES = (".mbox", ".mbx")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")


@dataclass(frozen=True, slots=True)
class Entry:
    path: Path
    mbox: bool = False


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path not imported. `problem` is False for files a directory walk
    passes over because they are not reports (README.md, say)."""

    path: str
    reason: str
    problem: bool = True


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(512)


def _looks_like_input(head: bytes) -> bool:
    if is_gzip(head) or head.startswith(b"From "):
        return True
    if head.lstrip(BOM + b" \t\r\n")[:1] == b"{":
        return True
    return bool(_HEADER_LINE.match(head))


def _is_mbox(path: Path, head: bytes) -> bool:
    return head.startswith(b"From ") or path.name.lower().endswith(MBOX_SUFFIXES)


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _file_entry(path: Path, skipped: list[Skipped], *, named: bool) -> Entry | None:
    try:
        head = _head(path)
    except OSError as exc:
        skipped.append(Skipped(str(path), f"cannot read: {exc.strerror or exc}"))
        return None
    if (
        not named
        and not path.name.lower().endswith(REPORT_SUFFIXES)
        and not _looks_like_input(head)
    ):
        skipped.append(
            Skipped(str(path), "neither named nor shaped like a report or a message", False)
        )
        return None
    return Entry(path, mbox=_is_mbox(path, head))


def _maildir_entries(root: Path) -> list[Entry]:
    return [
        Entry(path)
        for sub in ("cur", "new")
        for path in sorted((root / sub).iterdir())
        if path.is_file() and not path.name.startswith(".")
    ]


def _walk(root: Path, skipped: list[Skipped]) -> list[Entry]:
    entries: list[Entry] = []

    def unreadable(exc: OSError) -> None:
        skipped.append(Skipped(str(exc.filename), f"cannot read: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        here = Path(dirpath)
        if is_maildir(here):
            entries.extend(_maildir_entries(here))
            # Maildir++ sub-folders are hidden directories holding cur/new.
            dirnames[:] = sorted(d for d in dirnames if d.startswith(".") and is_maildir(here / d))
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") or is_maildir(here / d))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            entry = _file_entry(here / name, skipped, named=False)
            if entry is not None:
                entries.append(entry)
    return entries


def discover(paths: Sequence[str | Path]) -> tuple[list[Entry], list[Skipped]]:
    """Entries to import, in a stable order, and what was passed over."""
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            entries.extend(_walk(path, skipped))
        elif path.exists():
            entry = _file_entry(path, skipped, named=True)
            if entry is not None:
                entries.append(entry)
        else:
            skipped.append(Skipped(str(path), "no such file or directory"))
    return entries, skipped


def read_entry(entry: Entry) -> Iterator[RawInput]:
    """The inputs of one entry. Raises OSError when it cannot be read."""
    if entry.mbox:
        box = mailbox.mbox(entry.path, create=False)
        try:
            for number, key in enumerate(box.keys(), start=1):
                yield RawInput(box.get_bytes(key), SourceInfo("file", f"{entry.path}#{number}"))
        finally:
            box.close()
        return
    size = entry.path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise OSError(f"{size} bytes, more than the {MAX_FILE_BYTES} bytes any input may have")
    yield RawInput(entry.path.read_bytes(), SourceInfo("file", str(entry.path)))
