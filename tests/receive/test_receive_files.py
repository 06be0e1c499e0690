"""File sources: which paths an import takes, and the inputs they hold."""

from __future__ import annotations

import gzip
import mailbox
import os
from email.message import EmailMessage
from pathlib import Path

import pytest

from tlsrpt.receive.files import MAX_FILE_BYTES, Entry, discover, read_entry

REPORT = b'{"organization-name": "x"}'


def _message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"report {n}"
    msg.set_content(f"body {n}")
    return msg


def test_directory_walk_takes_reports_and_mail_and_lists_the_rest(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.json").write_bytes(REPORT)
    (tmp_path / "b" / "deep" / "c.json.gz").write_bytes(gzip.compress(REPORT))
    (tmp_path / "b" / "d.gz").write_bytes(gzip.compress(REPORT))
    (tmp_path / "b" / "e.eml").write_bytes(_message(1).as_bytes())
    (tmp_path / "no-extension-json").write_bytes(b"\xef\xbb\xbf " + REPORT)
    (tmp_path / "no-extension-mail").write_bytes(_message(2).as_bytes())
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "README.md").write_text("# reports\n")
    (tmp_path / ".hidden.json").write_bytes(REPORT)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.json").write_bytes(REPORT)
    entries, skipped = discover([tmp_path])
    assert [e.path.relative_to(tmp_path).as_posix() for e in entries] == [
        "a.json",
        "no-extension-json",
        "no-extension-mail",
        "b/d.gz",
        "b/e.eml",
        "b/deep/c.json.gz",
    ]
    assert sorted((Path(s.path).name, s.problem) for s in skipped) == [
        ("README.md", False),
        ("notes.txt", False),
    ]


def test_named_files_are_always_taken(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("not a report, but asked for\n")
    entries, skipped = discover([odd, tmp_path / "missing.json"])
    assert entries == [Entry(odd)]
    assert [(Path(s.path).name, s.reason, s.problem) for s in skipped] == [
        ("missing.json", "no such file or directory", True)
    ]


def test_mbox_by_name_or_by_content(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "Inbox")  # no extension: recognised by "From "
    for n in range(3):
        box.add(_message(n))
    box.close()
    entries, _ = discover([tmp_path])
    assert entries == [Entry(tmp_path / "Inbox", mbox=True)]
    inputs = list(read_entry(entries[0]))
    assert [i.source.detail for i in inputs] == [f"{tmp_path / 'Inbox'}#{n}" for n in (1, 2, 3)]
    assert all(i.data.startswith(b"Subject: report") for i in inputs)  # no "From " line
    assert inputs[1].data.split(b"\n\n", 1)[1].strip() == b"body 1"
    (tmp_path / "empty.mbox").write_bytes(b"")
    assert list(read_entry(Entry(tmp_path / "empty.mbox", mbox=True))) == []


def test_maildir_with_subfolders(tmp_path: Path) -> None:
    root = mailbox.Maildir(tmp_path / "Mail")
    root.add(_message(1))
    root.add_folder("Reports").add(_message(2))
    root.close()
    (tmp_path / "Mail" / "tmp" / "being-delivered").write_bytes(b"partial")
    entries, skipped = discover([tmp_path / "Mail"])
    assert skipped == []
    assert len(entries) == 2
    assert {e.path.parent.parent.name for e in entries} == {"Mail", ".Reports"}
    assert sorted(next(read_entry(e)).data.split(b"\n\n", 1)[1].strip() for e in entries) == [
        b"body 1",
        b"body 2",
    ]


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(OSError, match="more than the"):
        list(read_entry(Entry(big)))
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.json"
        locked.write_bytes(REPORT)
        locked.chmod(0)
        _, skipped = discover([locked])
        assert skipped[0].reason.startswith("cannot read")
