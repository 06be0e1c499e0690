"""Parse, validate and generate the TLSRPT and MTA-STS DNS records and the
MTA-STS policy file; match MX hosts against policy patterns. Pure functions,
no I/O (RFC 8460 §3; RFC 8461 §3.1, §3.2, §4.1).

Results
-------
Every parser returns its problems; none raises on bad input.

- `Problem(code, severity, message, position)`: `severity` is
  `Severity.ERROR` or `Severity.WARNING` (`tlsrpt.severity`, a StrEnum
  equal to "error" and "warning"); `code` is a stable string (all of them, with their meaning, in
  `CODES` and in the README); `position` is a 0-based character offset into
  the parsed text, or None.
- `Parsed(value, problems)`: a NamedTuple, so `record, problems = ...`
  works. `value` is None exactly when there is an error; warnings mark
  legal but risky content. `.valid` is `value is not None`.
- `Selected(value, problems, text)`: the same for picking a record among
  several TXT RRs; `text` is the chosen RR's concatenated text (what the
  positions refer to), or None when not exactly one RR was a candidate.

`_smtp._tls` TXT record (RFC 8460 §3)
-------------------------------------
- `parse_tlsrpt_record(text, *, domain=None, strict=True) -> Parsed[TlsRptRecord]`
- `select_tlsrpt_record(txt_rrs, *, domain=None, name=None, strict=True)
  -> Selected[TlsRptRecord]`: each RR is a str, bytes or a list of
  character-strings (dnspython's `rdata.strings`); they are concatenated,
  RRs not beginning with `v=TLSRPTv1;` (whitespace allowed before the ';')
  dropped, and unless exactly one is left the domain has no TLSRPT.
  `name` is the owner name (warns about `_smtp-tlsrpt`, gives the domain).
- `check_tlsrpt_name(name) -> (domain | None, problems)`: the policy domain
  of an owner name; warns about the draft-era `_smtp-tlsrpt` label.
- `generate_tlsrpt_record(rua, extensions=None) -> str`
- `TlsRptRecord(rua, extensions, ignored_rua)`, `.mailto_addresses()`,
  `.https_urls()`.

`_mta-sts` TXT record (RFC 8461 §3.1)
-------------------------------------
- `parse_sts_record(text, *, strict=True) -> Parsed[StsRecord]`
- `select_sts_record(txt_rrs, *, strict=True) -> Selected[StsRecord]`
- `generate_sts_record(policy_id, extensions=None) -> str`
- `StsRecord(id, extensions)`

`mta-sts.txt` policy (RFC 8461 §3.2)
------------------------------------
- `parse_sts_policy(data: str | bytes, *, strict=False) -> Parsed[StsPolicy]`
- `generate_sts_policy(mode, mx, max_age=604800, extensions=None) -> str`
- `StsPolicy(mode, max_age, mx, extensions, version)`, `.covers(host)`

MX matching (RFC 8461 §4.1)
---------------------------
- `match_mx(host, patterns) -> MxMatch(covered, pattern, reason)`
- `mx_pattern_error(pattern) -> str | None`

TXT values
----------
- `txt_value(rr) -> str`: one RR's character-strings concatenated.
- `txt_presentation(value) -> str`: `"…" "…"` for a zone file, split into
  strings of at most 255 bytes.

Strict and lenient
------------------
`strict=True` applies the RFC grammar; `strict=False` turns the violations
that senders commonly tolerate into warnings (same codes) and skips the
offending part: for the TXT records malformed URIs and extensions, empty
fields and trailing whitespace. The RFCs discard an invalid TXT record, so the
TXT parsers default to strict.

The policy parser has three readings: `strict=True`; the default, where a
violation that a widely used sender rejects (blank line, line without ':',
bad key, empty extension value, trailing dot in mx, max_age above 31557600)
is an error; and `tolerant=True`, the reading of the most tolerant senders
(all of those are warnings, max_age is clamped).

Sender compatibility (`tlsrpt.records.compat`)
----------------------------------------------
- `sender_compat(kind, data, *, txt_rrs=()) -> Compat`: which real
  implementations (postfix-mta-sts-resolver, mox, maddy, checkdmarc,
  mimecast's library, and the RFC grammar) accept, reject or read differently
  a record or policy: `Compat.verdicts` (`SenderVerdict(implementation,
  verdict, reason)`) and `Compat.problems` (`sts-policy-rejected-by-senders`,
  `record-read-differently`). The table is `compat_rules.RULES`.
"""

from __future__ import annotations

from tlsrpt.records.mx import MxMatch, match_mx, mx_pattern_error
from tlsrpt.records.problems import CODES, Parsed, Problem, Selected, Severity
from tlsrpt.records.sts_policy import (
    MAX_AGE_LIMIT,
    MAX_POLICY_BYTES,
    Mode,
    StsPolicy,
    generate_sts_policy,
    parse_sts_policy,
)
from tlsrpt.records.sts_record import (
    StsRecord,
    generate_sts_record,
    parse_sts_record,
    select_sts_record,
)
from tlsrpt.records.tlsrpt_record import (
    TlsRptRecord,
    check_tlsrpt_name,
    generate_tlsrpt_record,
    parse_tlsrpt_record,
    select_tlsrpt_record,
)
from tlsrpt.records.txt import TxtRR, txt_presentation, txt_value

__all__ = [
    "CODES",
    "MAX_AGE_LIMIT",
    "MAX_POLICY_BYTES",
    "Mode",
    "MxMatch",
    "Parsed",
    "Problem",
    "Selected",
    "Severity",
    "StsPolicy",
    "StsRecord",
    "TlsRptRecord",
    "TxtRR",
    "check_tlsrpt_name",
    "generate_sts_policy",
    "generate_sts_record",
    "generate_tlsrpt_record",
    "match_mx",
    "mx_pattern_error",
    "parse_sts_policy",
    "parse_sts_record",
    "parse_tlsrpt_record",
    "select_sts_record",
    "select_tlsrpt_record",
    "txt_presentation",
    "txt_value",
]

from tlsrpt.records.compat import Compat, SenderVerdict, sender_compat

__all__ += ["Compat", "SenderVerdict", "sender_compat"]
