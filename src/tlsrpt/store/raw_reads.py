"""The raw inputs' reads: what a raw input is (its metadata, never its
bytes unless asked), its bytes, and the quarantine (inputs kept but not
stored as a report, with the reason). What `tlsrpt quarantine`, the API,
the dashboard and the MTA pipe read about raw inputs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tlsrpt.store import blobs
from tlsrpt.store.schema import QUARANTINED, raw_inputs
from tlsrpt.store.sums import as_dict

RAW_META = (
    raw_inputs.c.id,
    raw_inputs.c.sha256,
    raw_inputs.c.size,
    raw_inputs.c.kind,
    raw_inputs.c.source_kind,
    raw_inputs.c.source_detail,
    raw_inputs.c.content_type,
    raw_inputs.c.source_meta,
    raw_inputs.c.received_at,
    raw_inputs.c.processed_at,
    raw_inputs.c.outcome,
    raw_inputs.c.reason_code,
    raw_inputs.c.reason,
    raw_inputs.c.notes,
)


def get_raw(conn: Connection, raw_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(*RAW_META, raw_inputs.c.codec, raw_inputs.c.data).where(raw_inputs.c.id == raw_id)
    ).first()
    return as_dict(row) if row is not None else None


def raw_bytes(conn: Connection, raw_id: int) -> bytes:
    row = get_raw(conn, raw_id)
    assert row is not None  # a stored report always has its raw input
    return blobs.unpack(row["codec"], row["data"])


def raw_input(conn: Connection, raw_id: int) -> tuple[dict[str, Any], bytes] | None:
    """A raw input's metadata and its bytes as received, or None."""
    row = get_raw(conn, raw_id)
    if row is None:
        return None
    data = blobs.unpack(row.pop("codec"), row.pop("data"))
    return row, data


def list_quarantined(conn: Connection, limit: int | None = None) -> list[dict[str, Any]]:
    query = (
        sa.select(*RAW_META)
        .where(raw_inputs.c.outcome == QUARANTINED)
        .order_by(raw_inputs.c.id)
        .limit(limit)
    )
    return [as_dict(row) for row in conn.execute(query)]


def quarantined_ids(conn: Connection) -> list[int]:
    query = sa.select(raw_inputs.c.id).where(raw_inputs.c.outcome == QUARANTINED)
    return list(conn.scalars(query.order_by(raw_inputs.c.id)))
