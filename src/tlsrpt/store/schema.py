"""The database schema (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Tables:
- `raw_inputs`: every input as received, compressed, with its source and
  outcome (accepted, duplicate, quarantined). Removed only by retention
  (tlsrpt.store.retention), once no stored report comes from it.
- `reports`, `policy_results`, `failure_details`: the parsed RFC 8460 §4
  report, every field kept. Policy and failure rows carry the attributed
  policy domain and UTC day so per-domain time ranges are index scans;
  policy rows also how that domain was found (`attribution`,
  tlsrpt.report.attribution).
- `report_duplicates`: later arrivals of an already stored report, with
  `conflict` set when the content differs (RFC 8460 §5.3; docs/conformance.md#de-duplication).
- `imap_watermarks`: how far a read-only IMAP poller has read each mailbox.
- `quarantine_budget`: per UTC day and client address, what the HTTP
  receiver quarantined (inputs, bytes) and refused once over the budget.
- `rate_limits`: the request rate limiters' token buckets, per rule and
  client address (shared by the instances on PostgreSQL).
- `pruned_reports`: the de-duplication key of every report retention
  removed, so a resend is still recognised (RFC 8460 §5.3).
- `daily_rollups`: counts per (policy domain, UTC day, organization, policy
  type, result type), kept current by the ingest transaction. `ALL` ('')
  in a key column means "all of them", giving three levels side by side in
  one index range:
  - (domain, day, org, '', ''): the domain's reports (each counted once,
    whatever number of policies it has for the domain) and the sum of its
    policies' summary session counts;
  - (domain, day, org, type, ''): the same for one policy type;
  - (domain, day, org, type, result): failed-session-count summed per
    RFC 8460 §4.3 result type (successful_sessions is 0).
  An empty policy or result type in a report is rolled up as `EMPTY`.
- `domain_days`: the same counts without the organization split, per
  (policy type, policy domain, UTC day): what the overview, the domain
  list and its sparklines read (tlsrpt.store.domain_days), one short key
  range per domain. Kept current by the ingest transaction beside
  `daily_rollups` and kept by retention like it.
- `reported_domains`: every policy domain with roll-ups (the names the
  domain list starts from), kept by the same transaction.
- `watch_schedule`, `watch_snapshots`: scheduled checks of registered
  domains and the history of what they found (tlsrpt.watch).
- `alerts`, `alert_mutes`, `alert_events`, `alert_marks`: alerts with their
  lifecycle, muted rules, every notification-worthy event (unique by its
  idempotency key) and how far report rules have been evaluated
  (tlsrpt.store.alerts, tlsrpt.watch.alerting).
- `outbox`: every alert notification, one row per channel (and e-mail
  recipient), written in the transaction that changed the alert and kept
  with its delivery state (tlsrpt.store.outbox).

Migrations live in `tlsrpt/store/migrations`; a test checks they produce
exactly this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

# Integer surrogate keys: BIGINT on PostgreSQL, the rowid alias on SQLite.
# Tables keyed otherwise are WITHOUT ROWID on SQLite: stored in key order,
# once (no rowid table beside the key index).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Count = sa.BigInteger()

# Roll-up key value meaning "all policy types" / "all result types", and
# what an empty type written by a sender is rolled up as instead.
ALL = ""
EMPTY = "(empty)"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

raw_inputs = sa.Table(
    "raw_inputs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("codec", sa.String(8), nullable=False),  # "zlib" or "none" (already gzip)
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("kind", sa.String(8)),  # json, gzip, email; set once parsed
    sa.Column("source_kind", sa.String(16), nullable=False),  # file, http, smtp, imap
    sa.Column("source_detail", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text),
    sa.Column("source_meta", sa.Text),  # JSON object, e.g. a DKIM verdict
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("processed_at", sa.DateTime),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason_code", sa.String(40)),
    sa.Column("reason", sa.Text),
    sa.Column("notes", sa.Text),  # JSON list: per-part errors of partly good messages
    # Retention (tlsrpt.store.retention): what was received before a cut-off,
    # per outcome, is one range of this index.
    sa.Index(None, "outcome", "received_at", "id"),
)
# A literal, not a bound parameter: partial indexes need it.
QUARANTINED: sa.ColumnClause[str] = sa.literal_column("'quarantined'")
sa.Index(
    "ix_raw_inputs_quarantined",
    raw_inputs.c.id,
    sqlite_where=raw_inputs.c.outcome == QUARANTINED,
    postgresql_where=raw_inputs.c.outcome == QUARANTINED,
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("raw_id", Id, sa.ForeignKey("raw_inputs.id"), nullable=False, index=True),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("contact_info", sa.Text),
    sa.Column("report_id", sa.Text, nullable=False),
    sa.Column("start_at", sa.DateTime, nullable=False),
    sa.Column("end_at", sa.DateTime, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("submitter", sa.Text),  # TLS-Report-Submitter, when mailed
    sa.Column("header_domain", sa.Text),  # TLS-Report-Domain, when mailed
    sa.Column("deviations", sa.Text, nullable=False),  # JSON list
    sa.Column("successful_sessions", Count, nullable=False),
    sa.Column("failed_sessions", Count, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Index(None, "day", "id"),  # retention: the reports of days before a cut-off
)

policy_results = sa.Table(
    "policy_results",
    metadata,
    sa.Column("report_pk", Id, sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ordinal", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("policy_type", sa.Text, nullable=False),
    sa.Column("policy_domain", sa.Text),  # as written in the report
    sa.Column("domain", sa.Text, nullable=False),  # attributed ("" when unknown)
    # How `domain` was found (tlsrpt.report.attribution.Attribution).
    sa.Column("attribution", sa.String(32), nullable=False, server_default="reported"),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("policy_strings", sa.Text, nullable=False),  # JSON list
    sa.Column("mx_hosts", sa.Text, nullable=False),  # JSON list
    sa.Column("successful_sessions", Count, nullable=False),
    sa.Column("failed_sessions", Count, nullable=False),
    sa.Index(None, "domain", "day"),
    sqlite_with_rowid=False,
)

failure_details = sa.Table(
    "failure_details",
    metadata,
    sa.Column("report_pk", Id, primary_key=True),
    sa.Column("policy_ordinal", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ordinal", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("result_type", sa.Text, nullable=False),
    sa.Column("failed_session_count", Count, nullable=False),
    sa.Column("sending_mta_ip", sa.Text),
    sa.Column("receiving_mx_hostname", sa.Text),
    sa.Column("receiving_mx_helo", sa.Text),
    sa.Column("receiving_ip", sa.Text),
    sa.Column("additional_information", sa.Text),
    sa.Column("failure_reason_code", sa.Text),
    sa.ForeignKeyConstraint(
        ["report_pk", "policy_ordinal"],
        ["policy_results.report_pk", "policy_results.ordinal"],
        ondelete="CASCADE",
    ),
    # Covers the per-domain failure questions (by result type, MX host,
    # sending IP over a range of days) without touching the table.
    sa.Index(
        "ix_failure_details_window",
        "domain",
        "day",
        "result_type",
        "receiving_mx_hostname",
        "sending_mta_ip",
        "failed_session_count",
    ),
    sqlite_with_rowid=False,
)

report_duplicates = sa.Table(
    "report_duplicates",
    metadata,
    sa.Column("raw_id", Id, sa.ForeignKey("raw_inputs.id"), primary_key=True),
    sa.Column("report_pk", Id, sa.ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("conflict", sa.Boolean, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Index(None, "report_pk"),
    sqlite_with_rowid=False,
)

# Reports removed by retention leave their de-duplication key (and content
# digest, for conflicts) here: a resend after that is still a duplicate,
# never counted twice in the roll-ups that keep it (RFC 8460 §5.3).
pruned_reports = sa.Table(
    "pruned_reports",
    metadata,
    sa.Column("dedup_key", sa.String(64), primary_key=True),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sqlite_with_rowid=False,
)

daily_rollups = sa.Table(
    "daily_rollups",
    metadata,
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("policy_type", sa.Text, nullable=False),
    sa.Column("result_type", sa.Text, nullable=False),
    sa.Column("reports", Count, nullable=False),
    sa.Column("successful_sessions", Count, nullable=False),
    sa.Column("failed_sessions", Count, nullable=False),
    # Key order: one level (all types, a policy type, a result type) of one
    # domain is a contiguous range of days, whatever the organizations.
    sa.PrimaryKeyConstraint("domain", "policy_type", "result_type", "day", "organization"),
    # The per-domain gauges of /metrics read today's and yesterday's rows
    # of every domain: a range of this index, not a scan of every day.
    sa.Index("ix_daily_rollups_day", "day", "policy_type", "result_type", "domain"),
    sqlite_with_rowid=False,
)

# Key order: policy type first, so the all-types level of every domain is one
# range (the list sorted by failure rate reads it), and a domain's days are
# contiguous within it. A day's counts past 2^63-1 (only from a store written
# before ingest refused them) continue in the next `part`; ingest adds to
# part 0 and refuses a report that would carry it past 2^63-1.
domain_days = sa.Table(
    "domain_days",
    metadata,
    sa.Column("policy_type", sa.Text, nullable=False),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("part", sa.Integer, nullable=False),
    sa.Column("reports", Count, nullable=False),
    sa.Column("successful_sessions", Count, nullable=False),
    sa.Column("failed_sessions", Count, nullable=False),
    sa.PrimaryKeyConstraint("policy_type", "domain", "day", "part"),
    sqlite_with_rowid=False,
)

# Every policy domain with roll-ups, kept by the same transaction: the
# domain list reads the names from here (a few pages), not from a seek per
# domain in the roll-ups.
reported_domains = sa.Table(
    "reported_domains",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sqlite_with_rowid=False,
)

# Watching (tlsrpt.watch, SQL in tlsrpt.store.watch). `watch_schedule`: per
# registered domain, when its next check is due, which process holds it
# (a lease that expires, so a process that dies loses nothing) and the
# interval override of the settings (0: not watched). `watch_snapshots`: the
# facts and findings of checks, a row only when they changed (or a
# keep-alive repeat now and then); `checks` counts the checks that saw it.
watch_schedule = sa.Table(
    "watch_schedule",
    metadata,
    sa.Column(
        "domain", sa.Text, sa.ForeignKey("domains.domain", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("next_due", sa.DateTime, nullable=False),
    sa.Column("interval_s", sa.Integer),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("last_checked_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Index(None, "next_due"),
    sqlite_with_rowid=False,
)

watch_snapshots = sa.Table(
    "watch_snapshots",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),  # canonical JSON (tlsrpt.watch.snapshot)
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("checks", sa.Integer, nullable=False),
    sa.Column("keepalive", sa.Boolean, nullable=False),  # repeats the previous row's digest
    sa.Column("errors", sa.Integer, nullable=False),  # findings of severity error
    sa.Column("warnings", sa.Integer, nullable=False),
    sa.Column("earliest_not_after", sa.DateTime),  # of every certificate in the snapshot
    sa.Index(None, "domain", "id"),
)

# Read-only IMAP polling (tlsrpt.receive.imap): per mailbox, the highest UID
# ingested under the folder's UIDVALIDITY (RFC 9051 §2.3.1.1).
imap_watermarks = sa.Table(
    "imap_watermarks",
    metadata,
    sa.Column("mailbox", sa.Text, primary_key=True),
    sa.Column("uidvalidity", sa.BigInteger, nullable=False),
    sa.Column("last_uid", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sqlite_with_rowid=False,
)

# The HTTP receiver's quarantine budget (tlsrpt.store.budget): per UTC day
# and client address (an IPv6 client by its /64), the inputs and bytes
# quarantined, and those refused (429, not stored) once over the budget.
quarantine_budget = sa.Table(
    "quarantine_budget",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("client", sa.String(64), primary_key=True),
    sa.Column("inputs", Count, nullable=False),
    sa.Column("bytes", Count, nullable=False),
    sa.Column("refused_inputs", Count, nullable=False),
    sa.Column("refused_bytes", Count, nullable=False),
    sqlite_with_rowid=False,
)

# Rate limits shared by the instances of `tlsrpt serve` on PostgreSQL
# (tlsrpt.store.rate_limits): one token bucket per (rule, client address),
# `at` in seconds since the epoch by the database's clock, `granted` the
# tokens the latest request took (0: it was refused). UNLOGGED on
# PostgreSQL (migration 0012): a crash only refills the buckets.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("rule", sa.String(32), primary_key=True),
    sa.Column("client", sa.String(64), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("granted", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

# Alerts (tlsrpt.store.alerts). One row per occurrence of a condition of a
# (domain, rule, subject); `phase` is firing, resolving (within the
# cooldown: a new occurrence re-opens it) or resolved. At most one firing
# row per (domain, rule, subject): a partial unique index, so two processes
# evaluating at once cannot open it twice.
FIRING_PHASE: sa.ColumnClause[str] = sa.literal_column("'firing'")
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("domain", sa.Text, nullable=False),  # "" when not of one domain
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),  # "" for the domain as a whole
    sa.Column("source", sa.String(8), nullable=False),  # check, change, report
    sa.Column("phase", sa.String(10), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("fix", sa.Text),
    sa.Column("evidence", sa.Text, nullable=False),  # JSON object
    sa.Column("level", sa.Integer),  # expiry threshold reached, in days
    sa.Column("notified", sa.Boolean, nullable=False),  # its firing was announced
    sa.Column("notified_level", sa.Integer),
    sa.Column("events", sa.Integer, nullable=False),  # notifications so far
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("acked_at", sa.DateTime),
    sa.Column("acked_by", sa.Text),
    sa.Index(None, "domain", "phase"),
    sa.Index(None, "phase", "resolved_at"),
)
sa.Index(
    "uq_alerts_firing",
    alerts.c.domain,
    alerts.c.rule,
    alerts.c.subject,
    unique=True,
    sqlite_where=alerts.c.phase == FIRING_PHASE,
    postgresql_where=alerts.c.phase == FIRING_PHASE,
)

alert_mutes = sa.Table(
    "alert_mutes",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("rule", sa.String(64), primary_key=True),
    sa.Column("until", sa.DateTime, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.Text),
    sqlite_with_rowid=False,
)

# Notification-worthy events; the notifiers' outbox is written in the same
# transaction. `key` is the idempotency key receivers see.
alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("key", sa.String(80), nullable=False, unique=True),
    sa.Column(
        "alert_id", Id, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("kind", sa.String(10), nullable=False),  # firing, resolved
    sa.Column("level", sa.Integer),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON: the alert as notified
)

# Progress of the report rules: the last report and raw input evaluated,
# when every domain was last evaluated (epoch seconds).
alert_marks = sa.Table(
    "alert_marks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sqlite_with_rowid=False,
)

# Alert notifications (tlsrpt.store.outbox, delivered by tlsrpt.watch.deliver).
# `state`: pending (to send; `due_at` is the next attempt, a live lease
# `lease_until` means a deliverer is sending it), delivered or failed.
# `body` is the exact JSON sent (signed as is; the same bytes on every
# attempt). `digest_day`: collected for that UTC day's e-mail digest.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
    sa.Column("alert_id", sa.Text, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("domain", sa.Text),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text),  # e-mail channels: one row per address
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("digest_day", sa.Date),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("due_at", sa.DateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", sa.DateTime),
    sa.Column("last_attempt_at", sa.DateTime),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Index(None, "state", "due_at"),
    sa.Index(None, "alert_id"),
)
