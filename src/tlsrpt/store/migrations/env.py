"""Alembic environment for tlsrpt: online only, on the connection (and the
transaction, holding the write lock) that `tlsrpt.store.migrate` passes in."""

from __future__ import annotations

from alembic import context

from tlsrpt.store import accounts, hosted  # noqa: F401  (their tables join the same metadata)
from tlsrpt.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run tlsrpt migrations with `tlsrpt db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
