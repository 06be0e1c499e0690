"""The lab's scenario domains: one per finding code, plus clean ones.

Domain names say what is wrong with them; the expected findings live in
tests/check/test_check_lab.py.
"""

from __future__ import annotations

import dns.name
import dns.rdatatype

from checklab.https_server import HttpAnswer
from checklab.lab import Lab
from checklab.pki import CertKind
from checklab.zones import Addr, DomainSpec, MxSpec, PolicySpec, Tlsa

L = "lab.test"
POLICY_TEXT = "version: STSv1\nmode: enforce\nmx: mx.{d}\nmax_age: 604800\n"


def d(name: str) -> str:
    return f"{name}.{L}"


def policy_answer(name: str, **kw: object) -> HttpAnswer:
    body = POLICY_TEXT.format(d=d(name)).encode()
    return HttpAnswer(**{"body": body, **kw})  # type: ignore[arg-type]


def spec(name: str, **kw: object) -> DomainSpec:
    return DomainSpec(d(name), **kw)  # type: ignore[arg-type]


def mx(name: str, **kw: object) -> tuple[MxSpec, ...]:
    return (MxSpec(f"mx.{d(name)}", **kw),)  # type: ignore[arg-type]


def dane(
    name: str,
    *tlsa: Tlsa,
    bogus: bool = False,
    signed: bool = True,
    no_tlsrpt: bool = False,
    **mx_kw: object,
) -> DomainSpec:
    """A DANE domain: TLS-RPT, no MTA-STS, an MX with TLSA records."""
    return spec(
        name,
        policy=None,
        signed=signed,
        no_tlsrpt=no_tlsrpt,
        mx=mx(name, tlsa=tlsa, tlsa_bogus=bogus, **mx_kw),
    )


def dane_alias(name: str, *tlsa: Tlsa, **mx_kw: object) -> DomainSpec:
    """A DANE domain whose MX host mx.<d> is a CNAME to smtp.<d> (same signed zone)."""
    return dane(name, *tlsa, alias_of=f"smtp.{d(name)}", **mx_kw)


def scenario_specs() -> list[DomainSpec]:
    return [
        # Everything right: TLS-RPT with a mailto and an https rua, MTA-STS
        # enforce covering the MX, an MX on IPv4 and IPv6 with a valid chain.
        spec(
            "clean",
            mx=mx("clean", ipv6=True),
            tlsrpt=(f"v=TLSRPTv1; rua=mailto:tlsrpt@{d('clean')},https://reports.{d('clean')}/v1",),
        ),
        # RFC 8460 §3: a record split into two character-strings is one record.
        spec("split-txt", tlsrpt=(("v=TLSRPTv1; rua=mailto:tls@spl", f"it-txt.{L}"),)),
        # Answers over 1232 bytes: truncated over UDP, asked again over TCP.
        spec(
            "big-txt",
            tlsrpt=(
                f"v=TLSRPTv1; rua=mailto:tls@{d('big-txt')}",
                *(f"filler-{i}-" + "x" * 240 for i in range(6)),
            ),
        ),
        # --- TLS-RPT -------------------------------------------------------
        spec("tlsrpt-missing", no_tlsrpt=True),
        spec(
            "tlsrpt-multiple",
            tlsrpt=(
                f"v=TLSRPTv1; rua=mailto:a@{d('tlsrpt-multiple')}",
                f"v=TLSRPTv1; rua=mailto:b@{d('tlsrpt-multiple')}",
            ),
        ),
        spec("tlsrpt-invalid", tlsrpt=("v=TLSRPTv1;",)),
        # Two rua fields: mox reports to both, checkdmarc reads the first,
        # Mimecast's library the last (docs/conformance.md#sender-compatibility).
        spec(
            "tlsrpt-two-rua",
            tlsrpt=(
                f"v=TLSRPTv1; rua=mailto:a@{d('tlsrpt-two-rua')}; "
                f"rua=mailto:b@{d('tlsrpt-two-rua')}",
            ),
        ),
        spec("rua-mailto-dead", tlsrpt=(f"v=TLSRPTv1; rua=mailto:tls@nomail.{L}",)),
        spec(
            "rua-https-badcert",
            tlsrpt=(f"v=TLSRPTv1; rua=https://reports.{d('rua-https-badcert')}/v1",),
        ),
        spec(
            "rua-partly-dead",
            tlsrpt=(f"v=TLSRPTv1; rua=mailto:tls@{d('rua-partly-dead')},mailto:tls@nomail.{L}",),
        ),
        # --- MTA-STS record ------------------------------------------------
        spec("sts-missing", policy=None),
        spec("sts-multiple", sts=("v=STSv1; id=1", "v=STSv1; id=2")),
        spec("sts-record-bad", sts=("v=STSv1; id=2024-05-01",)),
        spec(
            "sts-cname",
            sts=(),
            extra=((f"_mta-sts.{d('sts-cname')}", "CNAME", f"_mta-sts.provider.{L}."),),
        ),
        # --- MTA-STS policy fetch (RFC 8461 §3.3) --------------------------
        spec("policy-unreachable", policy=PolicySpec(address=Addr.HTTPS_CLOSED)),
        spec("policy-404", policy=PolicySpec(answer=HttpAnswer(404, "Not Found", body=b"no"))),
        spec("policy-slow", policy=PolicySpec(answer=policy_answer("policy-slow", delay=8.0))),
        spec(
            "policy-oversized",
            policy=PolicySpec(
                answer=policy_answer(
                    "policy-oversized",
                    body=POLICY_TEXT.format(d=d("policy-oversized")).encode()
                    + b"x-pad: "
                    + b"a" * 70_000
                    + b"\n",
                )
            ),
        ),
        spec(
            "policy-redirect",
            policy=PolicySpec(
                answer=HttpAnswer(
                    301,
                    "Moved Permanently",
                    location=f"https://www.{d('policy-redirect')}/mta-sts.txt",
                )
            ),
        ),
        spec(
            "policy-html",
            policy=PolicySpec(
                answer=policy_answer("policy-html", content_type="text/html; charset=utf-8")
            ),
        ),
        spec(
            "policy-invalid",
            policy=PolicySpec(answer=HttpAnswer(body=b"version: STSv1\nmode: enforce\n")),
        ),
        # max_age over a year: postfix-mta-sts-resolver rejects the policy,
        # mox and maddy cache it for the full time.
        spec(
            "policy-max-age-year",
            policy=PolicySpec(
                answer=policy_answer(
                    "policy-max-age-year",
                    body=POLICY_TEXT.format(d=d("policy-max-age-year"))
                    .replace("604800", "40000000")
                    .encode(),
                )
            ),
        ),
        spec("policy-expired-cert", policy=PolicySpec(cert=CertKind.EXPIRED)),
        spec("policy-wrong-name", policy=PolicySpec(cert=CertKind.WRONG_NAME)),
        spec("policy-untrusted", policy=PolicySpec(cert=CertKind.UNTRUSTED)),
        # --- MTA-STS mode and coverage ------------------------------------
        spec("mode-testing", policy=PolicySpec(mode="testing")),
        spec(
            "mode-testing-expired",
            policy=PolicySpec(mode="testing"),
            mx=mx("mode-testing-expired", cert=CertKind.EXPIRED),
        ),
        spec("mode-none", policy=PolicySpec(mode="none", patterns=())),
        spec("mx-not-covered", policy=PolicySpec(patterns=(f"mx.elsewhere.{L}",))),
        spec("mx-two-labels", policy=PolicySpec(patterns=(f"*.{L}",))),
        # --- MX ---------------------------------------------------------
        spec("no-mx", mx=(), policy=None, apex_addresses=(Addr.SMTP,)),
        spec("no-mail", mx=(), policy=None, no_tlsrpt=True),
        spec("null-mx", null_mx=True, policy=None, no_tlsrpt=True),
        spec("mx-closed", mx=mx("mx-closed", server="closed")),
        spec(
            "mx-half-closed",
            mx=(
                MxSpec(f"mx.{d('mx-half-closed')}"),
                MxSpec(f"mx2.{d('mx-half-closed')}", preference=20, server="closed"),
            ),
        ),
        spec("mx-no-address", mx=mx("mx-no-address", server="none")),
        spec("mx-plain", mx=mx("mx-plain", server="plain")),
        spec("mx-plain-no-policy", mx=mx("mx-plain-no-policy", server="plain"), policy=None),
        spec("mx-expired", mx=mx("mx-expired", cert=CertKind.EXPIRED)),
        spec("mx-expiring", mx=mx("mx-expiring", cert=CertKind.EXPIRING)),
        spec("mx-untrusted", mx=mx("mx-untrusted", cert=CertKind.UNTRUSTED)),
        spec(
            "mx-untrusted-no-policy",
            mx=mx("mx-untrusted-no-policy", cert=CertKind.UNTRUSTED),
            policy=None,
        ),
        spec("mx-wrong-name", mx=mx("mx-wrong-name", cert=CertKind.WRONG_NAME)),
        spec("mx-old-tls", mx=mx("mx-old-tls", server="old-tls")),
        spec("mx-tls-broken", mx=mx("mx-tls-broken", cert=CertKind.HANDSHAKE_FAILURE)),
        spec("mx-servfail", policy=None),
        # Two domains on one provider MX: probed once per run.
        spec("shared-one", mx=(MxSpec(f"mx.provider.{L}"),)),
        spec("shared-two", mx=(MxSpec(f"mx.provider.{L}"),)),
        # --- DANE (signed zones behind the validating resolver) ----------
        dane("dane-ok", Tlsa(3, 1, 1)),
        dane("dane-ta", Tlsa(2, 0, 1, "intermediate")),
        dane("dane-mismatch", Tlsa(3, 1, 1, "garbage")),
        dane("dane-bogus", Tlsa(3, 1, 1), bogus=True),
        # Bogus TLSA: the domain uses DANE (and fails it), so TLS-RPT matters.
        dane("dane-bogus-no-tlsrpt", Tlsa(3, 1, 1), bogus=True, no_tlsrpt=True),
        dane("dane-unusable", Tlsa(1, 1, 1)),
        dane("dane-insecure", Tlsa(3, 1, 1), signed=False),
        # RFC 7672 §3.2.2: DANE-TA(2) checks the certificate's name, DANE-EE(3) does not.
        dane("dane-ta-wrong-name", Tlsa(2, 0, 1, "intermediate"), cert=CertKind.WRONG_NAME),
        dane("dane-ee-wrong-name", Tlsa(3, 1, 1), cert=CertKind.WRONG_NAME),
        # RFC 7672 §2.2.3: the MX host is an alias; TLSA at the expanded name
        # comes first (a wrong record at the alias shows if it was used instead),
        # the alias's own TLSA when the expanded name has none. The server has a
        # certificate per SNI name and the TLSA record fits the expanded name's,
        # which DANE senders ask for (RFC 7672 §8.1).
        dane_alias("dane-cname", Tlsa(3, 1, 1), alias_tlsa=(Tlsa(3, 1, 1, "garbage"),)),
        dane_alias("dane-cname-fallback", alias_tlsa=(Tlsa(3, 1, 1),)),
        # ... and with DANE-TA(2), the expanded name is a reference identifier
        # (RFC 7672 §3.2.2): a certificate for smtp.<d> only, served for mx.<d>.
        dane_alias(
            "dane-cname-ta",
            Tlsa(2, 0, 1, "intermediate"),
            cert_name=f"smtp.{d('dane-cname-ta')}",
        ),
        spec("mx-bogus", policy=None, signed=True),
    ]


SITE_LOCAL = "fec0::1"  # IPv6 site-local (RFC 3879): not loopback, never to be contacted
PRIVATE = "10.0.0.1"


def refused_specs() -> list[DomainSpec]:
    """Domains whose every host is an address the checker must refuse.

    Not among `scenario_specs`: these must never be checked with
    --allow-private-addresses, since fec0::1 and 10.0.0.1 are not loopback
    addresses and a connection there would leave the machine.
    """
    return [
        # Names that resolve to a site-local address: MX, policy host, https rua.
        spec(
            "ssrf-names",
            mx=mx("ssrf-names", server="custom", addresses=(SITE_LOCAL,)),
            policy=PolicySpec(address=SITE_LOCAL),
            tlsrpt=(f"v=TLSRPTv1; rua=https://reports.{d('ssrf-names')}/v1",),
        ),
        # Addresses where names belong: as MX targets and as https rua hosts.
        spec(
            "ssrf-literal",
            mx=(MxSpec(SITE_LOCAL, 10), MxSpec(PRIVATE, 20)),
            policy=None,
            tlsrpt=(f"v=TLSRPTv1; rua=https://[{SITE_LOCAL}]/x,https://{PRIVATE}/",),
        ),
    ]


def add_scenarios(lab: Lab) -> None:
    # A provider zone: a shared MX and a delegated MTA-STS record (RFC 8461 §8.2).
    lab.add_mx_host(MxSpec(f"mx.provider.{L}"))
    lab.zones.add(f"_mta-sts.provider.{L}", "TXT", '"v=STSv1; id=20240601"')
    for domain_spec in (*scenario_specs(), *refused_specs()):
        lab.add_domain(domain_spec)
    lab.zones.add_addresses(f"reports.{d('ssrf-names')}", (SITE_LOCAL,))
    lab.zones.tamper(d("mx-bogus"), "MX", f"10 mx.elsewhere.{L}.")
    lab.dns.servfail.add((dns.name.from_text(d("mx-servfail")), dns.rdatatype.MX))
    lab.https.serve(f"reports.{d('clean')}", None, CertKind.VALID)
    lab.zones.add_addresses(f"reports.{d('clean')}", (Addr.HTTPS,))
    lab.https.serve(f"reports.{d('rua-https-badcert')}", None, CertKind.EXPIRED)
    lab.zones.add_addresses(f"reports.{d('rua-https-badcert')}", (Addr.HTTPS,))
