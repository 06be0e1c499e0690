"""`report_view.narrow`: what a user who is not an admin sees of a stored
report naming several domains. Pure: stored rows in, rows out."""

from __future__ import annotations

import orjson

from tlsrpt.store.report_view import RAW_SHOWN, StoredReport, narrow


def _policy(ordinal: int, domain: str, ok: int, failed: int) -> dict[str, object]:
    return {
        "report_pk": 7,
        "ordinal": ordinal,
        "policy_domain": domain or None,
        "domain": domain,
        "successful_sessions": ok,
        "failed_sessions": failed,
        "mx_hosts": f'["mx.{domain}"]',
    }


def _stored(header: str | None = "Beta.Example.") -> StoredReport:
    deviations = [
        {"code": "utf8-bom", "path": "$", "message": "bom", "violation": False},
        {"code": "mx-host-missing", "path": "$.policies[1].policy.mx-host", "message": "x"},
        {"code": "policy-type-unknown", "path": "$.policies[10].policy", "message": "y"},
        {"code": "header-domain-mismatch", "path": "part 1", "message": f"{header} is not"},
    ]
    return StoredReport(
        report={
            "id": 7,
            "raw_id": 3,
            "header_domain": header,
            "deviations": orjson.dumps(deviations).decode(),
            "successful_sessions": 1 + 20 + 300,
            "failed_sessions": 4 + 50 + 600,
            "content_sha256": "ab" * 32,
        },
        policies=[
            _policy(0, "alpha.example", 1, 4),
            _policy(1, "beta.example", 20, 50),
            _policy(10, "alpha.example", 300, 600),
        ],
        failures=[
            {"policy_ordinal": 0, "ordinal": 0, "domain": "alpha.example"},
            {"policy_ordinal": 1, "ordinal": 0, "domain": "beta.example"},
            {"policy_ordinal": 10, "ordinal": 0, "domain": "alpha.example"},
        ],
        raw={"id": 3, "sha256": "cd" * 32, "source_detail": "to <a@beta.example>", "kind": "email"},
        duplicates=[{"raw_id": 3, "source_detail": "x"}, {"raw_id": 9, "source_detail": "y"}],
    )


def test_only_the_users_policies_and_their_sums() -> None:
    view = narrow(_stored(), {"alpha.example"}, raws_allowed=set())
    assert view is not None and not view.raw_allowed
    report = view.stored.report
    assert [p["ordinal"] for p in view.stored.policies] == [0, 10]
    assert [f["policy_ordinal"] for f in view.stored.failures] == [0, 10]
    assert (report["successful_sessions"], report["failed_sessions"]) == (301, 604)
    assert report["content_sha256"] is None
    assert report["header_domain"] is None
    # $.policies[1] is beta's; $.policies[10] is alpha's (not a prefix match).
    kept = [d["code"] for d in orjson.loads(report["deviations"])]
    assert kept == ["utf8-bom", "policy-type-unknown"]
    raw = view.stored.raw
    assert raw["sha256"] is None and raw["source_detail"] is None
    assert raw["kind"] == "email" and set(RAW_SHOWN) >= {k for k, v in raw.items() if v}
    assert [d["source_detail"] for d in view.stored.duplicates] == [None, None]


def test_a_visible_header_and_an_allowed_input_are_kept() -> None:
    view = narrow(_stored(), {"alpha.example", "beta.example"}, raws_allowed={3})
    assert view is not None and view.raw_allowed
    assert view.stored.report["header_domain"] == "Beta.Example."
    assert view.stored.report["content_sha256"] == "ab" * 32
    assert len(orjson.loads(view.stored.report["deviations"])) == 4
    assert view.stored.raw["source_detail"] == "to <a@beta.example>"
    assert [d["source_detail"] for d in view.stored.duplicates] == ["x", None]


def test_none_of_the_users_policies_is_no_report() -> None:
    assert narrow(_stored(), {"gamma.example"}, raws_allowed={3}) is None
    assert narrow(_stored(), set(), raws_allowed=set()) is None
    # A policy without a domain ("") is nobody's but an admin's.
    only_unknown = StoredReport(
        report=_stored().report,
        policies=[_policy(0, "", 1, 0)],
        failures=[],
        raw=_stored().raw,
        duplicates=[],
    )
    assert narrow(only_unknown, {"alpha.example"}, raws_allowed=set()) is None
