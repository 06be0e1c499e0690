"""The DNS records a hosted policy needs, and what to tell the domain
owner. Pure.

For a domain whose policy this server hosts:
- `_mta-sts.DOMAIN` TXT `v=STSv1; id=ID` (RFC 8461 §3.1), the id of the
  current version: it changes with every version, and senders refetch the
  policy when they see a new one;
- `_smtp._tls.DOMAIN` TXT `v=TLSRPTv1; rua=https://HOST/v1/reports`
  (RFC 8460 §3), reports POSTed to this server;
- `mta-sts.DOMAIN`, the policy host (RFC 8461 §3.3), pointed at this
  server: a CNAME to the host of `public_url`, or an A/AAAA record when
  that host is an IP address.
The last two need `public_url`, the address at which this server is
reached over HTTPS; without it they are left out and a note says how to
set it (no host is made up).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from tlsrpt.mtasts.versions import PolicyVersion
from tlsrpt.records import generate_sts_record, generate_tlsrpt_record, txt_presentation


class PublishSettings(Protocol):
    """What `expected_records` reads from the settings (`tlsrpt.settings.Settings.publish`)."""

    @property
    def public_url(self) -> str | None: ...

    @property
    def reports_path(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Publish:
    """Plain settings for `expected_records` (`Settings.publish` makes them)."""

    public_url: str | None = None
    reports_path: str = "/v1/reports"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    name: str  # owner name, without the final dot
    type: str  # TXT, CNAME, A or AAAA
    value: str  # TXT: the whole value; others: the target, without the final dot

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "value": self.value}

    def zone_line(self) -> str:
        """The record as a zone file line (TTL left to the zone's default)."""
        if self.type == "TXT":
            data = txt_presentation(self.value)
        elif self.type == "CNAME":
            data = self.value + "."
        else:
            data = self.value
        return f"{self.name}. IN {self.type} {data}"


def public_url_error(url: str) -> str | None:
    """Why `url` cannot be this server's public address, or None. It must be
    `https://HOST[:PORT][/PATH]`: senders POST reports only to https URIs
    (RFC 8460 §3) and fetch policies only over HTTPS (RFC 8461 §3.3)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        return f"public_url {url!r} is not a URL ({exc})"
    if parts.scheme != "https":
        return f"public_url {url!r} must start with https:// (senders use nothing else)"
    if not host:
        return f"public_url {url!r} has no host name"
    if parts.username or parts.password or parts.query or parts.fragment:
        return f"public_url {url!r} must be https://HOST[:PORT][/PATH], without user, ? or #"
    if not url.isascii() or any(c in url for c in ' ,;!"\\'):
        return f"public_url {url!r} may hold no spaces, ',', ';', '!' or non-ASCII characters"
    return None


def _target(host: str) -> DnsRecord | None:
    """The record pointing `mta-sts.` at `host` (owner name filled in later)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return DnsRecord("", "CNAME", host.lower().rstrip("."))
    return DnsRecord("", "A" if address.version == 4 else "AAAA", str(address))


def expected_records(
    domain: str, version: PolicyVersion, settings: PublishSettings
) -> list[DnsRecord]:
    """The records the domain publishes while `version` is its current
    policy (see module doc); what DNS should answer, for comparing."""
    records = [DnsRecord(f"_mta-sts.{domain}", "TXT", generate_sts_record(version.id))]
    url = settings.public_url
    if url is None or public_url_error(url):
        return records
    base = url.rstrip("/")
    rua = f"{base}{settings.reports_path}"
    records.append(DnsRecord(f"_smtp._tls.{domain}", "TXT", generate_tlsrpt_record([rua])))
    target = _target(urlsplit(url).hostname or "")
    if target is not None:
        records.append(DnsRecord(f"mta-sts.{domain}", target.type, target.value))
    return records


def publish_notes(domain: str, settings: PublishSettings) -> list[str]:
    """What the owner must know besides the records."""
    url = settings.public_url
    if url is None:
        return [
            f"no public_url is set, so the _smtp._tls.{domain} record (rua) and the "
            f"mta-sts.{domain} name cannot be given: they point at this server's public "
            "HTTPS address. Give it with --public-url https://NAME, or as public_url in "
            "the settings file or TLSRPT_PUBLIC_URL, and run `tlsrpt mta-sts show "
            f"{domain}`"
        ]
    error = public_url_error(url)
    if error:
        return [error]
    host = urlsplit(url).hostname
    notes = [
        f"senders fetch https://mta-sts.{domain}/.well-known/mta-sts.txt on port 443: "
        f"{host} must answer there with a certificate valid for mta-sts.{domain} "
        "(on-demand TLS or a wildcard certificate, see the README) and pass the Host "
        "header on to tlsrpt serve",
        f"publish the policy host first; change _mta-sts.{domain} to the new id "
        "after each version (the policy is served as soon as it is stored)",
    ]
    return notes


POLICY_HOST_LABEL = "mta-sts."  # RFC 8461 §3.3: the policy host is mta-sts.<domain>


def policy_host_domain(name: str | None) -> str | None:
    """The policy domain a policy host name stands for: `mta-sts.DOMAIN` ->
    `domain`, as a Host header or an SNI name gives it: case-insensitive, a
    port and one trailing dot dropped. None for any other name."""
    if not name or not name.isascii() or not name.isprintable() or name.startswith("["):
        return None
    host, colon, port = name.rpartition(":")
    if colon and port.isdigit():
        name = host
    name = name.lower()
    name = name[:-1] if name.endswith(".") else name
    if not name.startswith(POLICY_HOST_LABEL):
        return None
    domain = name[len(POLICY_HOST_LABEL) :]
    if "." not in domain or ".." in domain or domain.startswith(".") or len(domain) > 253:
        return None
    return domain
