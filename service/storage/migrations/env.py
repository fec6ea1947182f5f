"""Alembic environment: the connection is always handed in by `vaultguard.service.storage.migrate`."""

from alembic import context

from vaultguard.service.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
