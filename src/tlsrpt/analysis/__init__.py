"""tlsrpt.analysis: pure functions over stored rows. No I/O here.

- `summary`: `summarize(...) -> list[DomainSummary]`, the `tlsrpt summary`
  contract over aggregated rows (`tlsrpt.store.domain_reads.summary_rows`).
- `period`: one policy domain over one `Period` of UTC days, from
  `RollupRow` (a `daily_rollups` row, `RollupRow(*row)` on
  `select(daily_rollups)`) and `FailureRow` (a `failure_details` row:
  domain, day, result_type, failed_session_count, sending_mta_ip,
  receiving_mx_hostname):
  - `analyze(period, rollups, failures=(), *, domains=()) -> dict[str, DomainPeriod]`
  - `analyze_domain(domain, period, rollups, failures=()) -> DomainPeriod`
    (sessions, failure_rate, daily trend with gap days, reporters,
    failures by result type / organization / MX / sending IP)
  - `new_failure_types(current, previous) -> list[str]`
  - `stopped_reporters(current, previous) -> list[StoppedReporter]`
  - `Period.ending(day, days)`, `Period.previous()`.
  A failure rate is None when no session was reported.
- `readiness`: `assess(analysis, config=None, failures=None) -> Readiness`
  with `verdict` in `Verdict` (`ready`, `not-ready`, `insufficient-data`)
  and `reasons`; thresholds in the frozen `ReadinessConfig`.
- `explain`: `explain(result_type) -> Explanation` (meaning, causes, fixes)
  for every RFC 8460 §4.3 result type, `EXPLANATIONS` in IANA order.
"""
