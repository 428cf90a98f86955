"""Initial tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 00:17:05.011582
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "accord_api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "accord_audit",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("accord_audit", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)

    op.create_table(
        "accord_budget_leases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("connection", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("accord_budget_leases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_budget_leases_connection", ["connection", "expires_at"], unique=False
        )

    op.create_table(
        "accord_budget_state",
        sa.Column("connection", sa.String(length=128), nullable=False),
        sa.Column("rate_per_s", sa.Float(), nullable=False),
        sa.Column("max_rate_per_s", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("throttled_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("acquired_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paused_until", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("connection"),
    )
    op.create_table(
        "accord_cursors",
        sa.Column("connection", sa.String(length=128), nullable=False),
        sa.Column("resource", sa.String(length=128), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("high_watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_ids", sa.Text(), server_default="[]", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "resource"),
    )
    op.create_table(
        "accord_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("business_key", sa.String(length=512), nullable=False),
        sa.Column("dedupe_key", sa.String(length=512), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("accord_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_exceptions_business_key", ["business_key"], unique=False)
        batch_op.create_index("ix_exceptions_dedupe", ["dedupe_key", "status"], unique=False)
        batch_op.create_index(
            "ix_exceptions_queue_status_created", ["queue", "status", "created_at"], unique=False
        )

    op.create_table(
        "accord_journal",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("ce_id", sa.String(length=512), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=True),
        sa.Column("business_key", sa.String(length=512), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
        sa.UniqueConstraint("source", "ce_id", name="uq_journal_source_ce_id"),
    )
    with op.batch_alter_table("accord_journal", schema=None) as batch_op:
        batch_op.create_index("ix_journal_business_key", ["business_key", "seq"], unique=False)
        batch_op.create_index("ix_journal_type_received", ["type", "received_at"], unique=False)

    op.create_table(
        "accord_lineage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_type", sa.String(length=64), nullable=False),
        sa.Column("from_id", sa.String(length=256), nullable=False),
        sa.Column("to_type", sa.String(length=64), nullable=False),
        sa.Column("to_id", sa.String(length=256), nullable=False),
        sa.Column("relation", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "from_type", "from_id", "to_type", "to_id", "relation", name="uq_lineage_edge"
        ),
    )
    with op.batch_alter_table("accord_lineage", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_from", ["from_type", "from_id"], unique=False)
        batch_op.create_index("ix_lineage_to", ["to_type", "to_id"], unique=False)

    op.create_table(
        "accord_xref",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("canonical_id", sa.String(length=256), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("connection", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entity_type", "canonical_id", "connection", name="uq_xref_canonical"),
        sa.UniqueConstraint("entity_type", "connection", "external_id", name="uq_xref_external"),
    )
    with op.batch_alter_table("accord_xref", schema=None) as batch_op:
        batch_op.create_index("ix_xref_external_id", ["external_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("accord_xref", schema=None) as batch_op:
        batch_op.drop_index("ix_xref_external_id")

    op.drop_table("accord_xref")
    with op.batch_alter_table("accord_lineage", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_to")
        batch_op.drop_index("ix_lineage_from")

    op.drop_table("accord_lineage")
    with op.batch_alter_table("accord_journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_type_received")
        batch_op.drop_index("ix_journal_business_key")

    op.drop_table("accord_journal")
    with op.batch_alter_table("accord_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_exceptions_queue_status_created")
        batch_op.drop_index("ix_exceptions_dedupe")
        batch_op.drop_index("ix_exceptions_business_key")

    op.drop_table("accord_exceptions")
    op.drop_table("accord_cursors")
    op.drop_table("accord_budget_state")
    with op.batch_alter_table("accord_budget_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_budget_leases_connection")

    op.drop_table("accord_budget_leases")
    with op.batch_alter_table("accord_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")

    op.drop_table("accord_audit")
    op.drop_table("accord_api_keys")
