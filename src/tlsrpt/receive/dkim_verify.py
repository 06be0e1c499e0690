"""DKIM verdict of a mailed report (RFC 8460 §3, RFC 6376), with dkimpy.

- RFC 8460 §3; docs/conformance.md#dkim-required: a mailed report needs a valid DKIM signature; the
  verdict says whether it has one, and the receiver quarantines it when not.
- RFC 8460 §3; docs/conformance.md#dkim-service-type: keys need not carry `s=tlsrpt` (ordinary
  `s=email` or no `s=` keys are accepted) unless `require_tlsrpt_service` is set.
- RFC 8460 §3; docs/conformance.md#dkim-alignment: relaxed alignment: `d=` must equal the
  TLS-Report-Submitter domain (or a contact domain given by the caller) or be its parent or child.
- A DNS failure (timeout, SERVFAIL) is `temperror`: the sender must retry
  (SMTP 450), never a rejection. A missing key is a `fail`.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Literal

import dkim
import dns.exception
import dns.resolver
from dkim.util import InvalidTagValueList, parse_tag_value

from tlsrpt.ingest.model import ACCEPTED_UNSIGNED, UnsignedRelease
from tlsrpt.report import ReportError, parse_message

Result = Literal["pass", "fail", "none", "temperror"]


class DkimDnsError(Exception):
    """The key lookup failed for a reason that may pass (timeout, SERVFAIL)."""


@dataclass(frozen=True, slots=True)
class DkimVerdict:
    result: Result
    domain: str | None = None
    selector: str | None = None
    aligned: bool = False
    reason: str | None = None

    @property
    def acceptable(self) -> bool:
        """A valid signature by an aligned domain (RFC 8460 §3; docs/conformance.md#dkim-required,
        #dkim-alignment)."""
        return self.result == "pass" and self.aligned

    def as_meta(self) -> dict[str, Any]:
        return {
            "dkim": self.result,
            "dkim_domain": self.domain,
            "dkim_selector": self.selector,
            "dkim_aligned": self.aligned,
            "dkim_reason": self.reason,
        }


_SERVICE = re.compile(rb"(^|;)(\s*s\s*=)([^;]*)")


def normalize_key_services(record: bytes) -> bytes:
    """RFC 6376 §3.6.1: `s=` is a colon-separated list. dkimpy reads it as a
    single value, so `s=email:tlsrpt` (the form that works with every
    verifier) would count as unknown; reduce the list to the one value
    dkimpy knows: tlsrpt if listed, else email if listed or `*`."""

    def pick(m: re.Match[bytes]) -> bytes:
        services = {s.strip().lower() for s in m.group(3).split(b":")}
        if b"tlsrpt" in services and not services & {b"email", b"*"}:
            chosen = b"tlsrpt"
        elif b"tlsrpt" in services:
            chosen = b"*"  # valid for both: email and tlsrpt
        elif services & {b"email", b"*"}:
            chosen = b"email"
        else:
            return m.group(0)
        return m.group(1) + m.group(2) + chosen

    return _SERVICE.sub(pick, record)


def txt_lookup(nameservers: list[str] | None = None, port: int = 53, timeout: float = 5.0) -> Any:
    """A dkimpy `dnsfunc` on dnspython: the key record, None when there is
    none, DkimDnsError when DNS failed."""
    resolver = dns.resolver.Resolver(configure=nameservers is None)
    if nameservers is not None:
        resolver.nameservers = nameservers
        resolver.port = port

    def lookup(name: bytes | str, timeout: float = timeout) -> bytes | None:
        qname = name.decode("ascii") if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(qname, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DkimDnsError(f"DNS lookup of {qname} failed: {exc}") from exc
        except dns.exception.DNSException as exc:
            raise DkimDnsError(f"DNS lookup of {qname} failed: {exc}") from exc
        return normalize_key_services(b"".join(next(iter(answer)).strings))

    return lookup


def aligned(signer: str, identities: Iterable[str]) -> bool:
    """RFC 8460 §3; docs/conformance.md#dkim-alignment: `signer` equals an identity domain or is its
    parent or child."""
    d = signer.lower().rstrip(".")
    if "." not in d:
        return False
    for identity in identities:
        i = identity.lower().rstrip(".")
        if i and (d == i or d.endswith("." + i) or i.endswith("." + d)):
            return True
    return False


def report_contact_domains(message: bytes) -> list[str]:
    """The `contact-info` domains of the reports a message carries, for
    alignment (RFC 8460 §3; docs/conformance.md#dkim-alignment); none when it carries no readable
    report."""
    try:
        mail = parse_message(message)
    except ReportError:
        return []
    contacts = (r.parsed.report.contact_info for r in mail.reports)
    return sorted({d for d in map(_domain, contacts) if d})


def _domain(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().rsplit("@", 1)[-1].strip(" <>").lower() or None


def verify(
    message: bytes,
    dnsfunc: Any,
    *,
    contact_domains: Iterable[str] = (),
    require_tlsrpt_service: bool = False,
) -> DkimVerdict:
    """The verdict on the first signature that verifies, else on the first
    one. Raises nothing: DNS trouble is a `temperror` verdict."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(message)
    signatures = headers.get_all("DKIM-Signature") or []
    if not signatures:
        return DkimVerdict("none", reason="the message has no DKIM-Signature")
    identities = [d for d in [_domain(headers.get("TLS-Report-Submitter")), *contact_domains] if d]
    mode: bool | str = "strict" if require_tlsrpt_service else True
    first: DkimVerdict | None = None
    for idx, header in enumerate(signatures):
        try:
            tags = parse_tag_value(re.sub(r"\s+", "", str(header)).encode("ascii", "replace"))
        except InvalidTagValueList:
            tags = {}
        domain = tags.get(b"d", b"").decode("ascii", "replace") or None
        selector = tags.get(b"s", b"").decode("ascii", "replace") or None
        try:
            ok = dkim.DKIM(message, tlsrpt=mode).verify(idx=idx, dnsfunc=dnsfunc)
            reason = None if ok else "the signature does not verify with the published key"
        except DkimDnsError as exc:
            return DkimVerdict("temperror", domain, selector, reason=str(exc))
        except dkim.DKIMException as exc:
            ok, reason = False, str(exc)
        verdict = DkimVerdict(
            "pass" if ok else "fail",
            domain,
            selector,
            aligned=bool(domain) and aligned(domain or "", identities),
            reason=reason,
        )
        if verdict.acceptable:
            return verdict
        first = first or verdict
    assert first is not None
    if first.result == "pass" and not first.aligned:
        reason = f"d={first.domain} is not aligned with {', '.join(identities) or 'no submitter'}"
        return DkimVerdict("pass", first.domain, first.selector, False, reason)
    return first


def mail_verdict(
    message: bytes, dnsfunc: Any, *, require_tlsrpt_service: bool = False
) -> DkimVerdict:
    """The verdict on a mailed report, aligned with its submitter and
    contact domains (RFC 8460 §3; docs/conformance.md#dkim-alignment): what every mail receiver
    checks."""
    return verify(
        message,
        dnsfunc,
        contact_domains=report_contact_domains(message),
        require_tlsrpt_service=require_tlsrpt_service,
    )


def hold_reason(verdict: DkimVerdict, accept_unsigned: bool) -> str | None:
    """RFC 8460 §3; docs/conformance.md#dkim-required: why a mailed report is kept in quarantine,
    not counted; None when it is ingested (an acceptable signature, or accept_unsigned)."""
    if verdict.acceptable or accept_unsigned:
        return None
    return f"no acceptable DKIM signature: {verdict.result}: {verdict.reason}"


def os_user() -> str:
    """Who runs this process, for the record of a release."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry
        return f"uid {os.getuid()}"


def unsigned_release(how: str) -> UnsignedRelease:
    """This process's user letting an unsigned report in, now, by `how`."""
    return UnsignedRelease(os_user(), datetime.now(UTC), how)


def verdict_meta(verdict: DkimVerdict, accept_unsigned: bool, how: str) -> dict[str, Any]:
    """What a mail receiver stores with the input: the verdict, and when
    `accept_unsigned` lets in a report without an acceptable signature,
    who did so, when and how (RFC 8460 §3)."""
    meta = verdict.as_meta()
    if accept_unsigned and not verdict.acceptable:
        meta[ACCEPTED_UNSIGNED] = unsigned_release(how).as_meta()
    return meta
