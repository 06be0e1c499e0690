"""Watching domains: scheduled checks with history, alert rules and their
lifecycle, notifications. SQL lives in `tlsrpt.store`; pure conditions in
`tlsrpt.analysis.alerts` and `tlsrpt.analysis.alert_reports`."""
