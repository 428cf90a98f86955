"""Budget lanes: demand per lane, calls per lane, the day's calls against a daily allowance.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLOATS = ("demand_interactive", "demand_flow", "demand_bulk")
_INTS = ("lane_interactive", "lane_flow", "lane_bulk", "lane_background", "day_used")


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("accord_budget_state", schema=None) as batch_op:
        for name in _FLOATS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=False, server_default="0"))
        for name in _INTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("day_key", sa.String(length=10), nullable=False, server_default="")
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("accord_budget_state", schema=None) as batch_op:
        for name in (*_FLOATS, *_INTS, "day_key"):
            batch_op.drop_column(name)
