"""What each RFC 8460 §4.3 result type means, why it happens and how to fix it.

Data, not prose in templates: `EXPLANATIONS` holds one `Explanation` per
type in the IANA "STARTTLS Validation Result Types" registry (RFC 8460
§6.6, docs/conformance.md#result-types), and `explain()` falls back to a generic entry
for anything else a sender writes (RFC 8460 §6.6 keeps such strings verbatim).

`lost_under_enforce` says whether a failure of that type becomes mail that
is not delivered once the MTA-STS policy moves from `testing` to `enforce`
(RFC 8461 §5.1); the readiness verdict counts those failures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Explanation:
    result_type: str
    title: str
    category: str  # negotiation, dane-policy, sts-policy, unknown (RFC 8460 §4.3.x)
    meaning: str
    causes: tuple[str, ...]
    fixes: tuple[str, ...]
    lost_under_enforce: bool
    registered: bool = True


def _e(
    result_type: str,
    title: str,
    category: str,
    meaning: str,
    causes: tuple[str, ...],
    fixes: tuple[str, ...],
    lost_under_enforce: bool,
) -> Explanation:
    return Explanation(result_type, title, category, meaning, causes, fixes, lost_under_enforce)


_DANE_SCOPE = (
    "DANE is enforced by the sender whatever the MTA-STS mode, so this mail is "
    "already at risk today; it does not depend on switching to enforce."
)

# IANA registry order (docs/conformance.md#result-types).
EXPLANATIONS: dict[str, Explanation] = {
    e.result_type: e
    for e in (
        # RFC 8460 §4.3.1: negotiation failures
        _e(
            "starttls-not-supported",
            "STARTTLS not offered",
            "negotiation",
            "The receiving MX did not advertise STARTTLS, so no TLS session was possible.",
            (
                "STARTTLS disabled or not configured on the MX",
                "a middlebox or firewall stripping STARTTLS from the EHLO reply",
                "the connection reached a different host than the intended MX",
            ),
            (
                "enable STARTTLS with a valid certificate on every MX listed in the policy",
                "check that no proxy or security appliance rewrites the EHLO response",
            ),
            lost_under_enforce=True,
        ),
        _e(
            "certificate-host-mismatch",
            "Certificate does not match the MX name",
            "negotiation",
            "The certificate presented does not cover the MX hostname required by the "
            "MTA-STS or DANE policy (the name is missing from the subject alternative names).",
            (
                "a certificate issued for another name (e.g. the provider's default host)",
                "an MX added to DNS without reissuing the certificate",
                "a wildcard certificate that does not cover the MX's label depth",
            ),
            (
                "issue a certificate whose SAN includes every MX hostname",
                "make each MX serve that certificate on port 25 (check SNI handling)",
            ),
            lost_under_enforce=True,
        ),
        _e(
            "certificate-expired",
            "Certificate expired",
            "negotiation",
            "The certificate presented by the MX has expired.",
            (
                "automatic renewal failed or the renewed certificate was not deployed",
                "the mail server was not reloaded after renewal",
            ),
            (
                "renew the certificate and reload the mail server on every MX",
                "monitor certificate expiry on port 25, not only on HTTPS",
            ),
            lost_under_enforce=True,
        ),
        _e(
            "tlsa-invalid",
            "TLSA record does not validate",
            "dane-policy",
            "None of the DANE TLSA records for the MX matched the certificate chain "
            "presented, or none was usable. " + _DANE_SCOPE,
            (
                "certificate or key rolled over without publishing the new TLSA record first",
                "TLSA record with wrong usage, selector or matching type",
            ),
            (
                "publish TLSA records for the new key before deploying it (3 1 1 on the key "
                "survives renewals that keep the key)",
                "verify the TLSA RRset against the served chain",
            ),
            lost_under_enforce=False,
        ),
        _e(
            "dnssec-invalid",
            "DNSSEC validation failed",
            "dane-policy",
            "The sender's validating resolver returned no valid (DNSSEC-authenticated) "
            "records for the TLSA lookup. " + _DANE_SCOPE,
            (
                "expired RRSIG signatures or a broken DS/DNSKEY chain",
                "a DNS provider that mishandles DNSSEC for the TLSA name",
            ),
            (
                "check the zone's DNSSEC chain with a validating resolver",
                "fix signing automation and re-sign the zone",
            ),
            lost_under_enforce=False,
        ),
        _e(
            "dane-required",
            "DANE required but unavailable",
            "dane-policy",
            "The sender's local policy requires DANE for this destination, but the MX had "
            "no DNSSEC-validated TLSA records (RFC 7672 §6). " + _DANE_SCOPE,
            (
                "TLSA records removed or the zone left unsigned",
                "an MX in an unsigned zone",
            ),
            (
                "publish DNSSEC-signed TLSA records for every MX",
                "or ask the sender to drop its DANE requirement for the domain",
            ),
            lost_under_enforce=False,
        ),
        _e(
            "certificate-not-trusted",
            "Certificate not trusted",
            "negotiation",
            "The certificate chain could not be validated: unknown or untrusted CA, "
            "self-signed certificate, missing intermediate or similar; the "
            "failure-reason-code usually names the exact error.",
            (
                "a self-signed or private-CA certificate",
                "the intermediate certificate not sent by the server",
            ),
            (
                "use a certificate from a publicly trusted CA",
                "serve the full chain (leaf plus intermediates)",
            ),
            lost_under_enforce=True,
        ),
        # RFC 8460 §4.3.2.2: MTA-STS policy failures
        _e(
            "sts-policy-invalid",
            "MTA-STS policy invalid",
            "sts-policy",
            "The MTA-STS policy file was fetched but could not be parsed or validated.",
            (
                "a syntax error in mta-sts.txt (missing version, mode or max_age)",
                "CRLF/LF or encoding problems, an HTML error page served as the policy",
            ),
            (
                "serve a policy that validates: version: STSv1, mode, mx lines, max_age",
                "serve it as text/plain at /.well-known/mta-sts.txt",
            ),
            lost_under_enforce=True,
        ),
        _e(
            "sts-webpki-invalid",
            "MTA-STS policy host certificate invalid",
            "sts-policy",
            "The HTTPS certificate of mta-sts.<domain> failed PKIX validation, so the "
            "policy could not be authenticated.",
            (
                "the mta-sts host certificate expired or does not cover mta-sts.<domain>",
                "a CDN or hosting default certificate served for the policy host",
            ),
            ("issue a publicly trusted certificate for mta-sts.<domain> and renew it",),
            lost_under_enforce=True,
        ),
        # RFC 8460 §4.3.3: general failure
        _e(
            "validation-failure",
            "Other validation failure",
            "negotiation",
            "A failure that fits no other category; the failure-reason-code should say "
            "what happened (some senders use it for MX names not covered by the policy).",
            (
                "the MX is not matched by any mx line of the MTA-STS policy",
                "a TLS handshake failure (protocol or cipher mismatch)",
            ),
            (
                "read the failure-reason-code; make the policy's mx lines cover every MX",
                "support TLS 1.2 or later with common cipher suites",
            ),
            lost_under_enforce=True,
        ),
        _e(
            "sts-policy-fetch-error",
            "MTA-STS policy could not be fetched",
            "sts-policy",
            "The sender could not retrieve the MTA-STS policy over HTTPS (unreachable "
            "host, timeout, redirect, non-200 answer).",
            (
                "no A/AAAA record for mta-sts.<domain> or the host is down",
                "HTTP redirects (forbidden by RFC 8461 §3.3), slow responses, 404",
            ),
            (
                "serve the policy directly, with status 200, without redirects",
                "monitor https://mta-sts.<domain>/.well-known/mta-sts.txt",
            ),
            lost_under_enforce=True,
        ),
    )
}


def explain(result_type: str) -> Explanation:
    """The explanation of a result type; unregistered types get a generic one."""
    known = EXPLANATIONS.get(result_type)
    if known is not None:
        return known
    return Explanation(
        result_type=result_type,
        title="Unregistered result type",
        category="unknown",
        meaning="The sender reported a result type that is not in the IANA registry "
        "(RFC 8460 §6.6); its meaning is defined only by that sender.",
        causes=("a sender-specific or newer result type", "a sender bug (e.g. an empty type)"),
        fixes=(
            "read the failure-reason-code and additional-information of the report",
            "ask the reporting organization what the type means",
        ),
        lost_under_enforce=True,  # unknown: assume the worst until explained
        registered=False,
    )
