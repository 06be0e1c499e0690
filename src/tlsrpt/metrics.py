"""Prometheus metrics kept in the process (prometheus_client's default
registry), for `GET /metrics` (tlsrpt.web.metrics adds the ones read from
the database at scrape time).

Counters and histograms here are updated where things happen: the ingest
pipeline and the HTTP receiver (ingest outcomes), the receiver (requests
and latencies), the watcher (`observe_check`), the outbox deliverer
(notifications). Labels have a handful of values each: no domain names.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INGEST = Counter(
    "tlsrpt_ingest_outcomes",
    "Inputs stored by source (http, smtp, imap, file) and outcome "
    "(accepted, duplicate, quarantined)",
    ["source", "outcome"],
)
RECEIVER_REQUESTS = Counter(
    "tlsrpt_receiver_requests",
    "Requests to the HTTP report receiver (POST reports_path) by status code",
    ["status"],
)
RECEIVER_SECONDS = Histogram(
    "tlsrpt_receiver_request_duration_seconds",
    "Time from a report POST's arrival to its answer (the report committed)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CHECKS = Counter(
    "tlsrpt_checks",
    "Scheduled domain checks by outcome: ok (no warning), warning, error "
    "(findings of that severity), failed (the check itself did not complete)",
    ["outcome"],
)
CHECK_SECONDS = Histogram(
    "tlsrpt_check_duration_seconds",
    "Duration of one scheduled domain check",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
NOTIFICATIONS = Counter(
    "tlsrpt_notifications",
    "Notification delivery attempts by channel type (webhook, email, apprise) "
    "and outcome (delivered, retry, failed)",
    ["channel_type", "outcome"],
)
CHECK_OUTCOMES = ("ok", "warning", "error", "failed")


def observe_check(seconds: float, outcome: str) -> None:
    """Record one scheduled check (called by the watcher)."""
    if outcome not in CHECK_OUTCOMES:
        raise ValueError(f"check outcome {outcome!r} is not one of {CHECK_OUTCOMES}")
    CHECKS.labels(outcome).inc()
    CHECK_SECONDS.observe(seconds)


def observe_ingest(source: str, outcome: str) -> None:
    INGEST.labels(source, outcome).inc()
