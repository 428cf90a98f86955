"""Security and reliability: keys, rate limits, audit keys, replays, secrets, escalation.

- ``accord_api_keys``: ``expires_at``, ``last_used_at`` and ``superseded_at`` (a rotated
  secret keeps working until its ``expires_at``); a name is unique among current secrets only,
  so the unique constraint on ``name`` becomes a partial unique index.
- ``accord_rate_buckets``: per-API-key token buckets shared by every API process.
- ``accord_audit.key_id``: which audit key a row's HMAC was made with (NULL: unkeyed SHA-256).
- ``accord_webhook_replays``: signatures accepted within the replay window.
- ``accord_secrets``: secrets Accord generates for itself when settings give none (the
  console's session secret), shared by every process.
- ``accord_exceptions.escalated_at`` / ``escalated_to``: an exception past its queue's SLA.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
# SQLite reflects the unnamed UNIQUE(name) of 0001 without a name; batch mode names it so.
# (PostgreSQL named it itself; its name is read back.)
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    """Apply this revision."""
    found = [
        uq["name"]
        for uq in sa.inspect(op.get_bind()).get_unique_constraints("accord_api_keys")
        if uq["column_names"] == ["name"]
    ]
    name_uq = found[0] if found and found[0] else "uq_accord_api_keys_name"
    with op.batch_alter_table("accord_api_keys", naming_convention=_NAMING) as batch_op:
        batch_op.add_column(sa.Column("expires_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("last_used_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("superseded_at", _TS, nullable=True))
        batch_op.drop_constraint(name_uq, type_="unique")
        batch_op.create_index("ix_api_keys_name", ["name"], unique=False)
    op.create_index(
        "uq_api_keys_current_name",
        "accord_api_keys",
        ["name"],
        unique=True,
        sqlite_where=sa.text("superseded_at IS NULL"),
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.create_table(
        "accord_rate_buckets",
        sa.Column("bucket", sa.String(length=160), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    with op.batch_alter_table("accord_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    op.create_table(
        "accord_webhook_replays",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_webhook_replays_seen_at", "accord_webhook_replays", ["seen_at"])
    op.create_table(
        "accord_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("accord_exceptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("escalated_to", sa.String(length=128), nullable=True))


def downgrade() -> None:
    """Revert this revision (rotated-away secrets are deleted: names must be unique again)."""
    with op.batch_alter_table("accord_exceptions", schema=None) as batch_op:
        batch_op.drop_column("escalated_to")
        batch_op.drop_column("escalated_at")
    op.drop_table("accord_secrets")
    op.drop_index("ix_webhook_replays_seen_at", table_name="accord_webhook_replays")
    op.drop_table("accord_webhook_replays")
    with op.batch_alter_table("accord_audit", schema=None) as batch_op:
        batch_op.drop_column("key_id")
    op.drop_table("accord_rate_buckets")
    op.drop_index("uq_api_keys_current_name", table_name="accord_api_keys")
    op.execute("DELETE FROM accord_api_keys WHERE superseded_at IS NOT NULL")
    with op.batch_alter_table("accord_api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_name")
        batch_op.create_unique_constraint("uq_accord_api_keys_name", ["name"])
        batch_op.drop_column("superseded_at")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
