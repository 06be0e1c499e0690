"""The read model: every question the API, the dashboard, the CLI
(`summary`, `reports`, `quarantine`, `export`, `mta-sts promote`) and the
watcher ask of the store, in one place outside the web layer. Callers
import this module (`from tlsrpt.store import reads`); the queries live in
small modules named for what they read:

- `tlsrpt.store.domain_reads`: domains over a period (overview, detail,
  failure list, the CLI summary's aggregates, the rows one domain's
  readiness is judged from);
- `tlsrpt.store.list_reads`: lists that grow without bound, a page at a
  time by keyset with an opaque cursor: reports (filtered), a domain's
  failure details, the quarantine;
- `tlsrpt.store.report_reads`: stored reports, listed and shown, narrowed
  to what one user may see (`tlsrpt.store.report_view`);
- `tlsrpt.store.failure_reads`: a domain's failure groups explained with
  the checks and hosted policy versions of their day;
- `tlsrpt.store.readiness_reads`: the MTA-STS enforce readiness verdict
  of domains as of a day;
- `tlsrpt.store.hosted`: a domain's hosted MTA-STS policy versions
  (`hosted_history`);
- `tlsrpt.store.raw_reads`: raw inputs, their bytes, the quarantine;
- `tlsrpt.store.alert_reads`: what the report alert rules read (the watcher);
- `tlsrpt.store.watch_reads`: the dashboard's view of watching (firing
  alerts and the earliest certificate expiry per domain, one visible alert);
- `tlsrpt.store.gauges`: the database-derived Prometheus gauges;
- `tlsrpt.store.attribution_reads`: how a domain's sessions were
  attributed (part of `domain_detail`), and the registry ingest asks.

SQL lives there and only there (and in the store's writers); the
arithmetic over the rows lives in `tlsrpt.analysis`, the JSON shapes of
the results in `tlsrpt.shape`.
"""

from __future__ import annotations

from tlsrpt.store.domain_reads import (
    DEFAULT_DAYS,
    FAILURE_COLUMNS,
    MAX_DAYS,
    DomainDetail,
    DomainOverview,
    SummaryRows,
    domain_detail,
    failure_rows,
    is_visible,
    overview,
    period_of,
    rollup_rows,
    summary_rows,
    today,
)
from tlsrpt.store.failure_reads import explained_failures, failure_history
from tlsrpt.store.hosted import history as hosted_history
from tlsrpt.store.list_reads import (
    CursorError,
    Page,
    ReportFilter,
    failure_list,
    failure_page,
    quarantine_page,
    report_list,
    report_page,
)
from tlsrpt.store.raw_reads import (
    get_raw,
    list_quarantined,
    quarantined_ids,
    raw_bytes,
    raw_input,
)
from tlsrpt.store.readiness_reads import domain_readiness, readiness
from tlsrpt.store.report_reads import (
    REPORT_COLUMNS,
    get_report,
    has_reports,
    last_report_pk,
    last_snapshot_pk,
    list_reports,
    visible_report,
)
from tlsrpt.store.report_view import ReportView, StoredReport
from tlsrpt.store.watch_reads import earliest_expiries, firing_counts, visible_alert
from tlsrpt.store.window import Window

__all__ = [
    "DEFAULT_DAYS",
    "FAILURE_COLUMNS",
    "MAX_DAYS",
    "REPORT_COLUMNS",
    "CursorError",
    "DomainDetail",
    "DomainOverview",
    "Page",
    "ReportFilter",
    "ReportView",
    "StoredReport",
    "SummaryRows",
    "Window",
    "domain_detail",
    "domain_readiness",
    "earliest_expiries",
    "explained_failures",
    "failure_history",
    "failure_list",
    "failure_page",
    "failure_rows",
    "firing_counts",
    "get_raw",
    "get_report",
    "has_reports",
    "hosted_history",
    "is_visible",
    "last_report_pk",
    "last_snapshot_pk",
    "list_quarantined",
    "list_reports",
    "overview",
    "period_of",
    "quarantine_page",
    "quarantined_ids",
    "raw_bytes",
    "raw_input",
    "readiness",
    "report_list",
    "report_page",
    "rollup_rows",
    "summary_rows",
    "today",
    "visible_alert",
    "visible_report",
]
