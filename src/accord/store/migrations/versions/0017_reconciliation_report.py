"""A reconciliation run's report: the totals it compared and what each check did.

- ``accord_reconciliation_runs.report``: JSON (per project and currency: approved in the PSA,
  posted and pending in Accord's ledger, posted in the ERP, invoiced; per check: what it read
  and found), written when the run finishes.

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("accord_reconciliation_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("accord_reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_column("report")
