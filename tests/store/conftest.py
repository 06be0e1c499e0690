"""Databases for the store tests: a SQLite file, and PostgreSQL when
TLSRPT_TEST_POSTGRES_URL names a server (each test gets a schema of its own,
dropped afterwards)."""

from __future__ import annotations

import pytest

from tlsrpt.store.engine import Store


class ReportMaker:
    """RFC 8460 §4 reports as JSON-ready dicts, with overridable parts."""

    @staticmethod
    def failure(
        result_type: str = "certificate-expired",
        count: int = 1,
        ip: str | None = "192.0.2.1",
        mx: str | None = "mx1.example.com",
    ) -> dict[str, object]:
        out: dict[str, object] = {"result-type": result_type, "failed-session-count": count}
        if ip is not None:
            out["sending-mta-ip"] = ip
        if mx is not None:
            out["receiving-mx-hostname"] = mx
        return out

    @staticmethod
    def policy(
        domain: str | None = "example.com",
        policy_type: str = "sts",
        ok: int = 10,
        failed: int = 0,
        failures: list[dict[str, object]] | None = None,
    ) -> dict[str, object]:
        policy: dict[str, object] = {
            "policy-type": policy_type,
            "policy-string": ["version: STSv1", "mode: testing", "mx: *.example.com"],
            "mx-host": ["*.example.com"],
        }
        if domain is not None:
            policy["policy-domain"] = domain
        return {
            "policy": policy,
            "summary": {
                "total-successful-session-count": ok,
                "total-failure-session-count": failed,
            },
            "failure-details": failures or [],
        }

    def report(
        self,
        report_id: str = "r-1",
        *,
        org: str = "Example Org",
        day: str = "2024-03-01",
        policies: list[dict[str, object]] | None = None,
        contact: str | None = "tls-reports@org.example",
    ) -> dict[str, object]:
        return {
            "organization-name": org,
            "date-range": {
                "start-datetime": f"{day}T00:00:00Z",
                "end-datetime": f"{day}T23:59:59Z",
            },
            "contact-info": contact,
            "report-id": report_id,
            "policies": policies if policies is not None else [self.policy()],
        }

    def json(self, report_id: str = "r-1", **kwargs: object) -> bytes:
        import orjson

        return orjson.dumps(self.report(report_id, **kwargs))  # type: ignore[arg-type]


@pytest.fixture
def make() -> ReportMaker:
    return ReportMaker()


def snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """The logical content of a database, without surrogate keys and times,
    comparable across backends: equal snapshots mean the same inputs,
    outcomes, reports and roll-ups."""
    queries = {
        "raw": "SELECT sha256, outcome, reason_code, kind, source_detail FROM raw_inputs",
        "reports": (
            "SELECT r.dedup_key, r.content_sha256, r.organization, r.day, w.sha256 "
            "FROM reports r JOIN raw_inputs w ON w.id = r.raw_id"
        ),
        "policies": (
            "SELECT r.dedup_key, p.ordinal, p.policy_type, p.domain, p.day, "
            "p.successful_sessions, p.failed_sessions "
            "FROM policy_results p JOIN reports r ON r.id = p.report_pk"
        ),
        "failures": (
            "SELECT r.dedup_key, f.policy_ordinal, f.ordinal, f.result_type, "
            "f.failed_session_count, f.sending_mta_ip, f.receiving_mx_hostname "
            "FROM failure_details f JOIN reports r ON r.id = f.report_pk"
        ),
        "duplicates": (
            "SELECT w.sha256, r.dedup_key, d.conflict FROM report_duplicates d "
            "JOIN raw_inputs w ON w.id = d.raw_id JOIN reports r ON r.id = d.report_pk"
        ),
        "rollups": "SELECT * FROM daily_rollups",
    }
    out: dict[str, list[tuple[object, ...]]] = {}
    with store.read() as conn:
        for name, sql in queries.items():
            rows = [
                tuple(str(int(v) if isinstance(v, bool) else v) for v in row)
                for row in conn.exec_driver_sql(sql)
            ]
            out[name] = sorted(rows)
    return out


@pytest.fixture
def take_snapshot() -> object:
    return snapshot
