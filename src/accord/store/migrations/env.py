"""Alembic environment: runs on the connection :func:`accord.store.migrate.migrate` hands in."""

from alembic import context

from accord.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table="accord_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=lambda name, type_, _parent: type_ != "table" or str(name).startswith("accord_"),
)
with context.begin_transaction():
    context.run_migrations()
