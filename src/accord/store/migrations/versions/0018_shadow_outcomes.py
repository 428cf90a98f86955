"""Shadow posting outcomes of an ERP migration.

- ``accord_shadow_outcomes``: per entry and mode (``validate`` / ``post``), what the shadow ERP
  of a migrating legal entity made of a posting the system of record accepted: ``validated``,
  ``booked`` or ``refused`` with the ERP's reason.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "accord_shadow_outcomes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entry_id", sa.String(256), nullable=False),
        sa.Column("project_id", sa.String(256), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("hours", sa.Numeric(12, 2)),
        sa.Column("amount", sa.Numeric(18, 4)),
        sa.Column("currency", sa.String(3)),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128)),
        sa.Column("message", sa.Text),
        sa.Column("shadow_connection", sa.String(128), nullable=False),
        sa.Column("sor_connection", sa.String(128), nullable=False),
        sa.Column("shadow_record_id", sa.String(256)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "entry_id", "mode", name="uq_shadow_outcome"),
    )
    op.create_index("ix_shadow_outcomes_entity_day", "accord_shadow_outcomes", ["entity", "day"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_shadow_outcomes_entity_day", table_name="accord_shadow_outcomes")
    op.drop_table("accord_shadow_outcomes")
