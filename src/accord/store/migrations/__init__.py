"""Alembic migrations of Accord's own tables (the runtime migrates its own)."""
