"""Alerts, and an index for the SLA rules' lineage lookups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "accord_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("instance_key", sa.String(length=512), nullable=False),
        sa.Column("active_key", sa.String(length=660), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=512), nullable=False),
        sa.Column("labels", sa.Text(), server_default="{}", nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.Column("next_attempt_at", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_key"),
    )
    with op.batch_alter_table("accord_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_status_fired", ["status", "fired_at"], unique=False)
        batch_op.create_index("ix_alerts_rule_status", ["rule", "status"], unique=False)
    with op.batch_alter_table("accord_lineage", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_event_id", ["event_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("accord_lineage", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_event_id")
    with op.batch_alter_table("accord_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_rule_status")
        batch_op.drop_index("ix_alerts_status_fired")
    op.drop_table("accord_alerts")
