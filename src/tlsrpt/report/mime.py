"""Walk a MIME message into its leaf parts (RFC 2045/2046).

Header blocks are unfolded here and handed to the standard library's
`Message`, which does parameter and RFC 2047 decoding; multipart bodies are
split on their boundary delimiter lines (RFC 2046 §5.1.1). The standard
feed parser compiles a new regular expression for every boundary it meets —
report e-mails all have unique ones — and that compile, with its line-by-line
reading, was most of the time spent per message.
"""

from __future__ import annotations

from email import errors
from email.message import Message
from typing import Any

from tlsrpt.report.errors import ReportError

MAX_NESTING = 8


def _split_head(text: str) -> tuple[str, str]:
    """Header block and body, split at the first empty line (RFC 5322 §2.1)."""
    crlf, lf = text.find("\r\n\r\n"), text.find("\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return text[: crlf + 2], text[crlf + 4 :]
    if lf >= 0:
        return text[: lf + 1], text[lf + 2 :]
    return text, ""


class _Headers(Message):
    """A stdlib `Message` whose header lookups use an index: `Message.get`
    scans and lower-cases every field for each lookup, and report parts are
    asked for the same few fields many times. Only the first field of a
    name is looked up, as `Message.get` does."""

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        self.set_raw(name, value)  # compat32 stores fields as given
        self._index.setdefault(name.lower(), value)

    def get(self, name: str, failobj: Any = None) -> Any:
        value = self._index.get(name.lower())
        return failobj if value is None else self.policy.header_fetch_parse(name, value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index


def _headers_only(text: str) -> Message:
    """Header fields unfolded (RFC 5322 §2.2.3) into a stdlib `Message`,
    whose accessors then do the parameter and encoded-word decoding; the
    body is kept as raw text. (The stdlib feed parser costs ~50 µs per
    header block and reads the whole body line by line.)"""
    head, body = _split_head(text)
    msg = _Headers()
    lines = head.splitlines()
    name: str | None = None
    value: list[str] = []
    for index, line in enumerate(lines):
        if line[:1] in (" ", "\t") and name is not None:
            value.append(line)
            continue
        if name is not None:
            msg.add(name, "\n".join(value).strip())
        key, colon, rest = line.partition(":")
        if not colon or not key or key != key.strip():
            # not a header line: like the stdlib, the body starts here
            msg.defects.append(errors.MissingHeaderBodySeparatorDefect())
            body = "\n".join(lines[index:]) + ("\n" + body if body else "")
            name = None
            break
        name, value = key, [rest]
    if name is not None:
        msg.add(name, "\n".join(value).strip())
    msg.set_payload(body)
    return msg


def parse_headers(data: bytes) -> Message:
    """The message with its headers parsed and its body left as raw text."""
    return _headers_only(data.decode("ascii", "surrogateescape"))


def leaf_parts(msg: Message, max_parts: int) -> tuple[list[tuple[Message, str]], list[str]]:
    """Depth-first leaf parts (with their content types) of a headers-only
    message, and any defects.

    A multipart part's body is split on `--boundary` lines; a missing close
    delimiter or boundary is a defect, never a loss: what was found is kept.
    """
    leaves: list[tuple[Message, str]] = []
    defects: list[str] = [type(d).__name__ for d in msg.defects]
    _walk(msg, leaves, defects, 0, max_parts)
    return leaves, defects


def _walk(
    msg: Message, leaves: list[tuple[Message, str]], defects: list[str], depth: int, cap: int
) -> None:
    if len(leaves) >= cap:
        raise ReportError("mime-invalid", f"more than {cap} MIME parts", "message")
    body = msg.get_payload()
    ctype = msg.get_content_type()
    if ctype == "message/rfc822" and isinstance(body, str) and depth < MAX_NESTING:
        # a forwarded report: walk the enclosed message
        _walk(_headers_only(body.lstrip("\r\n")), leaves, defects, depth + 1, cap)
        return
    if not ctype.startswith("multipart/"):
        leaves.append((msg, ctype))
        return
    boundary = msg.get_boundary()
    if depth >= MAX_NESTING or not boundary or not isinstance(body, str):
        defects.append("MultipartWithoutUsableBoundary" if depth < MAX_NESTING else "TooDeep")
        leaves.append((msg, ctype))  # its raw body is still looked at as a whole
        return
    chunks = ("\n" + body).split("\n--" + boundary)
    if len(chunks) == 1:
        defects.append("StartBoundaryNotFoundDefect")
        return
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith("--"):
            closed = True
            break
        _, newline, rest = chunk.partition("\n")
        if not newline:
            continue
        if rest.endswith("\r"):
            rest = rest[:-1]
        _walk(_headers_only(rest), leaves, defects, depth + 1, cap)
    if not closed:
        defects.append("CloseBoundaryNotFoundDefect")
