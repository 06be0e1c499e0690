"""The `_smtp._tls` TXT record (RFC 8460 §3): parse, select, generate."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from tlsrpt.domains import normalize_domain
from tlsrpt.records.problems import Parsed, Problem, ProblemList, Selected
from tlsrpt.records.txt import (
    EXT_NAME,
    EXT_VALUE,
    WSP,
    Field,
    TxtRR,
    check_extension,
    select,
    split_fields,
)
from tlsrpt.severity import Severity

VERSION = "v=TLSRPTv1"
PREFIX = "tlsrpt"
# Above this many usable URIs the record draws a warning: every sender MAY
# pick just one (RFC 8460 §3), and each URI multiplies the report traffic.
MANY_RUA = 5

# RFC 3986 URI: scheme ":" then only unreserved, sub-delims, gen-delims and
# pct-encoded characters.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*\Z")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# "[" and "]" may only enclose an IP-literal host (RFC 3986 §3.2.2).
_IP_LITERAL_URI = re.compile(
    r"""[^:]*://
        (?:[^/?\#\[\]@]*@)?      # userinfo
        \[[^/?\#\[\]]*\]         # [IP-literal]
        [^/?\#\[\]]*             # :port
        (?:[/?\#][^\[\]]*)?\Z   # path, query, fragment
    """,
    re.VERBOSE,
)
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class TlsRptRecord:
    """A valid `_smtp._tls` record.

    `rua`: the mailto: and https: URIs senders deliver to, as written
    (still percent-encoded), in record order. `ignored_rua`: URIs senders
    skip (other schemes such as http:, and in lenient mode malformed ones).
    `extensions`: unknown `name=value` fields, kept and otherwise ignored.
    """

    rua: tuple[str, ...]
    extensions: dict[str, str] = field(default_factory=dict)
    ignored_rua: tuple[str, ...] = ()

    def mailto_addresses(self) -> tuple[str, ...]:
        """The decoded addresses of the mailto: URIs (RFC 6068 `to`)."""
        return tuple(_mailto_to(uri) for uri in self.rua if uri[:7].lower() == "mailto:")

    def https_urls(self) -> tuple[str, ...]:
        return tuple(uri for uri in self.rua if uri[:6].lower() == "https:")


def parse_tlsrpt_record(
    text: str, *, domain: str | None = None, strict: bool = True
) -> Parsed[TlsRptRecord]:
    """Parse one concatenated `_smtp._tls` TXT value.

    `domain` (the policy domain) enables the warning for mailto: addresses
    outside it. `strict` (the default) applies the RFC grammar; lenient
    parsing, meant for delivering reports, turns malformed URIs, malformed
    extensions and stray whitespace into warnings and skips them (RFC 8460 §3;
    docs/conformance.md#rua-uris).
    """
    problems = ProblemList(strict)
    fields = split_fields(text, VERSION, PREFIX, problems)
    rua: list[str] | None = None
    ignored: list[str] = []
    extensions: dict[str, str] = {}
    seen = {"v"}
    for fld in fields or ():
        if fld.name in seen:
            problems.warning(
                "tlsrpt-field-duplicate",
                f"field {fld.name!r} appears again; only the first one is used",
                fld.position,
            )
            continue
        seen.add(fld.name)
        if fld.name == "rua":  # RFC 8460 §3: "rua" is lower-case, case-sensitive
            rua = _parse_rua(fld, domain, ignored, problems)
        elif check_extension(fld, PREFIX, problems):
            extensions[fld.name] = fld.value  # RFC 8460 §3: kept, ignored
    if rua is None and fields is not None:
        hint = next((f for f in fields if f.name.lower() == "rua"), None)
        problems.error(
            "tlsrpt-rua-missing",
            "the record has no 'rua=' field (RFC 8460 §3: it is required)"
            + (f"; field names are case-sensitive, found {hint.name!r}" if hint else ""),
            hint.position if hint else None,
        )
    return problems.parsed(TlsRptRecord(tuple(rua or ()), extensions, tuple(ignored)))


def _parse_rua(
    fld: Field, domain: str | None, ignored: list[str], problems: ProblemList
) -> list[str]:
    """RFC 8460 §3: tlsrpt-rua = "rua=" uri *(*WSP "," *WSP uri). A raw ','
    always splits the list (RFC 8460 §3; docs/conformance.md#rua-uris), so entries are split before
    checking."""
    if not fld.value:
        problems.error("tlsrpt-rua-missing", "'rua=' lists no URI", fld.value_position)
        return []
    checked_from = len(problems.items)
    usable: list[str] = []
    offset = fld.value_position
    for piece in fld.value.split(","):
        uri = piece.strip(WSP)
        position = offset + (len(piece) - len(piece.lstrip(WSP)))
        offset += len(piece) + 1
        scheme = _check_uri(uri, position, problems)
        if scheme is None:
            if uri:
                ignored.append(uri)
            continue
        if scheme in ("mailto", "https"):
            if uri in usable:
                problems.warning("tlsrpt-rua-duplicate", f"{uri!r} is listed twice", position)
                continue
            usable.append(uri)
            if scheme == "mailto" and domain:
                _check_external(uri, domain, position, problems)
        elif scheme == "http":
            problems.warning(
                "tlsrpt-rua-http",
                f"{uri!r} uses http:, which senders ignore; reports go only to "
                "mailto: and https: (RFC 8460 §3)",
                position,
            )
            ignored.append(uri)
        else:
            problems.warning(
                "tlsrpt-rua-scheme-unsupported",
                f"{uri!r}: senders only deliver to mailto: and https: URIs (RFC 8460 §3)",
                position,
            )
            ignored.append(uri)
    rua_errors = any(p.severity == "error" for p in problems.items[checked_from:])
    if not usable and not rua_errors:
        problems.error(
            "tlsrpt-rua-no-usable-uri",
            "no rua URI uses mailto: or https:, so no sender will deliver reports",
            fld.value_position,
        )
    if len(usable) > MANY_RUA:
        problems.warning(
            "tlsrpt-rua-many",
            f"{len(usable)} rua URIs: senders may deliver to only one of them (RFC 8460 §3), "
            "and every extra URI multiplies the report traffic",
            fld.value_position,
        )
    return usable


def _check_uri(uri: str, position: int, problems: ProblemList) -> str | None:
    """The lower-cased scheme of a well-formed URI, else None (problem noted).
    A raw '!' is a MUST violation but leaves the URI usable in lenient mode."""
    if not uri:
        problems.relaxable("tlsrpt-rua-uri-invalid", "empty entry in the rua list", position)
        return None
    scheme_match = _SCHEME.match(uri)
    reason = None
    if not scheme_match:
        reason = "it has no scheme such as mailto: or https:"
    elif not _URI_CHARS.match(uri):
        bad = next(c for c in uri if not _URI_CHARS.match(c))
        reason = f"{bad!r} is not allowed in a URI and must be percent-encoded"
    elif _BAD_PERCENT.search(uri):
        reason = "'%' must be followed by two hex digits"
    elif uri.count("#") > 1:
        reason = "it has more than one '#'"
    elif ("[" in uri or "]" in uri) and not _IP_LITERAL_URI.match(uri):
        reason = "'[' and ']' may only enclose an IP address as the host"
    if reason:
        problems.relaxable(
            "tlsrpt-rua-uri-invalid", f"{uri!r} is not a valid URI: {reason}", position
        )
        return None
    assert scheme_match is not None
    scheme = scheme_match.group()[:-1].lower()
    if scheme == "mailto" and not _valid_mailto(uri):
        problems.relaxable(
            "tlsrpt-rua-mailto-invalid",
            f"{uri!r} does not name an address of the form local@domain",
            position,
        )
        return None
    if scheme == "https" and not _valid_https(uri):
        problems.relaxable(
            "tlsrpt-rua-uri-invalid", f"{uri!r} is not a valid https: URL with a host", position
        )
        return None
    if "!" in uri:
        problems.relaxable(
            "tlsrpt-rua-uri-unencoded",
            f"{uri!r} contains '!', which must be written %21 in a rua URI (RFC 8460 §3)",
            position + uri.index("!"),
        )
    return scheme


def _mailto_to(uri: str) -> str:
    return unquote(uri[7:].split("?", 1)[0])


def _mailto_domains(uri: str) -> list[str]:
    # RFC 6068: the `to` part may list several addresses separated by ','.
    return [a.rsplit("@", 1)[1].lower() for a in _mailto_to(uri).split(",") if "@" in a]


def _valid_mailto(uri: str) -> bool:
    local, at, host = _mailto_to(uri).rpartition("@")
    if not (at and local.strip() and host):
        return False
    return not _SPACE.search(host) and not host.startswith(".") and ".." not in host


def _valid_https(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return bool(parts.hostname)


def _check_external(uri: str, domain: str, position: int, problems: ProblemList) -> None:
    own = normalize_domain(domain)
    for host in _mailto_domains(uri):
        if host != own and not host.endswith("." + own):
            problems.warning(
                "tlsrpt-rua-external",
                f"reports for {own} go to a mailbox at {host}; unlike DMARC, RFC 8460 has no "
                "record by which that domain agrees to receive them, so make sure it expects "
                "them",
                position,
            )


def select_tlsrpt_record(
    txt_rrs: Iterable[TxtRR],
    *,
    domain: str | None = None,
    name: str | None = None,
    strict: bool = True,
) -> Selected[TlsRptRecord]:
    """Pick and parse the record among all TXT RRs of one name (RFC 8460 §3,
    RFC 8460 §3; docs/conformance.md#record-selection). Each RR is a str, bytes, or a list of
    character-strings (dnspython's `rdata.strings`), concatenated without separators.

    `name`, the owner name the RRs came from, enables the warning for the
    draft-era `_smtp-tlsrpt` label and, when `domain` is not given, supplies
    the policy domain (the name without its first label).
    """
    name_problems: tuple[Problem, ...] = ()
    if name:
        derived, name_problems = check_tlsrpt_name(name)
        domain = domain or derived
    result = select(
        txt_rrs,
        VERSION,
        "tlsrpt-record",
        "RFC 8460 §3",
        lambda text: parse_tlsrpt_record(text, domain=domain, strict=strict),
    )
    return result._replace(problems=(*name_problems, *result.problems))


def check_tlsrpt_name(name: str) -> tuple[str | None, tuple[Problem, ...]]:
    """The policy domain of the owner name `_smtp._tls.<domain>` (None for
    any other name), and a warning when the name uses the draft-era label
    `_smtp-tlsrpt`, which senders never query."""
    bare = name.rstrip(".")
    if bare.lower().startswith("_smtp._tls."):
        return bare[len("_smtp._tls.") :], ()
    if bare.lower().startswith("_smtp-tlsrpt."):
        domain = bare[len("_smtp-tlsrpt.") :]
        return domain, (
            Problem(
                "tlsrpt-legacy-label",
                Severity.WARNING,
                f"the record is at {bare}, a name from drafts of RFC 8460; senders look only "
                f"at _smtp._tls.{domain}",
            ),
        )
    return None, ()


def generate_tlsrpt_record(rua: Sequence[str], extensions: Mapping[str, str] | None = None) -> str:
    """A valid record, e.g. `v=TLSRPTv1;rua=mailto:tlsrpt@example.com`.

    Each rua entry is one mailto: or https: URI with ',', '!' and ';'
    already percent-encoded. Raises ValueError naming the bad parameter.
    """
    if not rua:
        raise ValueError("at least one rua URI is required")
    for uri in rua:
        for char in ",;! \t":
            if char in uri:
                raise ValueError(
                    f"rua URI {uri!r} contains {char!r}; percent-encode it (%{ord(char):02X})"
                )
    extensions = dict(extensions or {})
    for name, value in extensions.items():
        if name in ("v", "rua") or not EXT_NAME.match(name):
            raise ValueError(f"{name!r} cannot be an extension name")
        if not EXT_VALUE.match(value):
            raise ValueError(f"extension {name!r} value {value!r} has forbidden characters")
    text = ";".join([VERSION, "rua=" + ",".join(rua), *(f"{k}={v}" for k, v in extensions.items())])
    record, problems = parse_tlsrpt_record(text)
    errors = [p.message for p in problems if p.severity == "error"]
    if record is None or record.ignored_rua or len(record.rua) != len(rua):
        raise ValueError(
            "; ".join(errors) or "every rua URI must be a distinct mailto: or https: URI"
        )
    return text
