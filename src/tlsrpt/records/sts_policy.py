"""The `mta-sts.txt` policy file (RFC 8461 §3.2): parse and generate.

Grammar (RFC 8461 §3.2, with EID 6253: lines end in LF or CRLF):
    sts-policy-record = sts-policy-field *WSP
                        *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
    field             = key ":" *WSP value
Three readings (docs/conformance.md#policy-lines, #sender-compatibility):
- strict: the RFC grammar to the letter;
- the default: what every widely used sender accepts. A violation that one of
  them rejects (a blank line, a line without ':', a malformed key, an empty
  extension value, a trailing dot in mx, max_age above 31557600) is an error;
  one that all of them tolerate (a key starting with '-' or '.') a warning;
- tolerant: what the most tolerant senders read. Every violation above is a
  warning and the offending line is skipped; max_age takes up to 10 digits and
  a value above 31557600 is clamped (EID 7282). Use it to show what a policy
  that is invalid by default still means to the senders that apply it.
Unknown keys are ignored with a warning and a repeated key other than mx keeps
its first value (RFC 8461 §3.2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tlsrpt.records.mx import MxMatch, is_ipv4, match_mx, mx_pattern_error
from tlsrpt.records.problems import Parsed, ProblemList
from tlsrpt.records.txt import EXT_NAME, WSP, describe_char

Mode = Literal["enforce", "testing", "none"]
MODES: tuple[Mode, ...] = ("enforce", "testing", "none")
MAX_POLICY_BYTES = 65536  # RFC 8461 §3.3: the suggested 64 KiB limit
MAX_AGE_LIMIT = 31557600  # RFC 8461 §3.2: one year
ONE_DAY = 86400
_MAX_AGE = re.compile(r"[0-9]{1,10}\Z")
# sts-policy-ext-value: vchar [*(SP / vchar) vchar], vchar = %x21-7E / UTF-8
_EXT_VALUE = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?\Z")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class StsPolicy:
    """A valid policy. `max_age` is at most 31557600 (clamped when read
    tolerantly); `mx` holds the patterns in file order, without a trailing dot."""

    mode: Mode
    max_age: int
    mx: tuple[str, ...]
    extensions: dict[str, str] = field(default_factory=dict)
    version: str = "STSv1"

    def covers(self, host: str) -> MxMatch:
        """RFC 8461 §4.1 MX matching against this policy's patterns."""
        return match_mx(host, self.mx)


def parse_sts_policy(
    data: str | bytes, *, strict: bool = False, tolerant: bool = False
) -> Parsed[StsPolicy]:
    """Parse a policy body. Bytes are checked against the 64 KiB limit and
    decoded as UTF-8. `strict` applies the RFC grammar to the letter; the
    default rejects what a widely used sender rejects; `tolerant` reads what
    the most tolerant senders read (see module docstring)."""
    problems = ProblemList(strict, tolerant)
    text = _decode(data, problems)
    if text is None:
        return problems.parsed(StsPolicy("none", 0, ()))
    values: dict[str, str] = {}
    positions: dict[str, int] = {}
    mx: list[str] = []
    saw_mx = False
    extensions: dict[str, str] = {}
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the one optional final line terminator
    offset = 0
    for raw in lines:
        start, offset = offset, offset + len(raw) + 1
        line = raw[:-1] if raw.endswith("\r") else raw
        parsed = _split_line(line, start, problems)
        if parsed is None:
            continue
        key, value, at = parsed
        if key == "mx":
            saw_mx = True
            pattern = _check_mx(value, at, mx, problems)
            if pattern is not None:
                mx.append(pattern)
        elif key in values or key in extensions:
            problems.warning(
                "sts-policy-duplicate-key",
                f"{key!r} appears again; only the first value is used (RFC 8461 §3.2)",
                start,
            )
        elif key in ("version", "mode", "max_age"):
            values[key], positions[key] = value, at
        else:
            _check_extension(key, value, start, at, problems)
            extensions[key] = value
    mode = _check_fields(values, positions, problems)
    if not saw_mx and mode != "none":
        problems.error(
            "sts-policy-mx-missing",
            "no 'mx:' line; at least one is required unless the mode is none (RFC 8461 §3.2)",
        )
    max_age = min(int(values["max_age"]), MAX_AGE_LIMIT) if not problems.has_error else 0
    return problems.parsed(StsPolicy(mode or "none", max_age, tuple(mx), extensions))


def _decode(data: str | bytes, problems: ProblemList) -> str | None:
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            problems.error("sts-policy-encoding", "the text holds a lone surrogate", exc.start)
            return None
    else:
        raw = bytes(data)
    if len(raw) > MAX_POLICY_BYTES:
        problems.error(
            "sts-policy-too-large",
            f"the policy is {len(raw)} bytes; senders may refuse policies over "
            f"{MAX_POLICY_BYTES} bytes (RFC 8461 §3.3)",
        )
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.error(
            "sts-policy-encoding",
            "the policy starts with a UTF-8 byte-order mark, so senders do not see "
            "'version' as the first key; save it without a BOM",
            0,
        )
        return None
    if isinstance(data, str):
        return data
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.error(
            "sts-policy-encoding",
            f"byte 0x{raw[exc.start]:02X} at offset {exc.start} is not UTF-8",
            len(raw[: exc.start].decode("utf-8")),
        )
        return None


def _split_line(line: str, start: int, problems: ProblemList) -> tuple[str, str, int] | None:
    """(key, value, value offset) of a well-formed `key ":" *WSP value *WSP`."""
    if not line.strip(WSP):
        problems.sender_rejected(
            "sts-policy-blank-line", "blank line: the grammar has none (RFC 8461 §3.2)", start
        )
        return None
    colon = line.find(":")
    if colon < 0:
        problems.sender_rejected(
            "sts-policy-line-invalid", f"line {line[:40]!r} is not 'key: value'", start
        )
        return None
    key = line[:colon]
    if not EXT_NAME.match(key):
        _key_problem(key, start, problems)
        return None
    after = line[colon + 1 :]
    value = after.lstrip(WSP)
    at = start + colon + 1 + len(after) - len(value)
    value = value.rstrip(WSP)
    bad = _CTL.search(value)
    if bad:
        problems.error(
            "sts-policy-line-invalid",
            f"{describe_char(bad.group())} in the value of {key!r}: control characters are "
            "not allowed",
            at + bad.start(),
        )
        return None
    return key, value, at


def _key_problem(key: str, start: int, problems: ProblemList) -> None:
    message = "a key is 1-32 letters, digits, '_', '-', '.', starting with a letter or digit"
    if key.strip(WSP) != key:
        message = "whitespace is not allowed before the key or before ':'"
    elif key[:1] in ("-", ".") and EXT_NAME.match("a" + key[1:]):
        # Only the RFC grammar rejects this one; every sender in the
        # compatibility table reads the line (a key is never a known one).
        problems.relaxable("sts-policy-key-invalid", f"key {key!r}: {message}", start)
        return
    problems.sender_rejected("sts-policy-key-invalid", f"key {key!r}: {message}", start)


def _check_mx(value: str, at: int, seen: list[str], problems: ProblemList) -> str | None:
    pattern = value
    if pattern.endswith(".") and not mx_pattern_error(pattern[:-1]):
        pattern = pattern[:-1]
        problems.sender_rejected(
            "sts-policy-mx-trailing-dot",
            f"mx {value!r}: a trailing dot is not part of the RFC 5321 Domain syntax; "
            f"write {pattern!r}",
            at + len(pattern),
        )
    error = mx_pattern_error(pattern)
    if error:
        hint = " (one mx per line)" if "," in pattern or " " in pattern else ""
        problems.error("sts-policy-mx-invalid", f"mx {value!r}: {error}{hint}", at)
        return None
    if pattern.lower() in (p.lower() for p in seen):
        problems.warning("sts-policy-mx-duplicate", f"mx {pattern!r} is listed twice", at)
        return None
    if is_ipv4(pattern):
        problems.warning(
            "sts-policy-mx-ip-address",
            f"mx {pattern!r} is an IP address; patterns are matched against MX host names, "
            "so it covers nothing",
            at,
        )
    return pattern


def _check_extension(key: str, value: str, start: int, at: int, problems: ProblemList) -> None:
    similar = next((k for k in ("version", "mode", "max_age", "mx") if k == key.lower()), None)
    hint = f"; keys are case-sensitive, did you mean {similar!r}?" if similar else ""
    problems.warning(
        "sts-policy-unknown-key",
        f"unknown key {key!r} is ignored (RFC 8461 §3.2){hint}",
        start,
    )
    if not _EXT_VALUE.match(value):
        problems.sender_rejected(
            "sts-policy-value-invalid", f"key {key!r}: the value is empty or holds a tab", at
        )


def _check_fields(
    values: dict[str, str], positions: dict[str, int], problems: ProblemList
) -> Mode | None:
    """Check version, mode and max_age; returns the mode when valid."""
    for key in ("version", "mode", "max_age"):
        if key not in values:
            problems.error(
                f"sts-policy-{key.replace('_', '-')}-missing",
                f"no '{key}:' line; it is required (RFC 8461 §3.2)",
            )
    version = values.get("version")
    if version is not None and version != "STSv1":
        case = " (the value is case-sensitive)" if version.lower() == "stsv1" else ""
        problems.error(
            "sts-policy-version-invalid",
            f"version {version!r} must be 'STSv1'{case}",
            positions["version"],
        )
    mode = values.get("mode")
    if mode is not None and mode not in MODES:
        case = " (the value is case-sensitive)" if mode.lower() in MODES else ""
        problems.error(
            "sts-policy-mode-invalid",
            f"mode {mode!r} must be enforce, testing or none{case}",
            positions["mode"],
        )
        mode = None
    elif mode == "testing":
        problems.warning(
            "sts-policy-mode-testing",
            "mode testing: senders report failures but still deliver over unverified TLS; "
            "switch to enforce once the reports are clean",
            positions["mode"],
        )
    elif mode == "none":
        problems.warning(
            "sts-policy-mode-none",
            "mode none: senders treat the domain as having no MTA-STS policy",
            positions["mode"],
        )
    max_age = values.get("max_age")
    if max_age is not None:
        _check_max_age(max_age, positions["max_age"], problems)
    return next((m for m in MODES if m == mode), None)


def _check_max_age(value: str, at: int, problems: ProblemList) -> None:
    if not _MAX_AGE.match(value):
        why = "at most 10 digits" if value.isdigit() else "a number of seconds, digits only"
        problems.error("sts-policy-max-age-invalid", f"max_age {value!r} must be {why}", at)
        return
    seconds = int(value)
    if seconds > MAX_AGE_LIMIT and problems.tolerant:
        problems.warning(
            "sts-policy-max-age-clamped",
            f"max_age {seconds} is above the maximum of {MAX_AGE_LIMIT} (one year); read as "
            f"{MAX_AGE_LIMIT}, as tolerant senders do (RFC 8461 §3.2, EID 7282)",
            at,
        )
    elif seconds > MAX_AGE_LIMIT:
        problems.error(
            "sts-policy-max-age-too-large",
            f"max_age {seconds} is above the maximum of {MAX_AGE_LIMIT} (one year); "
            "postfix-mta-sts-resolver rejects such a policy, so its senders apply no "
            "MTA-STS (RFC 8461 §3.2)",
            at,
        )
    elif seconds < ONE_DAY:
        problems.warning(
            "sts-policy-max-age-short",
            f"max_age {seconds} is under one day: senders refetch often and a policy "
            "outage soon leaves mail unprotected; RFC 8461 suggests weeks or more",
            at,
        )


def generate_sts_policy(
    mode: Mode,
    mx: Sequence[str],
    max_age: int = 604800,
    extensions: Mapping[str, str] | None = None,
) -> str:
    """A valid policy with CRLF line ends (RFC 8461 §3.2), e.g.
    `version: STSv1\\r\\nmode: enforce\\r\\nmx: mail.example.com\\r\\nmax_age: 604800\\r\\n`.
    Raises ValueError naming the bad parameter."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} must be enforce, testing or none")
    if not isinstance(max_age, int) or not 0 <= max_age <= MAX_AGE_LIMIT:
        raise ValueError(f"max_age must be an integer from 0 to {MAX_AGE_LIMIT}")
    if not mx and mode != "none":
        raise ValueError("at least one mx pattern is required unless the mode is none")
    for pattern in mx:
        error = mx_pattern_error(pattern)
        if error:
            raise ValueError(f"mx {pattern!r}: {error}")
    if len({p.lower() for p in mx}) != len(mx):
        raise ValueError("mx patterns must be distinct")
    extensions = dict(extensions or {})
    for key, value in extensions.items():
        if key in ("version", "mode", "max_age", "mx") or not EXT_NAME.match(key):
            raise ValueError(f"{key!r} cannot be an extension key")
        if not _EXT_VALUE.match(value):
            raise ValueError(
                f"extension {key!r} value {value!r} is empty or has control "
                "characters or surrounding spaces"
            )
    lines = [
        "version: STSv1",
        f"mode: {mode}",
        *(f"mx: {pattern}" for pattern in mx),
        f"max_age: {max_age}",
        *(f"{key}: {value}" for key, value in extensions.items()),
    ]
    return "".join(line + "\r\n" for line in lines)
