"""Each table the ingest transaction writes has a row type whose fields are
its columns: a column added to the schema without its field fails here."""

from __future__ import annotations

import sqlalchemy as sa

from tlsrpt.store import rows, writer
from tlsrpt.store.schema import (
    daily_rollups,
    failure_details,
    policy_results,
    raw_inputs,
    report_duplicates,
    reports,
)

# table -> (the columns the writer supplies at write time, the row type's fields)
WRITTEN: dict[sa.Table, tuple[tuple[str, ...], tuple[str, ...]]] = {
    raw_inputs: ((), rows.RawInputRow._fields),
    reports: (("id", "raw_id", "received_at"), rows.ReportRow._fields),
    policy_results: (("report_pk",), rows.PolicyRow._fields),
    failure_details: (("report_pk",), rows.FailureDetailRow._fields),
    report_duplicates: ((), rows.DuplicateRow._fields),
    daily_rollups: ((), (*rows.RollupKey._fields, *rows.RollupCounts._fields)),
}


def _columns(table: sa.Table) -> set[str]:
    return {column.name for column in table.columns}


def test_every_written_column_has_a_field_and_every_field_a_column() -> None:
    for table, (keys, fields) in WRITTEN.items():
        named = (*keys, *fields)
        assert len(set(named)) == len(named), table.name  # no column twice
        assert set(named) == _columns(table), table.name


def test_supplied_keys_are_the_ones_the_writer_prepends() -> None:
    assert rows.REPORT_KEYS == ("id", "raw_id", "received_at")
    assert rows.POLICY_KEYS == rows.FAILURE_KEYS == ("report_pk",)
    assert rows.ReportOrigin._fields == rows.REPORT_KEYS[1:]


def test_writer_columns_are_the_row_types() -> None:
    assert rows.RawInputRow._fields == writer.RAW_COLUMNS
    assert (*rows.REPORT_KEYS, *rows.ReportRow._fields) == writer.REPORT_COLUMNS
    assert (*rows.POLICY_KEYS, *rows.PolicyRow._fields) == writer.POLICY_COLUMNS
    assert (*rows.FAILURE_KEYS, *rows.FailureDetailRow._fields) == writer.FAILURE_COLUMNS
    assert rows.DuplicateRow._fields == writer.DUPLICATE_COLUMNS
    assert (*writer.ROLLUP_KEY, *writer.COUNT_COLUMNS) == (
        *rows.RollupKey._fields,
        *rows.RollupCounts._fields,
    )


def test_rollup_key_is_the_tables_primary_key() -> None:
    assert set(rows.RollupKey._fields) == {c.name for c in daily_rollups.primary_key.columns}


def test_outcome_columns_close_the_raw_row() -> None:
    """`RawOutcome` is what `set_outcomes` writes again: the same columns,
    in the same order, as the end of `RawInputRow`."""
    width = len(rows.RawOutcome._fields)
    assert rows.RawInputRow._fields[-width:] == rows.RawOutcome._fields


def test_a_column_without_its_field_is_found() -> None:
    """The check above would catch a new column: a copy of the reports
    table with one more column no longer matches the row type."""
    extra = sa.Table(
        "reports",
        sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in reports.columns),
        sa.Column("added_later", sa.Text),
    )
    keys, fields = WRITTEN[reports]
    assert set((*keys, *fields)) != _columns(extra)
    assert _columns(extra) - set((*keys, *fields)) == {"added_later"}


def test_row_from_reads_by_name() -> None:
    stored = {
        "report_pk": 7,
        "ordinal": 1,
        "policy_type": "sts",
        "policy_domain": None,
        "domain": "example.com",
        "attribution": "report-domain-header",
        "day": "2024-03-01",
        "policy_strings": "[]",
        "mx_hosts": '["mx.example.com"]',
        "successful_sessions": 3,
        "failed_sessions": 2,
    }
    row = rows.row_from(rows.PolicyRow, dict(reversed(stored.items())))
    assert row.domain == "example.com" and row.failed_sessions == 2
    assert row._asdict() == {k: v for k, v in stored.items() if k != "report_pk"}
