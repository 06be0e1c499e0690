"""Certificates for the lab: one test CA (trusted via --ca-file), an
intermediate under it, and a rogue CA nobody trusts."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from enum import StrEnum
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


class CertKind(StrEnum):
    VALID = "valid"  # lab CA -> intermediate -> leaf, valid for the name
    EXPIRED = "expired"
    EXPIRING = "expiring"  # valid, 5 days left
    WRONG_NAME = "wrong-name"  # valid chain, issued for another name
    UNTRUSTED = "untrusted"  # issued by the rogue CA
    HANDSHAKE_FAILURE = "handshake-failure"  # SMTP: STARTTLS offered, handshake aborted


EXPIRING_DAYS_LEFT = 5


class LabPki:
    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA(organization_name="tlsrpt lab root")
        self.intermediate = self.ca.create_child_ca()
        self.rogue = trustme.CA(organization_name="tlsrpt lab rogue root")
        self.ca_file = directory / "lab-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._leaves: dict[tuple[str, CertKind], trustme.LeafCert] = {}
        # SNI name -> the name its certificate is issued for, when they differ
        # (an MX alias serving the certificate of its CNAME target); names
        # issued for the same name get the same certificate.
        self.issued_for: dict[str, str] = {}
        self._contexts: dict[tuple[str, CertKind, bool], ssl.SSLContext] = {}

    def leaf(self, name: str, kind: CertKind) -> trustme.LeafCert:
        """The certificate presented for SNI `name` (issued for `issued_for[name]`, if set)."""
        name = self.issued_for.get(name, name)
        key = (name, kind)
        if key not in self._leaves:
            now = dt.datetime.now(dt.UTC)
            if kind == CertKind.EXPIRED:
                cert = self.intermediate.issue_cert(
                    name,
                    not_before=now - dt.timedelta(days=90),
                    not_after=now - dt.timedelta(days=2),
                )
            elif kind == CertKind.EXPIRING:
                cert = self.intermediate.issue_cert(
                    name,
                    not_before=now - dt.timedelta(days=80),
                    not_after=now + dt.timedelta(days=EXPIRING_DAYS_LEFT, hours=12),
                )
            elif kind == CertKind.WRONG_NAME:
                cert = self.intermediate.issue_cert(f"not-{name}")
            elif kind == CertKind.UNTRUSTED:
                cert = self.rogue.issue_cert(name)
            else:
                cert = self.intermediate.issue_cert(name)
            self._leaves[key] = cert
        return self._leaves[key]

    def reissue(
        self, name: str, not_after: dt.datetime, kind: CertKind = CertKind.VALID
    ) -> list[bytes]:
        """A new certificate for SNI `name` (a renewal: same name and CA, a new
        key and expiry), served from the next handshake on. Returns its chain."""
        self._leaves[(name, kind)] = self.intermediate.issue_cert(name, not_after=not_after)
        for key in [k for k in self._contexts if k[:2] == (name, kind)]:
            del self._contexts[key]
        return self.chain_der(name, kind)

    def chain_der(self, name: str, kind: CertKind) -> list[bytes]:
        """The chain the lab serves for (name, kind), leaf first, as DER."""
        return [
            x509.load_pem_x509_certificate(pem.bytes()).public_bytes(Encoding.DER)
            for pem in self.leaf(name, kind).cert_chain_pems
        ]

    def server_context(self, name: str, kind: CertKind, old_tls: bool = False) -> ssl.SSLContext:
        key = (name, kind, old_tls)
        if key not in self._contexts:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.leaf(name, kind).configure_cert(context)
            if old_tls:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    context.minimum_version = ssl.TLSVersion.TLSv1
                    context.maximum_version = ssl.TLSVersion.TLSv1_1
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
            self._contexts[key] = context
        return self._contexts[key]
