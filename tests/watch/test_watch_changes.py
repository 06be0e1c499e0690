"""Change detection between two snapshots: every change kind (pure)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tlsrpt.watch.changes import KINDS, Change, diff

MX1, MX2, MX3 = "mx1.example.com", "mx2.example.com", "mx3.example.com"


def cert(name: str, not_after: str = "2026-12-31T00:00:00Z", sha: str = "a") -> dict[str, Any]:
    return {
        "subject": f"CN={name}",
        "sans": [name],
        "issuer": "CN=R11,O=Let's Encrypt",
        "not_after": not_after,
        "sha256": sha * 64,
    }


def tls(address: str, name: str, **kw: Any) -> dict[str, Any]:
    return {
        "address": address,
        "starttls": True,
        "tls_version": "TLSv1.3",
        "error": None,
        "certificate": cert(name),
        **kw,
    }


def base() -> dict[str, Any]:
    return {
        "tlsrpt": {"records": ["v=TLSRPTv1; rua=mailto:tls@example.com"], "status": "ok"},
        "sts": {"records": ["v=STSv1; id=1"], "status": "ok", "id": "1"},
        "policy": {
            "url": "https://mta-sts.example.com/.well-known/mta-sts.txt",
            "status": 200,
            "error": None,
            "text": "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 86400\n",
            "mode": "enforce",
            "mx": [MX1],
            "max_age": 86400,
            "certificate": cert("mta-sts.example.com"),
        },
        "mx": [
            {
                "host": MX1,
                "preference": 10,
                "addresses": ["192.0.2.1", "192.0.2.2"],
                "tls": [tls("192.0.2.1", MX1), tls("192.0.2.2", MX1)],
                "tlsa": [],
                "tlsa_status": "nxdomain",
            }
        ],
        "findings": [],
    }


def changed(edit: Callable[[dict[str, Any]], None]) -> tuple[dict[str, Any], list[Change]]:
    before = base()
    after = copy.deepcopy(before)
    edit(after)
    found = diff(before, after)
    return after, found


def only(edit: Callable[[dict[str, Any]], None]) -> Change:
    _, found = changed(edit)
    assert len(found) == 1, [c.summary for c in found]
    return found[0]


def test_no_change() -> None:
    assert diff(base(), base()) == []


def test_tlsrpt_record_changed() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["tlsrpt"]["records"] = ["v=TLSRPTv1; rua=mailto:reports@example.net"]

    c = only(edit)
    assert (c.kind, c.subject) == ("tlsrpt-record-changed", None)
    assert c.summary == (
        "TLS-RPT record changed: v=TLSRPTv1; rua=mailto:tls@example.com -> "
        "v=TLSRPTv1; rua=mailto:reports@example.net"
    )
    assert c.details["before"]["records"] == ["v=TLSRPTv1; rua=mailto:tls@example.com"]


@pytest.mark.parametrize(
    ("after", "summary"),
    [
        ({"records": [], "status": "nxdomain"}, "TLS-RPT record removed (was v=TLSRPTv1; rua="),
        ({"records": [], "status": "error"}, "TLS-RPT record lookup fails"),
    ],
)
def test_tlsrpt_record_removed_or_failing(after: dict[str, Any], summary: str) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["tlsrpt"] = after

    c = only(edit)
    assert c.kind == "tlsrpt-record-changed" and c.summary.startswith(summary)


def test_tlsrpt_record_published_and_lookup_recovering() -> None:
    before = base()
    before["tlsrpt"] = {"records": [], "status": "nodata"}
    (c,) = diff(before, base())
    assert c.summary == "TLS-RPT record published: v=TLSRPTv1; rua=mailto:tls@example.com"
    failing = base()
    failing["tlsrpt"]["status"] = "error"
    (c,) = diff(failing, base())
    assert c.summary == "TLS-RPT record lookup works again"
    nodata = base()
    nodata["tlsrpt"] = {"records": [], "status": "nodata"}
    nxdomain = base()
    nxdomain["tlsrpt"] = {"records": [], "status": "nxdomain"}
    (c,) = diff(nodata, nxdomain)
    assert c.summary == "TLS-RPT record lookup: nodata -> nxdomain"


def test_sts_record_new_id_with_the_same_policy() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["sts"] = {"records": ["v=STSv1; id=2"], "status": "ok", "id": "2"}

    c = only(edit)
    assert (c.kind, c.summary) == ("sts-record-changed", "MTA-STS record changed: id 1 -> 2")


def test_policy_changed_with_a_new_id() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["sts"] = {"records": ["v=STSv1; id=2"], "status": "ok", "id": "2"}
        s["policy"].update(mode="testing", mx=[MX1, MX2], max_age=604800, text="new")

    _, found = changed(edit)
    assert [c.kind for c in found] == ["sts-record-changed", "sts-policy-changed"]
    assert found[1].summary == (
        "MTA-STS policy changed (mode enforce -> testing; mx added mx2.example.com; "
        "max_age 86400 -> 604800), id 1 -> 2"
    )


def test_policy_changed_without_id_change() -> None:
    """RFC 8461 §3.1: senders fetch again only when the id changes."""

    def edit(s: dict[str, Any]) -> None:
        s["policy"].update(mx=[MX2], text="version: STSv1\nmode: enforce\nmx: mx2.example.com\n")

    c = only(edit)
    assert c.kind == "sts-policy-changed-without-id-change"
    assert c.summary.startswith(
        "MTA-STS policy changed, id unchanged (mx added mx2.example.com; mx removed "
        "mx1.example.com): senders that cached the old policy keep it"
    )
    assert c.details["before"]["mx"] == [MX1] and c.details["after"]["mx"] == [MX2]


def test_policy_text_only() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["policy"]["text"] = s["policy"]["text"].replace("\n", "\r\n")

    c = only(edit)
    assert (c.kind, c.details["text_only"]) == ("sts-policy-changed", True)
    assert c.summary == "MTA-STS policy text changed (same mode, mx and max_age)"


def test_policy_unavailable_then_available() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["policy"].update(
            status=None, error="timed out", text=None, mode=None, mx=[], max_age=None
        )
        s["policy"]["certificate"] = None

    after, found = changed(edit)
    assert [c.kind for c in found] == ["sts-policy-unavailable"]
    assert found[0].summary == "MTA-STS policy no longer available: timed out"
    (back,) = diff(after, base())
    assert back.kind == "sts-policy-available"
    assert back.summary == "MTA-STS policy available: mode enforce, mx mx1.example.com"


def test_policy_gone_with_its_record() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["sts"] = {"records": [], "status": "nxdomain", "id": None}
        s["policy"] = None

    _, found = changed(edit)
    assert [c.kind for c in found] == ["sts-record-changed", "sts-policy-unavailable"]
    assert found[1].summary.endswith("not fetched (no valid MTA-STS record)")


def test_policy_still_unusable_for_another_reason() -> None:
    broken = base()
    broken["policy"].update(status=404, text=None, mode=None, mx=[], max_age=None)
    other = copy.deepcopy(broken)
    other["policy"].update(status=None, error="connection refused", certificate=None)
    (c,) = diff(broken, other)
    assert c.kind == "sts-policy-fetch-changed"
    assert c.summary == "MTA-STS policy still unusable: status 404 -> connection refused"
    again = copy.deepcopy(broken)
    again["policy"]["status"] = 500
    (c,) = diff(broken, again)
    assert c.summary == "MTA-STS policy still unusable: status 404 -> status 500"


def test_policy_host_certificate_renewed_and_replaced() -> None:
    def renew(s: dict[str, Any]) -> None:
        s["policy"]["certificate"] = cert("mta-sts.example.com", "2027-03-01T00:00:00Z", "b")

    c = only(renew)
    assert (c.kind, c.subject) == ("policy-host-certificate-renewed", "mta-sts.example.com")
    assert c.summary == "certificate of mta-sts.example.com renewed, expires 2027-03-01"

    def replace(s: dict[str, Any]) -> None:
        s["policy"]["certificate"] = cert("www.example.com", "2027-03-01T00:00:00Z", "b")

    c = only(replace)
    assert c.kind == "policy-host-certificate-replaced"
    assert c.summary == (
        "certificate of mta-sts.example.com replaced: now for www.example.com, issued by "
        "CN=R11,O=Let's Encrypt, expires 2027-03-01"
    )


def _add_mx2(s: dict[str, Any], preference: int = 20) -> None:
    s["mx"].append(
        {
            "host": MX2,
            "preference": preference,
            "addresses": ["192.0.2.3"],
            "tls": [tls("192.0.2.3", MX2)],
            "tlsa": [],
            "tlsa_status": "nxdomain",
        }
    )


def test_mx_added_covered_by_the_policy() -> None:
    def edit(s: dict[str, Any]) -> None:
        _add_mx2(s)
        s["policy"]["mx"] = [MX1, MX2]
        s["policy"]["text"] += "mx: mx2.example.com\n"
        s["policy"]["max_age"] = 86400

    _, found = changed(edit)
    kinds = [c.kind for c in found]
    assert kinds == ["sts-policy-changed-without-id-change", "mx-added", "mx-set-changed"]
    added, mx_set = found[1], found[2]
    assert (added.subject, added.summary) == (MX2, "mx2.example.com added (preference 20)")
    assert mx_set.summary == (
        "MX set changed: mx1.example.com (10) -> mx1.example.com (10), mx2.example.com (20); "
        "the MTA-STS policy covers every MX"
    )
    assert mx_set.details["added"] == [MX2] and mx_set.details["covered"] is True


def test_mx_added_outside_the_policy() -> None:
    def edit(s: dict[str, Any]) -> None:
        _add_mx2(s)
        s["findings"] = [
            {
                "code": "sts-mx-not-covered",
                "severity": "error",
                "subject": MX2,
                "message": "MX mx2.example.com is not covered",
            }
        ]

    _, found = changed(edit)
    assert [c.kind for c in found] == ["mx-added", "mx-set-changed", "finding-appeared"]
    assert found[1].details["covered"] is False
    assert found[1].summary.endswith("; the MTA-STS policy does not cover mx2.example.com")
    assert found[2].summary == (
        "error sts-mx-not-covered (mx2.example.com): MX mx2.example.com is not covered"
    )


def test_mx_removed_and_preference_changed() -> None:
    two = base()
    _add_mx2(two)
    (removed, mx_set) = diff(two, base())
    assert (removed.kind, removed.subject, removed.summary) == (
        "mx-removed",
        MX2,
        "mx2.example.com removed",
    )
    assert mx_set.details["removed"] == [MX2]
    preferred = copy.deepcopy(two)
    preferred["mx"][1]["preference"] = 5
    (c,) = diff(two, preferred)
    assert c.kind == "mx-set-changed" and c.details["added"] == c.details["removed"] == []
    assert "-> mx2.example.com (5), mx1.example.com (10)" in c.summary


def test_mx_set_without_policy_says_nothing_of_coverage() -> None:
    def edit(s: dict[str, Any]) -> None:
        _add_mx2(s)
        s["policy"] = None

    _, found = changed(edit)
    (mx_set,) = [c for c in found if c.kind == "mx-set-changed"]
    assert mx_set.details["covered"] is None and "MTA-STS" not in mx_set.summary


def test_mx_addresses_changed() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["mx"][0]["addresses"] = ["192.0.2.1", "192.0.2.9"]

    c = only(edit)
    assert (c.kind, c.subject) == ("mx-addresses-changed", MX1)
    assert c.summary == "addresses of mx1.example.com changed: +192.0.2.9 -192.0.2.2"


@pytest.mark.parametrize(
    ("tls_after", "summary"),
    [
        ({"tls_version": "TLSv1.2"}, "mx1.example.com (192.0.2.1): TLSv1.3 -> TLSv1.2"),
        (
            {"starttls": False, "tls_version": None, "certificate": None},
            "mx1.example.com (192.0.2.1): TLSv1.3 -> no STARTTLS",
        ),
        (
            {"tls_version": None, "error": "handshake failure", "certificate": None},
            "mx1.example.com (192.0.2.1): TLSv1.3 -> error: handshake failure",
        ),
    ],
)
def test_mx_tls_changed(tls_after: dict[str, Any], summary: str) -> None:
    def edit(s: dict[str, Any]) -> None:
        s["mx"][0]["tls"][0].update(tls_after)

    c = only(edit)
    assert (c.kind, c.subject, c.summary) == ("mx-tls-changed", MX1, summary)
    assert c.details["address"] == "192.0.2.1"


def test_mx_certificate_renewed_once_for_all_addresses() -> None:
    def edit(s: dict[str, Any]) -> None:
        for entry in s["mx"][0]["tls"]:
            entry["certificate"] = cert(MX1, "2027-03-01T00:00:00Z", "c")

    c = only(edit)
    assert (c.kind, c.subject) == ("certificate-renewed", MX1)
    assert c.summary == "certificate of mx1.example.com renewed, expires 2027-03-01"
    assert c.details["addresses"] == ["192.0.2.1", "192.0.2.2"]
    assert c.details["before"]["sha256"] == "a" * 64


def test_mx_certificate_replaced() -> None:
    """Other names, or the same names expiring earlier, is not a renewal."""

    def other_names(s: dict[str, Any]) -> None:
        s["mx"][0]["tls"][1]["certificate"] = cert("mail.example.net", "2027-03-01T00:00:00Z", "d")

    c = only(other_names)
    assert (c.kind, c.details["addresses"]) == ("certificate-replaced", ["192.0.2.2"])
    assert c.summary.startswith("certificate of mx1.example.com replaced: now for mail.example.net")

    def earlier(s: dict[str, Any]) -> None:
        s["mx"][0]["tls"][0]["certificate"] = cert(MX1, "2026-06-01T00:00:00Z", "e")

    assert only(earlier).kind == "certificate-replaced"


def test_tlsa_changed() -> None:
    def edit(s: dict[str, Any]) -> None:
        s["mx"][0].update(tlsa=["3 1 1 AB"], tlsa_status="ok")

    c = only(edit)
    assert (c.kind, c.subject) == ("tlsa-changed", MX1)
    assert c.summary == "TLSA records of mx1.example.com changed: (none) -> 3 1 1 AB"
    bogus = base()
    bogus["mx"][0]["tlsa_status"] = "bogus"
    (c,) = diff(base(), bogus)
    assert c.summary == "TLSA lookup of mx1.example.com: nxdomain -> bogus"


def _finding(code: str, severity: str, subject: str | None = None) -> dict[str, Any]:
    return {"code": code, "severity": severity, "subject": subject, "message": f"{code} says"}


def test_findings_appear_clear_and_change_severity() -> None:
    before = base()
    before["findings"] = [
        _finding("tlsrpt-rua-external", "warning"),
        _finding("sts-mx-not-covered", "warning", MX1),
        _finding("mx-unreachable", "warning", MX1),
        _finding("mx-unreachable", "error", MX1),  # two of a kind: the worse counts
    ]
    after = base()
    after["findings"] = [
        _finding("sts-mx-not-covered", "error", MX1),
        _finding("mx-unreachable", "error", MX1),
        _finding("mx-certificate-expiring", "warning", MX1),
    ]
    found = diff(before, after)
    assert [(c.kind, c.subject, c.summary) for c in found] == [
        (
            "finding-appeared",
            MX1,
            "warning mx-certificate-expiring (mx1.example.com): mx-certificate-expiring says",
        ),
        ("finding-cleared", None, "tlsrpt-rua-external cleared"),
        ("finding-severity-changed", MX1, "sts-mx-not-covered (mx1.example.com): warning -> error"),
    ]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(s: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = s
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return edit


def _unusable(s: dict[str, Any]) -> None:
    s["policy"].update(status=404, mode=None, mx=[], max_age=None)


def _removed_mx2(s: dict[str, Any]) -> None:
    _add_mx2(s)


# One (before edit, after edit) per kind: the catalogue the kinds are checked against.
CASES: dict[str, tuple[Callable[[dict[str, Any]], None], Callable[[dict[str, Any]], None]]] = {
    "tlsrpt-record-changed": (_set("tlsrpt.records", []), lambda s: None),
    "sts-record-changed": (lambda s: None, _set("sts.id", "2")),
    "sts-policy-changed": (lambda s: None, _set("policy.text", "other text")),
    "sts-policy-changed-without-id-change": (lambda s: None, _set("policy.mode", "testing")),
    "sts-policy-unavailable": (lambda s: None, _unusable),
    "sts-policy-available": (_unusable, lambda s: None),
    "sts-policy-fetch-changed": (
        _unusable,
        lambda s: (_unusable(s), _set("policy.status", 500)(s)),
    ),
    "policy-host-certificate-renewed": (
        lambda s: None,
        _set("policy.certificate", cert("mta-sts.example.com", "2027-01-01T00:00:00Z", "b")),
    ),
    "policy-host-certificate-replaced": (
        lambda s: None,
        _set("policy.certificate", cert("other.example.com", sha="b")),
    ),
    "mx-added": (lambda s: None, _add_mx2),
    "mx-removed": (_removed_mx2, lambda s: None),
    "mx-set-changed": (lambda s: None, _set("mx.0.preference", 5)),
    "mx-addresses-changed": (lambda s: None, _set("mx.0.addresses", ["192.0.2.1"])),
    "mx-tls-changed": (lambda s: None, _set("mx.0.tls.0.tls_version", "TLSv1.2")),
    "certificate-renewed": (
        lambda s: None,
        _set("mx.0.tls.0.certificate", cert(MX1, "2027-01-01T00:00:00Z", "b")),
    ),
    "certificate-replaced": (
        lambda s: None,
        _set("mx.0.tls.0.certificate", cert(MX3, sha="b")),
    ),
    "tlsa-changed": (lambda s: None, _set("mx.0.tlsa_status", "error")),
    "finding-appeared": (lambda s: None, _set("findings", [_finding("x", "info")])),
    "finding-cleared": (_set("findings", [_finding("x", "info")]), lambda s: None),
    "finding-severity-changed": (
        _set("findings", [_finding("x", "info")]),
        _set("findings", [_finding("x", "error")]),
    ),
}


def test_every_kind_has_a_case() -> None:
    assert set(CASES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_kind_is_detected(kind: str) -> None:
    before, after = base(), base()
    CASES[kind][0](before)
    CASES[kind][1](after)
    found = diff(before, after)
    assert kind in [c.kind for c in found], [c.summary for c in found]
    assert all(c.kind in KINDS and c.summary for c in found)
