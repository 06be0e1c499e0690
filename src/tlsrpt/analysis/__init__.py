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
- `readiness`: the MTA-STS enforce verdict as of a day, over all stored
  history: `domain_verdict(domain, rollups, last_blocking_failure,
  last_change, check, today, config=None, reported=None) -> Readiness`
  (pure; `tlsrpt.store.readiness_reads` gathers the inputs and calls
  `decide` with the same evidence summed by the database), `verdict` in
  `Verdict` (`ready`, `not-ready`, `insufficient-data`), `reasons` with
  value and threshold, `clean_since`, `enforce_policy`; thresholds in the
  frozen `ReadinessConfig`.
  - `evidence`: sts sessions since the clean start, DANE and no-policy lines;
  - `live`: the watcher's latest check (MX coverage, certificates, policy
    host) and the last policy or MX change among snapshots;
  - `enforce_policy`: the enforce policy and `_mta-sts` record to publish.
- `explain`: `explain(result_type) -> Explanation` (meaning, causes, fixes)
  for every RFC 8460 §4.3 result type, `EXPLANATIONS` in IANA order.
"""
