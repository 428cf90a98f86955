"""Business KPIs and reconciliation results.

- ``accord_lineage.status_at``: when a link reached its current status (the KPIs read when a
  project became ``provisioned``); existing rows take their ``created_at``.
- ``accord_postings.first_status`` / ``posted_at``: the outcome of an entry's first pass and
  when it first became ``posted``; existing rows take their current status and, when posted,
  their ``updated_at`` (the best the ledger knew).
- ``accord_reconciliation_runs`` / ``accord_reconciliation_drift``: what each reconciliation
  compared and the disagreements it found (one row per disagreement while it stays open).
- Indexes for the KPIs' time windows: lineage by relation and status time, exceptions by
  resolution time, postings by creation and first posting time.

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("accord_lineage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_at", _TS, nullable=True))
        batch_op.create_index("ix_lineage_relation_status_at", ["relation", "status_at"])
    op.execute("UPDATE accord_lineage SET status_at = created_at")
    with op.batch_alter_table("accord_postings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("posted_at", _TS, nullable=True))
        batch_op.create_index("ix_postings_posted_at", ["posted_at"])
        batch_op.create_index("ix_postings_created_at", ["created_at"])
    op.execute("UPDATE accord_postings SET first_status = status")
    op.execute("UPDATE accord_postings SET posted_at = updated_at WHERE status = 'posted'")
    with op.batch_alter_table("accord_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_exceptions_resolved_at", ["resolved_at"])

    op.create_table(
        "accord_reconciliation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("scope", sa.Text(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("checked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("drift_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliation_runs_started", "accord_reconciliation_runs", ["started_at"])
    op.create_table(
        "accord_reconciliation_drift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recon_id", sa.Integer(), nullable=False),
        sa.Column("last_recon_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.String(length=256), nullable=True),
        sa.Column("business_key", sa.String(length=512), nullable=True),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("connection", sa.String(length=128), nullable=True),
        sa.Column("record_id", sa.String(length=256), nullable=True),
        sa.Column("expected_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("found_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("exception_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.Column("found_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("closed_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["recon_id"], ["accord_reconciliation_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliation_drift_found", "accord_reconciliation_drift", ["found_at"])
    op.create_index(
        "ix_reconciliation_drift_fingerprint",
        "accord_reconciliation_drift",
        ["fingerprint", "status"],
    )
    op.create_index(
        "ix_reconciliation_drift_status", "accord_reconciliation_drift", ["status", "kind"]
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_reconciliation_drift_status", table_name="accord_reconciliation_drift")
    op.drop_index("ix_reconciliation_drift_fingerprint", table_name="accord_reconciliation_drift")
    op.drop_index("ix_reconciliation_drift_found", table_name="accord_reconciliation_drift")
    op.drop_table("accord_reconciliation_drift")
    op.drop_index("ix_reconciliation_runs_started", table_name="accord_reconciliation_runs")
    op.drop_table("accord_reconciliation_runs")
    with op.batch_alter_table("accord_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_exceptions_resolved_at")
    with op.batch_alter_table("accord_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_created_at")
        batch_op.drop_index("ix_postings_posted_at")
        batch_op.drop_column("posted_at")
        batch_op.drop_column("first_status")
    with op.batch_alter_table("accord_lineage", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_relation_status_at")
        batch_op.drop_column("status_at")
