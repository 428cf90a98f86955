"""The time-and-expense posting ledger: one row per approved entry and what became of it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "accord_postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.String(length=256), nullable=False),
        sa.Column("submission_id", sa.String(length=256), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=True),
        sa.Column("erp", sa.String(length=32), nullable=True),
        sa.Column("erp_connection", sa.String(length=128), nullable=True),
        sa.Column("erp_record_id", sa.String(length=256), nullable=True),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("posted_date", sa.Date(), nullable=True),
        sa.Column("hours", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("entry_json", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "entry_id", name="uq_postings_entry"),
    )
    with op.batch_alter_table("accord_postings", schema=None) as batch_op:
        batch_op.create_index("ix_postings_submission", ["submission_id"], unique=False)
        batch_op.create_index("ix_postings_status", ["status", "project_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("accord_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_status")
        batch_op.drop_index("ix_postings_submission")
    op.drop_table("accord_postings")
