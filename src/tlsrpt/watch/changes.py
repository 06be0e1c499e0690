"""What changed between two snapshots of a domain. Pure.

Each change has a stable `kind` (below), a `subject` (the MX host, or
None for the domain as a whole), a one-line `summary` for people
("certificate of mx1.example.com renewed, expires 2027-03-01") and
`details` with the values before and after.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tlsrpt.watch.snapshot import Snapshot

KINDS: dict[str, str] = {
    "tlsrpt-record-changed": "the `_smtp._tls` TXT records (or their lookup) changed",
    "sts-record-changed": "the `_mta-sts` TXT records (or their lookup) changed, e.g. a new id",
    "sts-policy-changed": "the MTA-STS policy changed and so did the id (or only its text changed)",
    "sts-policy-changed-without-id-change": (
        "the policy's mode, mx or max_age changed but the id did not: senders keep the "
        "policy they cached (RFC 8461 §3.1)"
    ),
    "sts-policy-unavailable": "the policy was fetched and valid, now it is not",
    "sts-policy-available": "a valid policy is fetched where there was none",
    "sts-policy-fetch-changed": "the policy still cannot be used, for another reason",
    "policy-host-certificate-renewed": (
        "the policy host serves a certificate for the same names that expires later"
    ),
    "policy-host-certificate-replaced": "the policy host serves a certificate for other names",
    "mx-added": "an MX host was added",
    "mx-removed": "an MX host was removed",
    "mx-set-changed": "the MX hosts or their preferences changed (once per change, with coverage)",
    "mx-addresses-changed": "an MX host's addresses changed",
    "mx-tls-changed": "STARTTLS, the TLS version or the TLS error of an MX address changed",
    "certificate-renewed": "an MX serves a certificate for the same names that expires later",
    "certificate-replaced": "an MX serves a certificate for other names (or an older one)",
    "tlsa-changed": "an MX host's TLSA records (or their lookup) changed",
    "finding-appeared": "a finding the previous check did not have",
    "finding-cleared": "a finding of the previous check is gone",
    "finding-severity-changed": "a finding stays but its severity changed",
}


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    subject: str | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "summary": self.summary,
            "details": self.details,
        }


def diff(before: Snapshot, after: Snapshot) -> list[Change]:
    """Every change from `before` to `after`, records first, findings last."""
    return [
        *_record_change("tlsrpt-record-changed", "TLS-RPT record", before, after, "tlsrpt"),
        *_record_change("sts-record-changed", "MTA-STS record", before, after, "sts"),
        *_policy_changes(before, after),
        *_mx_set_changes(before, after),
        *_per_mx_changes(before, after),
        *_finding_changes(before.get("findings") or [], after.get("findings") or []),
    ]


def _joined(records: Iterable[str]) -> str:
    return " | ".join(records) or "(none)"


def _record_change(
    kind: str, label: str, before: Snapshot, after: Snapshot, key: str
) -> list[Change]:
    b, a = before.get(key) or {}, after.get(key) or {}
    if b == a:
        return []
    b_records, a_records = b.get("records") or [], a.get("records") or []
    if a.get("status") == "error" and b.get("status") != "error":
        summary = f"{label} lookup fails"
    elif b.get("status") == "error" and b_records == a_records:
        summary = f"{label} lookup works again"
    elif b_records == a_records:
        summary = f"{label} lookup: {b.get('status')} -> {a.get('status')}"
    elif not b_records:
        summary = f"{label} published: {_joined(a_records)}"
    elif not a_records:
        summary = f"{label} removed (was {_joined(b_records)})"
    elif b.get("id") and a.get("id") and b.get("id") != a.get("id"):
        summary = f"{label} changed: id {b['id']} -> {a['id']}"
    else:
        summary = f"{label} changed: {_joined(b_records)} -> {_joined(a_records)}"
    return [Change(kind, None, summary, {"before": b, "after": a})]


# --- the policy -------------------------------------------------------------


def _valid(policy: dict[str, Any] | None) -> bool:
    """Fetched and valid: only then has it a mode (tlsrpt.watch.snapshot)."""
    return bool(policy) and policy.get("mode") is not None  # type: ignore[union-attr]


def _policy_problem(policy: dict[str, Any] | None) -> str:
    if policy is None:
        return "not fetched (no valid MTA-STS record)"
    if policy.get("error"):
        return str(policy["error"])
    if policy.get("status") != 200:
        return f"status {policy.get('status')}"
    return "the policy is invalid"


def _policy_fields(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: policy.get(k) for k in ("mode", "mx", "max_age")}


def _what_changed(b: dict[str, Any], a: dict[str, Any]) -> str:
    parts = []
    if b.get("mode") != a.get("mode"):
        parts.append(f"mode {b.get('mode')} -> {a.get('mode')}")
    added = sorted(set(a.get("mx") or ()) - set(b.get("mx") or ()))
    removed = sorted(set(b.get("mx") or ()) - set(a.get("mx") or ()))
    if added:
        parts.append("mx added " + ", ".join(added))
    if removed:
        parts.append("mx removed " + ", ".join(removed))
    if b.get("max_age") != a.get("max_age"):
        parts.append(f"max_age {b.get('max_age')} -> {a.get('max_age')}")
    return "; ".join(parts)


def _policy_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    b, a = before.get("policy"), after.get("policy")
    details = {"before": b, "after": a}
    if b == a:
        return []
    if _valid(b) and not _valid(a):
        summary = f"MTA-STS policy no longer available: {_policy_problem(a)}"
        return [Change("sts-policy-unavailable", None, summary, details)]
    if not _valid(b) and _valid(a):
        assert a is not None
        summary = f"MTA-STS policy available: mode {a['mode']}, mx {', '.join(a['mx'])}"
        return [Change("sts-policy-available", None, summary, details)]
    if not _valid(b):
        was, now = _policy_problem(b), _policy_problem(a)
        summary = f"MTA-STS policy still unusable: {was} -> {now}"
        if was == now:
            summary = f"MTA-STS policy still unusable ({now}), but what is served changed"
        return [Change("sts-policy-fetch-changed", None, summary, details)]
    assert a is not None
    assert b is not None
    changes = []
    b_id, a_id = before.get("sts", {}).get("id"), after.get("sts", {}).get("id")
    if _policy_fields(b) != _policy_fields(a):
        what = _what_changed(b, a)
        if b_id == a_id:
            summary = (
                f"MTA-STS policy changed, id unchanged ({what}): senders that cached the "
                "old policy keep it until its max_age runs out"
            )
            kind = "sts-policy-changed-without-id-change"
        else:
            summary = f"MTA-STS policy changed ({what}), id {b_id} -> {a_id}"
            kind = "sts-policy-changed"
        changes.append(Change(kind, None, summary, details))
    elif b.get("text") != a.get("text"):
        summary = "MTA-STS policy text changed (same mode, mx and max_age)"
        changes.append(Change("sts-policy-changed", None, summary, {**details, "text_only": True}))
    host = str(a.get("url", "")).split("/")[2].split(":")[0] if a.get("url") else None
    cert = _certificate_change(
        host or "the policy host", b.get("certificate"), a.get("certificate")
    )
    if cert is not None:
        kind, summary, cert_details = cert
        changes.append(Change(f"policy-host-{kind}", host, summary, cert_details))
    return changes


# --- certificates -----------------------------------------------------------


def _date(cert: dict[str, Any]) -> str:
    return str(cert["not_after"])[:10]


def _certificate_change(
    host: str, b: dict[str, Any] | None, a: dict[str, Any] | None
) -> tuple[str, str, dict[str, Any]] | None:
    """("certificate-renewed" | "certificate-replaced", summary, details), or
    None when there is no certificate on one side or it is the same."""
    if b is None or a is None or b["sha256"] == a["sha256"]:
        return None
    details = {"before": b, "after": a}
    # The names it is valid for decide (the subject's other fields may change).
    same_names = b["sans"] == a["sans"] if b["sans"] or a["sans"] else b["subject"] == a["subject"]
    if same_names and a["not_after"] > b["not_after"]:
        return "certificate-renewed", f"certificate of {host} renewed, expires {_date(a)}", details
    names = ", ".join(a["sans"]) or a["subject"]
    return (
        "certificate-replaced",
        f"certificate of {host} replaced: now for {names}, issued by {a['issuer']}, "
        f"expires {_date(a)}",
        details,
    )


# --- MX ---------------------------------------------------------------------


def _mx_map(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    return {mx["host"]: mx for mx in snapshot.get("mx") or ()}


def _uncovered(snapshot: Snapshot) -> list[str]:
    return sorted(
        f["subject"]
        for f in snapshot.get("findings") or ()
        if f["code"] == "sts-mx-not-covered" and f["subject"]
    )


def _mx_set_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    b, a = _mx_map(before), _mx_map(after)
    b_set = sorted((m["preference"], h) for h, m in b.items())
    a_set = sorted((m["preference"], h) for h, m in a.items())
    if b_set == a_set:
        return []
    added, removed = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    changes = [
        Change("mx-added", h, f"{h} added (preference {a[h]['preference']})", {"mx": a[h]})
        for h in added
    ]
    changes += [Change("mx-removed", h, f"{h} removed", {"mx": b[h]}) for h in removed]
    covered: bool | None = None
    if _valid(after.get("policy")) and after["policy"]["mode"] != "none":
        covered = not _uncovered(after)
    summary = "MX set changed: " + ", ".join(f"{h} ({p})" for p, h in b_set)
    summary += " -> " + (", ".join(f"{h} ({p})" for p, h in a_set) or "(none)")
    if covered is False:
        summary += "; the MTA-STS policy does not cover " + ", ".join(_uncovered(after))
    elif covered:
        summary += "; the MTA-STS policy covers every MX"
    details = {
        "before": [{"host": h, "preference": p} for p, h in b_set],
        "after": [{"host": h, "preference": p} for p, h in a_set],
        "added": added,
        "removed": removed,
        "covered": covered,
    }
    changes.append(Change("mx-set-changed", None, summary, details))
    return changes


def _tls_state(tls: dict[str, Any]) -> str:
    if tls.get("tls_version"):
        return str(tls["tls_version"])
    if tls.get("error"):
        return f"error: {tls['error']}"
    if not tls.get("starttls"):
        return "no STARTTLS"
    return "no TLS"


def _per_mx_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    b_map, a_map = _mx_map(before), _mx_map(after)
    changes: list[Change] = []
    for host in sorted(set(b_map) & set(a_map)):
        b, a = b_map[host], a_map[host]
        if b["addresses"] != a["addresses"]:
            plus = sorted(set(a["addresses"]) - set(b["addresses"]))
            minus = sorted(set(b["addresses"]) - set(a["addresses"]))
            summary = f"addresses of {host} changed:" + "".join(
                [*(f" +{x}" for x in plus), *(f" -{x}" for x in minus)]
            )
            changes.append(
                Change(
                    "mx-addresses-changed",
                    host,
                    summary,
                    {"before": b["addresses"], "after": a["addresses"]},
                )
            )
        changes += _tls_changes(host, b.get("tls") or [], a.get("tls") or [])
        if (b["tlsa"], b["tlsa_status"]) != (a["tlsa"], a["tlsa_status"]):
            summary = (
                f"TLSA records of {host} changed: {_joined(b['tlsa'])} -> {_joined(a['tlsa'])}"
            )
            if b["tlsa"] == a["tlsa"]:
                summary = f"TLSA lookup of {host}: {b['tlsa_status']} -> {a['tlsa_status']}"
            details = {
                k: {"records": m["tlsa"], "status": m["tlsa_status"]}
                for k, m in (("before", b), ("after", a))
            }
            changes.append(Change("tlsa-changed", host, summary, details))
    return changes


def _tls_changes(
    host: str, b_list: list[dict[str, Any]], a_list: list[dict[str, Any]]
) -> list[Change]:
    b_by, a_by = {t["address"]: t for t in b_list}, {t["address"]: t for t in a_list}
    changes: list[Change] = []
    # One certificate change per host and new certificate, whatever the number of addresses.
    certs: dict[tuple[str, str], list[str]] = {}
    cert_change: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}
    for address in sorted(set(b_by) & set(a_by)):
        b, a = b_by[address], a_by[address]
        if _tls_state(b) != _tls_state(a) or b["starttls"] != a["starttls"]:
            changes.append(
                Change(
                    "mx-tls-changed",
                    host,
                    f"{host} ({address}): {_tls_state(b)} -> {_tls_state(a)}",
                    {"address": address, "before": _tls_fields(b), "after": _tls_fields(a)},
                )
            )
        found = _certificate_change(host, b.get("certificate"), a.get("certificate"))
        if found is not None:
            key = (found[0], a["certificate"]["sha256"])
            certs.setdefault(key, []).append(address)
            cert_change[key] = found
    for key, addresses in certs.items():
        kind, summary, details = cert_change[key]
        changes.append(Change(kind, host, summary, {**details, "addresses": addresses}))
    return changes


def _tls_fields(tls: dict[str, Any]) -> dict[str, Any]:
    return {k: tls.get(k) for k in ("starttls", "tls_version", "error")}


# --- findings ---------------------------------------------------------------

_RANK = {"error": 0, "warning": 1, "info": 2}


def _by_key(findings: Iterable[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
    """One finding per (code, subject): the most severe when there are several."""
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    for item in findings:
        key = (item["code"], item["subject"])
        kept = out.get(key)
        if kept is None or _RANK.get(item["severity"], 3) < _RANK.get(kept["severity"], 3):
            out[key] = item
    return out


def _about(subject: str | None) -> str:
    return f" ({subject})" if subject else ""


def _finding_changes(
    before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]]
) -> list[Change]:
    b, a = _by_key(before), _by_key(after)
    changes = []
    for key in sorted(set(a) - set(b), key=_sort_key):
        item = a[key]
        changes.append(
            Change(
                "finding-appeared",
                item["subject"],
                f"{item['severity']} {item['code']}{_about(item['subject'])}: {item['message']}",
                {"finding": item},
            )
        )
    for key in sorted(set(b) - set(a), key=_sort_key):
        item = b[key]
        changes.append(
            Change(
                "finding-cleared",
                item["subject"],
                f"{item['code']}{_about(item['subject'])} cleared",
                {"finding": item},
            )
        )
    for key in sorted(set(a) & set(b), key=_sort_key):
        if a[key]["severity"] != b[key]["severity"]:
            code, subject = key
            changes.append(
                Change(
                    "finding-severity-changed",
                    subject,
                    f"{code}{_about(subject)}: {b[key]['severity']} -> {a[key]['severity']}",
                    {"before": b[key], "after": a[key]},
                )
            )
    return changes


def _sort_key(key: tuple[str, str | None]) -> tuple[str, str]:
    return key[0], key[1] or ""
