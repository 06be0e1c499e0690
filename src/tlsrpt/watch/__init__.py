"""Watching registered domains: scheduled checks with history, alert rules
and their lifecycle, notifications. SQL lives in `tlsrpt.store`; the pure
alert conditions in `tlsrpt.analysis.alerts` and `tlsrpt.analysis.alert_reports`.

- `snapshot` (pure): what one check saw, as canonical JSON with a digest;
- `changes` (pure): what changed between two snapshots;
- `history` (pure): a domain's timeline of states and changes;
- `schedule` (pure): durations, the watch settings, jittered due times;
- `lifecycle` (pure): alert transitions from conditions, mutes and the clock;
- `alerting`: applies the rules after each check and over new reports;
- `watcher`: the asyncio scheduler that claims due domains (leases in
  `tlsrpt.store.watch`), runs the checker and stores each result;
- `service`: the watcher in a thread of its own, for `tlsrpt serve`.
"""
