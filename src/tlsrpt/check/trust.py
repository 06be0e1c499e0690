"""Trust configuration of a run: the system store plus `--ca-file`.

Built once per run (loading a CA bundle costs tens of milliseconds) and
shared by every connection.
"""

from __future__ import annotations

import functools
import re
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import Store

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\s.+?-----END CERTIFICATE-----", re.DOTALL)


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    """Every parseable certificate of a PEM bundle (a bad one is skipped, not fatal)."""
    certs = []
    with warnings.catch_warnings():  # old roots with non-positive serial numbers
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for block in _PEM_BLOCK.findall(data):
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certs


def _system_bundle() -> bytes:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    return b""


@dataclass(frozen=True)
class Trust:  # not slotted: `store` is cached on the instance
    """Trust anchors for offline chain analysis and TLS contexts for connections."""

    anchors: tuple[x509.Certificate, ...]
    webpki: ssl.SSLContext
    probe: ssl.SSLContext

    @functools.cached_property
    def store(self) -> Store | tuple[x509.Certificate, ...]:
        """The anchors as a verification Store, built once (empty: no store)."""
        return Store(list(self.anchors)) if self.anchors else self.anchors

    @classmethod
    def load(cls, ca_file: str | None = None, include_system: bool = True) -> Trust:
        """Raises OSError/ValueError naming the file when `ca_file` is unusable."""
        extra = b""
        if ca_file:
            extra = Path(ca_file).read_bytes()
            if not load_pem_bundle(extra):
                raise ValueError(f"{ca_file}: no PEM certificate found")
        anchors = load_pem_bundle(_system_bundle() if include_system else b"") + load_pem_bundle(
            extra
        )
        return cls(tuple(anchors), _webpki_context(ca_file, include_system), _probe_context())


def _webpki_context(ca_file: str | None, include_system: bool) -> ssl.SSLContext:
    """WebPKI validation as RFC 8461 §3.3 requires for the policy host (and rua)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if include_system:
        context.load_default_certs()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8461 §7.2
    return context


def _probe_context() -> ssl.SSLContext:
    """STARTTLS probe: accept any chain and old versions, so both can be reported.

    The chain is judged afterwards (certs.analyze_chain); accepting TLS 1.0 here
    is what lets the checker say "this MX only speaks TLS 1.0" instead of
    "handshake failed".
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
